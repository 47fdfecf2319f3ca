//! `/reports/…`: figures over a period, as JSON or CSV (`format=csv`).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Query};
use crate::reports::{self as tables, Table};
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use guichet_app::auth::Principal;
use guichet_app::reports::{ReportParams, Scope};
use guichet_app::tickets::ListParams;
use guichet_app::AppError;
use guichet_store::reports::Dimension;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First local date, YYYY-MM-DD (default, or empty: the first of the month).
    #[param(pattern = "^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<String>,
    /// Last local date, included (default, or empty: today).
    #[param(pattern = "^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<String>,
    /// day, week or month (default: day up to 62 days, else month).
    #[param(pattern = "^$|^(day|week|month)$")]
    pub granularity: Option<String>,
    /// Comma-separated types.
    #[serde(rename = "type")]
    #[param(
        rename = "type",
        pattern = "^$|^(unclassified|assistance|anomaly|evolution)(,(unclassified|assistance|anomaly|evolution))*$"
    )]
    pub ticket_type: Option<String>,
    /// Comma-separated channels.
    #[param(pattern = "^$|^(portal|email|phone|help_form|api)(,(portal|email|phone|help_form|api))*$")]
    pub channel: Option<String>,
    /// Comma-separated levels.
    #[param(pattern = "^$|^(establishment|support|technical)(,(establishment|support|technical))*$")]
    pub tier: Option<String>,
    /// Comma-separated category codes.
    #[param(pattern = "^$|^[a-z0-9_-]+(,[a-z0-9_-]+)*$")]
    pub category: Option<String>,
    /// Comma-separated UAIs; a département or académie stands for its schools.
    #[param(pattern = "^$|^[0-9]{7}[A-Za-z](,[0-9]{7}[A-Za-z])*$")]
    pub establishment: Option<String>,
    /// A query in the query language.
    #[param(max_length = 4000)]
    pub q: Option<String>,
    /// A saved filter's id (one of the caller's, or shared with the desk).
    #[param(minimum = 1)]
    pub filter: Option<i64>,
    /// breakdown only: type, priority, channel, tier, category or establishment.
    #[param(pattern = "^$|^(type|priority|channel|tier|category|establishment)$")]
    pub dimension: Option<String>,
    /// breakdown only: lines before "others" (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub top: Option<usize>,
    /// json (default) or csv (`;`-separated).
    #[param(pattern = "^$|^(json|csv)$")]
    pub format: Option<String>,
    /// csv only: start with a UTF-8 byte order mark (for spreadsheets).
    pub bom: Option<bool>,
}

impl ReportQuery {
    fn params(&self) -> ReportParams {
        ReportParams {
            from: self.from.clone(),
            to: self.to.clone(),
            granularity: self.granularity.clone(),
            filters: ListParams {
                ticket_type: self.ticket_type.clone(),
                channel: self.channel.clone(),
                tier: self.tier.clone(),
                category: self.category.clone(),
                establishment: self.establishment.clone(),
                q: self.q.clone(),
                ..ListParams::default()
            },
            saved_filter: self.filter,
        }
    }

    fn csv(&self) -> Result<bool, AppError> {
        match self.format.as_deref().map(str::trim) {
            None | Some("") | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(AppError::field("format", format!("`{other}` is not json or csv"))),
        }
    }
}

async fn scope(state: &AppState, p: &Principal, q: &ReportQuery) -> Result<Scope, AppError> {
    q.csv()?;
    // Checked on every report, so that a parameter one report does not use is still a valid one.
    dimension(q.dimension.as_deref())?;
    if q.top.is_some_and(|top| !(1..=100).contains(&top)) {
        return Err(AppError::field("top", "`top` is between 1 and 100"));
    }
    state.app.report_scope(p, &q.params()).await
}

