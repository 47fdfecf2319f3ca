//! `/webhooks`: administrators subscribe an outside system to the desk's
//! events, read each delivery's tries, and send one again.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{double_option, Auth, Json};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use guichet_app::webhooks::WebhookInput;
use guichet_app::App;
use guichet_domain::ids::TicketId;
use guichet_domain::webhook::WebhookEvent;
use guichet_store::webhooks::{Attempt, Delivery, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub name: String,
    /// Where deliveries are posted.
    pub url: String,
    pub events: Vec<WebhookEvent>,
    /// A query-language condition a ticket must meet (ticket events only).
    pub filter: Option<String>,
    /// Off: no event is queued.
    pub active: bool,
    /// Set after a day of failed deliveries: events wait until it is resumed.
    pub paused_at: Option<DateTime<Utc>>,
    /// The first failure since the last success.
    pub failing_since: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// The administrator whose view of the tickets is sent.
    pub owner: String,
    pub created_at: DateTime<Utc>,
    /// Deliveries waiting to be sent.
    pub pending: i64,
    /// The signing secret: only in the answer to a creation or a change of
    /// secret, never read back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    fn new(w: Webhook, with_secret: bool) -> Self {
        Self {
            id: w.id,
            name: w.fields.name,
            url: w.fields.url,
            events: w.fields.events.iter().filter_map(|e| WebhookEvent::parse(e).ok()).collect(),
            filter: w.fields.filter,
            active: w.fields.active,
            paused_at: w.paused_at,
            failing_since: w.failing_since,
            last_success_at: w.last_success_at,
            owner: w.owner_name,
            created_at: w.created_at,
            pending: w.pending,
            secret: with_secret.then_some(w.secret),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first try or its next one.
    Pending,
    Delivered,
    /// Given up after the last try; it can be sent again.
    Failed,
    /// Not sent: the ticket did not pass the subscription's filter.
    Filtered,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub event: WebhookEvent,
    /// The ticket's key, for a ticket's event.
    pub ticket: Option<String>,
    /// The incident's key, for an incident's event.
    pub incident: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub state: DeliveryState,
    pub attempts: i64,
    /// When it is tried next, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub done_at: Option<DateTime<Utc>>,
}

impl DeliveryView {
    fn new(app: &App, d: Delivery) -> Self {
        let state = match d.state.as_str() {
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            "filtered" => DeliveryState::Filtered,
            _ => DeliveryState::Pending,
        };
        Self {
            id: d.id,
            event: WebhookEvent::parse(&d.event).unwrap_or(WebhookEvent::Ping),
            ticket: d.ticket_id.map(|t| app.key(TicketId(t))),
            incident: d.incident_id.map(App::incident_key),
            occurred_at: d.occurred_at,
            next_attempt_at: (state == DeliveryState::Pending).then_some(d.next_attempt_at),
            state,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            done_at: d.done_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub at: DateTime<Utc>,
    /// The node that sent it.
    pub node: String,
    /// The receiver's HTTP status; none when it could not be reached.
    pub status: Option<i64>,
    pub duration_ms: i64,
    /// The start of the receiver's answer (1 KiB at most).
    pub response: String,
    pub error: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            at: a.at,
            node: a.node,
            status: a.status,
            duration_ms: a.duration_ms,
            response: a.response,
            error: a.error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetails {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    /// The body as sent (fixed at the first try); none before it.
    pub payload: Option<String>,
    pub tries: Vec<AttemptView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    /// `https://…`; a receiver on this machine or a private network needs
    /// `[webhooks] allow_private_networks = true`.
    #[schema(min_length = 1, max_length = 2000)]
    pub url: String,
    #[schema(min_items = 1)]
    pub events: Vec<WebhookEvent>,
    /// A query-language condition without ORDER BY, e.g. `priority = high AND type = anomalie`.
    #[schema(max_length = 1000)]
    pub filter: Option<String>,
    /// On unless said otherwise.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 2000)]
    pub url: Option<String>,
    #[schema(min_items = 1)]
    pub events: Option<Vec<WebhookEvent>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub filter: Option<Option<String>>,
    pub active: Option<bool>,
}

fn events_text(events: &[WebhookEvent]) -> String {
    events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(" ")
}

/// The subscriptions (administrators).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<WebhookView>), (status = 403, body = ErrorBody)))]
pub async fn list_webhooks(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<WebhookView>>> {
    let list = state.app.webhooks(&p).await?;
    Ok(axum::Json(list.into_iter().map(|w| WebhookView::new(w, false)).collect()))
}

/// Subscribe a receiver to events (administrators). The answer holds the
/// signing secret, the only time it is shown.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = CreateWebhookRequest,
    responses((status = 201, body = WebhookView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, axum::Json<WebhookView>)> {
    let input = WebhookInput {
        name: req.name,
        url: req.url,
        events: events_text(&req.events),
        filter: req.filter,
        active: req.active.unwrap_or(true),
    };
    let created = state.app.create_webhook(&p, input).await?;
    Ok((StatusCode::CREATED, axum::Json(WebhookView::new(created, true))))
}

/// One subscription (administrators).
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = WebhookView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<WebhookView>> {
    Ok(axum::Json(WebhookView::new(state.app.webhook(&p, id).await?, false)))
}

/// Change a subscription; absent fields are left alone (administrators).
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", request_body = UpdateWebhookRequest,
    params(("id" = i64, Path)),
    responses((status = 200, body = WebhookView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_webhook(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<UpdateWebhookRequest>,
) -> ApiResult<axum::Json<WebhookView>> {
    let current = state.app.webhook(&p, id).await?;
    let input = WebhookInput {
        name: req.name.unwrap_or(current.fields.name),
        url: req.url.unwrap_or(current.fields.url),
        events: match req.events {
            Some(events) => events_text(&events),
            None => current.fields.events.join(" "),
        },
        filter: match req.filter {
            Some(filter) => filter,
            None => current.fields.filter,
        },
        active: req.active.unwrap_or(current.fields.active),
    };
    Ok(axum::Json(WebhookView::new(state.app.update_webhook(&p, id, input).await?, false)))
}

/// Delete a subscription and its deliveries (administrators).
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.app.delete_webhook(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret, in the answer; deliveries are signed with it from now on.
#[utoipa::path(post, path = "/webhooks/{id}/secret", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = WebhookView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<WebhookView>> {
    Ok(axum::Json(WebhookView::new(state.app.rotate_webhook_secret(&p, id).await?, true)))
}

/// Resume a paused subscription: what waited goes out, in order.
#[utoipa::path(post, path = "/webhooks/{id}/resume", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = WebhookView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn resume_webhook(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<WebhookView>> {
    Ok(axum::Json(WebhookView::new(state.app.resume_webhook(&p, id).await?, false)))
}

/// Queue a `ping` to check the receiver and its signature check.
#[utoipa::path(post, path = "/webhooks/{id}/ping", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 202, body = DeliveryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn ping_webhook(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, axum::Json<DeliveryView>)> {
    let delivery = state.app.ping_webhook(&p, id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(DeliveryView::new(&state.app, delivery))))
}

/// A subscription's last deliveries, newest first (administrators).
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<DeliveryView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Vec<DeliveryView>>> {
    let list = state.app.webhook_deliveries(&p, id).await?;
    Ok(axum::Json(list.into_iter().map(|d| DeliveryView::new(&state.app, d)).collect()))
}

/// One delivery with its body and every try (administrators).
#[utoipa::path(get, path = "/webhooks/{id}/deliveries/{delivery}", tag = "webhooks",
    params(("id" = i64, Path), ("delivery" = i64, Path)),
    responses((status = 200, body = DeliveryDetails), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_delivery(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path((id, delivery)): Path<(i64, i64)>,
) -> ApiResult<axum::Json<DeliveryDetails>> {
    let (d, tries) = state.app.webhook_delivery(&p, id, delivery).await?;
    let payload = d.payload.clone();
    Ok(axum::Json(DeliveryDetails {
        delivery: DeliveryView::new(&state.app, d),
        payload,
        tries: tries.into_iter().map(AttemptView::from).collect(),
    }))
}

/// Send a delivery again with its original body (administrators).
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks",
    params(("id" = i64, Path), ("delivery" = i64, Path)),
    responses((status = 202, body = DeliveryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path((id, delivery)): Path<(i64, i64)>,
) -> ApiResult<(StatusCode, axum::Json<DeliveryView>)> {
    let d = state.app.redeliver_webhook(&p, id, delivery).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(DeliveryView::new(&state.app, d))))
}
