//! History entries: one row per changed field.

use crate::db::{from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::history::{FieldChange, HistoryEntry};
use guichet_domain::ids::{TicketId, UserId};

pub async fn insert_events(
    conn: &mut Conn,
    ticket: TicketId,
    actor: Option<UserId>,
    changes: &[FieldChange],
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = "INSERT INTO ticket_events (ticket_id, actor_id, at, field, old_value, new_value, internal) \
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    for change in changes {
        on_conn!(conn, |c| sqlx::query(sql)
            .bind(ticket.0)
            .bind(actor.map(|a| a.0))
            .bind(to_micros(now))
            .bind(change.field)
            .bind(&change.old)
            .bind(&change.new)
            .bind(change.internal)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct EventRow {
    ticket_id: i64,
    actor_id: Option<i64>,
    actor_name: Option<String>,
    at: i64,
    field: String,
    old_value: Option<String>,
    new_value: Option<String>,
    internal: bool,
}

pub async fn list_events(conn: &mut Conn, ticket: TicketId, include_internal: bool) -> Result<Vec<HistoryEntry>> {
    let sql =
        "SELECT e.ticket_id, e.actor_id, u.name AS actor_name, e.at, e.field, e.old_value, e.new_value, e.internal \
               FROM ticket_events e LEFT JOIN users u ON u.id = e.actor_id \
               WHERE e.ticket_id = $1 AND ($2 OR NOT e.internal) ORDER BY e.at, e.id";
    let rows: Vec<EventRow> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(ticket.0).bind(include_internal).fetch_all(&mut *c).await)?;
    Ok(rows
        .into_iter()
        .map(|r| HistoryEntry {
            ticket: TicketId(r.ticket_id),
            actor: r.actor_id.map(UserId),
            actor_name: r.actor_name,
            at: from_micros(r.at),
            field: r.field,
            old: r.old_value,
            new: r.new_value,
            internal: r.internal,
        })
        .collect())
}
