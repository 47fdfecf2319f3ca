//! `/admin/mail`: the mailboxes' health, the quarantine and the outbox.

use super::i18n::t;
use super::session::{CsrfForm, Viewer};
use super::tickets::when;
use super::{back, error_text, render, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use guichet_app::mail::IngestOutcome;
use guichet_app::AppError;
use guichet_domain::user::Language;
use serde::Deserialize;

pub struct MailboxRow {
    pub name: String,
    pub last_success: String,
    pub last_error: String,
    pub failing_since: String,
    pub imported_today: i64,
    pub quarantined: i64,
    pub polled_by: String,
}

pub struct TaskRow {
    pub name: String,
    pub failing: bool,
    pub last_success: String,
    pub last_error: String,
    pub restarts: u32,
}

pub struct QuarantineRow {
    pub id: i64,
    pub mailbox: String,
    pub sender: String,
    pub subject: String,
    pub received: String,
    pub error: String,
}

pub struct OutboxRow {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub attempts: i64,
    pub next_attempt: String,
    pub failed: bool,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "admin_mail.html")]
struct MailPage {
    layout: Layout,
    mailboxes: Vec<MailboxRow>,
    tasks: Vec<TaskRow>,
    quarantine: Vec<QuarantineRow>,
    outbox: Vec<OutboxRow>,
}

fn admin_only(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.principal().actor.role == guichet_domain::user::Role::Admin {
        Ok(())
    } else {
        Err(PageError::app(AppError::Forbidden("administrators only".into()), viewer.lang))
    }
}

pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    let p = viewer.principal();
    let fail = |e| PageError::app(e, lang);
    let opt =
        |d: Option<chrono::DateTime<chrono::Utc>>| d.map_or_else(|| t(lang, "never").to_owned(), |d| when(d, lang));
    let mailboxes = state
        .app
        .mailbox_status(p)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|m| MailboxRow {
            name: m.name,
            last_success: opt(m.last_success_at),
            last_error: m.last_error.unwrap_or_default(),
            failing_since: m.failing_since.map(|d| when(d, lang)).unwrap_or_default(),
            imported_today: m.imported_since,
            quarantined: m.quarantined,
            polled_by: m.polled_by.unwrap_or_else(|| "—".into()),
        })
        .collect();
    let tasks = state
        .app
        .background_tasks(p)
        .map_err(fail)?
        .into_iter()
        .map(|t| TaskRow {
            name: t.name,
            failing: t.failing,
            last_success: opt(t.last_success_at),
            last_error: t.last_error.unwrap_or_default(),
            restarts: t.restarts,
        })
        .collect();
    let quarantine = state
        .app
        .list_quarantine(p)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|q| QuarantineRow {
            id: q.id,
            mailbox: q.mailbox.unwrap_or_default(),
            sender: q.sender.unwrap_or_default(),
            subject: q.subject.unwrap_or_default(),
            received: when(q.created_at, lang),
            error: q.error,
        })
        .collect();
    let outbox = state
        .app
        .unsent_mail(p)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|o| OutboxRow {
            id: o.id,
            recipient: o.mail.recipient,
            subject: o.mail.subject,
            attempts: o.attempts,
            next_attempt: when(o.next_attempt_at, lang),
            failed: o.failed_at.is_some(),
            last_error: o.last_error.unwrap_or_default(),
        })
        .collect();
    render(&MailPage { layout: Layout::new(&viewer, t(lang, "mail")), mailboxes, tasks, quarantine, outbox }, lang)
}

pub async fn raw(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let raw = state.app.quarantined_raw(viewer.principal(), id).await.map_err(|e| PageError::app(e, viewer.lang))?;
    let disposition = format!("attachment; filename=\"quarantine-{id}.eml\"");
    Ok(([(header::CONTENT_TYPE, "message/rfc822".to_owned()), (header::CONTENT_DISPOSITION, disposition)], raw)
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

fn outcome_text(o: &IngestOutcome, lang: Language) -> String {
    let fr = lang == Language::Fr;
    match o {
        IngestOutcome::Ticket { key, .. } if fr => format!("Importé : demande {key} créée."),
        IngestOutcome::Ticket { key, .. } => format!("Imported: request {key} filed."),
        IngestOutcome::Reply { key } | IngestOutcome::Note { key } | IngestOutcome::Automatic { key } if fr => {
            format!("Importé dans {key}.")
        }
        IngestOutcome::Reply { key } | IngestOutcome::Note { key } | IngestOutcome::Automatic { key } => {
            format!("Imported into {key}.")
        }
        IngestOutcome::Refused if fr => "Expéditeur inconnu : réponse envoyée.".into(),
        IngestOutcome::Refused => "Unknown sender: answered.".into(),
        IngestOutcome::Duplicate if fr => "Déjà importé.".into(),
        IngestOutcome::Duplicate => "Already imported.".into(),
        IngestOutcome::Quarantined { .. } => String::new(),
    }
}

pub async fn reprocess(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    match state.app.reprocess_quarantined(viewer.principal(), id).await {
        Ok(IngestOutcome::Quarantined { reason }) => Ok(back(&viewer, "/admin/mail", None, Some(&reason))),
        Ok(outcome) => Ok(back(&viewer, "/admin/mail", Some(&outcome_text(&outcome, lang)), None)),
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/admin/mail", None, Some(&error_text(&e, lang)))),
    }
}

pub async fn dismiss(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    state.app.dismiss_quarantined(viewer.principal(), id).await.map_err(|e| PageError::app(e, lang))?;
    Ok(back(
        &viewer,
        "/admin/mail",
        Some(if lang == Language::Fr { "Message écarté." } else { "Message set aside." }),
        None,
    ))
}

pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    state.app.retry_mail(viewer.principal(), id).await.map_err(|e| PageError::app(e, lang))?;
    Ok(back(&viewer, "/admin/mail", Some(if lang == Language::Fr { "Envoi relancé." } else { "Sending again." }), None))
}
