//! Sign-in attempts per key (an account, a client address) in a fixed
//! window, counted in the database: every node sees the same counts, and a
//! restart forgets nothing.

use crate::db::{from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};

/// Counts one attempt for `key` and returns the attempts in its window
/// (a new window starts when the last one began before `window_start_after`)
/// and when that window began.
pub async fn count_attempt(
    conn: &mut Conn,
    key: &str,
    now: DateTime<Utc>,
    window_start_after: DateTime<Utc>,
) -> Result<(i64, DateTime<Utc>)> {
    let sql = "INSERT INTO login_throttles (key, attempts, window_start) VALUES ($1, 1, $2) \
        ON CONFLICT (key) DO UPDATE SET \
        attempts = CASE WHEN login_throttles.window_start <= $3 THEN 1 ELSE login_throttles.attempts + 1 END, \
        window_start = CASE WHEN login_throttles.window_start <= $3 THEN excluded.window_start \
            ELSE login_throttles.window_start END \
        RETURNING attempts, window_start";
    let (attempts, start): (i64, i64) = on_conn!(conn, |c| sqlx::query_as(sql)
        .bind(key)
        .bind(to_micros(now))
        .bind(to_micros(window_start_after))
        .fetch_one(&mut *c)
        .await)?;
    Ok((attempts, from_micros(start)))
}

/// Takes back one attempt that turned out to be a success.
pub async fn forgive_attempt(conn: &mut Conn, key: &str) -> Result<()> {
    let sql = "UPDATE login_throttles SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0";
    on_conn!(conn, |c| sqlx::query(sql).bind(key).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Forgets a key's attempts (an account after a successful sign-in).
pub async fn clear_attempts(conn: &mut Conn, key: &str) -> Result<()> {
    let sql = "DELETE FROM login_throttles WHERE key = $1";
    on_conn!(conn, |c| sqlx::query(sql).bind(key).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Removes windows that began before `before`; returns how many.
pub async fn delete_expired_attempts(conn: &mut Conn, before: DateTime<Utc>) -> Result<u64> {
    let sql = "DELETE FROM login_throttles WHERE window_start < $1";
    Ok(on_conn!(conn, |c| sqlx::query(sql).bind(to_micros(before)).execute(&mut *c).await.map(|r| r.rows_affected()))?)
}
