//! Web sessions: a hashed cookie secret, its user, its CSRF token, when it
//! was last used and when it expires.

use crate::db::{from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::UserId;
use guichet_domain::user::User;

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

/// The query behind every page: the enabled user behind a session (`$1`
/// its hash) not expired (`$2` now) and used since `$3`, with the session's
/// CSRF token and last use, in one statement of seeks by key (see
/// `tokens::live_token` for why not a join).
pub fn live_session(backend: crate::Backend) -> String {
    format!(
        "SELECT {}, (SELECT csrf_token FROM sessions WHERE id_hash = $1) AS session_csrf_token, \
         (SELECT last_seen_at FROM sessions WHERE id_hash = $1) AS session_last_seen_at FROM users \
         WHERE users.id = (SELECT user_id FROM sessions WHERE id_hash = $1 AND expires_at > $2 \
         AND last_seen_at > $3) AND NOT users.disabled",
        crate::users::columns(backend)
    )
}

#[derive(sqlx::FromRow)]
struct LiveSessionRow {
    #[sqlx(flatten)]
    owner: crate::users::UserRow,
    session_csrf_token: String,
    session_last_seen_at: i64,
}

/// The live session of an enabled user (not expired, and used since
/// `idle_since`), and that user.
pub async fn find_session(
    conn: &mut Conn,
    id_hash: &str,
    now: DateTime<Utc>,
    idle_since: DateTime<Utc>,
) -> Result<Option<(Session, User)>> {
    let sql = live_session(conn.backend());
    let row: Option<LiveSessionRow> = on_conn!(conn, |c| sqlx::query_as(&sql)
        .bind(id_hash)
        .bind(to_micros(now))
        .bind(to_micros(idle_since))
        .fetch_optional(&mut *c)
        .await)?;
    let Some(row) = row else { return Ok(None) };
    let user = crate::users::complete_one(row.owner)?;
    let session = Session {
        user: user.id,
        csrf_token: row.session_csrf_token,
        last_seen_at: from_micros(row.session_last_seen_at),
    };
    Ok(Some((session, user)))
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
