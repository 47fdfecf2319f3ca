//! Major incidents in the interface (list, page, declare, join, resolve),
//! hand-overs, links and merges from the ticket page, and the similar
//! requests shown while a request is typed.

use super::i18n::t;
use super::session::{CsrfForm, Viewer};
use super::tickets::{when, Choice, Row};
use super::{back, error_text, render, Layout, PageError};
use crate::api::v1::search::snippet_html;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use guichet_app::incidents::DeclareIncident;
use guichet_app::{App, AppError};
use guichet_domain::incident::{Handover, LinkKind};
use guichet_domain::user::Language;
use guichet_store::incidents::Incident;
use serde::Deserialize;

/// An incident as a line of a list or a banner.
pub struct IncidentRow {
    pub id: i64,
    pub key: String,
    pub title: String,
    pub service: String,
    pub public_message: String,
    pub started: String,
    pub resolved: Option<String>,
}

impl IncidentRow {
    pub fn new(i: Incident, lang: Language) -> Self {
        Self {
            key: App::incident_key(i.id),
            id: i.id,
            title: i.title,
            service: i.service,
            public_message: i.public_message,
            started: when(i.started_at, lang),
            resolved: i.resolved_at.map(|at| when(at, lang)),
        }
    }
}

/// Open incidents for a banner; an error only hides the banner.
pub async fn open_incidents(state: &AppState, lang: Language) -> Vec<IncidentRow> {
    match state.app.incidents(true).await {
        Ok(list) => list.into_iter().map(|i| IncidentRow::new(i, lang)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "open incidents could not be read for the banner");
            Vec::new()
        }
    }
}

fn split_keys(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace()).filter(|k| !k.is_empty()).map(str::to_owned).collect()
}

/// After a form: back to `to` with the message `ok` (a key of the
/// interface's words), or to `fallback` with the error when the input was refused.
fn done(
    viewer: &Viewer,
    result: Result<String, AppError>,
    fallback: &str,
    ok: &str,
    lang: Language,
) -> Result<Response, PageError> {
    match result {
        Ok(to) => Ok(back(viewer, &to, Some(t(lang, ok)), None)),
        Err(e @ (AppError::NotFound(_) | AppError::Forbidden(_) | AppError::Internal(_))) => {
            Err(PageError::app(e, lang))
        }
        Err(e) => Ok(back(viewer, fallback, None, Some(&error_text(&e, lang)))),
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    layout: Layout,
    staff: bool,
    incidents: Vec<IncidentRow>,
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let incidents = state.app.incidents(false).await.map_err(|e| PageError::app(e, lang))?;
    let page = IncidentsPage {
        layout: Layout::new(&viewer, t(lang, "incidents")),
        staff: viewer.is_staff(),
        incidents: incidents.into_iter().map(|i| IncidentRow::new(i, lang)).collect(),
    };
    render(&page, lang)
}

#[derive(Debug, Deserialize)]
pub struct DeclareForm {
    title: String,
    service: String,
    public_message: String,
    #[serde(default)]
    tickets: String,
    /// Local date and time (`2026-11-30T08:15`), in the desk's time zone; now when empty.
    #[serde(default)]
    started_at: String,
}

pub async fn declare(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<DeclareForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let started_at = match form.started_at.trim() {
        "" => None,
        text => match chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M") {
            Ok(local) => {
                use chrono::TimeZone;
                state.app.calendar().tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&chrono::Utc))
            }
            Err(_) => {
                let e = AppError::field("started_at", "the start is a date and time such as 2026-11-30T08:15");
                return done(&viewer, Err(e), "/incidents", "ok_saved", lang);
            }
        },
    };
    let declare = DeclareIncident {
        title: form.title,
        service: form.service,
        public_message: form.public_message,
        started_at,
        tickets: split_keys(&form.tickets),
    };
    let result =
        state.app.declare_incident(viewer.principal(), declare).await.map(|v| format!("/incidents/{}", v.incident.id));
    done(&viewer, result, "/incidents", "ok_incident_declared", lang)
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    layout: Layout,
    staff: bool,
    incident: IncidentRow,
    declared_by: String,
    resolution_message: Option<String>,
    tickets: Vec<Row>,
    establishments: Vec<String>,
    timeline: Vec<(String, String)>,
    my_establishments: Vec<Choice>,
    /// Keys as this desk writes them, for the form's example.
    key_example: String,
}

