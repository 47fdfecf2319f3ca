//! Guichet's HTTP layer: the REST API under `/api/v1` (with its OpenAPI
//! document), health probes, and later the pages. Handlers only translate
//! between HTTP and the use cases of `guichet-app`; every error leaves through
//! [`error::ApiError`].

pub mod api;
pub mod error;
pub mod extract;
pub mod views;

use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
use guichet_app::App;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub app: App,
}

/// The whole HTTP service.
pub fn router(app: App) -> Router {
    let state = AppState { app };
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

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Result<&'static str, error::ApiError> {
    state.app.db.ping().await.map_err(|e| error::ApiError::from(guichet_app::AppError::from(e)))?;
    Ok("ready")
}

async fn fallback() -> error::ApiError {
    error::ApiError::from(guichet_app::AppError::NotFound("route"))
}
