//! API tokens, stored as SHA-256 hashes of high-entropy secrets, with a
//! name, an expiry, the date of last use and a revocation.

use crate::db::{from_micros, opt_from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::{TokenId, UserId};
use guichet_domain::user::User;

/// A token as its owner and the administrators see it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: TokenId,
    pub user: UserId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl From<TokenRow> for TokenRecord {
    fn from(r: TokenRow) -> Self {
        TokenRecord {
            id: TokenId(r.id),
            user: UserId(r.user_id),
            name: r.name,
            created_at: from_micros(r.created_at),
            last_used_at: opt_from_micros(r.last_used_at),
            expires_at: from_micros(r.expires_at),
            revoked_at: opt_from_micros(r.revoked_at),
        }
    }
}

const SELECT: &str =
    "SELECT id, user_id, name, created_at, last_used_at, COALESCE(expires_at, 0) AS expires_at, revoked_at FROM api_tokens";

pub async fn insert_token(
    conn: &mut Conn,
    user: UserId,
    name: &str,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<TokenId> {
    let sql = "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
        RETURNING id";
    let id: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(user.0)
        .bind(name)
        .bind(token_hash)
        .bind(to_micros(now))
        .bind(to_micros(expires_at))
        .fetch_one(&mut *c)
        .await)?;
    Ok(TokenId(id))
}

/// The query behind every API request: the enabled user behind a live
/// token (`$1` its hash, `$2` now), with when the token was last used, in
/// one statement. Each part is one seek in the token's unique hash or the
/// user's number, whatever the statistics say. Written as a join, SQLite
/// prepared the statement again at each request (its STAT4 statistics make
/// a join's plan depend on the values bound), and PostgreSQL merged the
/// whole index of users up to the owner; written `IN (SELECT id FROM users
/// WHERE NOT disabled)`, SQLite listed every enabled user (1.4 ms per
/// request for a requester of a directory of 15,000).
pub fn live_token(backend: crate::Backend) -> String {
    format!(
        "SELECT {}, (SELECT last_used_at FROM api_tokens WHERE token_hash = $1) AS token_last_used_at FROM users \
         WHERE users.id = (SELECT user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL \
         AND expires_at > $2) AND NOT users.disabled",
        crate::users::columns(backend)
    )
}

/// What a request needs of its live token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveToken {
    pub owner: User,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct LiveTokenRow {
    #[sqlx(flatten)]
    owner: crate::users::UserRow,
    token_last_used_at: Option<i64>,
}

/// The live token (not revoked, not expired) of an enabled user behind a hash.
pub async fn find_live_token(conn: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> Result<Option<LiveToken>> {
    let sql = live_token(conn.backend());
    let row: Option<LiveTokenRow> =
        on_conn!(conn, |c| sqlx::query_as(&sql).bind(token_hash).bind(to_micros(now)).fetch_optional(&mut *c).await)?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(LiveToken {
        owner: crate::users::complete_one(row.owner)?,
        last_used_at: opt_from_micros(row.token_last_used_at),
    }))
}

/// Any token with this hash, live or not.
pub async fn find_token_by_hash(conn: &mut Conn, token_hash: &str) -> Result<Option<TokenRecord>> {
    let sql = format!("{SELECT} WHERE token_hash = $1");
    let row: Option<TokenRow> =
        on_conn!(conn, |c| sqlx::query_as(&sql).bind(token_hash).fetch_optional(&mut *c).await)?;
    Ok(row.map(TokenRecord::from))
}

/// Records that the token behind a hash was used.
pub async fn touch_token(conn: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(token_hash)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A user's tokens (all of them when `user` is None), newest first.
pub async fn list_tokens(conn: &mut Conn, user: Option<UserId>, limit: i64) -> Result<Vec<TokenRecord>> {
    let sql = format!("{SELECT} WHERE ($1 IS NULL OR user_id = $1) ORDER BY id DESC LIMIT $2");
    let rows: Vec<TokenRow> = match conn.backend() {
        // PostgreSQL must know the type of a parameter compared with NULL.
        crate::Backend::Postgres => {
            let sql = sql.replace("($1 IS NULL OR", "($1::BIGINT IS NULL OR");
            on_conn!(conn, |c| sqlx::query_as(&sql).bind(user.map(|u| u.0)).bind(limit).fetch_all(&mut *c).await)?
        }
        crate::Backend::Sqlite => {
            on_conn!(conn, |c| sqlx::query_as(&sql).bind(user.map(|u| u.0)).bind(limit).fetch_all(&mut *c).await)?
        }
    };
    Ok(rows.into_iter().map(TokenRecord::from).collect())
}

pub async fn find_token(conn: &mut Conn, id: TokenId) -> Result<TokenRecord> {
    let sql = format!("{SELECT} WHERE id = $1");
    let row: TokenRow = on_conn!(conn, |c| sqlx::query_as(&sql).bind(id.0).fetch_one(&mut *c).await)?;
    Ok(row.into())
}

/// Revokes a token (once: revoking it again keeps the first date).
pub async fn revoke_token(conn: &mut Conn, id: TokenId, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(id.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}
