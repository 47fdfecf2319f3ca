//! `/admin/webhooks`: the subscriptions, their deliveries' log, and the
//! actions on them (test, resume, new secret, send again).

use super::i18n::t;
use super::session::{CsrfForm, Viewer};
use super::tickets::when;
use super::{back, error_text, render, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use guichet_app::webhooks::WebhookInput;
use guichet_app::{App, AppError};
use guichet_domain::ids::TicketId;
use guichet_domain::user::{Language, Role};
use guichet_domain::webhook::WebhookEvent;
use guichet_store::webhooks::{Delivery, Webhook};
use serde::Deserialize;

pub struct HookRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub events: String,
    pub state: String,
    pub troubled: bool,
    pub pending: i64,
    pub last_success: String,
}

pub struct EventChoice {
    pub code: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// The fields of the form, for a new subscription or the one shown.
pub struct HookForm {
    pub action: String,
    pub name: String,
    pub url: String,
    pub filter: String,
    pub active: bool,
    pub events: Vec<EventChoice>,
}

pub struct DeliveryRow {
    pub id: i64,
    pub event: String,
    pub ticket: String,
    pub occurred: String,
    pub state: String,
    pub failed: bool,
    pub attempts: i64,
    pub last: String,
    pub next: String,
}

pub struct TryRow {
    pub at: String,
    pub node: String,
    pub status: String,
    pub duration_ms: i64,
    pub response: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "admin_webhooks.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<HookRow>,
    form: HookForm,
    error: String,
}

#[derive(Template)]
#[template(path = "admin_webhook.html")]
struct HookPage {
    layout: Layout,
    id: i64,
    state: String,
    paused: bool,
    failing_since: String,
    owner: String,
    /// Shown once, just after it was made.
    secret: String,
    form: HookForm,
    deliveries: Vec<DeliveryRow>,
    error: String,
}

#[derive(Template)]
#[template(path = "admin_webhook_delivery.html")]
struct DeliveryPage {
    layout: Layout,
    hook_id: i64,
    hook_name: String,
    delivery: DeliveryRow,
    payload: String,
    tries: Vec<TryRow>,
}

fn admin_only(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.principal().actor.role == Role::Admin {
        Ok(())
    } else {
        Err(PageError::app(AppError::Forbidden("administrators only".into()), viewer.lang))
    }
}

fn event_label(e: WebhookEvent, lang: Language) -> &'static str {
    let key = match e {
        WebhookEvent::TicketCreated => "hook_ticket_created",
        WebhookEvent::TicketUpdated => "hook_ticket_updated",
        WebhookEvent::StatusChanged => "hook_status_changed",
        WebhookEvent::Escalated => "hook_escalated",
        WebhookEvent::Resolved => "hook_resolved",
        WebhookEvent::PublicComment => "hook_public_comment",
        WebhookEvent::IncidentDeclared => "hook_incident_declared",
        WebhookEvent::IncidentResolved => "hook_incident_resolved",
        WebhookEvent::Ping => "hook_ping",
    };
    t(lang, key)
}

fn state_of(w: &Webhook, lang: Language) -> (String, bool) {
    if w.paused_at.is_some() {
        (t(lang, "hook_paused").to_owned(), true)
    } else if !w.fields.active {
        (t(lang, "hook_off").to_owned(), false)
    } else if let Some(since) = w.failing_since {
        (format!("{} {}", t(lang, "failing_since"), when(since, lang)), true)
    } else {
        (t(lang, "hook_on").to_owned(), false)
    }
}

fn form_of(action: String, w: Option<&Webhook>, lang: Language) -> HookForm {
    let chosen: Vec<&str> = w.map(|w| w.fields.events.iter().map(String::as_str).collect()).unwrap_or_default();
    HookForm {
        action,
        name: w.map(|w| w.fields.name.clone()).unwrap_or_default(),
        url: w.map(|w| w.fields.url.clone()).unwrap_or_default(),
        filter: w.and_then(|w| w.fields.filter.clone()).unwrap_or_default(),
        active: w.is_none_or(|w| w.fields.active),
        events: WebhookEvent::subscribable()
            .map(|e| EventChoice {
                code: e.as_str(),
                label: event_label(e, lang),
                // A new subscription starts with the ticket's main events.
                checked: if w.is_some() {
                    chosen.contains(&e.as_str())
                } else {
                    matches!(e, WebhookEvent::TicketCreated | WebhookEvent::StatusChanged | WebhookEvent::Escalated)
                },
            })
            .collect(),
    }
}

