//! Hand-overs between tiers, links and merges, major incidents, and the
//! similar requests shown while a request is typed.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{Auth, Json, Query};
use crate::views::TicketView;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use guichet_app::handover::LinkView as AppLink;
use guichet_app::incidents::{DeclareIncident, IncidentView as AppIncident};
use guichet_app::App;
use guichet_domain::incident::{Handover, LinkKind};
use guichet_store::incidents::Incident;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverRequest {
    /// What was tried and how to reproduce: what the receiving level reads first.
    #[schema(min_length = 10, max_length = 20000, pattern = "\\S[\\s\\S]{8,}\\S")]
    pub summary: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardRequest {
    /// A note for the desk; the conversation says the rest.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub summary: String,
}

async fn hand_over(
    state: &AppState,
    p: &guichet_app::auth::Principal,
    key: &str,
    h: Handover,
    summary: &str,
) -> ApiResult<axum::Json<TicketView>> {
    Ok(axum::Json(TicketView::from_details(&state.app, state.app.hand_over(p, key, h, summary).await?)))
}

/// Escalate a level-1 ticket to the technical team, with a summary.
#[utoipa::path(post, path = "/tickets/{key}/escalate", tag = "tickets", request_body = HandoverRequest,
    params(("key" = String, Path)),
    responses((status = 200, body = TicketView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the ticket is not at level 1"), (status = 422, body = ErrorBody)))]
pub async fn escalate(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
    Json(req): Json<HandoverRequest>,
) -> ApiResult<axum::Json<TicketView>> {
    hand_over(&state, &p, &key, Handover::Escalate, &req.summary).await
}

/// Hand a ticket back from the technical team to level 1, with a summary.
#[utoipa::path(post, path = "/tickets/{key}/hand-back", tag = "tickets", request_body = HandoverRequest,
    params(("key" = String, Path)),
    responses((status = 200, body = TicketView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the ticket is not at level 2"), (status = 422, body = ErrorBody)))]
pub async fn hand_back(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
    Json(req): Json<HandoverRequest>,
) -> ApiResult<axum::Json<TicketView>> {
    hand_over(&state, &p, &key, Handover::HandBack, &req.summary).await
}

/// Forward a HELP request from the school's administrators to level 1; the
/// administrator who forwards becomes its requester.
#[utoipa::path(post, path = "/tickets/{key}/forward", tag = "tickets", request_body = ForwardRequest,
    params(("key" = String, Path)),
    responses((status = 200, body = TicketView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the ticket is not with its school"), (status = 422, body = ErrorBody)))]
pub async fn forward(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
    Json(req): Json<ForwardRequest>,
) -> ApiResult<axum::Json<TicketView>> {
    hand_over(&state, &p, &key, Handover::Forward, &req.summary).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    /// Read from this ticket: `duplicate_of`, `relates_to`, `blocks`.
    pub kind: LinkKind,
    /// True when this ticket states the link (`this duplicate_of other`),
    /// false when the other one does.
    pub outgoing: bool,
    pub other: String,
    pub other_title: String,
    pub other_status: String,
}

impl From<AppLink> for LinkView {
    fn from(l: AppLink) -> Self {
        Self {
            kind: l.link.kind,
            outgoing: l.link.outgoing,
            other: l.other_key,
            other_title: l.link.other_title,
            other_status: l.link.other_status,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    pub kind: LinkKind,
    /// Key of the other ticket.
    #[schema(pattern = "^[A-Za-z0-9]{1,10}-[0-9]{1,18}$")]
    pub other: String,
}

/// The ticket's links, both ways (to tickets the caller may see).
#[utoipa::path(get, path = "/tickets/{key}/links", tag = "tickets", params(("key" = String, Path)),
    responses((status = 200, body = Vec<LinkView>), (status = 404, body = ErrorBody)))]
pub async fn list_links(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
) -> ApiResult<axum::Json<Vec<LinkView>>> {
    Ok(axum::Json(state.app.links(&p, &key).await?.into_iter().map(LinkView::from).collect()))
}

/// Link the ticket to another (the desk).
#[utoipa::path(post, path = "/tickets/{key}/links", tag = "tickets", request_body = LinkRequest, params(("key" = String, Path)),
    responses((status = 201, body = Vec<LinkView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_link(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
    Json(req): Json<LinkRequest>,
) -> ApiResult<(StatusCode, axum::Json<Vec<LinkView>>)> {
    state.app.link_tickets(&p, &key, req.kind, &req.other).await?;
    Ok((StatusCode::CREATED, axum::Json(state.app.links(&p, &key).await?.into_iter().map(LinkView::from).collect())))
}

/// Remove a link the ticket states.
#[utoipa::path(delete, path = "/tickets/{key}/links/{kind}/{other}", tag = "tickets",
    params(("key" = String, Path, pattern = "^[A-Za-z0-9]{1,10}-[0-9]{1,18}$"), ("kind" = LinkKind, Path),
        ("other" = String, Path, pattern = "^[A-Za-z0-9]{1,10}-[0-9]{1,18}$")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_link(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path((key, kind, other)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let kind = LinkKind::parse(&kind).map_err(guichet_app::AppError::from)?;
    state.app.unlink_tickets(&p, &key, kind, &other).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// Key of the ticket that receives the conversation.
    #[schema(pattern = "^[A-Za-z0-9]{1,10}-[0-9]{1,18}$")]
    pub into: String,
}

/// Merge the ticket into another: replies and files move, it is resolved as a duplicate.
#[utoipa::path(post, path = "/tickets/{key}/merge", tag = "tickets", request_body = MergeRequest, params(("key" = String, Path)),
    responses((status = 200, body = TicketView, description = "the ticket merged into"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn merge(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
    Json(req): Json<MergeRequest>,
) -> ApiResult<axum::Json<TicketView>> {
    Ok(axum::Json(TicketView::from_details(&state.app, state.app.merge_tickets(&p, &key, &req.into).await?)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentSummary {
    pub id: i64,
    /// `INC-3`.
    pub key: String,
    pub title: String,
    pub service: String,
    pub public_message: String,
    pub started_at: DateTime<Utc>,
    pub declared_by: String,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_message: Option<String>,
}

impl From<Incident> for IncidentSummary {
    fn from(i: Incident) -> Self {
        Self {
            key: App::incident_key(i.id),
            id: i.id,
            title: i.title,
            service: i.service,
            public_message: i.public_message,
            started_at: i.started_at,
            declared_by: i.declared_by,
            resolved_at: i.resolved_at,
            resolution_message: i.resolution_message,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// `started`, `declared`, `reported:SUP-12:Collège …`, `resolved`.
    pub event: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetails {
    #[serde(flatten)]
    pub incident: IncidentSummary,
    /// The linked tickets the caller may see.
    pub tickets: Vec<TicketView>,
    /// UAI and name of the affected establishments the caller may see.
    pub establishments: Vec<crate::views::EstablishmentRefView>,
    pub timeline: Vec<TimelineEntry>,
}

impl IncidentDetails {
    pub fn new(app: &App, view: AppIncident) -> Self {
        Self {
            incident: view.incident.into(),
            tickets: view.tickets.into_iter().map(|r| TicketView::new(app, r, Vec::new())).collect(),
            establishments: view
                .establishments
                .into_iter()
                .map(|(uai, name)| crate::views::EstablishmentRefView { uai, name })
                .collect(),
            timeline: view.timeline.into_iter().map(|(at, event)| TimelineEntry { at, event }).collect(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct IncidentListParams {
    /// Only open incidents (default true).
    pub open: Option<bool>,
}

/// Major incidents (open ones first): public to every signed-in person.
#[utoipa::path(get, path = "/incidents", tag = "incidents", params(IncidentListParams),
    responses((status = 200, body = Vec<IncidentSummary>), (status = 401, body = ErrorBody)))]
pub async fn list_incidents(
    State(state): State<AppState>,
    Auth(_p): Auth,
    Query(params): Query<IncidentListParams>,
) -> ApiResult<axum::Json<Vec<IncidentSummary>>> {
    let incidents = state.app.incidents(params.open.unwrap_or(true)).await?;
    Ok(axum::Json(incidents.into_iter().map(IncidentSummary::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareIncidentRequest {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    /// The ENT service concerned.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub service: String,
    /// Shown on the requesters' portal while the incident is open.
    #[schema(min_length = 1, max_length = 5000, pattern = "\\S")]
    pub public_message: String,
    pub started_at: Option<DateTime<Utc>>,
    /// Keys of the tickets to gather from the start (a proposal's).
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 1000)]
    pub tickets: Vec<String>,
}

/// Declare a major incident (the desk), with the tickets it gathers.
#[utoipa::path(post, path = "/incidents", tag = "incidents", request_body = DeclareIncidentRequest,
    responses((status = 201, body = IncidentDetails), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "a ticket named is not one the caller sees"), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn declare_incident(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<DeclareIncidentRequest>,
) -> ApiResult<(StatusCode, axum::Json<IncidentDetails>)> {
    let declare = DeclareIncident {
        title: req.title,
        service: req.service,
        public_message: req.public_message,
        started_at: req.started_at,
        tickets: req.tickets,
    };
    let view = state.app.declare_incident(&p, declare).await?;
    Ok((StatusCode::CREATED, axum::Json(IncidentDetails::new(&state.app, view))))
}

/// An incident, its tickets and establishments (within the caller's scope) and its timeline.
#[utoipa::path(get, path = "/incidents/{id}", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = IncidentDetails), (status = 404, body = ErrorBody)))]
pub async fn get_incident(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<IncidentDetails>> {
    Ok(axum::Json(IncidentDetails::new(&state.app, state.app.incident(&p, id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTicketsRequest {
    pub tickets: Vec<String>,
}

/// Gather more tickets under an open incident (the desk).
#[utoipa::path(post, path = "/incidents/{id}/tickets", tag = "incidents", request_body = AddTicketsRequest, params(("id" = i64, Path)),
    responses((status = 200, body = IncidentDetails), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_tickets(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<AddTicketsRequest>,
) -> ApiResult<axum::Json<IncidentDetails>> {
    Ok(axum::Json(IncidentDetails::new(&state.app, state.app.add_to_incident(&p, id, &req.tickets).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinIncidentRequest {
    /// UAI of the establishment concerned.
    #[schema(pattern = "^[0-9]{7}[A-Za-z]$")]
    pub establishment: String,
    /// What the requester sees, if they want to add it.
    #[schema(max_length = 100000)]
    pub details: Option<String>,
}

/// Follow an open incident: files a request of the caller's, already part of it.
#[utoipa::path(post, path = "/incidents/{id}/join", tag = "incidents", request_body = JoinIncidentRequest, params(("id" = i64, Path)),
    responses((status = 201, body = TicketView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn join_incident(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<JoinIncidentRequest>,
) -> ApiResult<(StatusCode, axum::Json<TicketView>)> {
    let details = state.app.join_incident(&p, id, &req.establishment, req.details.as_deref()).await?;
    Ok((StatusCode::CREATED, axum::Json(TicketView::from_details(&state.app, details))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIncidentRequest {
    /// The public reply posted to every linked ticket.
    #[schema(min_length = 1, max_length = 100000, pattern = "\\S")]
    pub message: String,
    /// The same for English readers; French readers' text when absent.
    #[schema(max_length = 100000)]
    pub message_en: Option<String>,
}

/// Resolve an incident: answers and resolves every linked open ticket.
#[utoipa::path(post, path = "/incidents/{id}/resolve", tag = "incidents", request_body = ResolveIncidentRequest, params(("id" = i64, Path)),
    responses((status = 200, body = IncidentDetails), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resolve_incident(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<ResolveIncidentRequest>,
) -> ApiResult<axum::Json<IncidentDetails>> {
    let view = state.app.resolve_incident(&p, id, &req.message, req.message_en.as_deref()).await?;
    Ok(axum::Json(IncidentDetails::new(&state.app, view)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProposalView {
    pub tickets: Vec<TicketView>,
    pub establishments: usize,
    pub suggested_title: String,
}

/// Groups of recent alike tickets from several schools, proposed as an incident (the desk).
#[utoipa::path(get, path = "/incidents/proposals", tag = "incidents",
    responses((status = 200, body = Vec<ProposalView>), (status = 403, body = ErrorBody)))]
pub async fn proposals(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<ProposalView>>> {
    let proposals = state.app.incident_proposals(&p).await?;
    Ok(axum::Json(
        proposals
            .into_iter()
            .map(|pr| ProposalView {
                tickets: pr.tickets.into_iter().map(|r| TicketView::new(&state.app, r, Vec::new())).collect(),
                establishments: pr.establishments,
                suggested_title: pr.suggested_title,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SimilarParams {
    /// The text being typed (title and description); its start is enough.
    #[param(max_length = 10000)]
    pub text: String,
    /// UAI of the establishment the request is for.
    #[param(pattern = "^$|^[0-9]{7}[A-Za-z]$")]
    pub establishment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimilarTicket {
    pub key: String,
    pub title: String,
    pub status: String,
    pub establishment: String,
    /// The matching passage, HTML-escaped, matched words in `<mark>`.
    pub snippet_html: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimilarView {
    pub tickets: Vec<SimilarTicket>,
    pub incidents: Vec<IncidentSummary>,
}

/// Open requests of the caller's establishments and open incidents that look like a text.
#[utoipa::path(get, path = "/similar", tag = "tickets", params(SimilarParams),
    responses((status = 200, body = SimilarView), (status = 422, body = ErrorBody)))]
pub async fn similar(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(params): Query<SimilarParams>,
) -> ApiResult<axum::Json<SimilarView>> {
    let found = state.app.similar(&p, &params.text, params.establishment.as_deref()).await?;
    Ok(axum::Json(SimilarView {
        tickets: found
            .tickets
            .into_iter()
            .map(|r| SimilarTicket {
                key: state.app.key(r.record.ticket.id),
                title: r.record.ticket.title,
                status: r.record.ticket.status,
                establishment: r.record.establishment_name,
                snippet_html: super::search::snippet_html(&r.snippet),
            })
            .collect(),
        incidents: found.incidents.into_iter().map(IncidentSummary::from).collect(),
    }))
}
