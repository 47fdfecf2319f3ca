//! `/search`: full-text search over the tickets the caller may see.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Query};
use crate::views::EstablishmentRefView;
use crate::AppState;
use axum::extract::State;
use guichet_app::search::MARK;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQueryParams {
    /// Words (all must match), `"a phrase"`, `prefix*`; case and accents are ignored.
    #[param(min_length = 1, max_length = 500)]
    pub q: String,
    /// From 1 to 50, default 20.
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitView {
    pub key: String,
    pub title: String,
    pub status: String,
    pub establishment: EstablishmentRefView,
    /// The passage that matched.
    pub snippet: String,
    /// The same, HTML-escaped, matched words in `<mark>`.
    pub snippet_html: String,
    /// The passage is from an internal note (the desk only).
    pub internal: bool,
}

/// Escapes a snippet for HTML and turns its marks into `<mark>`.
pub fn snippet_html(snippet: &str) -> String {
    let escaped = snippet.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    escaped.replace(MARK.0, "<mark>").replace(MARK.1, "</mark>")
}

/// Tickets whose title, description, replies, file names (and, for the desk,
/// internal notes) contain the words, best first.
#[utoipa::path(get, path = "/search", tag = "tickets", params(SearchQueryParams),
    responses((status = 200, body = Vec<SearchHitView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<SearchQueryParams>,
) -> ApiResult<axum::Json<Vec<SearchHitView>>> {
    let results = state.app.search(&p, &q.q, q.limit.unwrap_or(20)).await?;
    Ok(axum::Json(
        results
            .into_iter()
            .map(|r| SearchHitView {
                key: state.app.key(r.record.ticket.id),
                title: r.record.ticket.title,
                status: r.record.ticket.status,
                establishment: EstablishmentRefView {
                    uai: r.record.establishment_uai,
                    name: r.record.establishment_name,
                },
                snippet_html: snippet_html(&r.snippet),
                snippet: r.snippet.replace(['\u{1}', '\u{2}'], ""),
                internal: r.internal,
            })
            .collect(),
    ))
}
