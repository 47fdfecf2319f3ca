//! Phone intake: find the caller while they talk, see their open requests,
//! and log the call as a ticket in a few keystrokes.

use super::i18n::{label, t};
use super::session::{CsrfForm, Viewer};
use super::tickets::{choices, Choice, Row};
use super::{back, error_text, render, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use guichet_app::tickets::{CreateTicket, UpdateTicket};
use guichet_app::AppError;
use guichet_domain::ticket::{Channel, Priority, Resolution, TicketType};
use guichet_domain::user::{Language, Role};
use guichet_store::users::UserFilter;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct PhoneQuery {
    q: Option<String>,
    caller: Option<i64>,
}

pub struct CallerView {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phones: String,
    pub establishments: String,
}

#[derive(Template)]
#[template(path = "phone.html")]
struct PhonePage {
    layout: Layout,
    q: String,
    matches: Vec<CallerView>,
    caller: Option<CallerView>,
    open_rows: Vec<Row>,
    establishments: Vec<Choice>,
    types: Vec<Choice>,
    priorities: Vec<Choice>,
    categories: Vec<Choice>,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<PhoneQuery>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    if !viewer.is_staff() {
        return Ok(Redirect::to("/tickets/new").into_response());
    }
    let app = &state.app;
    let p = viewer.principal();
    let err = |e| PageError::app(e, lang);
    let q = query.q.clone().unwrap_or_default();
    let mut matches = Vec::new();
    if !q.trim().is_empty() {
        // A UAI finds the school's administrators; anything else a person.
        let uai = guichet_domain::establishment::Uai::parse(&q).ok();
        let establishment = match &uai {
            Some(uai) => app.list_establishments(p, Some(uai.as_str()), 1, 0).await.map_err(err)?.0.into_iter().next(),
            None => None,
        };
        let filter = match &establishment {
            Some(e) => UserFilter { role: Some(Role::Requester), establishment: Some(e.id), search: None },
            None => UserFilter { role: Some(Role::Requester), establishment: None, search: Some(q.trim().to_owned()) },
        };
        for user in app.list_users(p, &filter, 20, 0).await.map_err(err)?.0 {
            matches.push(caller_view(app, user).await.map_err(err)?);
        }
    }
    let mut caller = None;
    let mut open_rows = Vec::new();
    let mut establishments = Vec::new();
    if let Some(id) = query.caller {
        let user = app.find_user(p, guichet_domain::ids::UserId(id)).await.map_err(err)?;
        for e in app.find_establishments(&user.establishments).await.map_err(err)? {
            establishments.push((e.uai.to_string(), format!("{} ({})", e.name, e.uai)));
        }
        open_rows =
            app.open_tickets_of(p, user.id).await.map_err(err)?.into_iter().map(|r| Row::new(app, r, lang)).collect();
        caller = Some(caller_view(app, user).await.map_err(err)?);
    }
    let categories = app.categories().await.map_err(err)?;
    let mut category_choices = vec![(String::new(), "—".to_owned())];
    category_choices.extend(
        categories
            .into_iter()
            .filter(|c| c.active)
            .map(|c| (c.code, if lang == Language::En { c.label_en } else { c.label_fr })),
    );
    let page = PhonePage {
        layout: Layout::new(&viewer, t(lang, "phone_intake")),
        q,
        matches,
        caller,
        open_rows,
        establishments: choices(establishments, ""),
        types: choices(TicketType::ALL.iter().map(|v| (v.as_str().to_owned(), label(lang, v.as_str()))), "assistance"),
        priorities: choices(Priority::ALL.iter().map(|v| (v.as_str().to_owned(), label(lang, v.as_str()))), "normal"),
        categories: choices(category_choices, ""),
    };
    render(&page, lang)
}

async fn caller_view(app: &guichet_app::App, user: guichet_domain::user::User) -> Result<CallerView, AppError> {
    let establishments = app.find_establishments(&user.establishments).await?;
    Ok(CallerView {
        id: user.id.0,
        email: user.email.as_str().to_owned(),
        phones: user.phones.join(", "),
        establishments: establishments.iter().map(|e| format!("{} ({})", e.name, e.uai)).collect::<Vec<_>>().join(", "),
        name: user.name,
    })
}

#[derive(Debug, Deserialize)]
pub struct CallForm {
    caller: i64,
    establishment: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "type")]
    ticket_type: String,
    priority: String,
    #[serde(default)]
    category: String,
    resolved_during_call: Option<String>,
}

/// Logs the call: every call is recorded, even one solved while talking.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<CallForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let app = &state.app;
    let p = viewer.principal();
    let retry = format!("/phone?caller={}", form.caller);
    let result: Result<String, AppError> = async {
        let caller = app.find_user(p, guichet_domain::ids::UserId(form.caller)).await?;
        let create = CreateTicket {
            title: form.title.clone(),
            description: form.description.clone(),
            establishment: form.establishment.clone(),
            ticket_type: Some(TicketType::parse(&form.ticket_type)?),
            priority: Some(Priority::parse(&form.priority)?),
            category: Some(form.category.trim().to_owned()).filter(|c| !c.is_empty()),
            channel: Some(Channel::Phone),
            requester: Some(caller.email.as_str().to_owned()),
            reproduction: None,
        };
        let details = app.create_ticket(p, create).await?;
        let key = app.key(details.record.ticket.id);
        if form.resolved_during_call.is_some() {
            let resolve = UpdateTicket {
                status: Some("resolved".into()),
                resolution: Some(Some(Resolution::Answered)),
                assignee: Some(Some(p.user.id)),
                ..UpdateTicket::default()
            };
            app.update_ticket(p, &key, resolve).await?;
        }
        Ok(key)
    }
    .await;
    match result {
        Ok(key) => Ok(back(
            &viewer,
            &format!("/tickets/{key}"),
            Some(if lang == Language::En { "Call logged." } else { "Appel enregistré." }),
            None,
        )),
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => {
            Ok(Redirect::to(&format!("{retry}&error={}", super::urlencode(&error_text(&e, lang)))).into_response())
        }
    }
}
