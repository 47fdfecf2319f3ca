//! Errors raised by domain rules. The web layer maps each variant to a status.

use serde::Serialize;

/// A validation failure attached to the input field that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    #[error("{}", .0.first().map_or("invalid input", |e| e.message.as_str()))]
    Validation(Vec<FieldError>),
    #[error("transition from `{from}` to `{to}` is not allowed; allowed: {}", allowed.join(", "))]
    InvalidTransition { from: String, to: String, allowed: Vec<String> },
}

impl DomainError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}
