//! `/privacy`: a person's data (look up, export, erase), the retention pass
//! and the privacy audit log, for administrators; `/tickets/{key}/redactions`
//! for the desk. Addresses travel in request bodies, never in URLs, so that
//! no access log keeps them.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{Auth, Json, Query};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use guichet_app::privacy::{PersonSummary, RedactionTarget};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonRequest {
    /// The person's address: their account's, or the one they wrote from.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// Must be true: an erasure cannot be undone.
    #[schema(schema_with = must_be_true)]
    pub confirm: bool,
}

/// `{"type": "boolean", "enum": [true]}`: the schema says what the handler requires.
fn must_be_true() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// What Guichet holds about a person, before an export or an erasure (administrators).
#[utoipa::path(post, path = "/privacy/people/lookup", tag = "privacy", request_body = PersonRequest,
    responses((status = 200, body = PersonSummary), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn lookup_person(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(body): Json<PersonRequest>,
) -> ApiResult<axum::Json<PersonSummary>> {
    Ok(axum::Json(state.app.person_preview(&p, &body.email).await?))
}

/// Everything held about a person, as a ZIP of JSON and CSV with their files
/// and mail (the right of access; administrators; recorded in the audit log).
#[utoipa::path(post, path = "/privacy/people/export", tag = "privacy", request_body = PersonRequest,
    responses((status = 200, content_type = "application/zip"), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn export_person(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(body): Json<PersonRequest>,
) -> ApiResult<Response> {
    let zip = state.app.export_person(&p, &body.email).await?;
    let disposition = "attachment; filename=\"guichet-export.zip\"".to_owned();
    Ok(([(header::CONTENT_TYPE, "application/zip".to_owned()), (header::CONTENT_DISPOSITION, disposition)], zip)
        .into_response())
}

/// Erasure on request: anonymises the person now; tickets stay for the
/// statistics (administrators; recorded in the audit log).
#[utoipa::path(post, path = "/privacy/people/erase", tag = "privacy", request_body = ErasureRequest,
    responses((status = 200, body = PersonSummary), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn erase_person(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(body): Json<ErasureRequest>,
) -> ApiResult<axum::Json<PersonSummary>> {
    if !body.confirm {
        return Err(guichet_app::AppError::field("confirm", "an erasure cannot be undone: send confirm = true").into());
    }
    Ok(axum::Json(state.app.erase_person(&p, &body.email).await?))
}

/// One retention pass now, instead of waiting for the clock job (administrators).
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionView {
    /// Items forgotten per data kind (help_identity, attachments, raw_mail,
    /// sent_mail, requesters, disabled_accounts, audit).
    pub forgotten: std::collections::BTreeMap<String, u64>,
}

#[utoipa::path(post, path = "/privacy/retention", tag = "privacy",
    responses((status = 200, body = RetentionView), (status = 403, body = ErrorBody)))]
pub async fn run_retention(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<RetentionView>> {
    let run = state.app.run_retention_now(&p).await?;
    let forgotten = run.counts.iter().map(|(k, v)| (k.as_str().to_owned(), *v)).collect();
    Ok(axum::Json(RetentionView { forgotten }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who acted; none for the retention job.
    pub actor: Option<String>,
    /// retention, erasure, export, redaction, help_contact_viewed.
    pub action: String,
    /// What it concerned: `user:12`, `ticket:SUP-3`, `retention`.
    pub subject: String,
    /// Counts and ids (JSON), never personal values.
    pub details: serde_json::Value,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries older than this id (paging backwards).
    pub before: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The privacy audit log, newest first (administrators).
#[utoipa::path(get, path = "/privacy/audit", tag = "privacy", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntryView>), (status = 403, body = ErrorBody)))]
pub async fn list_audit(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<axum::Json<Vec<AuditEntryView>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(guichet_app::AppError::field("limit", "between 1 and 1000").into());
    }
    let entries = state.app.privacy_audit(&p, q.before, limit).await?;
    Ok(axum::Json(entries.into_iter().map(audit_view).collect()))
}

pub fn audit_view(e: guichet_store::privacy::AuditEntry) -> AuditEntryView {
    AuditEntryView {
        id: e.id,
        at: e.at,
        actor: e.actor_name,
        action: e.action,
        subject: e.subject,
        details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
    }
}

/// What to mask: the description or a comment (each occurrence of `text`, or
/// all of it when `text` is empty), or a file (removed with its content).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "target", rename_all = "snake_case", deny_unknown_fields)]
pub enum RedactionRequest {
    Description {
        #[serde(default)]
        #[schema(max_length = 5000)]
        text: String,
        /// Why, shown on the ticket.
        #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
        reason: String,
    },
    Comment {
        /// The comment's id.
        id: i64,
        #[serde(default)]
        #[schema(max_length = 5000)]
        text: String,
        #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
        reason: String,
    },
    Attachment {
        /// The file's id.
        id: i64,
        #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
        reason: String,
    },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedactionView {
    pub target: String,
    pub id: Option<i64>,
    pub by: Option<String>,
    pub reason: String,
    pub at: DateTime<Utc>,
}

fn redaction_view(r: guichet_store::privacy::Redaction) -> RedactionView {
    RedactionView { target: r.target, id: r.target_id, by: r.actor_name, reason: r.reason, at: r.at }
}

/// Masks content pasted by mistake (a password, a pupil's details): gone from
/// the ticket, search, history, mail copies; the ticket says who, when, why (the desk).
#[utoipa::path(post, path = "/tickets/{key}/redactions", tag = "tickets", params(("key" = String, Path)),
    request_body = RedactionRequest,
    responses((status = 201, body = Vec<RedactionView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_redaction(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
    Json(body): Json<RedactionRequest>,
) -> ApiResult<(StatusCode, axum::Json<Vec<RedactionView>>)> {
    let (target, text, reason) = match body {
        RedactionRequest::Description { text, reason } => (RedactionTarget::Description, text, reason),
        RedactionRequest::Comment { id, text, reason } => {
            (RedactionTarget::Comment(guichet_domain::ids::CommentId(id)), text, reason)
        }
        RedactionRequest::Attachment { id, reason } => {
            (RedactionTarget::Attachment(guichet_domain::ids::AttachmentId(id)), String::new(), reason)
        }
    };
    state.app.redact(&p, &key, target, &text, &reason).await?;
    let list = state.app.redactions(&p, &key).await?;
    Ok((StatusCode::CREATED, axum::Json(list.into_iter().map(redaction_view).collect())))
}

/// What was masked on a ticket, by whom, when and why.
#[utoipa::path(get, path = "/tickets/{key}/redactions", tag = "tickets", params(("key" = String, Path)),
    responses((status = 200, body = Vec<RedactionView>), (status = 404, body = ErrorBody)))]
pub async fn list_redactions(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
) -> ApiResult<axum::Json<Vec<RedactionView>>> {
    let list = state.app.redactions(&p, &key).await?;
    Ok(axum::Json(list.into_iter().map(redaction_view).collect()))
}
