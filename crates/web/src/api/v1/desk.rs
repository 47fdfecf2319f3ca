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

/// One service-level target: for a type and a priority, in business minutes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetView {
    #[serde(rename = "type")]
    pub ticket_type: guichet_domain::ticket::TicketType,
    pub priority: guichet_domain::ticket::Priority,
    /// Business minutes to the first public reply; null: no target.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub first_response_minutes: Option<i64>,
    /// Business minutes to the resolution; null: no target.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub resolution_minutes: Option<i64>,
}

/// The service-level policy as the API shows and takes it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyView {
    /// A missing type and priority falls back to the type's normal priority.
    pub targets: Vec<TargetView>,
    /// Share of a target consumed from which a ticket is at risk.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub at_risk_ratio: f64,
    /// Whether time at the technical tier (level 2) also pauses the clock.
    pub pause_at_technical_tier: bool,
    /// Resolved tickets close after this many open days.
    #[schema(minimum = 1, maximum = 365)]
    pub close_resolved_after_days: u32,
    /// Tickets waiting on the requester this many open days are resolved as
    /// "no answer"; null leaves them waiting.
    #[schema(minimum = 1, maximum = 365)]
    pub resolve_unanswered_after_days: Option<u32>,
}

impl From<Policy> for PolicyView {
    fn from(p: Policy) -> Self {
        Self {
            targets: p
                .targets
                .into_iter()
                .map(|(ticket_type, priority, t)| TargetView {
                    ticket_type,
                    priority,
                    first_response_minutes: t.first_response_minutes,
                    resolution_minutes: t.resolution_minutes,
                })
                .collect(),
            at_risk_ratio: p.at_risk_ratio,
            pause_at_technical_tier: p.pause_at_technical_tier,
            close_resolved_after_days: p.close_resolved_after_days,
            resolve_unanswered_after_days: p.resolve_unanswered_after_days,
        }
    }
}

impl From<PolicyView> for Policy {
    fn from(v: PolicyView) -> Self {
        Self {
            targets: v
                .targets
                .into_iter()
                .map(|t| {
                    let targets = guichet_domain::sla::Targets {
                        first_response_minutes: t.first_response_minutes,
                        resolution_minutes: t.resolution_minutes,
                    };
                    (t.ticket_type, t.priority, targets)
                })
                .collect(),
            at_risk_ratio: v.at_risk_ratio,
            pause_at_technical_tier: v.pause_at_technical_tier,
            close_resolved_after_days: v.close_resolved_after_days,
            resolve_unanswered_after_days: v.resolve_unanswered_after_days,
        }
    }
}

/// The service-level targets.
#[utoipa::path(get, path = "/sla-policy", tag = "desk", responses((status = 200, body = PolicyView), (status = 403, body = ErrorBody)))]
pub async fn get_sla_policy(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<axum::Json<PolicyView>> {
    staff(&p)?;
    Ok(axum::Json(state.app.sla_policy().into()))
}

/// Replace the service-level targets (administrators).
#[utoipa::path(put, path = "/sla-policy", tag = "desk", request_body = PolicyView,
    responses((status = 200, body = PolicyView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_sla_policy(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(policy): Json<PolicyView>,
) -> ApiResult<axum::Json<PolicyView>> {
    state.app.set_sla_policy(&p, policy.into()).await?;
    Ok(axum::Json(state.app.sla_policy().into()))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TileView {
    pub id: i64,
    pub title: String,
    /// Tickets matching, for this person's level; exact up to 1,000.
    pub count: i64,
    /// More tickets than `count` match: counting stopped at 1,000.
    pub more_than_count: bool,
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
                more_than_count: t.more,
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
