//! Signing in with identity providers: which account a provider's person
//! is, the sign-ins under way at a provider, and the changes made to an
//! account (by an administrator or by a provider's attributes).

use crate::db::{from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::UserId;

/// The account linked to a provider's subject, if any.
pub async fn find_identity_user(conn: &mut Conn, provider: &str, subject: &str) -> Result<Option<UserId>> {
    let sql = "SELECT user_id FROM user_identities WHERE provider = $1 AND subject = $2";
    let id: Option<i64> =
        on_conn!(conn, |c| sqlx::query_scalar(sql).bind(provider).bind(subject).fetch_optional(&mut *c).await)?;
    Ok(id.map(UserId))
}

/// Links a provider's subject to an account (once: a second link of the
/// same subject is a conflict).
pub async fn insert_identity(
    conn: &mut Conn,
    provider: &str,
    subject: &str,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = "INSERT INTO user_identities (provider, subject, user_id, created_at, last_seen_at) \
        VALUES ($1, $2, $3, $4, $4)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(provider)
        .bind(subject)
        .bind(user.0)
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn touch_identity(conn: &mut Conn, provider: &str, subject: &str, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE user_identities SET last_seen_at = $1 WHERE provider = $2 AND subject = $3";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(provider)
        .bind(subject)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A provider's identifier for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub provider: String,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn list_user_identities(conn: &mut Conn, user: UserId) -> Result<Vec<LinkedIdentity>> {
    let sql = "SELECT provider, subject, created_at, last_seen_at FROM user_identities WHERE user_id = $1 \
        ORDER BY provider, subject";
    let rows: Vec<(String, String, i64, i64)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(user.0).fetch_all(&mut *c).await)?;
    Ok(rows
        .into_iter()
        .map(|(provider, subject, created, seen)| LinkedIdentity {
            provider,
            subject,
            created_at: from_micros(created),
            last_seen_at: from_micros(seen),
        })
        .collect())
}

/// A sign-in started at a provider, waiting for its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFlow {
    pub id: String,
    pub provider: String,
    pub browser_hash: String,
    pub nonce: Option<String>,
    pub pkce_verifier: Option<String>,
    pub next: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_flow(conn: &mut Conn, flow: &SignInFlow) -> Result<()> {
    let sql = "INSERT INTO sign_in_flows (id, provider, browser_hash, nonce, pkce_verifier, next, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(&flow.id)
        .bind(&flow.provider)
        .bind(&flow.browser_hash)
        .bind(&flow.nonce)
        .bind(&flow.pkce_verifier)
        .bind(&flow.next)
        .bind(to_micros(flow.created_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Takes a flow out (it serves once): the row is deleted and returned.
pub async fn take_flow(conn: &mut Conn, id: &str) -> Result<Option<SignInFlow>> {
    let sql = "DELETE FROM sign_in_flows WHERE id = $1 \
        RETURNING id, provider, browser_hash, nonce, pkce_verifier, next, created_at";
    type Row = (String, String, String, Option<String>, Option<String>, String, i64);
    let row: Option<Row> = on_conn!(conn, |c| sqlx::query_as(sql).bind(id).fetch_optional(&mut *c).await)?;
    Ok(row.map(|(id, provider, browser_hash, nonce, pkce_verifier, next, created)| SignInFlow {
        id,
        provider,
        browser_hash,
        nonce,
        pkce_verifier,
        next,
        created_at: from_micros(created),
    }))
}

/// Forgets flows started before `before` (abandoned at the provider).
pub async fn delete_flows_before(conn: &mut Conn, before: DateTime<Utc>) -> Result<u64> {
    let sql = "DELETE FROM sign_in_flows WHERE created_at < $1";
    Ok(on_conn!(conn, |c| sqlx::query(sql).bind(to_micros(before)).execute(&mut *c).await.map(|r| r.rows_affected()))?)
}

/// One change to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEvent {
    pub actor: Option<UserId>,
    pub actor_name: Option<String>,
    /// `admin`, or `provider:<name>` for a change read from a provider at sign-in.
    pub source: String,
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub at: DateTime<Utc>,
}

pub async fn insert_user_event(conn: &mut Conn, user: UserId, event: &UserEvent) -> Result<()> {
    let sql = "INSERT INTO user_events (user_id, actor_id, source, field, old_value, new_value, at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(user.0)
        .bind(event.actor.map(|a| a.0))
        .bind(&event.source)
        .bind(&event.field)
        .bind(&event.old)
        .bind(&event.new)
        .bind(to_micros(event.at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_user_events(conn: &mut Conn, user: UserId, limit: i64) -> Result<Vec<UserEvent>> {
    let sql = "SELECT e.actor_id, a.name, e.source, e.field, e.old_value, e.new_value, e.at FROM user_events e \
        LEFT JOIN users a ON a.id = e.actor_id WHERE e.user_id = $1 ORDER BY e.at DESC, e.id DESC LIMIT $2";
    type Row = (Option<i64>, Option<String>, String, String, Option<String>, Option<String>, i64);
    let rows: Vec<Row> = on_conn!(conn, |c| sqlx::query_as(sql).bind(user.0).bind(limit).fetch_all(&mut *c).await)?;
    Ok(rows
        .into_iter()
        .map(|(actor, actor_name, source, field, old, new, at)| UserEvent {
            actor: actor.map(UserId),
            actor_name,
            source,
            field,
            old,
            new,
            at: from_micros(at),
        })
        .collect())
}

/// Marks a session as opened by a provider, with its reference there.
pub async fn set_session_provider(
    conn: &mut Conn,
    id_hash: &str,
    provider: &str,
    reference_hash: Option<&str>,
    logout_hint: Option<&str>,
) -> Result<()> {
    let sql = "UPDATE sessions SET provider = $1, provider_session = $2, provider_logout_hint = $3 WHERE id_hash = $4";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(provider)
        .bind(reference_hash)
        .bind(logout_hint)
        .bind(id_hash)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Whether a provider's reference (a CAS service ticket's hash) already opened a session.
pub async fn provider_reference_used(conn: &mut Conn, provider: &str, reference_hash: &str) -> Result<bool> {
    let sql = "SELECT COUNT(*) FROM sessions WHERE provider = $1 AND provider_session = $2";
    let n: i64 =
        on_conn!(conn, |c| sqlx::query_scalar(sql).bind(provider).bind(reference_hash).fetch_one(&mut *c).await)?;
    Ok(n > 0)
}

/// Ends the sessions a provider's single logout names; returns how many.
pub async fn delete_provider_sessions(conn: &mut Conn, provider: &str, reference_hash: &str) -> Result<u64> {
    let sql = "DELETE FROM sessions WHERE provider = $1 AND provider_session = $2";
    Ok(on_conn!(conn, |c| sqlx::query(sql)
        .bind(provider)
        .bind(reference_hash)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// The provider of a session and what its logout wants back.
pub async fn find_session_provider(conn: &mut Conn, id_hash: &str) -> Result<Option<(String, Option<String>)>> {
    let sql = "SELECT provider, provider_logout_hint FROM sessions WHERE id_hash = $1 AND provider IS NOT NULL";
    Ok(on_conn!(conn, |c| sqlx::query_as(sql).bind(id_hash).fetch_optional(&mut *c).await)?)
}
