//! `/search`: the global search box's results.

use super::i18n::t;
use super::session::Viewer;
use super::{error_text, render, Layout, PageError};
use crate::api::v1::search::snippet_html;
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use guichet_app::AppError;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
    q: Option<String>,
}

pub struct Hit {
    pub key: String,
    pub title: String,
    pub establishment: String,
    pub status: String,
    pub snippet_html: String,
    pub internal: bool,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    layout: Layout,
    q: String,
    hits: Vec<Hit>,
    problem: Option<String>,
    searched: bool,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(form): Query<SearchForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let app = &state.app;
    let q = form.q.unwrap_or_default();
    let (hits, problem) = if q.trim().is_empty() {
        (Vec::new(), None)
    } else {
        match app.search(viewer.principal(), &q, 50).await {
            Ok(results) => (
                results
                    .into_iter()
                    .map(|r| Hit {
                        key: app.key(r.record.ticket.id),
                        status: super::tickets::status_label(
                            app,
                            r.record.ticket.ticket_type,
                            &r.record.ticket.status,
                            lang,
                        ),
                        title: r.record.ticket.title,
                        establishment: r.record.establishment_name,
                        snippet_html: snippet_html(&r.snippet),
                        internal: r.internal,
                    })
                    .collect(),
                None,
            ),
            Err(e @ AppError::Validation(_)) => (Vec::new(), Some(error_text(&e, lang))),
            Err(e) => return Err(PageError::app(e, lang)),
        }
    };
    let searched = !q.trim().is_empty() && problem.is_none();
    render(&SearchPage { layout: Layout::new(&viewer, t(lang, "search")), q, hits, problem, searched }, lang)
}
