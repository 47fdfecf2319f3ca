//! Web sessions: a hashed cookie secret, its user, its CSRF token, when it
//! was last used and when it expires.

use crate::db::{from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: UserId,
    pub csrf_token: String,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn insert_session(
    conn: &mut Conn,
    id_hash: &str,
    user: UserId,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    let sql = "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at) \
        VALUES ($1, $2, $3, $4, $5, $4)";
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

/// The query behind every page: the session (`$1` its hash) of an enabled
/// user, not expired (`$2` now) and used since `$3`. Its owner is looked up
/// by number, as for an API token (see `tokens::LIVE_TOKEN`).
pub const LIVE_SESSION: &str = "SELECT s.user_id, s.csrf_token, s.last_seen_at FROM sessions s \
    WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 \
    AND NOT (SELECT u.disabled FROM users u WHERE u.id = s.user_id)";

/// The live session of an enabled user: not expired, and used since `idle_since`.
pub async fn find_session(
    conn: &mut Conn,
    id_hash: &str,
    now: DateTime<Utc>,
    idle_since: DateTime<Utc>,
) -> Result<Option<Session>> {
    let row: Option<(i64, String, i64)> = on_conn!(conn, |c| sqlx::query_as(LIVE_SESSION)
        .bind(id_hash)
        .bind(to_micros(now))
        .bind(to_micros(idle_since))
        .fetch_optional(&mut *c)
        .await)?;
    Ok(row.map(|(user, csrf_token, seen)| Session { user: UserId(user), csrf_token, last_seen_at: from_micros(seen) }))
}

/// Records that a session was used.
pub async fn touch_session(conn: &mut Conn, id_hash: &str, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(id_hash)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn delete_session(conn: &mut Conn, id_hash: &str) -> Result<()> {
    on_conn!(conn, |c| sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Ends every session of a user but `keep` (the one changing its password); returns how many.
pub async fn delete_user_sessions(conn: &mut Conn, user: UserId, keep: Option<&str>) -> Result<u64> {
    let sql = "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2";
    Ok(on_conn!(conn, |c| sqlx::query(sql)
        .bind(user.0)
        .bind(keep.unwrap_or(""))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Removes sessions expired, or idle since before `idle_since`; returns how many.
pub async fn delete_expired_sessions(conn: &mut Conn, now: DateTime<Utc>, idle_since: DateTime<Utc>) -> Result<u64> {
    Ok(on_conn!(conn, |c| sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(to_micros(now))
        .bind(to_micros(idle_since))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}
