//! Prometheus metrics: what the HTTP layer counts, the gauges read when
//! scraped, and `/metrics`. The counters themselves go through the
//! `metrics` facade wherever things happen (tickets, mail, jobs, writes);
//! the binary installs the recorder that renders them.

use crate::error::ApiError;
use crate::extract::Auth;
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;

/// Renders every recorded metric in Prometheus' text format.
#[derive(Clone)]
pub struct Render(pub Arc<dyn Fn() -> String + Send + Sync>);

impl std::fmt::Debug for Render {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Render")
    }
}

/// Counts each request and times it, by route pattern (never the raw path:
/// `/tickets/SUP-1`, `/tickets/SUP-2`… would each be a series).
pub async fn record(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("guichet_http_request_duration_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("guichet_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// Gauges that are a reading of the present (the outbox, the pool), taken
/// when scraped rather than kept up to date by every write.
async fn read_gauges(app: &guichet_app::App) -> Result<(), ApiError> {
    let (depth, oldest) = app.outbox_backlog().await?;
    metrics::gauge!("guichet_outbox_depth").set(depth as f64);
    let age = oldest.map_or(0.0, |at| (app.now() - at).num_milliseconds().max(0) as f64 / 1000.0);
    metrics::gauge!("guichet_outbox_oldest_age_seconds").set(age);
    let pool = app.db.pool_use();
    metrics::gauge!("guichet_db_connections", "state" => "open").set(f64::from(pool.open));
    metrics::gauge!("guichet_db_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("guichet_db_connections", "state" => "max").set(f64::from(pool.max));
    Ok(())
}

async fn rendered(app: &guichet_app::App, render: &Render) -> Result<Response, ApiError> {
    read_gauges(app).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], (render.0)()).into_response())
}

/// `/metrics` on the service's own address: volumes and rates are the
/// desk's business, so an administrator's token is asked for.
pub async fn authenticated(State(state): State<AppState>, Auth(p): Auth) -> Result<Response, ApiError> {
    if p.user.role != guichet_domain::user::Role::Admin {
        return Err(guichet_app::AppError::Forbidden("only administrators read the metrics".into()).into());
    }
    let Some(render) = state.web.metrics.clone() else {
        return Err(guichet_app::AppError::NotFound("metrics").into());
    };
    rendered(&state.app, &render).await
}

/// `/metrics` alone, for `metrics_bind`: an address only the monitoring
/// network reaches, scraped without a token as Prometheus expects.
pub fn scrape_router(app: guichet_app::App, render: Render) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (app, render) = (app.clone(), render.clone());
            async move { rendered(&app, &render).await }
        }),
    )
}
