//! Loads the workflows seeded by the migrations.

use crate::db::{decode, Conn, Result};
use guichet_domain::ticket::TicketType;
use guichet_domain::workflow::{StatusCategory, StatusDef, Transition, Workflow, Workflows};

#[derive(sqlx::FromRow)]
struct StatusRow {
    ticket_type: String,
    status: String,
    category: String,
    label_fr: String,
    label_en: String,
    initial: bool,
}

#[derive(sqlx::FromRow)]
struct TransitionRow {
    ticket_type: String,
    from_status: String,
    to_status: String,
    requester_allowed: bool,
}

pub async fn load_workflows(conn: &mut Conn) -> Result<Workflows> {
    let statuses: Vec<StatusRow> = on_conn!(conn, |c| {
        sqlx::query_as(
        "SELECT ticket_type, status, category, label_fr, label_en, initial FROM workflow_statuses ORDER BY ticket_type, position"
    )
    .fetch_all(&mut *c)
    .await
    })?;
    let transitions: Vec<TransitionRow> = on_conn!(conn, |c| {
        sqlx::query_as(
        "SELECT ticket_type, from_status, to_status, requester_allowed FROM workflow_transitions ORDER BY ticket_type, from_status, to_status"
    )
    .fetch_all(&mut *c)
    .await
    })?;
    let mut workflows = Vec::new();
    for ticket_type in TicketType::ALL.iter().copied() {
        let code = ticket_type.as_str();
        let statuses = statuses
            .iter()
            .filter(|s| s.ticket_type == code)
            .map(|s| {
                Ok(StatusDef {
                    code: s.status.clone(),
                    category: decode(&s.category, StatusCategory::parse)?,
                    label_fr: s.label_fr.clone(),
                    label_en: s.label_en.clone(),
                    initial: s.initial,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut transitions: Vec<Transition> = transitions
            .iter()
            .filter(|t| t.ticket_type == code)
            .map(|t| Transition {
                from: t.from_status.clone(),
                to: t.to_status.clone(),
                requester_allowed: t.requester_allowed,
            })
            .collect();
        // Keep the workflow's own order of statuses for targets, so error
        // messages list them as a person would read them.
        transitions.sort_by_key(|t| {
            (statuses.iter().position(|s| s.code == t.from), statuses.iter().position(|s| s.code == t.to))
        });
        workflows.push(Workflow { ticket_type, statuses, transitions });
    }
    Ok(Workflows(workflows))
}
