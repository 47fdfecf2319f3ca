//! The one place where errors become HTTP responses. Every error body has the
//! shape `{"error": {"code", "message", "field"}}`; internal causes are logged
//! once and never sent.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use guichet_app::AppError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `not_found`, `validation`, `invalid_transition`…
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The input field at fault, when there is one.
    pub field: Option<String>,
    /// Every field error, when several fields are at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldErrorView>,
    /// The statuses reachable from the current one, for `invalid_transition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorView {
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: ErrorDetail,
    /// Seconds after which trying again makes sense (`Retry-After`).
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>, field: Option<String>) -> Self {
        let detail = ErrorDetail { code, message: message.into(), field, errors: Vec::new(), allowed: None };
        Self { status, detail, retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message, None)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::NotFound(what) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"), None)
            }
            AppError::Unauthenticated => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "a valid API token is required (Authorization: Bearer …)",
                None,
            ),
            AppError::Forbidden(message) => Self::new(StatusCode::FORBIDDEN, "forbidden", message, None),
            AppError::Validation(errors) => {
                let message = errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ");
                let field = errors.first().map(|e| e.field.clone());
                let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message, field);
                if errors.len() > 1 {
                    e.detail.errors =
                        errors.into_iter().map(|f| FieldErrorView { field: f.field, message: f.message }).collect();
                }
                e
            }
            error @ AppError::InvalidTransition { .. } => {
                let message = error.to_string();
                let AppError::InvalidTransition { allowed, .. } = error else { unreachable!() };
                let mut e = Self::new(StatusCode::CONFLICT, "invalid_transition", message, Some("status".into()));
                e.detail.allowed = Some(allowed);
                e
            }
            AppError::Conflict { field, message } => Self::new(StatusCode::CONFLICT, "conflict", message, Some(field)),
            AppError::RateLimited(message) => Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message, None),
            error @ AppError::Stale { .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                error.to_string(),
                Some("version".into()),
            ),
            error @ AppError::Throttled { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", error.to_string(), None)
            },
            error @ AppError::Busy { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", error.to_string(), None)
            },
            error @ AppError::TooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", error.to_string(), Some("file".into()))
            }
            error @ AppError::SignInRefused(_) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", error.to_string(), None)
            }
            error @ AppError::LeaseLost(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", error.to_string(), None)
            }
            AppError::Internal(source) => {
                tracing::error!(error = %source, cause = ?source.source(), "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; it has been logged",
                    None,
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(ErrorBody { error: self.detail })).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
