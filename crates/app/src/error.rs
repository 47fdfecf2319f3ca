//! Errors of the use cases, precise enough for the web layer to choose a status.

use guichet_domain::{DomainError, FieldError};
use guichet_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Also answered for what exists but is not the actor's to see.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{}", .0.first().map_or("invalid input", |e| e.message.as_str()))]
    Validation(Vec<FieldError>),
    #[error("transition from `{from}` to `{to}` is not allowed; allowed: {}", if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") })]
    InvalidTransition { from: String, to: String, allowed: Vec<String> },
    #[error("{message}")]
    Conflict { field: String, message: String },
    #[error("{0}")]
    RateLimited(String),
    /// The ticket changed since the version the caller saw.
    #[error("the ticket changed since version {expected} (now {current}): read it again, then apply your change")]
    Stale { expected: i64, current: i64 },
    /// Too many sign-in attempts: try again in `retry_after` seconds.
    #[error("too many sign-in attempts; try again in {} minute(s)", retry_after.div_ceil(60))]
    Throttled { retry_after: u64 },
    /// The server has too much to do right now: try again in `retry_after` seconds.
    #[error("the server is busy; try again in {retry_after} seconds")]
    Busy { retry_after: u64 },
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// A job's lease passed to another node: its writes are refused.
    #[error("the lease `{0}` is no longer this node's")]
    LeaseLost(String),
    /// A person a provider signed in, or a password sign-in, is not let in: why.
    #[error("sign-in refused: {0:?}")]
    SignInRefused(crate::identities::SignInRefusal),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation(errors) => AppError::Validation(errors),
            DomainError::InvalidTransition { from, to, allowed } => AppError::InvalidTransition { from, to, allowed },
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound("record"),
            StoreError::Conflict { field } => {
                let message = format!("this `{field}` is already taken or refers to nothing");
                AppError::Conflict { field, message }
            }
            StoreError::Retry | StoreError::Busy => AppError::Busy { retry_after: 1 },
            other => AppError::Internal(Box::new(other)),
        }
    }
}
