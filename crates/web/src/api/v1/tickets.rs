//! `/tickets`: file, list, read and change tickets; their conversation and history.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{double_option, Auth, Json, Query};
use crate::views::{CommentView, HistoryEntryView, PageView, TicketView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use guichet_app::tickets::{CreateTicket, ListParams, UpdateTicket};
use guichet_domain::ids::UserId;
use guichet_domain::ticket::{Channel, Priority, Reproduction, Resolution, TicketType, Tier};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicketRequest {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 100000)]
    pub description: String,
    /// UAI of the establishment concerned.
    #[schema(pattern = "^[0-9]{7}[A-Za-z]$")]
    pub establishment: String,
    /// What kind of request it is; the desk may reclassify it. Unclassified when absent.
    #[serde(rename = "type")]
    pub ticket_type: Option<TicketType>,
    pub priority: Option<Priority>,
    /// Category code (`accounts`, `mail`…).
    pub category: Option<String>,
    pub channel: Option<Channel>,
    /// E-mail of the requester, when the desk files on their behalf.
    pub requester: Option<String>,
    pub reproduction: Option<Reproduction>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicketRequest {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: Option<String>,
    #[schema(max_length = 100000)]
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub ticket_type: Option<TicketType>,
    /// A status of the ticket type's workflow, reachable from the current one.
    pub status: Option<String>,
    pub priority: Option<Priority>,
    /// Category code, or `null` to clear.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// User id of an agent or technician, or `null` to unassign.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignee: Option<Option<i64>>,
    /// Read-only here: a ticket changes level by `escalate`, `hand-back` or `forward`.
    pub tier: Option<Tier>,
    pub reproduction: Option<Reproduction>,
    /// Needed to resolve; `null` to clear.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Resolution>)]
    pub resolution: Option<Option<Resolution>>,
    /// User ids of the watchers (replaces the list).
    pub watchers: Option<Vec<i64>>,
    /// UAI of the establishment: the desk moves a request filed in the wrong place (or in triage).
    pub establishment: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTicketsQuery {
    /// A query in the query language, e.g. `type = anomalie AND status != resolved ORDER BY updated DESC`.
    #[param(max_length = 4000)]
    pub q: Option<String>,
    /// Comma-separated types.
    #[serde(rename = "type")]
    #[param(
        rename = "type",
        pattern = "^$|^(unclassified|assistance|anomaly|evolution)(,(unclassified|assistance|anomaly|evolution))*$"
    )]
    pub ticket_type: Option<String>,
    /// Comma-separated statuses.
    #[param(pattern = "^$|^[a-z_]+(,[a-z_]+)*$")]
    pub status: Option<String>,
    /// Comma-separated priorities.
    #[param(pattern = "^$|^(low|normal|high|critical)(,(low|normal|high|critical))*$")]
    pub priority: Option<String>,
    /// Comma-separated channels.
    #[param(pattern = "^$|^(portal|email|phone|help_form|api)(,(portal|email|phone|help_form|api))*$")]
    pub channel: Option<String>,
    /// Comma-separated levels.
    #[param(pattern = "^$|^(establishment|support|technical)(,(establishment|support|technical))*$")]
    pub tier: Option<String>,
    /// Comma-separated category codes.
    #[param(pattern = "^$|^[a-z0-9_-]+(,[a-z0-9_-]+)*$")]
    pub category: Option<String>,
    /// Comma-separated UAIs.
    #[param(pattern = "^$|^[0-9]{7}[A-Za-z](,[0-9]{7}[A-Za-z])*$")]
    pub establishment: Option<String>,
    /// `me`, `none` or a user id.
    #[param(pattern = "^$|^(me|none|[0-9]{1,18})$")]
    pub assignee: Option<String>,
    /// Words in the title or description.
    #[param(max_length = 500)]
    pub text: Option<String>,
    /// Fields among key, created, updated, priority, status, title; `-` for descending. Default `-updated`.
    #[param(
        pattern = "^$|^-?(key|created|updated|priority|status|title)(,-?(key|created|updated|priority|status|title))*$"
    )]
    pub sort: Option<String>,
    /// From 1.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// From 1 to 100, default 25.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
    /// Only tickets whose last public message is the requester's.
    #[serde(default)]
    pub needs_reply: bool,
    /// Only tickets resolved since Monday.
    #[serde(default)]
    pub resolved_week: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCommentRequest {
    /// Needed unless `canned_response` is given; then it replaces that response's filled text.
    #[schema(min_length = 1, max_length = 100000, pattern = "\\S")]
    pub body: Option<String>,
    /// Answer with this canned response (desk only): its text filled for the
    /// ticket unless `body` is given, and its macro applied in the same change.
    pub canned_response: Option<i64>,
    /// An internal note for the desk rather than a reply to the requester.
    #[serde(default)]
    pub internal: bool,
    pub channel: Option<Channel>,
}

