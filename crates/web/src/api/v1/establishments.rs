//! `/establishments`: the schools (and their parents) tickets belong to.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json, Query};
use crate::views::{EstablishmentView, PageView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use guichet_app::AppError;
use guichet_domain::establishment::NewEstablishment;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEstablishmentsQuery {
    /// Part of a UAI, name or town.
    pub q: Option<String>,
    /// From 1.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// From 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub per_page: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEstablishmentRequest {
    /// 7 digits and a check letter (the letter is computed from the digits).
    #[schema(pattern = "^[0-9]{7}[A-Za-z]$")]
    pub uai: String,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub town: String,
    /// UAI of an existing establishment (a département, an académie); empty: none.
    #[schema(pattern = "^$|^[0-9]{7}[A-Za-z]$")]
    pub parent_uai: Option<String>,
}

/// Checks paging parameters and returns (page, per_page, offset).
pub(crate) fn paging(page: Option<i64>, per_page: Option<i64>) -> Result<(i64, i64, i64), AppError> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(50);
    if page < 1 {
        return Err(AppError::field("page", "`page` starts at 1"));
    }
    if !(1..=500).contains(&per_page) {
        return Err(AppError::field("per_page", "`per_page` must be between 1 and 500"));
    }
    Ok((page, per_page, (page - 1).saturating_mul(per_page)))
}

/// Establishments the caller may see (a requester: their own).
#[utoipa::path(get, path = "/establishments", tag = "directory", params(ListEstablishmentsQuery),
    responses((status = 200, body = PageView<EstablishmentView>)))]
pub async fn list_establishments(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ListEstablishmentsQuery>,
) -> ApiResult<axum::Json<PageView<EstablishmentView>>> {
    let (page, per_page, offset) = paging(q.page, q.per_page)?;
    let (list, total) = state.app.list_establishments(&p, q.q.as_deref(), per_page, offset).await?;
    let parent_ids: Vec<_> = list.iter().filter_map(|e| e.parent).collect();
    let parents = state.app.find_establishments(&parent_ids).await?;
    let items = list.into_iter().map(|e| EstablishmentView::new(e, &parents)).collect();
    Ok(axum::Json(PageView { items, total, more_than_total: false, page, per_page }))
}

/// Create an establishment (administrators).
#[utoipa::path(post, path = "/establishments", tag = "directory", request_body = CreateEstablishmentRequest,
    responses((status = 201, body = EstablishmentView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_establishment(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateEstablishmentRequest>,
) -> ApiResult<(StatusCode, axum::Json<EstablishmentView>)> {
    if !p.actor.can_manage_directory() {
        return Err(AppError::Forbidden("only administrators manage the directory".into()).into());
    }
    let new =
        NewEstablishment::parse(&req.uai, &req.name, &req.town, req.parent_uai.as_deref()).map_err(AppError::from)?;
    let parent_uai = new.parent_uai.as_ref().map(ToString::to_string);
    let created = state.app.create_establishment(&p, new).await?;
    let mut view = EstablishmentView::new(created, &[]);
    view.parent_uai = parent_uai;
    Ok((StatusCode::CREATED, axum::Json(view)))
}
