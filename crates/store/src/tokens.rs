//! API tokens, stored as SHA-256 hashes of high-entropy secrets.

use crate::db::{to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::{TokenId, UserId};

pub async fn insert_token(
    conn: &mut Conn,
    user: UserId,
    name: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<TokenId> {
    let sql = "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id";
    let id: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(user.0)
        .bind(name)
        .bind(token_hash)
        .bind(to_micros(now))
        .fetch_one(&mut *c)
        .await)?;
    Ok(TokenId(id))
}

/// The enabled user owning a token hash.
pub async fn find_token_user(conn: &mut Conn, token_hash: &str) -> Result<Option<UserId>> {
    let sql =
        "SELECT u.id FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND NOT u.disabled";
    let id: Option<i64> = on_conn!(conn, |c| sqlx::query_scalar(sql).bind(token_hash).fetch_optional(&mut *c).await)?;
    Ok(id.map(UserId))
}
