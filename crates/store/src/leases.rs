//! Leases in the database (see migration 0021). Times come from the
//! database's clock, the one clock every node shares.

use crate::db::{from_micros, Conn, Result};
use chrono::{DateTime, Utc};

/// The leases table as migration 0021 makes it, for a database that must
/// hold a lease before it can run that migration (see `Db::migrate`).
pub(crate) const CREATE_TABLE_IF_MISSING: &str = "CREATE TABLE IF NOT EXISTS leases (\
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, term BIGINT NOT NULL, expires_at BIGINT NOT NULL)";

/// A holder name used once, for a lease held by one piece of work (not a
/// node): unique across processes and within this one.
pub(crate) fn one_time_holder(what: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    format!("{what}@{host}:{}:{n}", std::process::id())
}

/// The database's clock in microseconds, as SQL.
fn now_sql(conn: &Conn) -> &'static str {
    match conn.backend() {
        crate::Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
        crate::Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
    }
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub name: String,
    pub holder: String,
    pub term: i64,
    pub expires_at: DateTime<Utc>,
}

/// Takes or renews `name` for `holder` for `ttl_micros`: it is taken when
/// free, expired, or already the holder's. Returns the term held, or None
/// when another holder has it.
pub async fn acquire_lease(conn: &mut Conn, name: &str, holder: &str, ttl_micros: i64) -> Result<Option<i64>> {
    let now = now_sql(conn);
    let sql = format!(
        "INSERT INTO leases (name, holder, term, expires_at) VALUES ($1, $2, 1, {now} + $3) \
         ON CONFLICT (name) DO UPDATE SET \
           term = CASE WHEN leases.holder = excluded.holder THEN leases.term ELSE leases.term + 1 END, \
           holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE leases.holder = excluded.holder OR leases.expires_at < {now} \
         RETURNING term"
    );
    Ok(on_conn!(conn, |c| sqlx::query_scalar(&sql)
        .bind(name)
        .bind(holder)
        .bind(ttl_micros)
        .fetch_optional(&mut *c)
        .await)?)
}

/// The channel on which PostgreSQL tells the other nodes that a lease was
/// given back, so that one takes it at once rather than at its next try.
pub const RELEASED_CHANNEL: &str = "guichet_leases";

/// Gives a lease back at once (a node stopping), if still the holder's.
pub async fn release_lease(conn: &mut Conn, name: &str, holder: &str) -> Result<()> {
    let sql = "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2";
    on_conn!(conn, |c| sqlx::query(sql).bind(name).bind(holder).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    if let crate::db::Raw::Postgres(c) = conn.raw() {
        sqlx::query("SELECT pg_notify($1, $2)").bind(RELEASED_CHANNEL).bind(name).execute(&mut *c).await?;
    }
    Ok(())
}

/// Whether `holder` still holds `name` in `term`. In a PostgreSQL transaction
/// the lease row stays locked until commit: nobody takes the lease over while
/// the writes it guards are being made.
pub async fn holds_lease(conn: &mut Conn, name: &str, holder: &str, term: i64) -> Result<bool> {
    let now = now_sql(conn);
    let lock = if matches!(conn, Conn::PostgresTx(_)) { " FOR UPDATE" } else { "" };
    let sql =
        format!("SELECT term FROM leases WHERE name = $1 AND holder = $2 AND term = $3 AND expires_at > {now}{lock}");
    let held: Option<i64> =
        on_conn!(conn, |c| sqlx::query_scalar(&sql).bind(name).bind(holder).bind(term).fetch_optional(&mut *c).await)?;
    Ok(held.is_some())
}

/// How long until the lease `name` lapses, by the database's clock (zero
/// when it has; None when there is no such lease).
pub async fn lease_remaining(conn: &mut Conn, name: &str) -> Result<Option<i64>> {
    let sql = format!("SELECT expires_at - {} FROM leases WHERE name = $1", now_sql(conn));
    let left: Option<i64> = on_conn!(conn, |c| sqlx::query_scalar(&sql).bind(name).fetch_optional(&mut *c).await)?;
    Ok(left.map(|micros| micros.max(0)))
}

/// Every lease, held or lapsed.
pub async fn list_leases(conn: &mut Conn) -> Result<Vec<LeaseRecord>> {
    let sql = "SELECT name, holder, term, expires_at FROM leases ORDER BY name";
    let rows: Vec<(String, String, i64, i64)> = on_conn!(conn, |c| sqlx::query_as(sql).fetch_all(&mut *c).await)?;
    Ok(rows
        .into_iter()
        .map(|(name, holder, term, expires_at)| LeaseRecord { name, holder, term, expires_at: from_micros(expires_at) })
        .collect())
}

/// The database's clock now.
pub async fn database_now(conn: &mut Conn) -> Result<DateTime<Utc>> {
    let sql = format!("SELECT {}", now_sql(conn));
    let micros: i64 = on_conn!(conn, |c| sqlx::query_scalar(&sql).fetch_one(&mut *c).await)?;
    Ok(from_micros(micros))
}
