//! Ticket pages: the queue, the ticket itself (timeline, composer, fields,
//! files), filing a new request, and the attachment download for sessions.

use super::i18n::{label, t};
use super::session::{check_csrf, CsrfForm, Viewer};
use super::{back, error_text, render, urlencode, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use guichet_app::attachments::Upload;
use guichet_app::tickets::{CreateTicket, ListParams, UpdateTicket};
use guichet_app::{App, AppError};
use guichet_domain::ids::{AttachmentId, UserId};
use guichet_domain::incident::LinkKind;
use guichet_domain::ticket::{Channel, Outcome, Priority, Profile, Reproduction, Resolution, TicketType, Tier};
use guichet_domain::user::Language;
use guichet_store::tickets::TicketRecord;
use serde::Deserialize;

/// Formats an instant in the desk's time zone.
pub fn when(at: DateTime<Utc>, lang: Language) -> String {
    let local = at.with_timezone(&chrono_tz::Europe::Paris);
    match lang {
        Language::Fr => local.format("%d/%m/%Y %H:%M").to_string(),
        Language::En => local.format("%Y-%m-%d %H:%M").to_string(),
    }
}

/// A status's label in its workflow.
pub fn status_label(app: &App, ticket_type: TicketType, status: &str, lang: Language) -> String {
    app.workflows().get(ticket_type).ok().and_then(|w| w.status(status)).map_or_else(
        || status.to_owned(),
        |s| if lang == Language::En { s.label_en.clone() } else { s.label_fr.clone() },
    )
}

/// A ticket as one line of a list.
pub struct Row {
    pub key: String,
    pub title: String,
    pub establishment: String,
    pub requester: String,
    pub ticket_type: String,
    pub status: String,
    pub priority: String,
    pub priority_code: &'static str,
    pub assignee: String,
    pub updated: String,
}

impl Row {
    pub fn new(app: &App, r: TicketRecord, lang: Language) -> Self {
        let ticket = r.ticket;
        Row {
            key: app.key(ticket.id),
            status: status_label(app, ticket.ticket_type, &ticket.status, lang),
            ticket_type: label(lang, ticket.ticket_type.as_str()),
            priority: label(lang, ticket.priority.as_str()),
            priority_code: ticket.priority.as_str(),
            assignee: ticket.assignee.map(|a| a.name).unwrap_or_default(),
            updated: when(ticket.updated_at, lang),
            title: ticket.title,
            establishment: r.establishment_name,
            requester: ticket.requester.name,
        }
    }
}

/// An option of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub fn choices(values: impl IntoIterator<Item = (String, String)>, selected: &str) -> Vec<Choice> {
    values.into_iter().map(|(value, label)| Choice { selected: value == selected, value, label }).collect()
}

fn vocabulary<T: Copy>(all: &[T], code: impl Fn(T) -> &'static str, lang: Language, selected: &str) -> Vec<Choice> {
    choices(all.iter().map(|v| (code(*v).to_owned(), label(lang, code(*v)))), selected)
}

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    q: Option<String>,
    #[serde(rename = "type")]
    ticket_type: Option<String>,
    status: Option<String>,
    priority: Option<String>,
    channel: Option<String>,
    tier: Option<String>,
    category: Option<String>,
    establishment: Option<String>,
    assignee: Option<String>,
    text: Option<String>,
    sort: Option<String>,
    page: Option<i64>,
    needs_reply: Option<String>,
    resolved_week: Option<String>,
    ok: Option<String>,
    error: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The query the filter form stands for, so that people who use the form
/// learn the language and can save or share the text.
fn filters_as_query(q: &QueueQuery) -> String {
    use guichet_domain::query::{print, Clause, Expr, Operator, Query, Value};
    let mut clauses = Vec::new();
    let mut add = |field: &str, value: &Option<String>| {
        if let Some(v) = nonempty(value) {
            let values: Vec<Value> =
                v.split(',').map(|x| Value::Text { text: x.trim().to_owned(), column: 0 }).collect();
            let op = if values.len() > 1 { Operator::In } else { Operator::Eq };
            clauses.push(Expr::Clause(Clause { field: field.into(), column: 0, op, values }));
        }
    };
    add("type", &q.ticket_type);
    add("status", &q.status);
    add("priority", &q.priority);
    add("channel", &q.channel);
    add("tier", &q.tier);
    add("category", &q.category);
    add("establishment", &q.establishment);
    match nonempty(&q.assignee).as_deref() {
        Some("none") => clauses.push(Expr::Clause(Clause {
            field: "assignee".into(),
            column: 0,
            op: Operator::IsEmpty,
            values: vec![],
        })),
        Some("me") => clauses.push(Expr::Clause(Clause {
            field: "assignee".into(),
            column: 0,
            op: Operator::Eq,
            values: vec![Value::Call { name: "currentUser".into(), args: vec![], column: 0 }],
        })),
        Some(id) => add("assignee", &Some(id.to_owned())),
        None => {}
    }
    if let Some(text) = nonempty(&q.text) {
        clauses.push(Expr::Clause(Clause {
            field: "text".into(),
            column: 0,
            op: Operator::Contains,
            values: vec![Value::Text { text, column: 0 }],
        }));
    }
    let filter = match clauses.len() {
        0 => None,
        1 => clauses.pop(),
        _ => Some(Expr::And(clauses)),
    };
    let order = nonempty(&q.sort)
        .map(|s| s.split(',').map(|f| (f.trim_start_matches('-').to_owned(), 0, f.starts_with('-'))).collect())
        .unwrap_or_default();
    print(&Query { filter, order })
}

