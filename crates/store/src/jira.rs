//! The Jira issues of escalated tickets (migration 0030): an outbox the sync
//! job claims as the mail's and the webhooks' are, and the comments copied.

use crate::db::{from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraIssue {
    pub ticket_id: i64,
    pub issue_key: Option<String>,
    pub state: String,
    pub summary: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

type Row = (i64, Option<String>, String, String, i64, Option<String>, i64);

const COLUMNS: &str = "ticket_id, issue_key, state, summary, attempts, last_error, created_at";

fn issue(r: Row) -> JiraIssue {
    JiraIssue {
        ticket_id: r.0,
        issue_key: r.1,
        state: r.2,
        summary: r.3,
        attempts: r.4,
        last_error: r.5,
        created_at: from_micros(r.6),
    }
}

/// Queues the issue of an escalation, in its transaction; a ticket escalated
/// again keeps its issue, which gets the new summary as a comment.
pub async fn queue_issue(conn: &mut Conn, ticket: i64, summary: &str, now: DateTime<Utc>) -> Result<()> {
    let sql = "INSERT INTO jira_issues (ticket_id, summary, next_attempt_at, created_at, updated_at) \
               VALUES ($1, $2, $3, $3, $3) ON CONFLICT (ticket_id) DO UPDATE SET state = 'pending', \
               summary = excluded.summary, attempts = 0, next_attempt_at = excluded.next_attempt_at, last_error = NULL, \
               updated_at = excluded.updated_at";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(ticket)
        .bind(summary)
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_by_ticket(conn: &mut Conn, ticket: i64) -> Result<Option<JiraIssue>> {
    let sql = format!("SELECT {COLUMNS} FROM jira_issues WHERE ticket_id = $1");
    let row: Option<Row> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(ticket).fetch_optional(&mut *c).await)?;
    Ok(row.map(issue))
}

pub async fn find_by_key(conn: &mut Conn, key: &str) -> Result<Option<JiraIssue>> {
    let sql = format!("SELECT {COLUMNS} FROM jira_issues WHERE issue_key = $1");
    let row: Option<Row> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(key).fetch_optional(&mut *c).await)?;
    Ok(row.map(issue))
}

/// Claims issues due at `now` for `holder` until `until`.
pub async fn claim_due(
    conn: &mut Conn,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<JiraIssue>> {
    let due = "SELECT ticket_id FROM jira_issues WHERE state = 'pending' AND next_attempt_at <= $3 \
               AND (locked_until IS NULL OR locked_until < $3) ORDER BY next_attempt_at LIMIT $4";
    let claim = crate::claims::Claim { table: "jira_issues", key: "ticket_id", due, lock_of: "", columns: COLUMNS };
    let rows: Vec<Row> = crate::claims::claim_rows(conn, &claim, holder, now, until, limit).await?;
    Ok(rows.into_iter().map(issue).collect())
}

/// Records the issue's key once it exists, under `holder`'s claim.
pub async fn mark_created(conn: &mut Conn, ticket: i64, key: &str, holder: &str, now: DateTime<Utc>) -> Result<bool> {
    let sql = "UPDATE jira_issues SET state = 'created', issue_key = $1, attempts = attempts + 1, last_error = NULL, \
               locked_by = NULL, locked_until = NULL, updated_at = $2 WHERE ticket_id = $3 AND locked_by = $4";
    let n = on_conn!(conn, |c| sqlx::query(sql)
        .bind(key)
        .bind(to_micros(now))
        .bind(ticket)
        .bind(holder)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// A failed try: tried again at `retry_at`, or given up (None).
pub async fn mark_failed(
    conn: &mut Conn,
    ticket: i64,
    holder: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = "UPDATE jira_issues SET state = $1, attempts = attempts + 1, last_error = $2, next_attempt_at = $3, \
               locked_by = NULL, locked_until = NULL, updated_at = $4 WHERE ticket_id = $5 AND locked_by = $6";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(if retry_at.is_some() { "pending" } else { "failed" })
        .bind(error)
        .bind(to_micros(retry_at.unwrap_or(now)))
        .bind(to_micros(now))
        .bind(ticket)
        .bind(holder)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Remembers a Jira comment copied; false when it already was.
pub async fn comment_seen(conn: &mut Conn, key: &str, comment: &str) -> Result<bool> {
    let sql = "INSERT INTO jira_comments (issue_key, comment_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    let n =
        on_conn!(conn, |c| sqlx::query(sql).bind(key).bind(comment).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(n == 0)
}
