//! Web sessions: a hashed cookie secret, its user, its CSRF token and expiry.

use crate::db::{to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: UserId,
    pub csrf_token: String,
}

pub async fn insert_session(
    conn: &mut Conn,
    id_hash: &str,
    user: UserId,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    let sql = "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(id_hash)
        .bind(user.0)
        .bind(csrf_token)
        .bind(to_micros(now))
        .bind(to_micros(expires_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The live session of an enabled user.
pub async fn find_session(conn: &mut Conn, id_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
    let sql = "SELECT s.user_id, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id \
               WHERE s.id_hash = $1 AND s.expires_at > $2 AND NOT u.disabled";
    let row: Option<(i64, String)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(id_hash).bind(to_micros(now)).fetch_optional(&mut *c).await)?;
    Ok(row.map(|(user, csrf_token)| Session { user: UserId(user), csrf_token }))
}

pub async fn delete_session(conn: &mut Conn, id_hash: &str) -> Result<()> {
    on_conn!(conn, |c| sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Removes expired sessions; returns how many.
pub async fn delete_expired_sessions(conn: &mut Conn, now: DateTime<Utc>) -> Result<u64> {
    Ok(on_conn!(conn, |c| sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}