/// List the tickets the caller may see.
#[utoipa::path(get, path = "/tickets", tag = "tickets", params(ListTicketsQuery),
    responses((status = 200, body = PageView<TicketView>), (status = 422, body = ErrorBody)))]
pub async fn list_tickets(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ListTicketsQuery>,
) -> ApiResult<axum::Json<PageView<TicketView>>> {
    let params = ListParams {
        ticket_type: q.ticket_type,
        status: q.status,
        priority: q.priority,
        channel: q.channel,
        tier: q.tier,
        category: q.category,
        establishment: q.establishment,
        assignee: q.assignee,
        text: q.text,
        sort: q.sort,
        page: q.page,
        per_page: q.per_page,
        needs_reply: q.needs_reply,
        resolved_week: q.resolved_week,
        q: q.q,
    };
    let page = state.app.list_tickets(&p, &params).await?;
    let items = page.items.into_iter().map(|r| TicketView::new(&state.app, r, Vec::new())).collect();
    Ok(axum::Json(PageView {
        items,
        total: page.total,
        more_than_total: page.more,
        page: page.page,
        per_page: page.per_page,
    }))
}

/// File a ticket.
#[utoipa::path(post, path = "/tickets", tag = "tickets", request_body = CreateTicketRequest,
    responses((status = 201, body = TicketView), (status = 422, body = ErrorBody)))]
pub async fn create_ticket(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateTicketRequest>,
) -> ApiResult<(StatusCode, [(axum::http::HeaderName, String); 1], axum::Json<TicketView>)> {
    let create = CreateTicket {
        title: req.title,
        description: req.description,
        establishment: req.establishment,
        ticket_type: req.ticket_type,
        priority: req.priority,
        category: req.category,
        channel: req.channel,
        requester: req.requester,
        reproduction: req.reproduction,
    };
    let view = TicketView::from_details(&state.app, state.app.create_ticket(&p, create).await?);
    let location = format!("/api/v1/tickets/{}", view.key);
    Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, location)], axum::Json(view)))
}

/// Read a ticket. Its `ETag` goes back in `If-Match` with a change, so that
/// a change made meanwhile by someone else is not overwritten.
#[utoipa::path(get, path = "/tickets/{key}", tag = "tickets", params(("key" = String, Path, description = "e.g. SUP-123")),
    responses((status = 200, body = TicketView, headers(("ETag" = String, description = "the ticket's version: \"v7\""))),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_ticket(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
) -> ApiResult<([(axum::http::HeaderName, String); 1], axum::Json<TicketView>)> {
    let view = TicketView::from_details(&state.app, state.app.get_ticket(&p, &key).await?);
    Ok(([(axum::http::header::ETAG, view.etag())], axum::Json(view)))
}

/// The version an `If-Match` header names (`"v7"`, `W/"v7"`); `*` and no
/// header mean any version.
fn if_match(headers: &axum::http::HeaderMap) -> Result<Option<i64>, guichet_app::AppError> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .strip_prefix('v')
        .and_then(|v| v.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| guichet_app::AppError::field("If-Match", "If-Match is the ETag of a GET: \"v7\""))
}

