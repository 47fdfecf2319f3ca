//! Workflows are data: for each ticket type, the statuses a ticket may take and
//! the transitions allowed between them. They are seeded by a migration and
//! loaded by the store; this module only answers questions about them.

use crate::error::DomainError;
use crate::ticket::TicketType;
use serde::Serialize;
use utoipa::ToSchema;

crate::vocabulary!(
    /// What a status means for the desk's clocks and counts.
    StatusCategory, "status category", {
        Open => "open",
        Waiting => "waiting",
        Resolved => "resolved",
        Closed => "closed",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatusDef {
    pub code: String,
    pub category: StatusCategory,
    pub label_fr: String,
    pub label_en: String,
    pub initial: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Transition {
    pub from: String,
    pub to: String,
    /// Whether the requester may take it (reopen, confirm), not only staff.
    pub requester_allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Workflow {
    pub ticket_type: TicketType,
    pub statuses: Vec<StatusDef>,
    pub transitions: Vec<Transition>,
}

impl Workflow {
    pub fn status(&self, code: &str) -> Option<&StatusDef> {
        self.statuses.iter().find(|s| s.code == code)
    }

    pub fn initial(&self) -> Option<&StatusDef> {
        self.statuses.iter().find(|s| s.initial)
    }

    /// The statuses reachable from `from` for a staff member or a requester.
    pub fn allowed_from(&self, from: &str, by_requester: bool) -> Vec<String> {
        self.transitions
            .iter()
            .filter(|t| t.from == from && (!by_requester || t.requester_allowed))
            .map(|t| t.to.clone())
            .collect()
    }

    /// Checks a transition and returns the target status.
    pub fn check(&self, from: &str, to: &str, by_requester: bool) -> Result<&StatusDef, DomainError> {
        let allowed = self.allowed_from(from, by_requester);
        match self.status(to) {
            Some(target) if allowed.iter().any(|a| a == to) => Ok(target),
            Some(_) => Err(DomainError::InvalidTransition { from: from.into(), to: to.into(), allowed }),
            None => Err(DomainError::field(
                "status",
                format!(
                    "unknown status `{to}` for type `{}`; statuses: {}",
                    self.ticket_type,
                    self.statuses.iter().map(|s| s.code.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
}

/// All workflows, one per ticket type.
#[derive(Debug, Clone, Default)]
pub struct Workflows(pub Vec<Workflow>);

impl Workflows {
    /// The status codes, across all types, in any of `categories` (sorted, once each).
    pub fn codes_in(&self, categories: &[StatusCategory]) -> Vec<String> {
        let mut codes: Vec<String> = self
            .0
            .iter()
            .flat_map(|w| w.statuses.iter())
            .filter(|s| categories.contains(&s.category))
            .map(|s| s.code.clone())
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }

    /// Every status code of every type (a code may appear more than once).
    pub fn all_status_codes(&self) -> impl Iterator<Item = &str> {
        self.0.iter().flat_map(|w| w.statuses.iter().map(|s| s.code.as_str()))
    }

    pub fn get(&self, ticket_type: TicketType) -> Result<&Workflow, DomainError> {
        self.0
            .iter()
            .find(|w| w.ticket_type == ticket_type)
            .ok_or_else(|| DomainError::field("type", format!("no workflow is configured for type `{ticket_type}`")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn status(code: &str, category: StatusCategory, initial: bool) -> StatusDef {
        StatusDef { code: code.into(), category, label_fr: code.into(), label_en: code.into(), initial }
    }

    fn transition(from: &str, to: &str, requester_allowed: bool) -> Transition {
        Transition { from: from.into(), to: to.into(), requester_allowed }
    }

    #[test]
    fn status_codes_of_categories_are_listed_once_across_types() {
        let w = sample();
        assert_eq!(w.codes_in(&[StatusCategory::Waiting]), ["waiting_on_requester"]);
        let open = w.codes_in(&[StatusCategory::Open, StatusCategory::Waiting]);
        assert!(open.contains(&"new".to_owned()) && open.contains(&"waiting_on_requester".to_owned()));
        assert!(!open.contains(&"resolved".to_owned()));
        let mut sorted = open.clone();
        sorted.dedup();
        assert_eq!(sorted, open);
    }

    /// The same workflows as the seeding migration, for pure tests.
    pub(crate) fn sample() -> Workflows {
        use StatusCategory::*;
        let support = |ticket_type| Workflow {
            ticket_type,
            statuses: vec![
                status("new", Open, true),
                status("in_progress", Open, false),
                status("waiting_on_requester", Waiting, false),
                status("resolved", Resolved, false),
                status("closed", Closed, false),
            ],
            transitions: vec![
                transition("new", "in_progress", false),
                transition("new", "waiting_on_requester", false),
                transition("new", "resolved", false),
                transition("in_progress", "waiting_on_requester", false),
                transition("in_progress", "resolved", false),
                transition("waiting_on_requester", "in_progress", false),
                transition("waiting_on_requester", "resolved", false),
                transition("resolved", "in_progress", true),
                transition("resolved", "closed", true),
            ],
        };
        let evolution = Workflow {
            ticket_type: TicketType::Evolution,
            statuses: vec![
                status("submitted", Open, true),
                status("under_review", Open, false),
                status("accepted", Open, false),
                status("planned", Open, false),
                status("declined", Resolved, false),
                status("delivered", Resolved, false),
                status("closed", Closed, false),
            ],
            transitions: vec![
                transition("submitted", "under_review", false),
                transition("under_review", "accepted", false),
                transition("under_review", "declined", false),
                transition("accepted", "planned", false),
                transition("planned", "delivered", false),
                transition("declined", "closed", false),
                transition("delivered", "closed", false),
            ],
        };
        Workflows(vec![
            support(TicketType::Unclassified),
            support(TicketType::Assistance),
            support(TicketType::Anomaly),
            evolution,
        ])
    }

    #[test]
    fn invalid_transition_lists_the_allowed_ones() {
        let workflows = sample();
        let wf = workflows.get(TicketType::Anomaly).unwrap();
        let err = wf.check("new", "closed", false).unwrap_err();
        assert_eq!(
            err,
            DomainError::InvalidTransition {
                from: "new".into(),
                to: "closed".into(),
                allowed: vec!["in_progress".into(), "waiting_on_requester".into(), "resolved".into()],
            }
        );
    }

    #[test]
    fn requester_may_only_take_requester_transitions() {
        let workflows = sample();
        let wf = workflows.get(TicketType::Assistance).unwrap();
        assert!(wf.check("resolved", "in_progress", true).is_ok());
        assert!(wf.check("in_progress", "resolved", true).is_err());
    }

    #[test]
    fn unknown_status_names_the_known_ones() {
        let workflows = sample();
        let err = workflows.get(TicketType::Evolution).unwrap().check("submitted", "new", false).unwrap_err();
        assert!(err.to_string().contains("submitted, under_review"), "{err}");
    }
}
