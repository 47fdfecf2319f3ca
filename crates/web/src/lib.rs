//! Guichet's HTTP layer: the REST API under `/api/v1` (with its OpenAPI
//! document), health probes, and later the pages. Handlers only translate
//! between HTTP and the use cases of `guichet-app`; every error leaves through
//! [`error::ApiError`].

pub mod api;
pub mod error;
pub mod extract;
pub mod reports;
pub mod ui;
pub mod views;

use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
use guichet_app::App;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Settings of the HTTP layer.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure` (when served over HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// Proxies whose `X-Forwarded-For` is believed (the load balancer).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub app: App,
    pub web: WebConfig,
}

/// The whole HTTP service: pages, API, probes.
pub fn router(app: App, web: WebConfig) -> Router {
    let state = AppState { app, web };
    let (api, openapi) = api::v1::router(&state);
    let openapi = std::sync::Arc::new(openapi);
    Router::new()
        .nest("/api/v1", api)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(ui::router().layer(axum::extract::DefaultBodyLimit::max(page_body_limit(&state))))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(fallback)
        .with_state(state)
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
            tracing::info_span!("request", method = %req.method(), route = %route)
        }))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
}

/// Pages take uploads (several screenshots with a new request).
fn page_body_limit(state: &AppState) -> usize {
    state.app.settings.attachment_max_bytes.saturating_mul(4).saturating_add(1024 * 1024)
}

async fn healthz() -> &'static str {
    "ok"
}

/// A background task as the readiness probe shows it: no error text (the
/// probe answers anyone), the API's `/tasks` has it for the desk.
#[derive(serde::Serialize)]
struct ProbeTask {
    name: String,
    failing: bool,
    restarts: u32,
    last_success_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(serde::Serialize)]
struct Readiness {
    status: &'static str,
    tasks: Vec<ProbeTask>,
}

/// Ready when the database answers; the background tasks' state comes with
/// it, for a monitor to alert on (a failing task is restarted by itself and
/// does not make the node unready: it still serves pages).
async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<Readiness>, error::ApiError> {
    state.app.db.ping().await.map_err(|e| error::ApiError::from(guichet_app::AppError::from(e)))?;
    let tasks = state
        .app
        .tasks
        .list()
        .into_iter()
        .map(|t| ProbeTask {
            name: t.name,
            failing: t.failing,
            restarts: t.restarts,
            last_success_at: t.last_success_at,
        })
        .collect();
    Ok(axum::Json(Readiness { status: "ready", tasks }))
}

/// Unknown API paths answer JSON; unknown pages answer a page.
async fn fallback(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        error::ApiError::from(guichet_app::AppError::NotFound("route")).into_response()
    } else {
        let lang = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(ui::i18n::from_accept_language)
            .unwrap_or_default();
        ui::PageError::NotFound(lang).into_response()
    }
}