pub struct SavedView {
    pub id: i64,
    pub name: String,
    pub count: String,
    pub href: String,
    pub own: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    layout: Layout,
    query: String,
    saved: Vec<SavedView>,
    staff: bool,
    rows: Vec<Row>,
    total: String,
    page: i64,
    /// Unknown when counting stopped at its limit.
    pages: Option<i64>,
    prev_href: Option<String>,
    next_href: Option<String>,
    types: Vec<Choice>,
    statuses: Vec<Choice>,
    priorities: Vec<Choice>,
    tiers: Vec<Choice>,
    channels: Vec<Choice>,
    categories: Vec<Choice>,
    assignees: Vec<Choice>,
    sorts: Vec<Choice>,
    establishment: String,
    text: String,
    problem: Option<String>,
    open_incidents: Vec<super::incidents::IncidentRow>,
}

pub async fn queue(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<QueueQuery>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let app = &state.app;
    // Level 2's queue is what was escalated to it, unless the page asks otherwise.
    let bare = !viewer.path.contains('?');
    if bare && viewer.principal().actor.role == guichet_domain::user::Role::Technician {
        return Ok(Redirect::to("/tickets?tier=technical").into_response());
    }
    let params = ListParams {
        ticket_type: nonempty(&q.ticket_type),
        status: nonempty(&q.status),
        priority: nonempty(&q.priority),
        channel: nonempty(&q.channel),
        tier: nonempty(&q.tier),
        category: nonempty(&q.category),
        establishment: nonempty(&q.establishment),
        assignee: nonempty(&q.assignee),
        text: nonempty(&q.text),
        sort: nonempty(&q.sort),
        page: q.page,
        per_page: Some(50),
        needs_reply: q.needs_reply.is_some(),
        resolved_week: q.resolved_week.is_some(),
        q: nonempty(&q.q),
    };
    let (rows, total, more, problem): (Vec<Row>, _, _, _) = match app.list_tickets(viewer.principal(), &params).await {
        Ok(page) => (page.items.into_iter().map(|r| Row::new(app, r, lang)).collect(), page.total, page.more, None),
        Err(e @ AppError::Validation(_)) => (Vec::new(), 0, false, Some(error_text(&e, lang))),
        Err(e) => return Err(PageError::app(e, lang)),
    };
    let page = q.page.unwrap_or(1).max(1);
    let pages = ((total + 49) / 50).max(1);
    // Past the counting limit the last page is unknown: a full page has a next one.
    let has_next = if more { rows.len() == 50 } else { page < pages };
    let href = |p: i64| {
        let query = viewer.path.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        pairs.retain(|(k, _)| k != "page");
        pairs.push(("page".into(), p.to_string()));
        format!("/tickets?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
    };
    let mut statuses: Vec<(String, String)> = Vec::new();
    for w in &app.workflows().0 {
        for s in &w.statuses {
            if !statuses.iter().any(|(c, _)| *c == s.code) {
                statuses
                    .push((s.code.clone(), if lang == Language::En { s.label_en.clone() } else { s.label_fr.clone() }));
            }
        }
    }
    let selected = |v: &Option<String>| v.clone().unwrap_or_default();
    let categories = app.categories().await.map_err(|e| PageError::app(e, lang))?;
    let mut assignees =
        vec![("me".to_owned(), t(lang, "assign_to_me").to_owned()), ("none".into(), t(lang, "unassigned").into())];
    if viewer.is_staff() {
        for u in app.staff_users(viewer.principal()).await.map_err(|e| PageError::app(e, lang))? {
            assignees.push((u.id.to_string(), u.name));
        }
    }
    let me = viewer.principal().user.id.0;
    let saved = app
        .saved_filters(viewer.principal(), 0)
        .await
        .map_err(|e| PageError::app(e, lang))?
        .into_iter()
        .map(|r| SavedView {
            id: r.filter.id,
            name: super::desk::builtin_name(&r.filter.name, lang),
            count: super::count_label(r.count, r.more, lang),
            href: format!("/tickets?q={}", super::urlencode(&r.filter.query)),
            own: r.filter.owner_id == Some(me),
        })
        .collect();
    let sorts = [
        ("-updated", "updated"),
        ("-created", "created"),
        ("-priority", "priority"),
        ("key", "key"),
        ("status", "status"),
    ];
    let open_incidents =
        if viewer.is_staff() { Vec::new() } else { super::incidents::open_incidents(&state, lang).await };
    let page_view = QueuePage {
        open_incidents,
        layout: Layout::new(&viewer, t(lang, if viewer.is_staff() { "queue" } else { "my_tickets" })),
        query: nonempty(&q.q).unwrap_or_else(|| filters_as_query(&q)),
        saved,
        staff: viewer.is_staff(),
        rows,
        total: super::count_label(total, more, lang),
        page,
        pages: (!more).then_some(pages),
        prev_href: (page > 1).then(|| href(page - 1)),
        next_href: has_next.then(|| href(page + 1)),
        types: vocabulary(TicketType::ALL, TicketType::as_str, lang, &selected(&q.ticket_type)),
        statuses: choices(statuses, &selected(&q.status)),
        priorities: vocabulary(Priority::ALL, Priority::as_str, lang, &selected(&q.priority)),
        tiers: vocabulary(Tier::ALL, Tier::as_str, lang, &selected(&q.tier)),
        channels: vocabulary(Channel::ALL, Channel::as_str, lang, &selected(&q.channel)),
        categories: choices(
            categories
                .into_iter()
                .map(|c| (c.code.clone(), if lang == Language::En { c.label_en } else { c.label_fr })),
            &selected(&q.category),
        ),
        assignees: choices(assignees, &selected(&q.assignee)),
        sorts: choices(sorts.iter().map(|(v, k)| ((*v).to_owned(), t(lang, k).to_owned())), &selected(&q.sort)),
        establishment: selected(&q.establishment),
        text: selected(&q.text),
        problem: problem.or(q.error),
    };
    let _ = q.ok;
    render(&page_view, lang)
}

/// One entry of a ticket's timeline: a message or a change.
pub struct Entry {
    pub when: String,
    pub author: String,
    pub internal: bool,
    /// Sanitised HTML of a message, for messages.
    pub body_html: Option<String>,
    /// "Status: New → In progress", for changes.
    pub change: Option<String>,
    /// The comment's id, for the desk's "mask" form.
    pub comment_id: Option<i64>,
    /// "Contenu masqué par X le …, motif …".
    pub masked: Option<String>,
}

pub struct FileView {
    pub id: i64,
    pub filename: String,
    pub image: bool,
    pub internal: bool,
    pub size: String,
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    layout: Layout,
    staff: bool,
    key: String,
    /// The version shown: the edit forms send it back.
    version: i64,
    /// A key as this desk writes them, for the forms' examples.
    key_example: String,
    title: String,
    description_html: String,
    type_label: String,
    status_label: String,
    priority_label: String,
    priority_code: String,
    tier_label: String,
    channel_label: String,
    category_label: String,
    requester: String,
    requester_email: String,
    establishment: String,
    establishment_uai: String,
    assignee: String,
    created: String,
    updated: String,
    resolution_label: String,
    sla_label: String,
    sla_code: String,
    first_response_due: String,
    resolution_due: String,
    can_reopen: bool,
    types: Vec<Choice>,
    statuses: Vec<Choice>,
    priorities: Vec<Choice>,
    categories: Vec<Choice>,
    assignees: Vec<Choice>,
    resolutions: Vec<Choice>,
    profiles: Vec<Choice>,
    outcomes: Vec<Choice>,
    r_service: String,
    r_browser: String,
    r_url: String,
    r_steps: String,
    entries: Vec<Entry>,
    files: Vec<FileView>,
    /// The hand-over this viewer may make: `escalate`, `hand-back` or `forward`.
    handover: Option<String>,
    /// At the school's tier, its administrators work the request.
    school_tier: bool,
    links: Vec<LinkRow>,
    link_kinds: Vec<Choice>,
    /// The incident the ticket is part of: id and title.
    incident: Option<(i64, String)>,
    /// Who wrote through the HELP page: name, profile and address.
    contact: Option<String>,
    /// What was masked in the description, and files removed, by whom and why.
    description_masked: Option<String>,
    files_masked: Vec<String>,
    /// The canned responses this viewer may insert, filled for this ticket.
    canned: Vec<CannedOption>,
    /// The composer's text, id of the canned response it came from, and what that response also sets.
    composer_body: String,
    composer_canned: String,
    composer_sets: String,
    /// The satisfaction survey: for the desk, its answer in words; for the
    /// requester asked, their rating or the form (`survey_open`).
    survey_label: String,
    survey_open: bool,
    ratings: Vec<Choice>,
    /// The survey form's target and token (the included form's names).
    action: String,
    csrf: String,
    /// Knowledge-base articles like this ticket (the desk), and their address for mail.
    kb_articles: Vec<super::kb::ArticleRow>,
    kb_base: String,
}

pub struct LinkRow {
    pub label: String,
    pub kind: String,
    pub outgoing: bool,
    pub key: String,
    pub title: String,
    pub status: String,
}

/// A canned response offered by the composer, filled for the ticket shown.
pub struct CannedOption {
    pub id: i64,
    pub name: String,
    pub body: String,
    /// What sending it also changes, in words; empty when nothing.
    pub sets: String,
    pub selected: bool,
}

/// The words for what a canned response's macro changes.
pub fn macro_label(
    app: &App,
    c: &guichet_store::canned::CannedResponse,
    categories: &[guichet_store::categories::Category],
    lang: Language,
) -> String {
    let mut parts = Vec::new();
    let ticket_type = c.set_type.as_deref().and_then(|t| TicketType::parse(t).ok());
    if let Some(t) = ticket_type {
        parts.push(format!("{} → {}", super::i18n::t(lang, "type"), label(lang, t.as_str())));
    }
    if let Some(status) = &c.set_status {
        let workflow_type = ticket_type.unwrap_or(TicketType::Assistance);
        parts.push(format!("{} → {}", super::i18n::t(lang, "status"), status_label(app, workflow_type, status, lang)));
    }
    if let Some(code) = &c.set_category {
        let name = categories.iter().find(|k| k.code == *code).map_or(code.as_str(), |k| {
            if lang == Language::En {
                k.label_en.as_str()
            } else {
                k.label_fr.as_str()
            }
        });
        parts.push(format!("{} → {name}", super::i18n::t(lang, "category")));
    }
    if let Some(resolution) = &c.set_resolution {
        parts.push(format!("{} → {}", super::i18n::t(lang, "resolution"), label(lang, resolution)));
    }
    parts.join(" · ")
}

#[derive(Debug, Default, Deserialize)]
pub struct TicketQuery {
    /// A canned response to fill the composer with (the picker without script).
    canned: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(q): Query<TicketQuery>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let app = &state.app;
    let p = viewer.principal();
    let err = |e| PageError::app(e, lang);
    let view = app.ticket_view(p, &key).await.map_err(err)?;
    let chosen: Option<i64> = q.canned.as_deref().and_then(|c| c.trim().parse().ok());
    let categories = app.categories().await.map_err(err)?;
    let canned: Vec<CannedOption> = view
        .canned
        .into_iter()
        .map(|e| CannedOption {
            id: e.canned.id,
            sets: macro_label(app, &e.canned, &categories, lang),
            selected: chosen == Some(e.canned.id),
            name: e.canned.name,
            body: e.body,
        })
        .collect();
    let survey = view.survey;
    let now = app.now();
    let survey_open =
        survey.as_ref().is_some_and(|s| s.answered_at.is_none() && s.expires_at > now && s.requester == p.user.id);
    let survey_label = match &survey {
        Some(s) => match (s.rating, &s.comment) {
            (Some(r), Some(c)) => format!("{r}/5 — « {c} »"),
            (Some(r), None) => format!("{r}/5"),
            (None, _) => t(lang, "survey_pending").to_owned(),
        },
        None => String::new(),
    };
    let kb_articles: Vec<_> = view.articles.iter().map(|a| super::kb::row(a, lang)).collect();
    let composer = canned.iter().find(|c| c.selected);
    let (composer_body, composer_canned, composer_sets) = match composer {
        Some(c) => (c.body.clone(), c.id.to_string(), c.sets.clone()),
        None => (String::new(), String::new(), String::new()),
    };
    let (comments, history, attachments, redactions) = (view.comments, view.history, view.attachments, view.redactions);
    let masked_note = |r: &guichet_store::privacy::Redaction| {
        format!(
            "{} {} · {} · {} : {}",
            t(lang, "masked_by"),
            r.actor_name.clone().unwrap_or_default(),
            when(r.at, lang),
            t(lang, "masked_reason"),
            r.reason
        )
    };
    let comment_masked =
        |id: i64| redactions.iter().rev().find(|r| r.target == "comment" && r.target_id == Some(id)).map(masked_note);
    let description_masked = redactions.iter().rev().find(|r| r.target == "description").map(masked_note);
    let files_masked: Vec<String> = redactions.iter().filter(|r| r.target == "attachment").map(masked_note).collect();
    let details = view.details;
    let record = details.record;
    let tk = record.ticket;
    let workflows = app.workflows();
    let workflow = workflows.get(tk.ticket_type).map_err(|e| err(e.into()))?;
    let staff = viewer.is_staff();
    let (links, contact) = (view.links, view.contact);
    let incident = match record.incident {
        Some(id) => app.incident(p, id).await.ok().map(|v| (id, v.incident.title)),
        None => None,
    };
    let handover = match (staff, tk.tier) {
        (true, Tier::Support) => Some("escalate"),
        (true, Tier::Technical) => Some("hand-back"),
        (_, Tier::Establishment) => Some("forward"),
        (false, _) => None,
    };

    let mut entries: Vec<(DateTime<Utc>, Entry)> = comments
        .into_iter()
        .map(|c| {
            (
                c.created_at,
                Entry {
                    when: when(c.created_at, lang),
                    author: c.author_name,
                    internal: c.internal,
                    body_html: Some(guichet_app::render::markdown_to_safe_html(&c.body)),
                    change: None,
                    comment_id: Some(c.id.0),
                    masked: comment_masked(c.id.0),
                },
            )
        })
        .collect();
    for h in history.into_iter().filter(|h| h.field != "comment") {
        let show = |v: &Option<String>| match (h.field.as_str(), v) {
            (_, None) => "—".to_owned(),
            ("status", Some(s)) => status_label(app, tk.ticket_type, s, lang),
            (_, Some(s)) => label(lang, s),
        };
        let change = if h.field == "created" {
            format!("{} ({})", label(lang, "created"), show(&h.new))
        } else {
            format!("{} : {} → {}", label(lang, &h.field), show(&h.old), show(&h.new))
        };
        entries.push((
            h.at,
            Entry {
                when: when(h.at, lang),
                author: h.actor_name.unwrap_or_else(|| "Guichet".into()),
                internal: h.internal,
                body_html: None,
                change: Some(change),
                comment_id: None,
                masked: None,
            },
        ));
    }
    entries.sort_by_key(|(at, _)| *at);

    let mut statuses = vec![tk.status.clone()];
    statuses.extend(workflow.allowed_from(&tk.status, false));
    let status_choices =
        choices(statuses.into_iter().map(|s| (s.clone(), status_label(app, tk.ticket_type, &s, lang))), &tk.status);
    let mut assignees = vec![(String::new(), t(lang, "none").to_owned())];
    if staff {
        for u in app.staff_users(p).await.map_err(err)? {
            assignees.push((u.id.to_string(), u.name));
        }
    }
    let current_assignee = tk.assignee.as_ref().map(|a| a.id.to_string()).unwrap_or_default();
    let category_code = tk.category.as_ref().map(|c| c.code.clone()).unwrap_or_default();
    let category_label = categories
        .iter()
        .find(|c| c.code == category_code)
        .map(|c| if lang == Language::En { c.label_en.clone() } else { c.label_fr.clone() })
        .unwrap_or_else(|| "—".into());
    let mut category_choices = vec![(String::new(), "—".to_owned())];
    category_choices.extend(
        categories
            .iter()
            .filter(|c| c.active)
            .map(|c| (c.code.clone(), if lang == Language::En { c.label_en.clone() } else { c.label_fr.clone() })),
    );
    let mut resolutions = vec![(String::new(), "—".to_owned())];
    resolutions.extend(Resolution::ALL.iter().map(|r| (r.as_str().to_owned(), label(lang, r.as_str()))));
    let mut profiles = vec![(String::new(), "—".to_owned())];
    profiles.extend(Profile::ALL.iter().map(|r| (r.as_str().to_owned(), label(lang, r.as_str()))));
    let mut outcomes = vec![(String::new(), "—".to_owned())];
    outcomes.extend(Outcome::ALL.iter().map(|r| (r.as_str().to_owned(), label(lang, r.as_str()))));
    let files = attachments
        .into_iter()
        .map(|a| FileView {
            id: a.id.0,
            image: guichet_app::attachments::is_inline(&a.mime),
            internal: a.internal,
            size: if a.size >= 1024 * 1024 {
                format!("{:.1} Mo", a.size as f64 / 1_048_576.0)
            } else {
                format!("{} ko", (a.size + 1023) / 1024)
            },
            filename: a.filename,
        })
        .collect();
    let page = TicketPage {
        layout: Layout::new(&viewer, format!("{} · {}", app.key(tk.id), tk.title)),
        staff,
        key: app.key(tk.id),
        version: tk.version,
        key_example: app.key(guichet_domain::ids::TicketId(123)),
        description_html: guichet_app::render::markdown_to_safe_html(&tk.description),
        type_label: label(lang, tk.ticket_type.as_str()),
        status_label: status_label(app, tk.ticket_type, &tk.status, lang),
        priority_label: label(lang, tk.priority.as_str()),
        priority_code: tk.priority.as_str().to_owned(),
        tier_label: label(lang, tk.tier.as_str()),
        channel_label: label(lang, tk.channel.as_str()),
        category_label,
        requester: tk.requester.name.clone(),
        requester_email: record.requester_email,
        establishment: format!("{} ({})", record.establishment_name, record.establishment_uai),
        establishment_uai: record.establishment_uai.clone(),
        assignee: tk.assignee.as_ref().map_or_else(|| "—".to_owned(), |a| a.name.clone()),
        created: when(tk.created_at, lang),
        updated: when(tk.updated_at, lang),
        resolution_label: tk.resolution.map_or_else(String::new, |r| label(lang, r.as_str())),
        sla_label: record.sla.state.map_or_else(|| "—".to_owned(), |s| label(lang, s.as_str())),
        sla_code: record.sla.state.map_or("none", |s| s.as_str()).to_owned(),
        first_response_due: record.sla.first_response_due.map_or_else(|| "—".to_owned(), |d| when(d, lang)),
        resolution_due: record.sla.resolution_due.map_or_else(|| "—".to_owned(), |d| when(d, lang)),
        can_reopen: workflow.allowed_from(&tk.status, true).iter().any(|s| s == "in_progress"),
        types: vocabulary(TicketType::ALL, TicketType::as_str, lang, tk.ticket_type.as_str()),
        statuses: status_choices,
        priorities: vocabulary(Priority::ALL, Priority::as_str, lang, tk.priority.as_str()),
        categories: choices(category_choices, &category_code),
        assignees: choices(assignees, &current_assignee),
        resolutions: choices(resolutions, tk.resolution.map_or("", |r| r.as_str())),
        profiles: choices(profiles, tk.reproduction.profile.map_or("", |r| r.as_str())),
        outcomes: choices(outcomes, tk.reproduction.outcome.map_or("", |r| r.as_str())),
        r_service: tk.reproduction.service.clone().unwrap_or_default(),
        r_browser: tk.reproduction.browser.clone().unwrap_or_default(),
        r_url: tk.reproduction.url.clone().unwrap_or_default(),
        r_steps: tk.reproduction.steps.clone().unwrap_or_default(),
        handover: handover.map(str::to_owned),
        school_tier: tk.tier == Tier::Establishment,
        links: links
            .into_iter()
            .map(|l| {
                let kind = l.link.kind.as_str();
                let code = if l.link.outgoing { kind.to_owned() } else { format!("{kind}_from") };
                LinkRow {
                    label: label(lang, &code),
                    kind: kind.to_owned(),
                    outgoing: l.link.outgoing,
                    title: l.link.other_title,
                    status: status_label(app, tk.ticket_type, &l.link.other_status, lang),
                    key: l.other_key,
                }
            })
            .collect(),
        link_kinds: LinkKind::ALL
            .iter()
            .map(|k| Choice { value: k.to_string(), label: label(lang, k.as_str()), selected: false })
            .collect(),
        incident,
        contact: contact.map(|c| {
            let mut parts = vec![c.name, label(lang, &c.profile)];
            parts.extend(c.email);
            parts.join(" · ")
        }),
        description_masked,
        files_masked,
        title: tk.title,
        entries: entries.into_iter().map(|(_, e)| e).collect(),
        files,
        canned,
        composer_body,
        composer_canned,
        composer_sets,
        survey_label,
        survey_open,
        ratings: super::satisfaction::ratings(lang, None),
        action: format!("/tickets/{key}/satisfaction"),
        csrf: viewer.session.csrf_token.clone(),
        kb_articles,
        kb_base: format!("{}/kb", app.settings.mail.portal_url.trim_end_matches('/')),
    };
    render(&page, lang)
}

#[derive(Debug, Default, Deserialize)]
pub struct UpdateForm {
    /// `fields`, `reproduction`, or a quick action: `assign_me`, `reopen`, `close`, `resolve_help`.
    action: String,
    #[serde(rename = "type")]
    ticket_type: Option<String>,
    status: Option<String>,
    priority: Option<String>,
    category: Option<String>,
    assignee: Option<String>,
    resolution: Option<String>,
    /// UAI.
    establishment: Option<String>,
    service: Option<String>,
    profile: Option<String>,
    browser: Option<String>,
    url: Option<String>,
    steps: Option<String>,
    outcome: Option<String>,
    /// The version the form was shown with (edit forms).
    version: Option<i64>,
}

fn parse_opt<T>(
    v: &Option<String>,
    parse: impl Fn(&str) -> Result<T, guichet_domain::DomainError>,
) -> Result<Option<T>, AppError> {
    match nonempty(v) {
        None => Ok(None),
        Some(s) => Ok(Some(parse(&s)?)),
    }
}

/// Builds the change a form asks for, leaving alone what it does not change.
async fn update_from_form(app: &App, viewer: &Viewer, key: &str, f: &UpdateForm) -> Result<UpdateTicket, AppError> {
    let p = viewer.principal();
    let current = app.get_ticket(p, key).await?.record.ticket;
    let mut u = UpdateTicket::default();
    match f.action.as_str() {
        "assign_me" => u.assignee = Some(Some(p.user.id)),
        // A school's administrator answered a HELP request themselves.
        "resolve_help" => {
            u.status = Some("resolved".into());
            u.resolution = Some(Some(Resolution::Answered));
        }
        "reopen" => u.status = Some("in_progress".into()),
        "close" => u.status = Some("closed".into()),
        "reproduction" => {
            u.reproduction = Some(Reproduction {
                service: nonempty(&f.service),
                profile: parse_opt(&f.profile, Profile::parse)?,
                browser: nonempty(&f.browser),
                url: nonempty(&f.url),
                steps: nonempty(&f.steps),
                outcome: parse_opt(&f.outcome, Outcome::parse)?,
            })
        }
        "fields" => {
            u.ticket_type = parse_opt(&f.ticket_type, TicketType::parse)?.filter(|t| *t != current.ticket_type);
            u.status = nonempty(&f.status).filter(|s| *s != current.status);
            u.priority = parse_opt(&f.priority, Priority::parse)?.filter(|v| *v != current.priority);
            let category = nonempty(&f.category);
            if category != current.category.as_ref().map(|c| c.code.clone()) {
                u.category = Some(category);
            }
            let assignee = match nonempty(&f.assignee) {
                Some(id) => Some(UserId(id.parse().map_err(|_| AppError::field("assignee", "unknown user"))?)),
                None => None,
            };
            if assignee != current.assignee.as_ref().map(|a| a.id) {
                u.assignee = Some(assignee);
            }
            let resolution = parse_opt(&f.resolution, Resolution::parse)?;
            if resolution != current.resolution {
                u.resolution = Some(resolution);
            }
            u.establishment = nonempty(&f.establishment);
        }
        _ => return Err(AppError::field("action", "unknown action")),
    }
    // A form shows every field: sent back over someone else's change, its
    // old values would undo that change.
    if matches!(f.action.as_str(), "fields" | "reproduction") {
        u.expected_version = f.version;
    }
    Ok(u)
}

pub async fn update(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<UpdateForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let target = format!("/tickets/{key}");
    let result = match update_from_form(&state.app, &viewer, &key, &form).await {
        Ok(update) => state.app.update_ticket(viewer.principal(), &key, update).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(back(&viewer, &target, Some(if lang == Language::En { "Saved." } else { "Enregistré." }), None)),
        Err(e @ (AppError::NotFound(_) | AppError::Forbidden(_) | AppError::Internal(_))) => {
            Err(PageError::app(e, lang))
        }
        Err(AppError::Stale { .. }) => Ok(back(&viewer, &target, None, Some(super::i18n::t(lang, "stale_ticket")))),
        Err(e) => Ok(back(&viewer, &target, None, Some(&error_text(&e, lang)))),
    }
}

#[derive(Debug, Deserialize)]
pub struct CommentForm {
    body: String,
    /// `reply` or `internal`: the writer chooses explicitly.
    kind: Option<String>,
    /// The canned response the text came from: its macro applies on sending.
    #[serde(default)]
    canned: String,
}

pub async fn comment(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<CommentForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let target = format!("/tickets/{key}");
    let internal = match (viewer.is_staff(), form.kind.as_deref()) {
        (false, _) | (true, Some("reply")) => false,
        (true, Some("internal")) => true,
        (true, _) => {
            let msg = if lang == Language::En {
                "Choose: reply or internal note."
            } else {
                "Choisissez : réponse ou note interne."
            };
            return Ok(back(&viewer, &target, None, Some(msg)));
        }
    };
    let sent = match form.canned.trim() {
        "" => state.app.add_comment(viewer.principal(), &key, &form.body, internal, Channel::Portal).await,
        id => match id.parse::<i64>() {
            Ok(id) => {
                let p = viewer.principal();
                state.app.reply_with_canned(p, &key, id, Some(&form.body), internal, Channel::Portal).await
            }
            Err(_) => Err(AppError::NotFound("canned response")),
        },
    };
    match sent {
        Ok(_) => Ok(back(
            &viewer,
            &format!("{target}#composer"),
            Some(if lang == Language::En { "Sent." } else { "Envoyé." }),
            None,
        )),
        Err(e @ (AppError::NotFound(_) | AppError::Internal(_))) => Err(PageError::app(e, lang)),
        // Refused with a canned response (its macro's status does not apply
        // here): the composer comes back filled with it.
        Err(e) if !form.canned.trim().is_empty() => {
            let again = format!("{target}?canned={}#composer", urlencode(form.canned.trim()));
            Ok(back(&viewer, &again, None, Some(&error_text(&e, lang))))
        }
        Err(e) => Ok(back(&viewer, &target, None, Some(&error_text(&e, lang)))),
    }
}

/// Reads a multipart form: text fields, and files (name, bytes), within the size limit.
pub async fn read_multipart(
    mut multipart: Multipart,
    limit: usize,
) -> Result<(Vec<(String, String)>, Vec<(String, Vec<u8>)>), AppError> {
    let mut fields = Vec::new();
    let mut files = Vec::new();
    let bad = |_| AppError::field("file", "the form could not be read");
    while let Some(mut field) = multipart.next_field().await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge { limit }
        } else {
            AppError::field("file", "the form could not be read")
        }
    })? {
        let name = field.name().unwrap_or_default().to_owned();
        if let Some(filename) = field.file_name().map(str::to_owned) {
            let mut content = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                if content.len() + chunk.len() > limit {
                    return Err(AppError::TooLarge { limit });
                }
                content.extend_from_slice(&chunk);
            }
            if !filename.is_empty() && !content.is_empty() {
                files.push((filename, content));
            }
        } else {
            fields.push((name, field.text().await.map_err(bad)?));
        }
    }
    Ok((fields, files))
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub async fn upload(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let target = format!("/tickets/{key}");
    let limit = state.app.settings.attachment_max_bytes;
    let (fields, files) = match read_multipart(multipart, limit).await {
        Ok(read) => read,
        Err(e) => return Ok(back(&viewer, &target, None, Some(&error_text(&e, lang)))),
    };
    check_csrf(&viewer, field(&fields, "_csrf").unwrap_or_default())?;
    let internal = viewer.is_staff() && field(&fields, "internal").is_some_and(|v| v == "on" || v == "true");
    if files.is_empty() {
        let msg = if lang == Language::En { "Choose a file." } else { "Choisissez un fichier." };
        return Ok(back(&viewer, &target, None, Some(msg)));
    }
    for (filename, content) in &files {
        let upload = Upload { filename, content, internal, comment: None };
        if let Err(e) = state.app.add_attachment(viewer.principal(), &key, upload).await {
            return match e {
                AppError::NotFound(_) | AppError::Internal(_) => Err(PageError::app(e, lang)),
                e => Ok(back(&viewer, &target, None, Some(&error_text(&e, lang)))),
            };
        }
    }
    Ok(back(&viewer, &target, Some(if lang == Language::En { "File attached." } else { "Fichier joint." }), None))
}

