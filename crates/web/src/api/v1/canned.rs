//! `/canned-responses`: the desk's réponses types and macros; a response
//! filled for one ticket.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{double_option, Auth, Json};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use guichet_app::canned::{CannedInput, CannedScope};
use guichet_domain::ticket::{Resolution, TicketType};
use guichet_store::canned::CannedResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who may use a canned response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeView {
    /// Its author only.
    Personal,
    /// The whole desk.
    Desk,
    /// Level 1.
    Support,
    /// Level 2.
    Technical,
}

impl ScopeView {
    fn of(scope: CannedScope) -> Self {
        match scope {
            CannedScope::Personal => Self::Personal,
            CannedScope::Desk => Self::Desk,
            CannedScope::Level(guichet_domain::ticket::Tier::Technical) => Self::Technical,
            CannedScope::Level(_) => Self::Support,
        }
    }

    fn scope(self) -> CannedScope {
        match self {
            Self::Personal => CannedScope::Personal,
            Self::Desk => CannedScope::Desk,
            Self::Support => CannedScope::Level(guichet_domain::ticket::Tier::Support),
            Self::Technical => CannedScope::Level(guichet_domain::ticket::Tier::Technical),
        }
    }
}

/// What using the response also changes on the ticket (a macro); absent fields are left alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroView {
    /// A status code of the workflows.
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub ticket_type: Option<TicketType>,
    /// A category code.
    pub category: Option<String>,
    pub resolution: Option<Resolution>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedResponseView {
    pub id: i64,
    pub name: String,
    /// The text, with its `{{variables}}`.
    pub body: String,
    pub scope: ScopeView,
    pub sets: MacroView,
    /// How many replies used it.
    pub use_count: i64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

impl From<CannedResponse> for CannedResponseView {
    fn from(c: CannedResponse) -> Self {
        Self {
            id: c.id,
            scope: ScopeView::of(CannedScope::of(&c)),
            sets: MacroView {
                status: c.set_status,
                ticket_type: c.set_type.as_deref().and_then(|t| TicketType::parse(t).ok()),
                category: c.set_category,
                resolution: c.set_resolution.as_deref().and_then(|r| Resolution::parse(r).ok()),
            },
            name: c.name,
            body: c.body,
            use_count: c.use_count,
            last_used_at: c.last_used_at,
            updated_at: c.updated_at,
            updated_by: c.updated_by,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCannedRequest {
    #[schema(min_length = 1, max_length = 80, pattern = "\\S")]
    pub name: String,
    /// Markdown with variables such as `{{demandeur.prénom}}` or `{{ticket.key}}` (README, "Canned responses").
    #[schema(min_length = 1, max_length = 100000, pattern = "\\S")]
    pub body: String,
    /// Personal unless said otherwise; only administrators share.
    #[serde(default)]
    pub scope: Option<ScopeView>,
    #[serde(default)]
    pub sets: Option<MacroView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCannedRequest {
    #[schema(min_length = 1, max_length = 80, pattern = "\\S")]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 100000, pattern = "\\S")]
    pub body: Option<String>,
    pub scope: Option<ScopeView>,
    /// Replaces the whole macro; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<MacroView>)]
    pub sets: Option<Option<MacroView>>,
}

/// A canned response filled for one ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilledResponseView {
    pub id: i64,
    pub name: String,
    /// The text to send, variables filled from the ticket, its requester and the caller.
    pub body: String,
    pub sets: MacroView,
}

/// The API names the macro's fields as its body does (`sets.status`), where
/// the page's form names them `set_status`.
fn api_fields(e: guichet_app::AppError) -> guichet_app::AppError {
    match e {
        guichet_app::AppError::Validation(mut errors) => {
            for error in &mut errors {
                if let Some(rest) = error.field.strip_prefix("set_") {
                    error.field = format!("sets.{rest}");
                }
            }
            guichet_app::AppError::Validation(errors)
        }
        other => other,
    }
}

fn input(name: String, body: String, scope: ScopeView, sets: MacroView) -> CannedInput {
    CannedInput {
        name,
        body,
        scope: scope.scope(),
        set_status: sets.status,
        set_type: sets.ticket_type.map(|t| t.as_str().to_owned()),
        set_category: sets.category,
        set_resolution: sets.resolution.map(|r| r.as_str().to_owned()),
    }
}

/// The canned responses the caller may use (desk only), the most used first.
#[utoipa::path(get, path = "/canned-responses", tag = "canned responses",
    responses((status = 200, body = Vec<CannedResponseView>), (status = 403, body = ErrorBody)))]
pub async fn list_canned(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<axum::Json<Vec<CannedResponseView>>> {
    let list = state.app.canned_responses(&p).await?;
    Ok(axum::Json(list.into_iter().map(CannedResponseView::from).collect()))
}

/// Write a canned response: personal, or shared with the desk or a level (administrators).
#[utoipa::path(post, path = "/canned-responses", tag = "canned responses", request_body = CreateCannedRequest,
    responses((status = 201, body = CannedResponseView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_canned(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateCannedRequest>,
) -> ApiResult<(StatusCode, axum::Json<CannedResponseView>)> {
    let scope = req.scope.unwrap_or(ScopeView::Personal);
    let created = state
        .app
        .create_canned(&p, input(req.name, req.body, scope, req.sets.unwrap_or_default()))
        .await
        .map_err(api_fields)?;
    Ok((StatusCode::CREATED, axum::Json(created.into())))
}

/// One canned response the caller may use.
#[utoipa::path(get, path = "/canned-responses/{id}", tag = "canned responses", params(("id" = i64, Path)),
    responses((status = 200, body = CannedResponseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_canned(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<CannedResponseView>> {
    Ok(axum::Json(state.app.canned_response(&p, id).await?.into()))
}

/// Change a canned response (one's own; shared ones: administrators).
#[utoipa::path(patch, path = "/canned-responses/{id}", tag = "canned responses", request_body = UpdateCannedRequest,
    params(("id" = i64, Path)),
    responses((status = 200, body = CannedResponseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_canned(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<UpdateCannedRequest>,
) -> ApiResult<axum::Json<CannedResponseView>> {
    let current = CannedResponseView::from(state.app.canned_response(&p, id).await?);
    let sets = match req.sets {
        Some(sets) => sets.unwrap_or_default(),
        None => current.sets,
    };
    let change = input(
        req.name.unwrap_or(current.name),
        req.body.unwrap_or(current.body),
        req.scope.unwrap_or(current.scope),
        sets,
    );
    Ok(axum::Json(state.app.update_canned(&p, id, change).await.map_err(api_fields)?.into()))
}

/// Delete a canned response (one's own; shared ones: administrators).
#[utoipa::path(delete, path = "/canned-responses/{id}", tag = "canned responses", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_canned(State(state): State<AppState>, Auth(p): Auth, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    state.app.delete_canned(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A canned response filled for a ticket, to review before sending it with
/// `POST /tickets/{key}/comments` and `canned_response`.
#[utoipa::path(get, path = "/tickets/{key}/canned-responses/{id}", tag = "canned responses",
    params(("key" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = FilledResponseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn fill_canned(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path((key, id)): Path<(String, i64)>,
) -> ApiResult<axum::Json<FilledResponseView>> {
    let filled = state.app.expand_canned(&p, &key, id).await?;
    let view = CannedResponseView::from(filled.canned);
    Ok(axum::Json(FilledResponseView { id: view.id, name: view.name, body: filled.body, sets: view.sets }))
}