/// Change a ticket: classify, move in its workflow, assign, escalate,
/// resolve. With `If-Match`, refused (412) when the ticket changed since.
#[utoipa::path(patch, path = "/tickets/{key}", tag = "tickets", request_body = UpdateTicketRequest,
    params(("key" = String, Path), ("If-Match" = Option<String>, Header, description = "the ETag of the version changed")),
    responses((status = 200, body = TicketView, headers(("ETag" = String))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "transition not allowed"),
        (status = 412, body = ErrorBody, description = "the ticket changed since the If-Match version"),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_ticket(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
    headers: axum::http::HeaderMap,
    Json(req): Json<UpdateTicketRequest>,
) -> ApiResult<([(axum::http::HeaderName, String); 1], axum::Json<TicketView>)> {
    let update = UpdateTicket {
        title: req.title,
        description: req.description,
        ticket_type: req.ticket_type,
        status: req.status,
        priority: req.priority,
        category: req.category,
        assignee: req.assignee.map(|a| a.map(UserId)),
        tier: req.tier,
        reproduction: req.reproduction,
        resolution: req.resolution,
        watchers: req.watchers.map(|w| w.into_iter().map(UserId).collect()),
        establishment: req.establishment,
        expected_version: if_match(&headers)?,
        reply: None,
    };
    let view = TicketView::from_details(&state.app, state.app.update_ticket(&p, &key, update).await?);
    Ok(([(axum::http::header::ETAG, view.etag())], axum::Json(view)))
}

/// The ticket's conversation (internal notes only for the desk).
#[utoipa::path(get, path = "/tickets/{key}/comments", tag = "tickets", params(("key" = String, Path)),
    responses((status = 200, body = Vec<CommentView>), (status = 404, body = ErrorBody)))]
pub async fn list_comments(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
) -> ApiResult<axum::Json<Vec<CommentView>>> {
    let comments = state.app.list_comments(&p, &key).await?;
    Ok(axum::Json(comments.into_iter().map(CommentView::from).collect()))
}

/// Reply to the requester, or write an internal note.
#[utoipa::path(post, path = "/tickets/{key}/comments", tag = "tickets", request_body = CreateCommentRequest,
    params(("key" = String, Path)),
    responses((status = 201, body = CommentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_comment(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
    Json(req): Json<CreateCommentRequest>,
) -> ApiResult<(StatusCode, axum::Json<CommentView>)> {
    let channel = req.channel.unwrap_or(Channel::Api);
    if !p.actor.role.is_staff() && !matches!(channel, Channel::Api | Channel::Portal) {
        return Err(ApiError::from(guichet_app::AppError::field("channel", "a requester comments by portal or API")));
    }
    let comment = match (req.canned_response, req.body.as_deref()) {
        (Some(id), body) => state.app.reply_with_canned(&p, &key, id, body, req.internal, channel).await?,
        (None, Some(body)) => state.app.add_comment(&p, &key, body, req.internal, channel).await?,
        (None, None) => {
            return Err(ApiError::from(guichet_app::AppError::field("body", "a comment needs a body")));
        }
    };
    Ok((StatusCode::CREATED, axum::Json(CommentView::from(comment))))
}

/// Every change of the ticket, oldest first (internal entries only for the desk).
#[utoipa::path(get, path = "/tickets/{key}/history", tag = "tickets", params(("key" = String, Path)),
    responses((status = 200, body = Vec<HistoryEntryView>), (status = 404, body = ErrorBody)))]
pub async fn get_history(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
) -> ApiResult<axum::Json<Vec<HistoryEntryView>>> {
    let history = state.app.ticket_history(&p, &key).await?;
    Ok(axum::Json(history.into_iter().map(HistoryEntryView::from).collect()))
}