fn delivery_row(app: &App, d: Delivery, lang: Language) -> DeliveryRow {
    let event = WebhookEvent::parse(&d.event).map(|e| event_label(e, lang)).unwrap_or("?").to_owned();
    let state = match d.state.as_str() {
        "delivered" => t(lang, "hook_delivered"),
        "failed" => t(lang, "hook_given_up"),
        "filtered" => t(lang, "hook_filtered"),
        _ => t(lang, "hook_pending"),
    };
    let last = match (d.last_status, &d.last_error) {
        (_, Some(error)) => error.clone(),
        (Some(status), None) => format!("HTTP {status}"),
        (None, None) => String::new(),
    };
    DeliveryRow {
        id: d.id,
        event,
        ticket: d
            .ticket_id
            .map(|t| app.key(TicketId(t)))
            .or_else(|| d.incident_id.map(App::incident_key))
            .unwrap_or_default(),
        occurred: when(d.occurred_at, lang),
        failed: d.state == "failed",
        next: if d.state == "pending" { when(d.next_attempt_at, lang) } else { String::new() },
        state: state.to_owned(),
        attempts: d.attempts,
        last,
    }
}

async fn list(state: &AppState, viewer: &Viewer, form: HookForm, error: String) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let hooks = state.app.webhooks(viewer.principal()).await.map_err(|e| PageError::app(e, lang))?;
    let rows = hooks
        .into_iter()
        .map(|w| {
            let (state, troubled) = state_of(&w, lang);
            HookRow {
                id: w.id,
                events: w
                    .fields
                    .events
                    .iter()
                    .filter_map(|e| WebhookEvent::parse(e).ok())
                    .map(|e| event_label(e, lang))
                    .collect::<Vec<_>>()
                    .join(", "),
                state,
                troubled,
                pending: w.pending,
                last_success: w.last_success_at.map_or_else(|| t(lang, "never").to_owned(), |d| when(d, lang)),
                name: w.fields.name,
                url: w.fields.url,
            }
        })
        .collect();
    render(&ListPage { layout: Layout::new(viewer, t(lang, "webhooks")), rows, form, error }, lang)
}

pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let form = form_of("/admin/webhooks".into(), None, viewer.lang);
    list(&state, &viewer, form, String::new()).await
}

async fn show(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    secret: String,
    form: Option<HookForm>,
    error: String,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let p = viewer.principal();
    let err = |e| PageError::app(e, lang);
    let hook = state.app.webhook(p, id).await.map_err(err)?;
    let deliveries = state.app.webhook_deliveries(p, id).await.map_err(err)?;
    let (hook_state, _) = state_of(&hook, lang);
    let page = HookPage {
        layout: Layout::new(viewer, &hook.fields.name),
        id,
        state: hook_state,
        paused: hook.paused_at.is_some(),
        failing_since: hook.failing_since.map(|d| when(d, lang)).unwrap_or_default(),
        owner: hook.owner_name.clone(),
        secret,
        form: form.unwrap_or_else(|| form_of(format!("/admin/webhooks/{id}"), Some(&hook), lang)),
        deliveries: deliveries.into_iter().map(|d| delivery_row(&state.app, d, lang)).collect(),
        error,
    };
    render(&page, lang)
}

pub async fn hook_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    show(&state, &viewer, id, String::new(), None, String::new()).await
}

/// The form's fields; the events come as repeated `events` fields, which
/// a form decoder gives as a list of pairs.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct HookFields(Vec<(String, String)>);

