//! `/calendar` and `/sla-policy`: the desk's business hours and service levels.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json};
use crate::AppState;
use axum::extract::State;
use guichet_app::AppError;
use guichet_domain::calendar::Calendar;
use guichet_domain::sla::Policy;

fn staff(p: &guichet_app::auth::Principal) -> Result<(), AppError> {
    if p.actor.role.is_staff() {
        Ok(())
    } else {
        Err(AppError::Forbidden("only the desk reads its settings".into()))
    }
}

/// The business calendar service levels are counted in.
#[utoipa::path(get, path = "/calendar", tag = "desk", responses((status = 200, body = Calendar), (status = 403, body = ErrorBody)))]
pub async fn get_calendar(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Calendar>> {
    staff(&p)?;
    Ok(axum::Json(state.app.calendar()))
}

/// Replace the business calendar (administrators).
#[utoipa::path(put, path = "/calendar", tag = "desk", request_body = Calendar,
    responses((status = 200, body = Calendar), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_calendar(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(calendar): Json<Calendar>,
) -> ApiResult<axum::Json<Calendar>> {
    state.app.set_calendar(&p, calendar).await?;
    Ok(axum::Json(state.app.calendar()))
}

/// The service-level targets.
#[utoipa::path(get, path = "/sla-policy", tag = "desk", responses((status = 200, body = Policy), (status = 403, body = ErrorBody)))]
pub async fn get_sla_policy(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Policy>> {
    staff(&p)?;
    Ok(axum::Json(state.app.sla_policy()))
}

/// Replace the service-level targets (administrators).
#[utoipa::path(put, path = "/sla-policy", tag = "desk", request_body = Policy,
    responses((status = 200, body = Policy), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_sla_policy(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(policy): Json<Policy>,
) -> ApiResult<axum::Json<Policy>> {
    state.app.set_sla_policy(&p, policy).await?;
    Ok(axum::Json(state.app.sla_policy()))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TileView {
    pub id: i64,
    pub title: String,
    /// Tickets matching, for this person's level.
    pub count: i64,
    pub query: String,
    /// The first tickets (at most 5).
    pub tickets: Vec<crate::views::TicketView>,
}

/// The caller's dashboard: the built-in and saved filters of their level
/// (level 2 sees what was escalated to it; level 1 everything else but the
/// schools' own HELP requests), with their first tickets.
#[utoipa::path(get, path = "/dashboard", tag = "desk", responses((status = 200, body = Vec<TileView>), (status = 403, body = ErrorBody)))]
pub async fn get_dashboard(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<Vec<TileView>>> {
    let tiles = state.app.dashboard(&p).await?;
    Ok(axum::Json(
        tiles
            .into_iter()
            .map(|t| TileView {
                id: t.id,
                title: t.title,
                count: t.count,
                query: t.query,
                tickets: t
                    .items
                    .into_iter()
                    .map(|r| crate::views::TicketView::new(&state.app, r, Vec::new()))
                    .collect(),
            })
            .collect(),
    ))
}
