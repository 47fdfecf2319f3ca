//! Comments: public replies to the requester and internal notes among the desk.

use crate::error::DomainError;
use crate::ids::{CommentId, TicketId, UserId};
use crate::ticket::{Channel, DESCRIPTION_MAX};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: CommentId,
    pub ticket: TicketId,
    pub author: UserId,
    pub author_name: String,
    pub body: String,
    pub internal: bool,
    pub channel: Channel,
    pub created_at: DateTime<Utc>,
}

/// Checks a comment body and returns it trimmed.
pub fn validate_body(body: &str) -> Result<String, DomainError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(DomainError::field("body", "a comment needs a body"));
    }
    if body.chars().count() > DESCRIPTION_MAX {
        return Err(DomainError::field("body", format!("a comment is limited to {DESCRIPTION_MAX} characters")));
    }
    Ok(body.to_owned())
}
