//! Bulk loading for the demo data set: multi-row inserts with explicit ids,
//! in large transactions, so that a million tickets load in minutes.

use crate::db::{Backend, Conn, Result};
use sqlx::{Database, QueryBuilder};

/// A full ticket row with its id chosen by the caller.
#[derive(Debug, Clone)]
pub struct BulkTicket {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub ticket_type: &'static str,
    pub status: &'static str,
    pub priority: &'static str,
    pub category_id: Option<i64>,
    pub channel: &'static str,
    pub tier: &'static str,
    pub requester_id: i64,
    pub establishment_id: i64,
    pub assignee_id: Option<i64>,
    pub repro_service: Option<String>,
    pub repro_outcome: Option<&'static str>,
    pub resolution: Option<&'static str>,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub first_response_due: Option<i64>,
    pub resolution_due: Option<i64>,
    pub sla_state: Option<&'static str>,
    pub sla_next_check_at: Option<i64>,
    /// The last public message is the requester's, or there is none.
    pub awaiting_desk: bool,
}

#[derive(Debug, Clone)]
pub struct BulkComment {
    pub id: i64,
    pub ticket_id: i64,
    pub author_id: i64,
    pub body: String,
    pub internal: bool,
    pub channel: &'static str,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct BulkEvent {
    pub ticket_id: i64,
    pub actor_id: Option<i64>,
    pub at: i64,
    pub field: &'static str,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub internal: bool,
}

/// The highest id in each table the demo fills, so that new rows follow.
pub async fn max_ids(conn: &mut Conn) -> Result<(i64, i64)> {
    let tickets: i64 =
        on_conn!(conn, |c| sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM tickets").fetch_one(&mut *c).await)?;
    let comments: i64 =
        on_conn!(conn, |c| sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM comments").fetch_one(&mut *c).await)?;
    Ok((tickets, comments))
}

/// Rows per statement: below SQLite's 32,766 parameters for the widest table.
const CHUNK: usize = 700;

fn push_tickets<'a, DB>(qb: &mut QueryBuilder<'a, DB>, rows: &'a [BulkTicket])
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(
        "INSERT INTO tickets (id, title, description, ticket_type, status, priority, category_id, channel, tier, \
         requester_id, establishment_id, assignee_id, repro_service, repro_outcome, resolution, created_at, updated_at, \
         first_response_at, resolved_at, closed_at, first_response_due, resolution_due, sla_state, sla_checked_at, sla_next_check_at, awaiting_desk) ",
    );
    qb.push_values(rows, |mut b, t| {
        b.push_bind(t.id)
            .push_bind(t.title.as_str())
            .push_bind(t.description.as_str())
            .push_bind(t.ticket_type)
            .push_bind(t.status)
            .push_bind(t.priority)
            .push_bind(t.category_id)
            .push_bind(t.channel)
            .push_bind(t.tier)
            .push_bind(t.requester_id)
            .push_bind(t.establishment_id)
            .push_bind(t.assignee_id)
            .push_bind(t.repro_service.as_deref())
            .push_bind(t.repro_outcome)
            .push_bind(t.resolution)
            .push_bind(t.created_at)
            .push_bind(t.updated_at)
            .push_bind(t.first_response_at)
            .push_bind(t.resolved_at)
            .push_bind(t.closed_at)
            .push_bind(t.first_response_due)
            .push_bind(t.resolution_due)
            .push_bind(t.sla_state)
            .push_bind(t.updated_at)
            .push_bind(t.sla_next_check_at)
            .push_bind(t.awaiting_desk);
    });
}

fn push_comments<'a, DB>(qb: &mut QueryBuilder<'a, DB>, rows: &'a [BulkComment])
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push("INSERT INTO comments (id, ticket_id, author_id, body, internal, channel, created_at) ");
    qb.push_values(rows, |mut b, c| {
        b.push_bind(c.id)
            .push_bind(c.ticket_id)
            .push_bind(c.author_id)
            .push_bind(c.body.as_str())
            .push_bind(c.internal)
            .push_bind(c.channel)
            .push_bind(c.created_at);
    });
}

fn push_events<'a, DB>(qb: &mut QueryBuilder<'a, DB>, rows: &'a [BulkEvent])
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push("INSERT INTO ticket_events (ticket_id, actor_id, at, field, old_value, new_value, internal) ");
    qb.push_values(rows, |mut b, e| {
        b.push_bind(e.ticket_id)
            .push_bind(e.actor_id)
            .push_bind(e.at)
            .push_bind(e.field)
            .push_bind(e.old_value.as_deref())
            .push_bind(e.new_value.as_deref())
            .push_bind(e.internal);
    });
}

/// Inserts one batch of tickets with their comments and history.
pub async fn insert_batch(
    conn: &mut Conn,
    tickets: &[BulkTicket],
    comments: &[BulkComment],
    events: &[BulkEvent],
) -> Result<()> {
    for chunk in tickets.chunks(CHUNK) {
        on_conn!(conn, |c| {
            let mut qb = QueryBuilder::new("");
            push_tickets(&mut qb, chunk);
            qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
    }
    for chunk in comments.chunks(CHUNK) {
        on_conn!(conn, |c| {
            let mut qb = QueryBuilder::new("");
            push_comments(&mut qb, chunk);
            qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
    }
    for chunk in events.chunks(CHUNK) {
        on_conn!(conn, |c| {
            let mut qb = QueryBuilder::new("");
            push_events(&mut qb, chunk);
            qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Explicit ids leave PostgreSQL's identity sequences behind: move them past
/// the highest id so that ordinary inserts go on working. SQLite needs nothing.
pub async fn reset_sequences(conn: &mut Conn) -> Result<()> {
    if conn.backend() == Backend::Postgres {
        for table in ["tickets", "comments", "ticket_events", "establishments", "users"] {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
            );
            on_conn!(conn, |c| sqlx::query(&sql).execute(&mut *c).await.map(|r| r.rows_affected()))?;
        }
    }
    Ok(())
}

/// The desk's use of the canned responses a new installation comes with, in
/// proportion to the demo's tickets: the password reset is the most used, as
/// on a real desk, so the composer's picker offers it first.
pub async fn canned_usage(conn: &mut Conn, tickets: usize) -> Result<()> {
    let tickets = i64::try_from(tickets).unwrap_or(i64::MAX);
    for (name, per_thousand) in
        [("Mot de passe réinitialisé", 120), ("Demande de précisions", 60), ("Compte sans adresse e-mail valide", 30)]
    {
        let uses = (tickets.saturating_mul(per_thousand) / 1000).max(1);
        on_conn!(conn, |c| sqlx::query(
            "UPDATE canned_responses SET use_count = $1 WHERE name = $2 AND owner_id IS NULL"
        )
        .bind(uses)
        .bind(name)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Refreshes the planner's statistics after a bulk load. On PostgreSQL a
/// VACUUM also fills the visibility map, without which index-only scans go
/// back to the table for every row. Not inside a transaction.
pub async fn analyze(conn: &mut Conn) -> Result<()> {
    let sql = match conn.backend() {
        Backend::Sqlite => "ANALYZE",
        Backend::Postgres => "VACUUM ANALYZE",
    };
    on_conn!(conn, |c| sqlx::query(sql).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(())
}
