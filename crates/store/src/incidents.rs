//! Major incidents, the tickets they gather, links between tickets, and the
//! HELP page's contacts.

use crate::db::{from_micros, opt_from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::actor::TicketScope;
use guichet_domain::ids::{EstablishmentId, TicketId, UserId};
use guichet_domain::incident::{Candidate, LinkKind, NewIncident};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub service: String,
    pub public_message: String,
    pub started_at: DateTime<Utc>,
    pub declared_by: String,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_message: Option<String>,
}

type IncidentRow = (i64, String, String, String, i64, String, i64, Option<i64>, Option<String>);

fn incident(row: IncidentRow) -> Incident {
    let (id, title, service, public_message, started_at, declared_by, created_at, resolved_at, resolution_message) =
        row;
    Incident {
        id,
        title,
        service,
        public_message,
        started_at: from_micros(started_at),
        declared_by,
        created_at: from_micros(created_at),
        resolved_at: opt_from_micros(resolved_at),
        resolution_message,
    }
}

const SELECT: &str = "SELECT i.id, i.title, i.service, i.public_message, i.started_at, u.name, i.created_at, \
    i.resolved_at, i.resolution_message FROM incidents i JOIN users u ON u.id = i.declared_by";

pub async fn insert_incident(conn: &mut Conn, new: &NewIncident, by: UserId, now: DateTime<Utc>) -> Result<i64> {
    let sql = "INSERT INTO incidents (title, service, public_message, started_at, declared_by, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(&new.title)
        .bind(&new.service)
        .bind(&new.public_message)
        .bind(to_micros(new.started_at))
        .bind(by.0)
        .bind(to_micros(now))
        .fetch_one(&mut *c)
        .await)?)
}

pub async fn find_incident(conn: &mut Conn, id: i64) -> Result<Incident> {
    let sql = format!("{SELECT} WHERE i.id = $1");
    let row: Option<IncidentRow> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await)?;
    row.map(incident).ok_or(crate::StoreError::NotFound)
}

/// Open incidents first, then the most recent.
pub async fn list_incidents(conn: &mut Conn, open_only: bool, limit: i64) -> Result<Vec<Incident>> {
    let filter = if open_only { " WHERE i.resolved_at IS NULL" } else { "" };
    let sql = format!(
        "{SELECT}{filter} ORDER BY CASE WHEN i.resolved_at IS NULL THEN 0 ELSE 1 END, i.started_at DESC, i.id DESC LIMIT $1"
    );
    let rows: Vec<IncidentRow> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(limit).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(incident).collect())
}

