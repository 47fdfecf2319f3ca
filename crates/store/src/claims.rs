//! Claiming due rows of an outbox-like table (mail, webhook deliveries,
//! Jira issues): the one statement every sender uses, so that several nodes
//! never work on the same row.

use crate::db::{to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use sqlx::{postgres::PgRow, sqlite::SqliteRow, FromRow};

/// What to claim: `due` selects the keys of the due rows, reading `$3` as
/// now and `$4` as the limit; `lock_of` names its row source for PostgreSQL's
/// row lock when it joins (`" OF d"`), empty otherwise.
pub(crate) struct Claim<'a> {
    pub table: &'static str,
    pub key: &'static str,
    pub due: &'a str,
    pub lock_of: &'static str,
    pub columns: &'a str,
}

/// Marks the due rows as `holder`'s until `until` and returns them, in no
/// particular order.
pub(crate) async fn claim_rows<R>(
    conn: &mut Conn,
    claim: &Claim<'_>,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<R>>
where
    R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    // PostgreSQL: rows another sender is claiming right now are skipped, not
    // waited for. SQLite has one writer: the statement is atomic as it is.
    let lock = match conn.backend() {
        crate::Backend::Postgres => format!(" FOR UPDATE{} SKIP LOCKED", claim.lock_of),
        crate::Backend::Sqlite => String::new(),
    };
    let Claim { table, key, due, columns, .. } = claim;
    let sql = format!(
        "UPDATE {table} SET locked_by = $1, locked_until = $2 WHERE {key} IN ({due}{lock}) RETURNING {columns}"
    );
    Ok(on_conn!(conn, |c| sqlx::query_as::<_, R>(&sql)
        .bind(holder)
        .bind(to_micros(until))
        .bind(to_micros(now))
        .bind(limit)
        .fetch_all(&mut *c)
        .await)?)
}