/// The JSON document, or the table as a CSV download.
fn respond<T: Serialize>(
    q: &ReportQuery,
    scope: &Scope,
    name: &str,
    json: T,
    table: impl FnOnce() -> Table,
) -> Response {
    if q.csv().unwrap_or(false) {
        let body = tables::to_csv(&table(), q.bom.unwrap_or(false));
        let file = format!("attachment; filename=\"guichet-{name}-{}-{}.csv\"", scope.from, scope.to);
        return (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, file)],
            body,
        )
            .into_response();
    }
    axum::Json(json).into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VolumeRowView {
    /// 2026-03, 2026-W10 or 2026-03-02.
    pub period: String,
    pub from: String,
    pub to: String,
    pub created: i64,
    pub resolved: i64,
    /// Open at the end of the period.
    pub backlog: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VolumeView {
    pub from: String,
    pub to: String,
    pub granularity: String,
    /// Open at the start.
    pub backlog_before: i64,
    pub created: i64,
    pub resolved: i64,
    pub rows: Vec<VolumeRowView>,
}

/// Created vs resolved per period, with the backlog.
#[utoipa::path(get, path = "/reports/volume", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "the report; with format=csv, its table as CSV", content((VolumeView = "application/json"), (String = "text/csv"))), (status = 404, body = ErrorBody, description = "no such saved filter"), (status = 422, body = ErrorBody)))]
pub async fn volume(State(state): State<AppState>, Auth(p): Auth, Query(q): Query<ReportQuery>) -> ApiResult<Response> {
    let scope = scope(&state, &p, &q).await?;
    let v = state.app.report_volume(&scope).await?;
    let view = VolumeView {
        from: scope.from.to_string(),
        to: scope.to.to_string(),
        granularity: scope.granularity.as_str().into(),
        backlog_before: v.backlog_before,
        created: v.created,
        resolved: v.resolved,
        rows: v
            .rows
            .iter()
            .map(|r| VolumeRowView {
                period: r.label.clone(),
                from: r.first.to_string(),
                to: r.last.to_string(),
                created: r.created,
                resolved: r.resolved,
                backlog: r.backlog,
            })
            .collect(),
    };
    Ok(respond(&q, &scope, "volume", view, || tables::volume(&v)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShareView {
    pub key: String,
    pub label: String,
    pub count: i64,
}

pub fn dimension(value: Option<&str>) -> Result<Dimension, AppError> {
    Ok(match value.map(str::trim).filter(|v| !v.is_empty()).unwrap_or("type") {
        "type" => Dimension::Type,
        "priority" => Dimension::Priority,
        "channel" => Dimension::Channel,
        "tier" => Dimension::Tier,
        "category" => Dimension::Category,
        "establishment" => Dimension::Establishment,
        other => {
            return Err(AppError::field(
                "dimension",
                format!("`{other}` is not type, priority, channel, tier, category or establishment"),
            ))
        }
    })
}

/// Tickets created in the period by one dimension, top N then "others".
#[utoipa::path(get, path = "/reports/breakdown", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "the report; with format=csv, its table as CSV", content((Vec<ShareView> = "application/json"), (String = "text/csv"))), (status = 404, body = ErrorBody, description = "no such saved filter"), (status = 422, body = ErrorBody)))]
pub async fn breakdown(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let dim = dimension(q.dimension.as_deref())?;
    let top = q.top.unwrap_or(10);
    if !(1..=100).contains(&top) {
        return Err(AppError::field("top", "`top` is between 1 and 100").into());
    }
    let scope = scope(&state, &p, &q).await?;
    let shares = state.app.report_breakdown(&scope, dim, top).await?;
    let view: Vec<ShareView> =
        shares.iter().map(|s| ShareView { key: s.key.clone(), label: s.label.clone(), count: s.count }).collect();
    Ok(respond(&q, &scope, "breakdown", view, || tables::breakdown(&shares)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    pub count: usize,
    /// Business hours.
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
    /// [class, count] in business time.
    pub distribution: Vec<(String, i64)>,
}

impl From<&guichet_app::reports::TimeStats> for StatsView {
    fn from(s: &guichet_app::reports::TimeStats) -> Self {
        let h = |v: Option<i64>| v.map(|s| (s as f64 / 360.0).round() / 10.0);
        StatsView {
            count: s.count,
            median_hours: h(s.median),
            p90_hours: h(s.p90),
            distribution: s.distribution.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimesView {
    pub first_response: StatsView,
    pub resolution: StatsView,
}

/// First-response and resolution times of the tickets resolved in the period, in business hours.
#[utoipa::path(get, path = "/reports/times", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "the report; with format=csv, its table as CSV", content((TimesView = "application/json"), (String = "text/csv"))), (status = 404, body = ErrorBody, description = "no such saved filter"), (status = 422, body = ErrorBody)))]
pub async fn times(State(state): State<AppState>, Auth(p): Auth, Query(q): Query<ReportQuery>) -> ApiResult<Response> {
    let scope = scope(&state, &p, &q).await?;
    let t = state.app.report_times(&scope).await?;
    let view = TimesView { first_response: (&t.first_response).into(), resolution: (&t.resolution).into() };
    Ok(respond(&q, &scope, "times", view, || tables::times(&t, true)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaRowView {
    #[serde(rename = "type")]
    pub ticket_type: String,
    pub priority: String,
    pub resolved: i64,
    pub met: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreachView {
    pub key: String,
    pub title: String,
    #[serde(rename = "type")]
    pub ticket_type: String,
    pub priority: String,
    pub establishment: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub resolution_due: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaReportView {
    pub rows: Vec<SlaRowView>,
    pub breaches: Vec<BreachView>,
}

/// Service levels met per type and priority, and the late tickets.
#[utoipa::path(get, path = "/reports/sla", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "the report; with format=csv, its table as CSV", content((SlaReportView = "application/json"), (String = "text/csv"))), (status = 404, body = ErrorBody, description = "no such saved filter"), (status = 422, body = ErrorBody)))]
pub async fn sla(State(state): State<AppState>, Auth(p): Auth, Query(q): Query<ReportQuery>) -> ApiResult<Response> {
    let scope = scope(&state, &p, &q).await?;
    let s = state.app.report_sla(&scope).await?;
    let view = SlaReportView {
        rows: s
            .rows
            .iter()
            .map(|r| SlaRowView {
                ticket_type: r.ticket_type.clone(),
                priority: r.priority.clone(),
                resolved: r.resolved,
                met: r.met,
            })
            .collect(),
        breaches: s
            .breaches
            .iter()
            .map(|b| BreachView {
                key: state.app.key(guichet_domain::ids::TicketId(b.id)),
                title: b.title.clone(),
                ticket_type: b.ticket_type.clone(),
                priority: b.priority.clone(),
                establishment: b.establishment.clone(),
                created_at: b.created_at,
                resolution_due: b.resolution_due,
            })
            .collect(),
    };
    Ok(respond(&q, &scope, "sla", view, || tables::sla(&s)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityView {
    pub agent: String,
    pub tickets: i64,
    pub replies: i64,
    pub internal_notes: i64,
    pub resolutions: i64,
}

/// What each member of the desk did in the period (the desk only).
#[utoipa::path(get, path = "/reports/agents", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "the report; with format=csv, its table as CSV", content((Vec<ActivityView> = "application/json"), (String = "text/csv"))), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such saved filter"), (status = 422, body = ErrorBody)))]
pub async fn agents(State(state): State<AppState>, Auth(p): Auth, Query(q): Query<ReportQuery>) -> ApiResult<Response> {
    if !p.actor.role.is_staff() {
        return Err(AppError::Forbidden("agent activity is for the desk".into()).into());
    }
    let scope = scope(&state, &p, &q).await?;
    let a = state.app.report_agents(&p, &scope).await?;
    let view: Vec<ActivityView> = a
        .iter()
        .map(|a| ActivityView {
            agent: a.name.clone(),
            tickets: a.tickets,
            replies: a.replies,
            internal_notes: a.notes,
            resolutions: a.resolutions,
        })
        .collect();
    Ok(respond(&q, &scope, "agents", view, || tables::agents(&a)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EscalationsView {
    pub created: i64,
    pub escalated: i64,
    pub time_at_technical: StatsView,
}

/// Tickets escalated to the technical tier in the period, and their time there.
#[utoipa::path(get, path = "/reports/escalations", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "the report; with format=csv, its table as CSV", content((EscalationsView = "application/json"), (String = "text/csv"))), (status = 404, body = ErrorBody, description = "no such saved filter"), (status = 422, body = ErrorBody)))]
pub async fn escalations(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let scope = scope(&state, &p, &q).await?;
    let e = state.app.report_escalations(&scope).await?;
    let view = EscalationsView {
        created: e.created,
        escalated: e.escalated,
        time_at_technical: (&e.time_at_technical).into(),
    };
    Ok(respond(&q, &scope, "escalations", view, || tables::escalations(&e, true)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SatisfactionRowView {
    /// The bucket's label, the type or tier code, the category code, or the agent's id.
    pub key: String,
    pub label: String,
    pub answers: i64,
    /// Mean rating from 1 to 5, one decimal; absent without answers.
    pub average_rating: Option<f64>,
    /// Share of answers rating 4 or 5, in percent.
    pub satisfied_percent: Option<i64>,
}

impl From<&guichet_app::satisfaction::SatisfactionRow> for SatisfactionRowView {
    fn from(r: &guichet_app::satisfaction::SatisfactionRow) -> Self {
        Self {
            key: r.key.clone(),
            label: r.label.clone(),
            answers: r.answered,
            average_rating: r.average,
            satisfied_percent: r.satisfied_percent,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SatisfactionPeriodView {
    #[serde(flatten)]
    pub row: SatisfactionRowView,
    pub surveys_sent: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SatisfactionView {
    /// Surveys sent in the period.
    pub surveys_sent: i64,
    pub total: SatisfactionRowView,
    pub periods: Vec<SatisfactionPeriodView>,
    pub by_type: Vec<SatisfactionRowView>,
    pub by_category: Vec<SatisfactionRowView>,
    pub by_tier: Vec<SatisfactionRowView>,
    /// Per agent who held the ticket: administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_agent: Option<Vec<SatisfactionRowView>>,
}

/// Ratings given in the period by requesters of resolved tickets: per
/// bucket, type, category and level; per agent for administrators.
#[utoipa::path(get, path = "/reports/satisfaction", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "the report; with format=csv, its table as CSV", content((SatisfactionView = "application/json"), (String = "text/csv"))), (status = 404, body = ErrorBody, description = "no such saved filter"), (status = 422, body = ErrorBody)))]
pub async fn satisfaction(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let scope = scope(&state, &p, &q).await?;
    let r = state.app.report_satisfaction(&p, &scope).await?;
    let rows =
        |rows: &[guichet_app::satisfaction::SatisfactionRow]| rows.iter().map(SatisfactionRowView::from).collect();
    let view = SatisfactionView {
        surveys_sent: r.sent,
        total: (&r.total).into(),
        periods: r
            .periods
            .iter()
            .map(|(row, sent)| SatisfactionPeriodView { row: row.into(), surveys_sent: *sent })
            .collect(),
        by_type: rows(&r.by_type),
        by_category: rows(&r.by_category),
        by_tier: rows(&r.by_tier),
        by_agent: r.by_agent.as_deref().map(rows),
    };
    Ok(respond(&q, &scope, "satisfaction", view, || tables::satisfaction(&r, true)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeflectionView {
    pub article_id: i64,
    pub title: String,
    /// Times the article answered a question and no request was filed, in the period.
    pub deflections: i64,
}

/// Knowledge-base articles that answered questions in the period, instead
/// of a request (a school's administrator: their schools' only).
#[utoipa::path(get, path = "/reports/deflections", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "the report; with format=csv, its table as CSV", content((Vec<DeflectionView> = "application/json"), (String = "text/csv"))), (status = 404, body = ErrorBody, description = "no such saved filter"), (status = 422, body = ErrorBody)))]
pub async fn deflections(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let scope = scope(&state, &p, &q).await?;
    let rows = state.app.report_deflections(&p, scope.start, scope.end).await?;
    let view: Vec<DeflectionView> = rows
        .iter()
        .map(|(id, title, n)| DeflectionView { article_id: *id, title: title.clone(), deflections: *n })
        .collect();
    Ok(respond(&q, &scope, "deflections", view, || tables::deflections(&rows)))
}
