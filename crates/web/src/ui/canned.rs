//! The canned responses page: one's own and the shared ones, written,
//! changed and removed; the variables they may use.

use super::i18n::{label, t};
use super::session::{CsrfForm, Viewer};
use super::tickets::{choices, macro_label, Choice};
use super::{back, error_text, render, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use guichet_app::canned::{CannedInput, CannedScope};
use guichet_app::{App, AppError};
use guichet_domain::canned::Variable;
use guichet_domain::ticket::{Resolution, TicketType};
use guichet_domain::user::{Language, Role};
use guichet_store::canned::CannedResponse;
use serde::Deserialize;

pub struct CannedRow {
    pub id: i64,
    pub name: String,
    pub body: String,
    pub scope: String,
    pub sets: String,
    pub uses: i64,
    pub editable: bool,
}

pub struct VariableRow {
    pub name: &'static str,
    pub other: &'static str,
    pub meaning: &'static str,
}

/// The fields of the form, for a new response or the one being edited.
pub struct CannedFormView {
    pub action: String,
    pub name: String,
    pub body: String,
    pub scopes: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub types: Vec<Choice>,
    pub categories: Vec<Choice>,
    pub resolutions: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "canned.html")]
struct CannedPage {
    layout: Layout,
    rows: Vec<CannedRow>,
    variables: Vec<VariableRow>,
    form: CannedFormView,
    editing: bool,
}

fn scope_label(scope: CannedScope, lang: Language) -> &'static str {
    match scope {
        CannedScope::Personal => t(lang, "scope_personal"),
        CannedScope::Desk => t(lang, "scope_desk"),
        CannedScope::Level(guichet_domain::ticket::Tier::Technical) => t(lang, "scope_technical"),
        CannedScope::Level(_) => t(lang, "scope_support"),
    }
}

async fn form_view(app: &App, viewer: &Viewer, current: Option<&CannedResponse>) -> Result<CannedFormView, AppError> {
    let lang = viewer.lang;
    let unchanged = format!("— {}", t(lang, "unchanged"));
    let admin = viewer.principal().actor.role == Role::Admin;
    let scope = current.map_or(CannedScope::Personal, CannedScope::of);
    let mut scopes = vec![CannedScope::Personal];
    if admin {
        scopes.extend([
            CannedScope::Desk,
            CannedScope::Level(guichet_domain::ticket::Tier::Support),
            CannedScope::Level(guichet_domain::ticket::Tier::Technical),
        ]);
    }
    let scopes =
        choices(scopes.into_iter().map(|s| (s.code().to_owned(), scope_label(s, lang).to_owned())), scope.code());
    let workflows = app.workflows();
    let mut codes: Vec<&str> = workflows.all_status_codes().collect();
    codes.sort_unstable();
    codes.dedup();
    let mut statuses = vec![(String::new(), unchanged.clone())];
    statuses.extend(
        codes.into_iter().map(|c| (c.to_owned(), super::tickets::status_label(app, TicketType::Assistance, c, lang))),
    );
    let mut types = vec![(String::new(), unchanged.clone())];
    types.extend(TicketType::ALL.iter().map(|v| (v.as_str().to_owned(), label(lang, v.as_str()))));
    let mut resolutions = vec![(String::new(), unchanged.clone())];
    resolutions.extend(Resolution::ALL.iter().map(|v| (v.as_str().to_owned(), label(lang, v.as_str()))));
    let mut categories = vec![(String::new(), unchanged)];
    categories.extend(
        app.categories()
            .await?
            .into_iter()
            .filter(|c| c.active)
            .map(|c| (c.code.clone(), if lang == Language::En { c.label_en } else { c.label_fr })),
    );
    let pick = |v: Option<&String>| v.cloned().unwrap_or_default();
    Ok(CannedFormView {
        action: current.map_or_else(|| "/canned".to_owned(), |c| format!("/canned/{}", c.id)),
        name: current.map(|c| c.name.clone()).unwrap_or_default(),
        body: current.map(|c| c.body.clone()).unwrap_or_default(),
        scopes,
        statuses: choices(statuses, &pick(current.and_then(|c| c.set_status.as_ref()))),
        types: choices(types, &pick(current.and_then(|c| c.set_type.as_ref()))),
        categories: choices(categories, &pick(current.and_then(|c| c.set_category.as_ref()))),
        resolutions: choices(resolutions, &pick(current.and_then(|c| c.set_resolution.as_ref()))),
    })
}

