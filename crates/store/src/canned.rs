//! Canned responses: stored text, who may use it, what its macro sets, and
//! how often it was used.

use crate::db::{from_micros, opt_from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedResponse {
    pub id: i64,
    pub name: String,
    pub body: String,
    /// Personal to this user.
    pub owner_id: Option<i64>,
    /// Shared with one level (`support`, `technical`); with neither this nor
    /// an owner, shared with the whole desk.
    pub level: Option<String>,
    pub set_status: Option<String>,
    pub set_type: Option<String>,
    pub set_category: Option<String>,
    pub set_resolution: Option<String>,
    pub use_count: i64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

/// What is written: everything but the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CannedFields {
    pub name: String,
    pub body: String,
    pub owner_id: Option<i64>,
    pub level: Option<String>,
    pub set_status: Option<String>,
    pub set_type: Option<String>,
    pub set_category: Option<String>,
    pub set_resolution: Option<String>,
}

type Row = (
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    i64,
    Option<String>,
);

const SELECT: &str = "SELECT c.id, c.name, c.body, c.owner_id, c.level, c.set_status, c.set_type, c.set_category, \
     c.set_resolution, c.use_count, c.last_used_at, c.updated_at, u.name \
     FROM canned_responses c LEFT JOIN users u ON u.id = c.updated_by";

fn from_row(r: Row) -> CannedResponse {
    CannedResponse {
        id: r.0,
        name: r.1,
        body: r.2,
        owner_id: r.3,
        level: r.4,
        set_status: r.5,
        set_type: r.6,
        set_category: r.7,
        set_resolution: r.8,
        use_count: r.9,
        last_used_at: opt_from_micros(r.10),
        updated_at: from_micros(r.11),
        updated_by: r.12,
    }
}

/// The responses a user may use: their own, those of their level (all
/// levels when `level` is `None`, as for an admin) and the desk's.
pub async fn list_canned(conn: &mut Conn, user: UserId, level: Option<&str>) -> Result<Vec<CannedResponse>> {
    let sql = format!(
        "{SELECT} WHERE c.owner_id = $1 OR (c.owner_id IS NULL AND ($2 IS NULL OR c.level IS NULL OR c.level = $2)) \
         ORDER BY c.use_count DESC, c.name, c.id"
    );
    let rows: Vec<Row> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(user.0).bind(level).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub async fn find_canned(conn: &mut Conn, id: i64) -> Result<CannedResponse> {
    let sql = format!("{SELECT} WHERE c.id = $1");
    let row: Row = on_conn!(conn, |c| sqlx::query_as(&sql).bind(id).fetch_one(&mut *c).await)?;
    Ok(from_row(row))
}

pub async fn insert_canned(conn: &mut Conn, f: &CannedFields, by: UserId, now: DateTime<Utc>) -> Result<i64> {
    let sql = "INSERT INTO canned_responses (name, body, owner_id, level, set_status, set_type, set_category, \
               set_resolution, created_at, updated_at, updated_by) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING id";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(&f.name)
        .bind(&f.body)
        .bind(f.owner_id)
        .bind(&f.level)
        .bind(&f.set_status)
        .bind(&f.set_type)
        .bind(&f.set_category)
        .bind(&f.set_resolution)
        .bind(to_micros(now))
        .bind(by.0)
        .fetch_one(&mut *c)
        .await)?)
}

pub async fn update_canned(conn: &mut Conn, id: i64, f: &CannedFields, by: UserId, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE canned_responses SET name = $1, body = $2, owner_id = $3, level = $4, set_status = $5, \
               set_type = $6, set_category = $7, set_resolution = $8, updated_at = $9, updated_by = $10 WHERE id = $11";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(&f.name)
        .bind(&f.body)
        .bind(f.owner_id)
        .bind(&f.level)
        .bind(&f.set_status)
        .bind(&f.set_type)
        .bind(&f.set_category)
        .bind(&f.set_resolution)
        .bind(to_micros(now))
        .bind(by.0)
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

pub async fn delete_canned(conn: &mut Conn, id: i64) -> Result<()> {
    crate::db::one_row(on_conn!(conn, |c| sqlx::query("DELETE FROM canned_responses WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Counts one use, in the transaction that sends the reply.
pub async fn count_use(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE canned_responses SET use_count = use_count + 1, last_used_at = $1 WHERE id = $2";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}