/// Attachments for a signed-in browser, with the same checks and headers as the API.
pub async fn attachment(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let id = id.parse().map(AttachmentId).map_err(|_| PageError::NotFound(lang))?;
    let (attachment, content) =
        state.app.get_attachment(viewer.principal(), id).await.map_err(|e| PageError::app(e, lang))?;
    Ok(crate::api::v1::attachments::file_response(&attachment, content))
}

#[derive(Template)]
#[template(path = "new_ticket.html")]
struct NewTicketPage {
    layout: Layout,
    establishments: Vec<Choice>,
    categories: Vec<Choice>,
    profiles: Vec<Choice>,
    open_incidents: Vec<super::incidents::IncidentRow>,
}

pub async fn new_page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let lang = viewer.lang;
    if viewer.is_staff() {
        return Ok(Redirect::to("/phone").into_response());
    }
    let err = |e| PageError::app(e, lang);
    let establishments = state.app.find_establishments(&viewer.principal().user.establishments).await.map_err(err)?;
    let categories = state.app.categories().await.map_err(err)?;
    let mut profiles = vec![(String::new(), "—".to_owned())];
    profiles.extend(Profile::ALL.iter().map(|r| (r.as_str().to_owned(), label(lang, r.as_str()))));
    let page = NewTicketPage {
        open_incidents: super::incidents::open_incidents(&state, lang).await,
        layout: Layout::new(&viewer, t(lang, "new_request")),
        establishments: choices(
            establishments.into_iter().map(|e| (e.uai.to_string(), format!("{} ({})", e.name, e.uai))),
            "",
        ),
        categories: choices(
            categories
                .into_iter()
                .filter(|c| c.active)
                .map(|c| (c.code, if lang == Language::En { c.label_en } else { c.label_fr })),
            "",
        ),
        profiles: choices(profiles, ""),
    };
    render(&page, lang)
}

