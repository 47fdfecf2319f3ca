//! `/rota`: who is on duty, by local date and part of the day.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{Auth, Json, Query};
use crate::views::PersonView;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use guichet_app::AppError;
use guichet_domain::ids::UserId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct DutySlotView {
    /// Local date, YYYY-MM-DD.
    pub day: String,
    /// day, morning or afternoon.
    pub part: String,
    pub user: PersonView,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotaQuery {
    /// First day, YYYY-MM-DD (default: today).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<String>,
    /// Number of days (default 14, at most 366).
    #[param(minimum = 1, maximum = 366)]
    pub days: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DutySlotRequest {
    #[schema(format = Date)]
    pub day: String,
    /// day, morning or afternoon.
    #[schema(pattern = "^(day|morning|afternoon)$")]
    pub part: String,
    /// User id of the agent.
    pub user: i64,
}

/// The rota (the desk).
#[utoipa::path(get, path = "/rota", tag = "rota", params(RotaQuery),
    responses((status = 200, body = Vec<DutySlotView>), (status = 403, body = ErrorBody)))]
pub async fn list_rota(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<RotaQuery>,
) -> ApiResult<axum::Json<Vec<DutySlotView>>> {
    let from = match q.from.as_deref() {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| AppError::field("from", "`from` is a date (YYYY-MM-DD)"))?,
        None => state.app.local_now().0,
    };
    let days = q.days.unwrap_or(14);
    if !(1..=366).contains(&days) {
        return Err(AppError::field("days", "`days` is between 1 and 366").into());
    }
    let slots = state.app.rota(&p, from, days).await?;
    Ok(axum::Json(
        slots
            .into_iter()
            .map(|s| DutySlotView { day: s.day, part: s.part, user: PersonView { id: s.user.id.0, name: s.user.name } })
            .collect(),
    ))
}

/// Put an agent on duty (administrators).
#[utoipa::path(post, path = "/rota", tag = "rota", request_body = DutySlotRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_duty(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<DutySlotRequest>,
) -> ApiResult<StatusCode> {
    state.app.add_duty(&p, &req.day, &req.part, UserId(req.user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take an agent off duty (administrators).
#[utoipa::path(delete, path = "/rota/{day}/{part}/{user}", tag = "rota",
    params(("day" = String, Path, format = Date), ("part" = String, Path, pattern = "^(day|morning|afternoon)$"), ("user" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_duty(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path((day, part, user)): Path<(String, String, i64)>,
) -> ApiResult<StatusCode> {
    state.app.remove_duty(&p, &day, &part, UserId(user)).await?;
    Ok(StatusCode::NO_CONTENT)
}
