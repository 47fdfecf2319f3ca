//! Guichet's HTTP layer: the REST API under `/api/v1` (with its OpenAPI
//! document), health probes, and later the pages. Handlers only translate
//! between HTTP and the use cases of `guichet-app`; every error leaves through
//! [`error::ApiError`].

pub mod api;
pub mod error;
pub mod extract;
pub mod jira;
pub mod metrics;
pub mod reports;
pub mod ui;
pub mod views;
pub mod webhooks;

use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
use guichet_app::App;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` (when served over HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// Proxies whose `X-Forwarded-For` is believed (the load balancer).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A request that takes longer is answered 408.
    pub request_timeout: std::time::Duration,
    /// Requests served at once; beyond, 503 with Retry-After.
    pub max_in_flight: usize,
    /// HELP messages (public uploads) received at once; beyond, 503.
    pub help_in_flight: usize,
    /// Served over HTTPS (the public URL's scheme): browsers are told to
    /// keep to it (HSTS).
    pub https: bool,
    /// Origins (the ENT's) allowed to show the HELP page in a frame.
    pub help_frame_ancestors: Vec<String>,
    /// Identity providers people may sign in with (CAS, OpenID Connect).
    pub providers: guichet_sso::Providers,
    /// Renders the metrics for `/metrics` (none: the route answers 404).
    pub metrics: Option<metrics::Render>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            request_timeout: std::time::Duration::from_secs(60),
            max_in_flight: 512,
            help_in_flight: 16,
            https: false,
            help_frame_ancestors: Vec::new(),
            providers: guichet_sso::Providers::default(),
            metrics: None,
        }
    }
}

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub app: App,
    pub web: WebConfig,
    /// Room for HELP messages being received.
    pub help_slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// The HTTP client that talks to identity providers.
    pub sso_http: reqwest::Client,
}

/// The whole HTTP service: pages, API, probes.
pub fn router(app: App, web: WebConfig) -> Router {
    let help_slots = std::sync::Arc::new(tokio::sync::Semaphore::new(web.help_in_flight.max(1)));
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(web.max_in_flight.max(1)));
    let timeout = web.request_timeout;
    let https = web.https;
    let sso_http = guichet_sso::http_client().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot build the identity providers' HTTP client; sign-in by provider will fail");
        reqwest::Client::default()
    });
    let form_targets = web.providers.logout_origins();
    let state = AppState { app, web, help_slots, sso_http };
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
        // The public HELP form takes one screenshot: no more than that to buffer from strangers.
        .merge(ui::help_router().layer(axum::extract::DefaultBodyLimit::max(help_body_limit(&state))))
        // Jira's webhook: authenticated by its signature, not a session.
        .route(
            "/hooks/jira",
            axum::routing::post(jira::receive).layer(axum::extract::DefaultBodyLimit::max(1024 * 1024)),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::authenticated))
        .fallback(fallback)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(axum::middleware::from_fn_with_state(in_flight, limit_in_flight))
        .route("/healthz", get(healthz))
        .with_state(state)
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), route = %route, request_id = %id)
        }))
        .layer(axum::middleware::from_fn(metrics::record))
        .layer(axum::middleware::from_fn(request_id))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&content_security_policy("'none'", &form_targets))
                .unwrap_or(HeaderValue::from_static("default-src 'self'")),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            https.then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains")),
        ))
}

/// The header naming a request in the logs of every node, proxy and job it touches.
pub const REQUEST_ID: &str = "x-request-id";

/// Gives every request an id, in its logs and in the answer's `X-Request-Id`:
/// the one a proxy sent when it is short and plain (letters, digits, `-_.`;
/// anything else could forge or garble a log line), a new one otherwise.
async fn request_id(mut req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let given = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).filter(|id| plain_request_id(id));
    let id = match given {
        Some(id) => id.to_owned(),
        None => format!("{:032x}", rand::random::<u128>()),
    };
    let value = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid"));
    req.headers_mut().insert(REQUEST_ID, value.clone());
    let mut response = guichet_store::context::with_request_id(Some(id), next.run(req)).await;
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

fn plain_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The pages' Content-Security-Policy: every script, style and image from
/// this server only (no inline script, no remote image), forms posted here
/// only, framed by `frame_ancestors` only.
/// `form_targets`: the identity providers' origins, where signing out leads.
pub fn content_security_policy(frame_ancestors: &str, form_targets: &[String]) -> String {
    let form_action = std::iter::once("'self'").chain(form_targets.iter().map(String::as_str)).collect::<Vec<_>>();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action {}; frame-ancestors {frame_ancestors}",
        form_action.join(" ")
    )
}

/// A request beyond the server's capacity is refused at once (503,
/// `Retry-After`) rather than queued: a queue would only add latency, and
/// memory, to every request behind it.
async fn limit_in_flight(
    axum::extract::State(slots): axum::extract::State<std::sync::Arc<tokio::sync::Semaphore>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(permit) = slots.try_acquire_owned() else {
        tracing::warn!("request refused: the server is at its limit of requests in flight");
        if request.uri().path().starts_with("/api/") {
            return error::ApiError::from(guichet_app::AppError::Busy { retry_after: 1 }).into_response();
        }
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "Le serveur est très sollicité : réessayez dans un instant. / The server is busy: try again in a moment.",
        )
            .into_response();
    };
    let response = next.run(request).await;
    drop(permit);
    response
}

/// The HELP form: its fields and one screenshot.
fn help_body_limit(state: &AppState) -> usize {
    state.app.settings.attachment_max_bytes.saturating_add(64 * 1024)
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
struct ProbeLease {
    name: String,
    term: i64,
    expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(serde::Serialize)]
struct Readiness {
    status: &'static str,
    /// This node's name among those serving the database.
    node: String,
    /// The leases this node holds (the clock, mailboxes it polls).
    leases: Vec<ProbeLease>,
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
    let leases = state
        .app
        .leases_held()
        .await?
        .into_iter()
        .map(|l| ProbeLease { name: l.name, term: l.term, expires_at: l.expires_at })
        .collect();
    Ok(axum::Json(Readiness { status: "ready", node: state.app.settings.node.clone(), leases, tasks }))
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
