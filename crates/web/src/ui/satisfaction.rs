//! The satisfaction survey a resolved request's link opens, without signing
//! in, and the same form on the portal's ticket page.

use super::i18n::t;
use super::session::{CsrfForm, Visitor};
use super::tickets::Choice;
use super::{back, error_text, render, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use guichet_app::satisfaction::{SurveyState, SurveyView};
use guichet_app::AppError;
use guichet_domain::user::Language;
use serde::Deserialize;

/// The five ratings, `selected` chosen.
pub fn ratings(lang: Language, selected: Option<i64>) -> Vec<Choice> {
    (1..=5)
        .map(|n| Choice {
            value: n.to_string(),
            label: t(lang, &format!("rating_{n}")).to_owned(),
            selected: selected == Some(n),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "satisfaction.html")]
struct SurveyPage {
    layout: Layout,
    key: String,
    title: String,
    /// `open`, `answered` or `expired`.
    state: &'static str,
    rating: i64,
    ratings: Vec<Choice>,
    action: String,
    csrf: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SurveyQuery {
    /// The rating chosen in the mail: the form opens with it, nothing is recorded.
    note: Option<String>,
}

fn show(
    view: SurveyView,
    lang: Language,
    token: &str,
    note: Option<i64>,
    error: Option<(StatusCode, String)>,
) -> Result<Response, PageError> {
    let state = match view.state {
        SurveyState::Open => "open",
        SurveyState::Answered => "answered",
        SurveyState::Expired => "expired",
    };
    let path = format!("/satisfaction/{token}");
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None if view.state == SurveyState::Expired => (StatusCode::GONE, None),
        None => (StatusCode::OK, None),
    };
    let page = SurveyPage {
        layout: Layout::anonymous(lang, t(lang, "survey_title"), &path),
        key: view.key,
        title: view.title,
        state,
        rating: view.survey.rating.unwrap_or_default(),
        ratings: ratings(lang, note),
        action: path,
        csrf: String::new(),
        error,
    };
    let mut response = render(&page, lang)?;
    *response.status_mut() = status;
    Ok(response)
}

fn not_found(e: AppError, lang: Language) -> PageError {
    PageError::app(e, lang)
}

pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
    Query(q): Query<SurveyQuery>,
) -> Result<Response, PageError> {
    let view = state.app.survey_by_token(&token).await.map_err(|e| not_found(e, visitor.lang))?;
    let lang = if visitor.session.is_some() { visitor.lang } else { view.language };
    let note = q.note.as_deref().and_then(|n| n.trim().parse().ok()).filter(|n| (1..=5).contains(n));
    show(view, lang, &token, note, None)
}

#[derive(Debug, Deserialize)]
pub struct SurveyForm {
    #[serde(default)]
    rating: String,
    #[serde(default)]
    comment: String,
}

fn rating_of(form: &SurveyForm) -> i64 {
    form.rating.trim().parse().unwrap_or(0)
}

/// The link is the credential: whoever holds it may answer, once, as the
/// requester it was sent to; no session, hence no CSRF token.
pub async fn submit(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
    Form(form): Form<SurveyForm>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let view = app.survey_by_token(&token).await.map_err(|e| not_found(e, visitor.lang))?;
    let lang = if visitor.session.is_some() { visitor.lang } else { view.language };
    match app.answer_survey_by_token(&token, rating_of(&form), Some(&form.comment)).await {
        Ok(answered) => show(answered, lang, &token, None, None),
        Err(e @ AppError::Validation(_)) => {
            let message = error_text(&e, lang);
            show(view, lang, &token, None, Some((StatusCode::UNPROCESSABLE_ENTITY, message)))
        }
        Err(e @ AppError::Conflict { .. }) => {
            let status = if view.state == SurveyState::Expired { StatusCode::GONE } else { StatusCode::CONFLICT };
            let message = error_text(&e, lang);
            let view = app.survey_by_token(&token).await.map_err(|e| not_found(e, lang))?;
            show(view, lang, &token, None, Some((status, message)))
        }
        Err(e) => Err(PageError::app(e, lang)),
    }
}

/// The portal's form on the ticket page, for the signed-in requester.
pub async fn answer_on_portal(
    State(state): State<AppState>,
    Path(key): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<SurveyForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let target = format!("/tickets/{key}");
    match state.app.answer_survey(viewer.principal(), &key, rating_of(&form), Some(&form.comment)).await {
        Ok(()) => Ok(back(&viewer, &target, Some(t(lang, "survey_thanks").trim_end_matches(':').trim()), None)),
        Err(e @ (AppError::NotFound(_) | AppError::Forbidden(_) | AppError::Internal(_))) => {
            Err(PageError::app(e, lang))
        }
        Err(e) => Ok(back(&viewer, &target, None, Some(&error_text(&e, lang)))),
    }
}