pub async fn resolve_incident(conn: &mut Conn, id: i64, message: &str, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE incidents SET resolved_at = $1, resolution_message = $2 WHERE id = $3 AND resolved_at IS NULL";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(message)
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

pub async fn set_ticket_incident(conn: &mut Conn, ticket: TicketId, incident: Option<i64>) -> Result<()> {
    let sql = "UPDATE tickets SET incident_id = $1 WHERE id = $2";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(incident)
        .bind(ticket.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// The tickets of an incident within a scope, oldest first.
pub async fn incident_tickets(conn: &mut Conn, incident: i64, scope: &TicketScope) -> Result<Vec<TicketId>> {
    let mut sql = "SELECT id FROM tickets WHERE incident_id = $1".to_owned();
    if let TicketScope::Establishments(ids) = scope {
        let ids: Vec<String> = ids.iter().map(|e| e.0.to_string()).collect();
        // Ids are integers from the session, never user text.
        sql.push_str(&format!(
            " AND establishment_id IN ({})",
            if ids.is_empty() { "NULL".into() } else { ids.join(",") }
        ));
    }
    sql.push_str(" ORDER BY created_at, id");
    let ids: Vec<i64> = on_conn!(conn, |c| sqlx::query_scalar(&sql).bind(incident).fetch_all(&mut *c).await)?;
    Ok(ids.into_iter().map(TicketId).collect())
}

/// Open tickets filed since `since` that belong to no incident and are the
/// desk's (not a school's own HELP requests): what an incident could gather.
/// At most `limit`, the most recent, each with the start of its description
/// only: likeness is judged on the words a report starts with, and the
/// dashboard must not read thousands of descriptions in an outage.
pub async fn recent_candidates(
    conn: &mut Conn,
    since: DateTime<Utc>,
    statuses: &[String],
    limit: i64,
) -> Result<Vec<Candidate>> {
    let sql = "SELECT id, establishment_id, created_at, title, SUBSTR(description, 1, 500), status FROM tickets \
               WHERE created_at >= $1 AND incident_id IS NULL AND tier <> 'establishment' \
               ORDER BY created_at DESC LIMIT $2";
    let mut rows: Vec<(i64, i64, i64, String, String, String)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(to_micros(since)).bind(limit).fetch_all(&mut *c).await)?;
    rows.reverse();
    let out = rows
        .into_iter()
        .filter(|row| statuses.contains(&row.5))
        .map(|(id, establishment, created_at, title, description, _)| Candidate {
            id: TicketId(id),
            establishment: EstablishmentId(establishment),
            created_at: from_micros(created_at),
            text: format!("{title}\n{description}"),
        })
        .collect();
    Ok(out)
}

/// A link as seen from one ticket: its kind read from that ticket
/// (`outgoing`) or from the other one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub kind: LinkKind,
    pub outgoing: bool,
    pub other: TicketId,
    pub other_title: String,
    pub other_status: String,
    pub other_establishment: EstablishmentId,
}

pub async fn insert_link(
    conn: &mut Conn,
    from: TicketId,
    kind: LinkKind,
    to: TicketId,
    by: UserId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let sql =
        "INSERT INTO ticket_links (ticket_id, kind, other_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5) \
               ON CONFLICT DO NOTHING";
    let done = on_conn!(conn, |c| sqlx::query(sql)
        .bind(from.0)
        .bind(kind.as_str())
        .bind(to.0)
        .bind(by.0)
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

pub async fn delete_link(conn: &mut Conn, from: TicketId, kind: LinkKind, to: TicketId) -> Result<bool> {
    let sql = "DELETE FROM ticket_links WHERE ticket_id = $1 AND kind = $2 AND other_id = $3";
    let done = on_conn!(conn, |c| sqlx::query(sql)
        .bind(from.0)
        .bind(kind.as_str())
        .bind(to.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Every link of a ticket, both ways.
pub async fn list_links(conn: &mut Conn, ticket: TicketId) -> Result<Vec<Link>> {
    let sql = "SELECT l.kind, TRUE, t.id, t.title, t.status, t.establishment_id FROM ticket_links l \
               JOIN tickets t ON t.id = l.other_id WHERE l.ticket_id = $1 \
               UNION ALL SELECT l.kind, FALSE, t.id, t.title, t.status, t.establishment_id FROM ticket_links l \
               JOIN tickets t ON t.id = l.ticket_id WHERE l.other_id = $1 ORDER BY 3";
    let rows: Vec<(String, bool, i64, String, String, i64)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(ticket.0).fetch_all(&mut *c).await)?;
    rows.into_iter()
        .map(|(kind, outgoing, id, title, status, establishment)| {
            Ok(Link {
                kind: crate::db::decode(&kind, LinkKind::parse)?,
                outgoing,
                other: TicketId(id),
                other_title: title,
                other_status: status,
                other_establishment: EstablishmentId(establishment),
            })
        })
        .collect()
}

/// Moves a ticket's conversation and files into another ticket (a merge).
pub async fn move_conversation(conn: &mut Conn, from: TicketId, into: TicketId) -> Result<()> {
    for sql in [
        "UPDATE comments SET ticket_id = $1 WHERE ticket_id = $2",
        "UPDATE attachments SET ticket_id = $1 WHERE ticket_id = $2",
    ] {
        on_conn!(conn, |c| sqlx::query(sql)
            .bind(into.0)
            .bind(from.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// The end user who wrote through a HELP page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub email: Option<String>,
    pub profile: String,
    pub language: String,
}

pub async fn insert_contact(conn: &mut Conn, ticket: TicketId, contact: &Contact) -> Result<()> {
    let sql = "INSERT INTO ticket_contacts (ticket_id, name, email, profile, language) VALUES ($1, $2, $3, $4, $5)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(ticket.0)
        .bind(&contact.name)
        .bind(&contact.email)
        .bind(&contact.profile)
        .bind(&contact.language)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_contact(conn: &mut Conn, ticket: TicketId) -> Result<Option<Contact>> {
    let sql = "SELECT name, email, profile, language FROM ticket_contacts WHERE ticket_id = $1";
    let row: Option<(String, Option<String>, String, String)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(ticket.0).fetch_optional(&mut *c).await)?;
    Ok(row.map(|(name, email, profile, language)| Contact { name, email, profile, language }))
}

/// HELP messages filed for an establishment since an instant (the per-school rate limit).
pub async fn count_help_since(conn: &mut Conn, establishment: EstablishmentId, since: DateTime<Utc>) -> Result<i64> {
    let sql = "SELECT COUNT(*) FROM tickets WHERE establishment_id = $1 AND channel = 'help_form' AND created_at >= $2";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(establishment.0)
        .bind(to_micros(since))
        .fetch_one(&mut *c)
        .await)?)
}
