//! Categories: the ENT services a request is about, configurable by admins.

use crate::db::{Conn, Result};
use guichet_domain::ids::CategoryId;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Category {
    pub id: i64,
    pub code: String,
    pub label_fr: String,
    pub label_en: String,
    pub position: i64,
    pub active: bool,
}

impl Category {
    pub fn id(&self) -> CategoryId {
        CategoryId(self.id)
    }
}

pub async fn list_categories(conn: &mut Conn) -> Result<Vec<Category>> {
    let sql = "SELECT id, code, label_fr, label_en, position, active FROM categories ORDER BY position, code";
    Ok(on_conn!(conn, |c| sqlx::query_as(sql).fetch_all(&mut *c).await)?)
}

pub async fn find_category_by_code(conn: &mut Conn, code: &str) -> Result<Option<Category>> {
    let sql = "SELECT id, code, label_fr, label_en, position, active FROM categories WHERE code = $1";
    Ok(on_conn!(conn, |c| sqlx::query_as(sql).bind(code).fetch_optional(&mut *c).await)?)
}

pub async fn insert_category(conn: &mut Conn, code: &str, label_fr: &str, label_en: &str) -> Result<()> {
    let sql = "INSERT INTO categories (code, label_fr, label_en, position, active) \
               VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM categories), TRUE)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(code)
        .bind(label_fr)
        .bind(label_en)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_category_active(conn: &mut Conn, code: &str, active: bool) -> Result<()> {
    crate::db::one_row(on_conn!(conn, |c| sqlx::query("UPDATE categories SET active = $1 WHERE code = $2")
        .bind(active)
        .bind(code)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)?;
    Ok(())
}