async fn show(state: &AppState, viewer: &Viewer, editing: Option<i64>) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let app = &state.app;
    let p = viewer.principal();
    let err = |e| PageError::app(e, lang);
    let list = app.canned_responses(p).await.map_err(err)?;
    let current = match editing {
        Some(id) => Some(app.canned_response(p, id).await.map_err(err)?),
        None => None,
    };
    let admin = p.actor.role == Role::Admin;
    let categories = app.categories().await.map_err(err)?;
    let rows = list
        .into_iter()
        .map(|c| CannedRow {
            id: c.id,
            scope: scope_label(CannedScope::of(&c), lang).to_owned(),
            sets: macro_label(app, &c, &categories, lang),
            uses: c.use_count,
            editable: c.owner_id.is_some() || admin,
            name: c.name,
            body: c.body,
        })
        .collect();
    let variables = Variable::ALL
        .iter()
        .map(|v| VariableRow {
            name: v.name(lang),
            other: v.name(if lang == Language::En { Language::Fr } else { Language::En }),
            meaning: v.description(lang),
        })
        .collect();
    let form = form_view(app, viewer, current.as_ref()).await.map_err(err)?;
    let title = if current.is_some() { t(lang, "edit_canned") } else { t(lang, "canned_responses") };
    render(&CannedPage { layout: Layout::new(viewer, title), rows, variables, form, editing: current.is_some() }, lang)
}

pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    show(&state, &viewer, None).await
}

pub async fn edit_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    show(&state, &viewer, Some(id)).await
}

#[derive(Debug, Deserialize)]
pub struct CannedForm {
    name: String,
    body: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    set_status: String,
    #[serde(default)]
    set_type: String,
    #[serde(default)]
    set_category: String,
    #[serde(default)]
    set_resolution: String,
}

fn input(form: CannedForm) -> Result<CannedInput, AppError> {
    let scope = if form.scope.trim().is_empty() { CannedScope::Personal } else { CannedScope::parse(&form.scope)? };
    Ok(CannedInput {
        name: form.name,
        body: form.body,
        scope,
        set_status: Some(form.set_status),
        set_type: Some(form.set_type),
        set_category: Some(form.set_category),
        set_resolution: Some(form.set_resolution),
    })
}

fn done(lang: Language) -> &'static str {
    if lang == Language::En {
        "Saved."
    } else {
        "Enregistré."
    }
}

pub async fn create(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<CannedForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let result = match input(form) {
        Ok(input) => state.app.create_canned(viewer.principal(), input).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(back(&viewer, "/canned", Some(done(lang)), None)),
        Err(e @ (AppError::Forbidden(_) | AppError::Internal(_))) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/canned", None, Some(&error_text(&e, lang)))),
    }
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<CannedForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let result = match input(form) {
        Ok(input) => state.app.update_canned(viewer.principal(), id, input).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(back(&viewer, "/canned", Some(done(lang)), None)),
        Err(e @ (AppError::NotFound(_) | AppError::Forbidden(_) | AppError::Internal(_))) => {
            Err(PageError::app(e, lang))
        }
        Err(e) => Ok(back(&viewer, &format!("/canned/{id}"), None, Some(&error_text(&e, lang)))),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form: _ }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    match state.app.delete_canned(viewer.principal(), id).await {
        Ok(()) => Ok(back(&viewer, "/canned", Some(if lang == Language::En { "Deleted." } else { "Supprimé." }), None)),
        Err(e) => Err(PageError::app(e, lang)),
    }
}