/// Files a request from the portal form, with its screenshots, in one go.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let limit = state.app.settings.attachment_max_bytes;
    let (fields, files) = match read_multipart(multipart, limit).await {
        Ok(read) => read,
        Err(e) => return Ok(back(&viewer, "/tickets/new", None, Some(&error_text(&e, lang)))),
    };
    check_csrf(&viewer, field(&fields, "_csrf").unwrap_or_default())?;
    let get = |name: &str| field(&fields, name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let result: Result<String, AppError> = async {
        let ticket_type = get("type").map(|t| TicketType::parse(&t)).transpose()?;
        let reproduction = (ticket_type == Some(TicketType::Anomaly)).then(|| -> Result<Reproduction, AppError> {
            Ok(Reproduction {
                service: get("service"),
                profile: get("profile").map(|p| Profile::parse(&p)).transpose()?,
                browser: get("browser"),
                url: get("url"),
                steps: get("steps"),
                outcome: None,
            })
        });
        let create = CreateTicket {
            title: get("title").unwrap_or_default(),
            description: get("description").unwrap_or_default(),
            establishment: get("establishment").unwrap_or_default(),
            ticket_type,
            category: get("category"),
            channel: Some(Channel::Portal),
            reproduction: reproduction.transpose()?,
            ..CreateTicket::default()
        };
        let details = state.app.create_ticket_with_files(viewer.principal(), create, &files).await?;
        Ok(state.app.key(details.record.ticket.id))
    }
    .await;
    match result {
        Ok(key) => Ok(back(
            &viewer,
            &format!("/tickets/{key}"),
            Some(if lang == Language::En { "Request sent." } else { "Demande envoyée." }),
            None,
        )),
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/tickets/new", None, Some(&error_text(&e, lang)))),
    }
}

