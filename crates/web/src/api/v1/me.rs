//! `/me`: who the token belongs to.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Auth;
use crate::views::UserView;
use crate::AppState;
use axum::extract::State;

/// The caller's own account.
#[utoipa::path(get, path = "/me", tag = "directory",
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn get_me(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<UserView>> {
    let establishments = state.app.find_establishments(&p.user.establishments).await?;
    Ok(axum::Json(UserView::new(p.user, &establishments)))
}
