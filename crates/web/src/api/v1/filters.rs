//! `/filters`: saved filters, personal or shared with the desk, with counts.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{double_option, Auth, Json};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use guichet_app::filters::FilterChange;
use guichet_store::saved_filters::SavedFilter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct FilterView {
    pub id: i64,
    pub name: String,
    /// A query of the query language.
    pub query: String,
    /// Shared with the desk, or personal.
    pub shared: bool,
    /// One of the desk's built-in filters.
    pub builtin: bool,
    pub position: i64,
    /// How many tickets it finds now, for the caller; exact up to 1,000.
    pub count: Option<i64>,
    /// More tickets than `count` match: counting stopped at 1,000.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more_than_count: bool,
}

impl FilterView {
    fn new(f: SavedFilter, count: Option<i64>, more_than_count: bool) -> Self {
        Self {
            id: f.id,
            name: f.name,
            query: f.query,
            shared: f.shared,
            builtin: f.builtin,
            position: f.position,
            count,
            more_than_count,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFilterRequest {
    #[schema(min_length = 1, max_length = 80, pattern = "\\S")]
    pub name: String,
    /// A query of the query language.
    #[schema(max_length = 4000)]
    pub query: String,
    #[serde(default)]
    pub shared: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFilterRequest {
    #[schema(min_length = 1, max_length = 80, pattern = "\\S")]
    pub name: Option<String>,
    #[schema(max_length = 4000)]
    pub query: Option<String>,
    pub shared: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub position: Option<Option<i64>>,
}

/// The caller's filters and the desk's shared ones, in order, with counts.
#[utoipa::path(get, path = "/filters", tag = "filters", responses((status = 200, body = Vec<FilterView>)))]
pub async fn list_filters(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<FilterView>>> {
    let results = state.app.saved_filters(&p, 0).await?;
    Ok(axum::Json(results.into_iter().map(|r| FilterView::new(r.filter, Some(r.count), r.more)).collect()))
}

/// Save a filter.
#[utoipa::path(post, path = "/filters", tag = "filters", request_body = CreateFilterRequest,
    responses((status = 201, body = FilterView), (status = 422, body = ErrorBody)))]
pub async fn create_filter(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateFilterRequest>,
) -> ApiResult<(StatusCode, axum::Json<FilterView>)> {
    let filter = state.app.create_filter(&p, &req.name, &req.query, req.shared).await?;
    Ok((StatusCode::CREATED, axum::Json(FilterView::new(filter, None, false))))
}

/// Rename, rewrite, share or move a filter (one's own; shared ones: administrators).
#[utoipa::path(patch, path = "/filters/{id}", tag = "filters", request_body = UpdateFilterRequest,
    params(("id" = i64, Path)),
    responses((status = 200, body = FilterView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_filter(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<UpdateFilterRequest>,
) -> ApiResult<axum::Json<FilterView>> {
    let change =
        FilterChange { name: req.name, query: req.query, shared: req.shared, position: req.position.flatten() };
    let filter = state.app.update_filter(&p, id, change).await?;
    Ok(axum::Json(FilterView::new(filter, None, false)))
}

/// Delete a filter.
#[utoipa::path(delete, path = "/filters/{id}", tag = "filters", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_filter(State(state): State<AppState>, Auth(p): Auth, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    state.app.delete_filter(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