/// A local date (`YYYY-MM-DD`) as people read it: "lun. 30/11/2026" or "Mon 2026-11-30".
pub fn day_label(day: &str, lang: Language) -> String {
    match chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d") {
        Ok(d) => {
            let names = if lang == Language::En {
                ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
            } else {
                ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."]
            };
            let name = names[chrono::Datelike::weekday(&d).num_days_from_monday() as usize];
            if lang == Language::En {
                format!("{name} {}", d.format("%Y-%m-%d"))
            } else {
                format!("{name} {}", d.format("%d/%m/%Y"))
            }
        }
        Err(_) => day.to_owned(),
    }
}

#[derive(Debug, Deserialize)]
pub struct SaveFilterForm {
    name: String,
    q: String,
    shared: Option<String>,
}

/// Saves the current query as a filter.
pub async fn save_filter(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<SaveFilterForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let back_to = format!("/tickets?q={}", super::urlencode(&form.q));
    match state.app.create_filter(viewer.principal(), &form.name, &form.q, form.shared.is_some()).await {
        Ok(_) => Ok(Redirect::to(&format!(
            "{back_to}&ok={}",
            super::urlencode(if lang == Language::En { "Filter saved." } else { "Filtre enregistré." })
        ))
        .into_response()),
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => {
            Ok(Redirect::to(&format!("{back_to}&error={}", super::urlencode(&error_text(&e, lang)))).into_response())
        }
    }
}

