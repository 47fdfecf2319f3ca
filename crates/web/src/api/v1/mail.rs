//! `/mailboxes`, `/mail/quarantine`, `/mail/outbox`: the e-mail channel's health.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Auth;
use crate::extract::Path;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use guichet_app::mail::IngestOutcome;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct MailboxView {
    pub name: String,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Set while the mailbox fails; cleared by the next success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Messages imported since midnight (desk time).
    pub imported_today: i64,
    /// Messages of this mailbox waiting in quarantine.
    pub quarantined: i64,
    /// The node polling it now, when several serve the database.
    pub polled_by: Option<String>,
}

/// The configured mailboxes and their health (the desk).
#[utoipa::path(get, path = "/mailboxes", tag = "mail",
    responses((status = 200, body = Vec<MailboxView>), (status = 403, body = ErrorBody)))]
pub async fn list_mailboxes(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<MailboxView>>> {
    let list = state.app.mailbox_status(&p).await?;
    Ok(axum::Json(
        list.into_iter()
            .map(|m| MailboxView {
                name: m.name,
                last_success_at: m.last_success_at,
                last_error: m.last_error,
                last_error_at: m.last_error_at,
                failing_since: m.failing_since,
                imported_today: m.imported_since,
                quarantined: m.quarantined,
                polled_by: m.polled_by,
            })
            .collect(),
    ))
}

/// This node's background tasks: the service-level clock, each mailbox's
/// poller, the outbox sender, with their last success, last error and
/// restarts (the desk).
#[utoipa::path(get, path = "/tasks", tag = "mail",
    responses((status = 200, body = Vec<guichet_app::tasks::TaskState>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_tasks(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<axum::Json<Vec<guichet_app::tasks::TaskState>>> {
    Ok(axum::Json(state.app.background_tasks(&p)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuarantinedView {
    pub id: i64,
    pub mailbox: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub size: i64,
    /// Why the message could not be imported.
    pub error: String,
    pub received_at: DateTime<Utc>,
}

/// Messages that could not be imported (administrators).
#[utoipa::path(get, path = "/mail/quarantine", tag = "mail",
    responses((status = 200, body = Vec<QuarantinedView>), (status = 403, body = ErrorBody)))]
pub async fn list_quarantine(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<axum::Json<Vec<QuarantinedView>>> {
    let list = state.app.list_quarantine(&p).await?;
    Ok(axum::Json(
        list.into_iter()
            .map(|q| QuarantinedView {
                id: q.id,
                mailbox: q.mailbox,
                sender: q.sender,
                subject: q.subject,
                size: q.size,
                error: q.error,
                received_at: q.created_at,
            })
            .collect(),
    ))
}

/// The raw message, as received (administrators).
#[utoipa::path(get, path = "/mail/quarantine/{id}/raw", tag = "mail", params(("id" = i64, Path)),
    responses((status = 200, content_type = "message/rfc822"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_quarantined_raw(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let raw = state.app.quarantined_raw(&p, id).await?;
    let disposition = format!("attachment; filename=\"quarantine-{id}.eml\"");
    Ok(([(header::CONTENT_TYPE, "message/rfc822".to_owned()), (header::CONTENT_DISPOSITION, disposition)], raw)
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestView {
    /// ticket, reply, note, automatic, refused, duplicate or quarantined.
    pub outcome: String,
    pub key: Option<String>,
    /// Why it is still in quarantine.
    pub error: Option<String>,
}

impl From<IngestOutcome> for IngestView {
    fn from(o: IngestOutcome) -> Self {
        let (outcome, key, error) = match o {
            IngestOutcome::Ticket { key, .. } => ("ticket", Some(key), None),
            IngestOutcome::Reply { key } => ("reply", Some(key), None),
            IngestOutcome::Note { key } => ("note", Some(key), None),
            IngestOutcome::Automatic { key } => ("automatic", Some(key), None),
            IngestOutcome::Refused => ("refused", None, None),
            IngestOutcome::Duplicate => ("duplicate", None, None),
            IngestOutcome::Quarantined { reason } => ("quarantined", None, Some(reason)),
        };
        IngestView { outcome: outcome.into(), key, error }
    }
}

/// Run a quarantined message through the intake again (administrators).
#[utoipa::path(post, path = "/mail/quarantine/{id}/reprocess", tag = "mail", params(("id" = i64, Path)),
    responses((status = 200, body = IngestView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn reprocess_quarantined(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<IngestView>> {
    Ok(axum::Json(state.app.reprocess_quarantined(&p, id).await?.into()))
}

/// Set a quarantined message aside for good; it stays stored (administrators).
#[utoipa::path(post, path = "/mail/quarantine/{id}/dismiss", tag = "mail", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn dismiss_quarantined(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.app.dismiss_quarantined(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutgoingView {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    /// Set when Guichet gave up on this mail.
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Notifications not sent yet or given up on (administrators).
#[utoipa::path(get, path = "/mail/outbox", tag = "mail",
    responses((status = 200, body = Vec<OutgoingView>), (status = 403, body = ErrorBody)))]
pub async fn list_outbox(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<OutgoingView>>> {
    let list = state.app.unsent_mail(&p).await?;
    Ok(axum::Json(
        list.into_iter()
            .map(|o| OutgoingView {
                id: o.id,
                kind: o.mail.kind,
                recipient: o.mail.recipient,
                subject: o.mail.subject,
                attempts: o.attempts,
                next_attempt_at: o.next_attempt_at,
                failed_at: o.failed_at,
                last_error: o.last_error,
            })
            .collect(),
    ))
}

/// Put a mail given up on back in line (administrators).
#[utoipa::path(post, path = "/mail/outbox/{id}/retry", tag = "mail", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn retry_outgoing(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.app.retry_mail(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
