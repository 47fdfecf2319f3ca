//! Desk settings edited at run time, stored as JSON documents by key.

use crate::db::{Conn, Result};

pub async fn find_setting(conn: &mut Conn, key: &str) -> Result<Option<String>> {
    Ok(on_conn!(conn, |c| sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *c)
        .await)?)
}

pub async fn upsert_setting(conn: &mut Conn, key: &str, value: &str) -> Result<()> {
    let sql =
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    on_conn!(conn, |c| sqlx::query(sql).bind(key).bind(value).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Writes a setting only when none is stored under `key` (safe when several
/// nodes start at once).
pub async fn insert_setting_if_absent(conn: &mut Conn, key: &str, value: &str) -> Result<()> {
    let sql = "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
    on_conn!(conn, |c| sqlx::query(sql).bind(key).bind(value).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(())
}
