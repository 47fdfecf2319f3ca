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

/// The channel on which PostgreSQL tells every node that settings changed.
pub const CHANGED_CHANNEL: &str = "guichet_settings";

/// Tells the other nodes, at commit, that settings changed (PostgreSQL's
/// NOTIFY; SQLite has one process, which changed them itself).
pub async fn notify_settings_changed(conn: &mut Conn) -> Result<()> {
    if let crate::db::Raw::Postgres(c) = conn.raw() {
        sqlx::query("SELECT pg_notify($1, 'changed')").bind(CHANGED_CHANNEL).execute(&mut *c).await?;
    }
    Ok(())
}
