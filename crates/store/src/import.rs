//! Tickets imported from another desk: found by their key there (the
//! alias, migration 0029) and written with their own dates.

use crate::db::{to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::TicketId;

/// An imported ticket's row.
#[derive(Debug, Clone)]
pub struct ImportedRow<'a> {
    pub alias: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub ticket_type: &'a str,
    pub status: &'a str,
    pub priority: &'a str,
    pub requester_id: i64,
    pub establishment_id: i64,
    pub assignee_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

pub async fn find_by_alias(conn: &mut Conn, alias: &str) -> Result<Option<TicketId>> {
    let id: Option<i64> = on_conn!(conn, |c| sqlx::query_scalar("SELECT id FROM tickets WHERE alias = $1")
        .bind(alias)
        .fetch_optional(&mut *c)
        .await)?;
    Ok(id.map(TicketId))
}

/// Files an imported ticket at level 1, with no service-level clock: its
/// history happened elsewhere.
pub async fn insert_imported(conn: &mut Conn, row: &ImportedRow<'_>) -> Result<TicketId> {
    let sql = "INSERT INTO tickets (title, description, ticket_type, status, priority, channel, tier, requester_id, \
        establishment_id, assignee_id, created_at, updated_at, resolved_at, closed_at, alias, awaiting_desk) \
        VALUES ($1, $2, $3, $4, $5, 'api', 'support', $6, $7, $8, $9, $10, $11, $12, $13, FALSE) RETURNING id";
    let id: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(row.title)
        .bind(row.description)
        .bind(row.ticket_type)
        .bind(row.status)
        .bind(row.priority)
        .bind(row.requester_id)
        .bind(row.establishment_id)
        .bind(row.assignee_id)
        .bind(to_micros(row.created_at))
        .bind(to_micros(row.updated_at))
        .bind(row.resolved_at.map(to_micros))
        .bind(row.closed_at.map(to_micros))
        .bind(row.alias)
        .fetch_one(&mut *c)
        .await)?;
    Ok(TicketId(id))
}