pub async fn delete_filter(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form: _ }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    match state.app.delete_filter(viewer.principal(), id).await {
        Ok(()) => Ok(back(
            &viewer,
            "/tickets",
            Some(if lang == Language::En { "Filter deleted." } else { "Filtre supprimé." }),
            None,
        )),
        Err(e) => Err(PageError::app(e, lang)),
    }
}

#[derive(Debug, Deserialize)]
pub struct RedactForm {
    /// `description`, `comment` or `attachment`.
    target: String,
    id: Option<i64>,
    #[serde(default)]
    text: String,
    reason: String,
}

/// The desk masks content pasted by mistake (see `App::redact`).
pub async fn redact(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<RedactForm>,
) -> Result<Response, PageError> {
    use guichet_app::privacy::RedactionTarget;
    use guichet_domain::ids::CommentId;
    let lang = viewer.lang;
    let to = format!("/tickets/{key}");
    let target = match (form.target.as_str(), form.id) {
        ("description", _) => RedactionTarget::Description,
        ("comment", Some(id)) => RedactionTarget::Comment(CommentId(id)),
        ("attachment", Some(id)) => RedactionTarget::Attachment(AttachmentId(id)),
        _ => return Err(PageError::BadRequest(lang)),
    };
    match state.app.redact(viewer.principal(), &key, target, &form.text, &form.reason).await {
        Ok(()) => Ok(back(&viewer, &to, Some(t(lang, "masked")), None)),
        Err(e @ AppError::Validation(_)) => Ok(back(&viewer, &to, None, Some(&error_text(&e, lang)))),
        Err(e) => Err(PageError::app(e, lang)),
    }
}
