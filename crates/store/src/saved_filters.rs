//! Saved filters: named queries, personal or shared with the desk.

use crate::db::{Conn, Result};
use guichet_domain::ids::UserId;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SavedFilter {
    pub id: i64,
    pub owner_id: Option<i64>,
    pub name: String,
    pub query: String,
    pub shared: bool,
    pub builtin: bool,
    pub position: i64,
}

const SELECT: &str = "SELECT id, owner_id, name, query, shared, builtin, position FROM saved_filters";

/// The filters a user sees: their own, and the shared ones when `with_shared`.
pub async fn list_saved_filters(conn: &mut Conn, user: UserId, with_shared: bool) -> Result<Vec<SavedFilter>> {
    let sql = format!("{SELECT} WHERE owner_id = $1 OR ($2 AND shared) ORDER BY shared DESC, position, id");
    Ok(on_conn!(conn, |c| sqlx::query_as(&sql).bind(user.0).bind(with_shared).fetch_all(&mut *c).await)?)
}

pub async fn find_saved_filter(conn: &mut Conn, id: i64) -> Result<SavedFilter> {
    let sql = format!("{SELECT} WHERE id = $1");
    Ok(on_conn!(conn, |c| sqlx::query_as(&sql).bind(id).fetch_one(&mut *c).await)?)
}

pub async fn insert_saved_filter(conn: &mut Conn, owner: UserId, name: &str, query: &str, shared: bool) -> Result<i64> {
    let sql = "INSERT INTO saved_filters (owner_id, name, query, shared, builtin, position) \
               VALUES ($1, $2, $3, $4, FALSE, (SELECT COALESCE(MAX(position), 0) + 1 FROM saved_filters)) RETURNING id";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(owner.0)
        .bind(name)
        .bind(query)
        .bind(shared)
        .fetch_one(&mut *c)
        .await)?)
}

pub async fn update_saved_filter(conn: &mut Conn, f: &SavedFilter) -> Result<()> {
    let sql = "UPDATE saved_filters SET name = $1, query = $2, shared = $3, position = $4 WHERE id = $5";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(&f.name)
        .bind(&f.query)
        .bind(f.shared)
        .bind(f.position)
        .bind(f.id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)?;
    Ok(())
}

pub async fn delete_saved_filter(conn: &mut Conn, id: i64) -> Result<()> {
    on_conn!(conn, |c| sqlx::query("DELETE FROM saved_filters WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}
