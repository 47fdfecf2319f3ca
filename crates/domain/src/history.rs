//! History: every change of every field, who made it and when.

use crate::ids::{TicketId, UserId};
use chrono::{DateTime, Utc};

/// One field's change, as produced by domain rules before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
    /// Hidden from requesters (hand-overs, internal notes).
    pub internal: bool,
}

impl FieldChange {
    pub fn public(field: &'static str, old: Option<String>, new: Option<String>) -> Self {
        Self { field, old, new, internal: false }
    }

    pub fn internal(field: &'static str, old: Option<String>, new: Option<String>) -> Self {
        Self { field, old, new, internal: true }
    }
}

/// A stored history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub ticket: TicketId,
    pub actor: Option<UserId>,
    pub actor_name: Option<String>,
    pub at: DateTime<Utc>,
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub internal: bool,
}
