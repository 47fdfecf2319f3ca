//! `/users`: people. The desk looks callers up; administrators create accounts.

use crate::api::v1::establishments::paging;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json, Query};
use crate::views::{PageView, UserView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use guichet_app::AppError;
use guichet_domain::establishment::Uai;
use guichet_domain::user::{NewUser, Role};
use guichet_store::users::UserFilter;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    pub role: Option<Role>,
    /// UAI of an establishment the users belong to.
    #[param(pattern = "^$|^[0-9]{7}[A-Za-z]$")]
    pub establishment: Option<String>,
    /// Part of a name or e-mail, or a phone number.
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
pub struct CreateUserRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    pub role: Role,
    /// `fr` (default) or `en`.
    #[schema(pattern = "^(fr|en)$")]
    pub language: Option<String>,
    #[serde(default)]
    pub phones: Vec<String>,
    /// UAIs: at least one for a requester, none for the desk.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub establishments: Vec<String>,
    /// At least 8 characters; without it the user signs in only with a token.
    #[schema(min_length = 8, max_length = 1000)]
    pub password: Option<String>,
}

/// Users, for the desk and administrators.
#[utoipa::path(get, path = "/users", tag = "directory", params(ListUsersQuery),
    responses((status = 200, body = PageView<UserView>), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ListUsersQuery>,
) -> ApiResult<axum::Json<PageView<UserView>>> {
    let (page, per_page, offset) = paging(q.page, q.per_page)?;
    let establishment = match q.establishment.as_deref() {
        Some(uai) => {
            let uai = Uai::parse(uai).map_err(|_| AppError::field("establishment", format!("`{uai}` is not a UAI")))?;
            let (found, _) = state.app.list_establishments(&p, Some(uai.as_str()), 1, 0).await?;
            let found = found.into_iter().find(|e| e.uai == uai);
            Some(found.ok_or_else(|| AppError::field("establishment", format!("unknown establishment {uai}")))?.id)
        }
        None => None,
    };
    let filter = UserFilter { role: q.role, establishment, search: q.q };
    let (users, total) = state.app.list_users(&p, &filter, per_page, offset).await?;
    let ids: Vec<_> = users.iter().flat_map(|u| u.establishments.iter().copied()).collect();
    let establishments = state.app.find_establishments(&ids).await?;
    let items = users.into_iter().map(|u| UserView::new(u, &establishments)).collect();
    Ok(axum::Json(PageView { items, total, more_than_total: false, page, per_page }))
}

/// Create a user (administrators).
#[utoipa::path(post, path = "/users", tag = "directory", request_body = CreateUserRequest,
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateUserRequest>,
) -> ApiResult<(StatusCode, axum::Json<UserView>)> {
    if !p.actor.can_manage_directory() {
        return Err(AppError::Forbidden("only administrators manage the directory".into()).into());
    }
    let new =
        NewUser::parse(&req.email, &req.name, req.role, req.language.as_deref(), &req.phones, &req.establishments)
            .map_err(AppError::from)?;
    let user = state.app.create_user(&p, new, req.password.as_deref()).await?;
    let establishments = state.app.find_establishments(&user.establishments).await?;
    Ok((StatusCode::CREATED, axum::Json(UserView::new(user, &establishments))))
}