pub async fn page(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let app = &state.app;
    let p = viewer.principal();
    let view = app.incident(p, id).await.map_err(|e| PageError::app(e, lang))?;
    let timeline = view
        .timeline
        .iter()
        .map(|(at, event)| {
            let text = match event.split_once(':') {
                Some(("reported", rest)) => {
                    let (key, school) = rest.split_once(':').unwrap_or((rest, ""));
                    format!("{} {key} — {school}", t(lang, "incident_reported"))
                }
                _ => {
                    let key = match event.as_str() {
                        "started" => "incident_started_event",
                        "declared" => "incident_declared",
                        _ => "incident_resolved_event",
                    };
                    t(lang, key).to_owned()
                }
            };
            (when(*at, lang), text)
        })
        .collect();
    let my_establishments = if viewer.is_staff() {
        Vec::new()
    } else {
        app.find_establishments(&p.user.establishments)
            .await
            .map_err(|e| PageError::app(e, lang))?
            .into_iter()
            .map(|e| Choice { value: e.uai.to_string(), label: format!("{} ({})", e.name, e.uai), selected: false })
            .collect()
    };
    let page = IncidentPage {
        layout: Layout::new(&viewer, format!("{} · {}", App::incident_key(id), view.incident.title)),
        staff: viewer.is_staff(),
        declared_by: view.incident.declared_by.clone(),
        resolution_message: view.incident.resolution_message.clone(),
        incident: IncidentRow::new(view.incident, lang),
        tickets: view.tickets.into_iter().map(|r| Row::new(app, r, lang)).collect(),
        establishments: view.establishments.into_iter().map(|(uai, name)| format!("{name} ({uai})")).collect(),
        timeline,
        my_establishments,
        key_example: format!(
            "{}, {}",
            app.key(guichet_domain::ids::TicketId(12)),
            app.key(guichet_domain::ids::TicketId(15))
        ),
    };
    render(&page, lang)
}

#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    message: String,
    #[serde(default)]
    message_en: String,
}

pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<ResolveForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let to = format!("/incidents/{id}");
    let result = state
        .app
        .resolve_incident(viewer.principal(), id, &form.message, Some(&form.message_en))
        .await
        .map(|_| to.clone());
    done(&viewer, result, &to, "ok_incident_resolved", lang)
}

#[derive(Debug, Deserialize)]
pub struct JoinForm {
    establishment: String,
    #[serde(default)]
    details: String,
}

pub async fn join(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<JoinForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let result = state
        .app
        .join_incident(viewer.principal(), id, &form.establishment, Some(&form.details))
        .await
        .map(|d| format!("/tickets/{}", state.app.key(d.record.ticket.id)));
    done(&viewer, result, &format!("/incidents/{id}"), "ok_incident_joined", lang)
}

#[derive(Debug, Deserialize)]
pub struct TicketsForm {
    tickets: String,
}

pub async fn add_tickets(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<TicketsForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let to = format!("/incidents/{id}");
    let result =
        state.app.add_to_incident(viewer.principal(), id, &split_keys(&form.tickets)).await.map(|_| to.clone());
    done(&viewer, result, &to, "ok_saved", lang)
}

#[derive(Debug, Deserialize)]
pub struct HandoverForm {
    /// `escalate`, `hand-back` or `forward`.
    action: String,
    #[serde(default)]
    summary: String,
}