impl HookFields {
    fn get(&self, name: &str) -> String {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    fn input(&self) -> WebhookInput {
        let events: Vec<&str> = self.0.iter().filter(|(k, _)| k == "events").map(|(_, v)| v.as_str()).collect();
        WebhookInput {
            name: self.get("name"),
            url: self.get("url"),
            events: events.join(" "),
            filter: Some(self.get("filter")),
            active: self.get("active") == "on",
        }
    }

    /// The form as it was sent, to show again with its error.
    fn form(&self, action: String, lang: Language) -> HookForm {
        let input = self.input();
        let mut form = form_of(action, None, lang);
        form.name = input.name;
        form.url = input.url;
        form.filter = input.filter.unwrap_or_default();
        form.active = input.active;
        for choice in &mut form.events {
            choice.checked = input.events.split(' ').any(|e| e == choice.code);
        }
        form
    }
}

pub async fn create(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<HookFields>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    match state.app.create_webhook(viewer.principal(), form.input()).await {
        // Shown here rather than after a redirect: the secret must not
        // travel in a URL (history, logs).
        Ok(hook) => show(&state, &viewer, hook.id, hook.secret, None, String::new()).await,
        Err(e @ AppError::Validation(_)) => {
            list(&state, &viewer, form.form("/admin/webhooks".into(), lang), error_text(&e, lang)).await
        }
        Err(e) => Err(PageError::app(e, lang)),
    }
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<HookFields>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    match state.app.update_webhook(viewer.principal(), id, form.input()).await {
        Ok(_) => Ok(back(&viewer, &format!("/admin/webhooks/{id}"), Some(t(lang, "saved")), None)),
        Err(e @ AppError::Validation(_)) => {
            let form = form.form(format!("/admin/webhooks/{id}"), lang);
            show(&state, &viewer, id, String::new(), Some(form), error_text(&e, lang)).await
        }
        Err(e) => Err(PageError::app(e, lang)),
    }
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// An action of the subscription's page, then back with what was done.
enum Action {
    Delete,
    Resume,
    Ping,
}

async fn act(state: &AppState, viewer: &Viewer, id: i64, action: Action) -> Result<Response, PageError> {
    admin_only(viewer)?;
    let (lang, p) = (viewer.lang, viewer.principal());
    let page = format!("/admin/webhooks/{id}");
    let (to, done) = match action {
        Action::Delete => state.app.delete_webhook(p, id).await.map(|_| ("/admin/webhooks", "hook_deleted")),
        Action::Resume => state.app.resume_webhook(p, id).await.map(|_| (page.as_str(), "hook_resumed")),
        Action::Ping => state.app.ping_webhook(p, id).await.map(|_| (page.as_str(), "hook_ping_queued")),
    }
    .map_err(|e| PageError::app(e, lang))?;
    Ok(back(viewer, to, Some(t(lang, done)), None))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    act(&state, &viewer, id, Action::Delete).await
}

pub async fn resume(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    act(&state, &viewer, id, Action::Resume).await
}

pub async fn ping(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    act(&state, &viewer, id, Action::Ping).await
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let hook =
        state.app.rotate_webhook_secret(viewer.principal(), id).await.map_err(|e| PageError::app(e, viewer.lang))?;
    show(&state, &viewer, id, hook.secret, None, String::new()).await
}

pub async fn delivery_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, delivery)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    let p = viewer.principal();
    let err = |e| PageError::app(e, lang);
    let hook = state.app.webhook(p, id).await.map_err(err)?;
    let (d, tries) = state.app.webhook_delivery(p, id, delivery).await.map_err(err)?;
    let payload = d
        .payload
        .as_deref()
        .map(|text| {
            serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| text.to_owned())
        })
        .unwrap_or_default();
    let tries = tries
        .into_iter()
        .map(|a| TryRow {
            at: when(a.at, lang),
            node: a.node,
            status: a.status.map(|s| s.to_string()).unwrap_or_else(|| "—".into()),
            duration_ms: a.duration_ms,
            response: a.response,
            error: a.error.unwrap_or_default(),
        })
        .collect();
    let title = format!("{} #{}", t(lang, "hook_delivery"), d.id);
    let page = DeliveryPage {
        layout: Layout::new(&viewer, &title),
        hook_id: id,
        hook_name: hook.fields.name,
        delivery: delivery_row(&state.app, d, lang),
        payload,
        tries,
    };
    render(&page, lang)
}

pub async fn redeliver(
    State(state): State<AppState>,
    Path((id, delivery)): Path<(i64, i64)>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    match state.app.redeliver_webhook(viewer.principal(), id, delivery).await {
        Ok(_) => Ok(back(&viewer, &format!("/admin/webhooks/{id}"), Some(t(lang, "hook_redelivery_queued")), None)),
        Err(e @ AppError::NotFound(_)) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, &format!("/admin/webhooks/{id}"), None, Some(&error_text(&e, lang)))),
    }
}