pub async fn handover(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<HandoverForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let to = format!("/tickets/{key}");
    let handover = match form.action.as_str() {
        "escalate" => Handover::Escalate,
        "hand-back" => Handover::HandBack,
        "forward" => Handover::Forward,
        _ => return Err(PageError::BadRequest(lang)),
    };
    let result = state.app.hand_over(viewer.principal(), &key, handover, &form.summary).await.map(|_| to.clone());
    done(&viewer, result, &format!("{to}#handover"), "ok_handed_over", lang)
}

#[derive(Debug, Deserialize)]
pub struct LinkForm {
    kind: String,
    other: String,
}

pub async fn link(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<LinkForm>,
) -> Result<Response, PageError> {
    change_link(&state, &viewer, &key, &form, true).await
}

pub async fn unlink(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<LinkForm>,
) -> Result<Response, PageError> {
    change_link(&state, &viewer, &key, &form, false).await
}

async fn change_link(
    state: &AppState,
    viewer: &Viewer,
    key: &str,
    form: &LinkForm,
    add: bool,
) -> Result<Response, PageError> {
    let to = format!("/tickets/{key}");
    let result = match LinkKind::parse(&form.kind) {
        Ok(kind) if add => state.app.link_tickets(viewer.principal(), key, kind, &form.other).await,
        Ok(kind) => state.app.unlink_tickets(viewer.principal(), key, kind, &form.other).await,
        Err(e) => Err(e.into()),
    };
    done(viewer, result.map(|_| to.clone()), &format!("{to}#links"), "ok_saved", viewer.lang)
}

#[derive(Debug, Deserialize)]
pub struct MergeForm {
    into: String,
}

pub async fn merge(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<MergeForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let result = state
        .app
        .merge_tickets(viewer.principal(), &key, &form.into)
        .await
        .map(|d| format!("/tickets/{}", state.app.key(d.record.ticket.id)));
    done(&viewer, result, &format!("/tickets/{key}#links"), "ok_merged", lang)
}

#[derive(Debug, Deserialize)]
pub struct SimilarQuery {
    #[serde(default)]
    text: String,
    establishment: Option<String>,
}

pub struct SimilarRow {
    pub key: String,
    pub title: String,
    pub establishment: String,
    pub snippet_html: String,
}

#[derive(Template)]
#[template(path = "similar.html")]
struct SimilarFragment {
    layout: Layout,
    tickets: Vec<SimilarRow>,
    incidents: Vec<IncidentRow>,
    /// Knowledge-base articles the reader may see, with "this answered my question".
    articles: Vec<super::kb::ArticleRow>,
    answered_base: String,
}

/// What the request being typed resembles, as a fragment for the new-request form.
pub async fn similar(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<SimilarQuery>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let app = &state.app;
    let found = match app.similar(viewer.principal(), &q.text, q.establishment.as_deref()).await {
        Ok(found) => found,
        Err(AppError::Validation(_)) => Default::default(),
        Err(e) => return Err(PageError::app(e, lang)),
    };
    let articles = match app.suggest_articles(Some(viewer.principal()), &q.text).await {
        Ok(found) => found,
        Err(AppError::Validation(_)) => Vec::new(),
        Err(e) => return Err(PageError::app(e, lang)),
    };
    let fragment = SimilarFragment {
        layout: Layout::new(&viewer, ""),
        tickets: found
            .tickets
            .into_iter()
            .map(|r| SimilarRow {
                key: app.key(r.record.ticket.id),
                title: r.record.ticket.title,
                establishment: r.record.establishment_name,
                snippet_html: snippet_html(&r.snippet),
            })
            .collect(),
        incidents: found.incidents.into_iter().map(|i| IncidentRow::new(i, lang)).collect(),
        articles: articles.iter().map(|a| super::kb::row(a, lang)).collect(),
        answered_base: "/kb".into(),
    };
    render(&fragment, lang)
}
