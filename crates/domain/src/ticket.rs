//! The ticket (a *demande*): its vocabulary, its validation and the one rule
//! that changes it, [`Ticket::apply`], which also says what changed for history.

use crate::actor::Actor;
use crate::error::{DomainError, FieldError};
use crate::history::FieldChange;
use crate::ids::{CategoryId, EstablishmentId, TicketId, UserId};
use crate::workflow::{StatusCategory, Workflows};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::vocabulary!(
    /// What kind of request this is; `unclassified` until an agent decides.
    TicketType, "type", {
        Unclassified => "unclassified",
        Assistance => "assistance",
        Anomaly => "anomaly",
        Evolution => "evolution",
    }
);

crate::vocabulary!(Priority, "priority", {
    Low => "low",
    Normal => "normal",
    High => "high",
    Critical => "critical",
});

crate::vocabulary!(
    /// How the request reached the desk.
    Channel, "channel", {
        Portal => "portal",
        Email => "email",
        Phone => "phone",
        HelpForm => "help_form",
        Api => "api",
    }
);

crate::vocabulary!(
    /// Who is working the ticket: the school's administrators, level 1 or level 2.
    Tier, "tier", {
        Establishment => "establishment",
        Support => "support",
        Technical => "technical",
    }
);

crate::vocabulary!(
    /// What reproducing an anomaly showed.
    Outcome, "outcome", {
        Reproduced => "reproduced",
        NotReproduced => "not_reproduced",
        LocalCause => "local_cause",
    }
);

crate::vocabulary!(
    /// The ENT user profile affected by an anomaly.
    Profile, "profile", {
        Student => "student",
        Teacher => "teacher",
        Parent => "parent",
        Staff => "staff",
        LocalAdmin => "local_admin",
    }
);

crate::vocabulary!(
    /// How a ticket was resolved.
    Resolution, "resolution", {
        Answered => "answered",
        Fixed => "fixed",
        Workaround => "workaround",
        LocalCause => "local_cause",
        NotReproduced => "not_reproduced",
        Duplicate => "duplicate",
        NoAnswer => "no_answer",
        Cancelled => "cancelled",
    }
);

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 100_000;
const SHORT_TEXT_MAX: usize = 2_000;

/// The conditions under which an anomaly shows, and what reproducing it gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reproduction {
    /// ENT service concerned (messagerie, cahier de textes…).
    pub service: Option<String>,
    pub profile: Option<Profile>,
    /// Browser and operating system.
    pub browser: Option<String>,
    pub url: Option<String>,
    pub steps: Option<String>,
    pub outcome: Option<Outcome>,
}

impl Reproduction {
    fn validate(&self, errors: &mut Vec<FieldError>) {
        for (field, value) in [
            ("reproduction.service", &self.service),
            ("reproduction.browser", &self.browser),
            ("reproduction.url", &self.url),
        ] {
            if value.as_ref().is_some_and(|v| v.chars().count() > SHORT_TEXT_MAX) {
                errors.push(FieldError::new(field, format!("`{field}` is longer than {SHORT_TEXT_MAX} characters")));
            }
        }
        if self.steps.as_ref().is_some_and(|v| v.chars().count() > DESCRIPTION_MAX) {
            errors.push(FieldError::new("reproduction.steps", "the steps are too long"));
        }
    }

    /// A one-line rendering for history entries.
    fn summary(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.service.clone(),
            self.profile.map(|p| p.to_string()),
            self.browser.clone(),
            self.url.clone(),
            self.outcome.map(|o| o.to_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty() || self.steps.is_some()).then(|| parts.join(" · "))
    }
}

/// A reference to a category, with the code shown in history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRef {
    pub id: CategoryId,
    pub code: String,
}

/// A reference to a person, with the name shown in history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub id: UserId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: TicketId,
    pub title: String,
    pub description: String,
    pub ticket_type: TicketType,
    pub status: String,
    pub priority: Priority,
    pub category: Option<CategoryRef>,
    pub channel: Channel,
    pub tier: Tier,
    pub requester: UserRef,
    pub establishment: EstablishmentId,
    pub assignee: Option<UserRef>,
    pub reproduction: Reproduction,
    pub resolution: Option<Resolution>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Raised by every change: what a client that read the ticket compares.
    pub version: i64,
}

/// A validated ticket about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub title: String,
    pub description: String,
    pub ticket_type: TicketType,
    pub status: String,
    pub priority: Priority,
    pub category: Option<CategoryId>,
    pub channel: Channel,
    pub tier: Tier,
    pub requester: UserId,
    pub establishment: EstablishmentId,
    pub reproduction: Reproduction,
}

/// Raw input for a new ticket, before validation.
#[derive(Debug, Clone, Default)]
pub struct TicketDraft {
    pub title: String,
    pub description: String,
    pub ticket_type: Option<TicketType>,
    pub priority: Option<Priority>,
    pub category: Option<CategoryId>,
    pub channel: Option<Channel>,
    pub reproduction: Option<Reproduction>,
}

impl NewTicket {
    /// Validates a draft filed by `actor` for `establishment` on behalf of `requester`.
    /// A requester may say what kind of request it is when filing it (the
    /// portal's guided choice), which the desk can change later; only staff
    /// set a priority or change the type afterwards.
    pub fn from_draft(
        draft: TicketDraft,
        actor: &Actor,
        requester: UserId,
        establishment: EstablishmentId,
        workflows: &Workflows,
    ) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let title = crate::establishment::required(&mut errors, "title", &draft.title, TITLE_MAX);
        let description = draft.description.trim().to_owned();
        if description.chars().count() > DESCRIPTION_MAX {
            errors.push(FieldError::new(
                "description",
                format!("`description` is longer than {DESCRIPTION_MAX} characters"),
            ));
        }
        let reproduction = draft.reproduction.unwrap_or_default();
        reproduction.validate(&mut errors);
        let staff = actor.role.is_staff();
        if !staff && draft.priority.is_some_and(|p| p != Priority::Normal) {
            errors.push(FieldError::new("priority", "only the desk sets a request's priority"));
        }
        let ticket_type = draft.ticket_type.unwrap_or(TicketType::Unclassified);
        let status = match workflows.get(ticket_type).map(|w| w.initial()) {
            Ok(Some(initial)) => initial.code.clone(),
            _ => {
                errors.push(FieldError::new("type", format!("type `{ticket_type}` has no initial status")));
                String::new()
            }
        };
        let channel = draft.channel.unwrap_or(if staff { Channel::Api } else { Channel::Portal });
        if !staff && matches!(channel, Channel::Phone | Channel::Email | Channel::HelpForm) {
            errors.push(FieldError::new("channel", format!("a requester cannot file a request by `{channel}`")));
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        Ok(Self {
            title,
            description,
            ticket_type,
            status,
            priority: draft.priority.unwrap_or(Priority::Normal),
            category: draft.category,
            channel,
            tier: Tier::Support,
            requester,
            establishment,
            reproduction,
        })
    }
}

/// A change asked for a ticket; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub ticket_type: Option<TicketType>,
    pub status: Option<String>,
    pub priority: Option<Priority>,
    pub category: Option<Option<CategoryRef>>,
    pub assignee: Option<Option<UserRef>>,
    pub tier: Option<Tier>,
    pub reproduction: Option<Reproduction>,
    pub resolution: Option<Option<Resolution>>,
}

impl TicketPatch {
    /// The fields a requester may change on their own ticket.
    fn staff_only_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut check = |set: bool, name| {
            if set {
                fields.push(name);
            }
        };
        check(self.ticket_type.is_some(), "type");
        check(self.priority.is_some(), "priority");
        check(self.category.is_some(), "category");
        check(self.assignee.is_some(), "assignee");
        check(self.tier.is_some(), "tier");
        check(self.resolution.is_some(), "resolution");
        fields
    }
}

fn opt_str<T: std::fmt::Display>(v: Option<T>) -> Option<String> {
    v.map(|v| v.to_string())
}

impl Ticket {
    pub fn is_open(&self, workflows: &Workflows) -> bool {
        self.status_category(workflows).is_some_and(|c| matches!(c, StatusCategory::Open | StatusCategory::Waiting))
    }

    pub fn status_category(&self, workflows: &Workflows) -> Option<StatusCategory> {
        workflows.get(self.ticket_type).ok()?.status(&self.status).map(|s| s.category)
    }

    /// Applies a patch, enforcing the workflow and who may change what, and
    /// returns the changes to record. Either everything applies or nothing.
    pub fn apply(
        &mut self,
        patch: TicketPatch,
        actor: &Actor,
        workflows: &Workflows,
        now: DateTime<Utc>,
    ) -> Result<Vec<FieldChange>, DomainError> {
        // A school's administrators work their own HELP requests as the desk
        // works the rest, but only the desk moves tickets between tiers.
        let by_requester = !actor.role.is_staff() && self.tier != Tier::Establishment;
        if !actor.role.is_staff() {
            let mut forbidden = patch.staff_only_fields();
            if !by_requester {
                forbidden.retain(|f| matches!(*f, "tier" | "assignee"));
            }
            if !forbidden.is_empty() {
                return Err(DomainError::Validation(
                    forbidden
                        .into_iter()
                        .map(|f| FieldError::new(f, format!("only the desk may change `{f}`")))
                        .collect(),
                ));
            }
        }
        let mut next = self.clone();
        let mut changes = Vec::new();
        let mut errors = Vec::new();

        if let Some(title) = patch.title {
            let title = crate::establishment::required(&mut errors, "title", &title, TITLE_MAX);
            if title != next.title {
                changes.push(FieldChange::public("title", Some(next.title.clone()), Some(title.clone())));
                next.title = title;
            }
        }
        if let Some(description) = patch.description {
            let description = description.trim().to_owned();
            if description.chars().count() > DESCRIPTION_MAX {
                errors.push(FieldError::new("description", "the description is too long"));
            } else if description != next.description {
                changes.push(FieldChange::public("description", None, None));
                next.description = description;
            }
        }
        if let Some(reproduction) = patch.reproduction {
            reproduction.validate(&mut errors);
            if reproduction != next.reproduction {
                changes.push(FieldChange::public("reproduction", next.reproduction.summary(), reproduction.summary()));
                next.reproduction = reproduction;
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }

        if let Some(ticket_type) = patch.ticket_type.filter(|t| *t != next.ticket_type) {
            let workflow = workflows.get(ticket_type)?;
            changes.push(FieldChange::public(
                "type",
                Some(next.ticket_type.to_string()),
                Some(ticket_type.to_string()),
            ));
            next.ticket_type = ticket_type;
            // A status the new workflow does not know restarts the ticket there.
            if workflow.status(&next.status).is_none() {
                let initial = workflow.initial().ok_or_else(|| DomainError::field("type", "no initial status"))?;
                changes.push(FieldChange::public("status", Some(next.status.clone()), Some(initial.code.clone())));
                next.status = initial.code.clone();
            }
        }
        if let Some(priority) = patch.priority.filter(|p| *p != next.priority) {
            changes.push(FieldChange::public("priority", Some(next.priority.to_string()), Some(priority.to_string())));
            next.priority = priority;
        }
        if let Some(category) = patch.category.filter(|c| *c != next.category) {
            let old = next.category.as_ref().map(|c| c.code.clone());
            changes.push(FieldChange::public("category", old, category.as_ref().map(|c| c.code.clone())));
            next.category = category;
        }
        if let Some(assignee) = patch.assignee.filter(|a| *a != next.assignee) {
            let old = next.assignee.as_ref().map(|a| a.name.clone());
            changes.push(FieldChange::public("assignee", old, assignee.as_ref().map(|a| a.name.clone())));
            next.assignee = assignee;
        }
        if let Some(tier) = patch.tier.filter(|t| *t != next.tier) {
            // Hand-overs between levels are the desk's business, not the requester's.
            changes.push(FieldChange::internal("tier", Some(next.tier.to_string()), Some(tier.to_string())));
            next.tier = tier;
        }
        if let Some(resolution) = patch.resolution.filter(|r| *r != next.resolution) {
            changes.push(FieldChange::public("resolution", opt_str(next.resolution), opt_str(resolution)));
            next.resolution = resolution;
        }
        if let Some(status) = patch.status.filter(|s| *s != next.status) {
            let workflow = workflows.get(next.ticket_type)?;
            let from = workflow.status(&next.status).map(|s| s.category);
            let target = workflow.check(&next.status, &status, by_requester)?;
            changes.push(FieldChange::public("status", Some(next.status.clone()), Some(status.clone())));
            next.status = status;
            match (from, target.category) {
                (_, StatusCategory::Resolved) => {
                    if next.ticket_type != TicketType::Evolution && next.resolution.is_none() {
                        return Err(DomainError::field(
                            "resolution",
                            "a resolution category is needed to resolve a request",
                        ));
                    }
                    next.resolved_at = Some(now);
                }
                (_, StatusCategory::Closed) => {
                    next.resolved_at.get_or_insert(now);
                    next.closed_at = Some(now);
                }
                (Some(StatusCategory::Resolved | StatusCategory::Closed), _) => {
                    // Reopened: the earlier resolution no longer holds.
                    next.resolved_at = None;
                    next.closed_at = None;
                    if let Some(old) = next.resolution.take() {
                        changes.push(FieldChange::public("resolution", Some(old.to_string()), None));
                    }
                }
                _ => {}
            }
        }
        if !changes.is_empty() {
            next.updated_at = now;
        }
        *self = next;
        Ok(changes)
    }
}

/// Formats a ticket key such as `SUP-123`.
pub fn format_key(prefix: &str, id: TicketId) -> String {
    format!("{prefix}-{id}")
}

/// Reads a ticket key (`SUP-123`, case-insensitive) back into its id.
pub fn parse_key(prefix: &str, key: &str) -> Option<TicketId> {
    let (p, n) = key.trim().rsplit_once('-')?;
    if !p.eq_ignore_ascii_case(prefix) || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok().filter(|n| *n > 0).map(TicketId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Role;
    use crate::workflow::tests::sample;

    fn actor(role: Role) -> Actor {
        Actor { user: UserId(1), role, establishments: vec![EstablishmentId(1)] }
    }

    fn ticket() -> Ticket {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        Ticket {
            id: TicketId(1),
            title: "Mot de passe élève".into(),
            description: "L'élève n'a pas d'adresse".into(),
            ticket_type: TicketType::Unclassified,
            status: "new".into(),
            priority: Priority::Normal,
            category: None,
            channel: Channel::Phone,
            tier: Tier::Support,
            requester: UserRef { id: UserId(2), name: "Admin local".into() },
            establishment: EstablishmentId(1),
            assignee: None,
            reproduction: Reproduction::default(),
            resolution: None,
            created_at: t0,
            updated_at: t0,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            version: 1,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(5)
    }

    #[test]
    fn keys_round_trip_and_reject_other_prefixes() {
        assert_eq!(format_key("SUP", TicketId(123)), "SUP-123");
        assert_eq!(parse_key("SUP", "sup-123"), Some(TicketId(123)));
        assert_eq!(parse_key("SUP", "OPS-123"), None);
        assert_eq!(parse_key("SUP", "SUP-"), None);
        assert_eq!(parse_key("SUP", "SUP-0"), None);
        assert_eq!(parse_key("SUP", "SUP-1x"), None);
    }

    #[test]
    fn classifying_keeps_the_status_the_new_workflow_knows() {
        let mut t = ticket();
        let patch = TicketPatch { ticket_type: Some(TicketType::Anomaly), ..Default::default() };
        let changes = t.apply(patch, &actor(Role::Agent), &sample(), now()).unwrap();
        assert_eq!(t.status, "new");
        assert_eq!(changes.len(), 1);
        assert_eq!(t.updated_at, now());
    }

    #[test]
    fn classifying_as_evolution_restarts_at_its_initial_status() {
        let mut t = ticket();
        t.status = "in_progress".into();
        let patch = TicketPatch { ticket_type: Some(TicketType::Evolution), ..Default::default() };
        let changes = t.apply(patch, &actor(Role::Agent), &sample(), now()).unwrap();
        assert_eq!(t.status, "submitted");
        assert_eq!(changes[1].field, "status");
    }

    #[test]
    fn resolving_needs_a_resolution_and_stamps_the_time() {
        let mut t = ticket();
        let resolve = TicketPatch { status: Some("resolved".into()), ..Default::default() };
        let err = t.clone().apply(resolve.clone(), &actor(Role::Agent), &sample(), now()).unwrap_err();
        assert_eq!(err, DomainError::field("resolution", "a resolution category is needed to resolve a request"));
        let with = TicketPatch { resolution: Some(Some(Resolution::Answered)), ..resolve };
        t.apply(with, &actor(Role::Agent), &sample(), now()).unwrap();
        assert_eq!(t.resolved_at, Some(now()));
    }

    #[test]
    fn requester_reopening_clears_the_resolution() {
        let mut t = ticket();
        t.status = "resolved".into();
        t.resolution = Some(Resolution::Answered);
        t.resolved_at = Some(now());
        let patch = TicketPatch { status: Some("in_progress".into()), ..Default::default() };
        let changes = t.apply(patch, &actor(Role::Requester), &sample(), now()).unwrap();
        assert_eq!((t.resolution, t.resolved_at), (None, None));
        assert_eq!(changes.iter().map(|c| c.field).collect::<Vec<_>>(), ["status", "resolution"]);
    }

    #[test]
    fn requester_cannot_change_desk_fields() {
        let mut t = ticket();
        let before = t.clone();
        let patch =
            TicketPatch { priority: Some(Priority::Critical), tier: Some(Tier::Technical), ..Default::default() };
        let err = t.apply(patch, &actor(Role::Requester), &sample(), now()).unwrap_err();
        assert!(matches!(err, DomainError::Validation(ref e) if e.len() == 2));
        assert_eq!(t, before);
    }

    #[test]
    fn a_refused_patch_changes_nothing() {
        let mut t = ticket();
        let before = t.clone();
        let patch = TicketPatch { priority: Some(Priority::High), status: Some("closed".into()), ..Default::default() };
        assert!(t.apply(patch, &actor(Role::Agent), &sample(), now()).is_err());
        assert_eq!(t, before);
    }

    #[test]
    fn a_school_administrator_works_a_help_request_but_cannot_move_it_between_tiers() {
        let workflows = sample();
        let mut t = ticket();
        t.tier = Tier::Establishment;
        let resolve = TicketPatch {
            status: Some("resolved".into()),
            resolution: Some(Some(Resolution::Answered)),
            ..Default::default()
        };
        assert!(t.clone().apply(resolve, &actor(Role::Requester), &workflows, t.created_at).is_ok());
        let escalate = TicketPatch { tier: Some(Tier::Support), ..Default::default() };
        assert!(t.apply(escalate, &actor(Role::Requester), &workflows, t.created_at).is_err());
    }

    #[test]
    fn tier_changes_are_internal_history() {
        let mut t = ticket();
        let patch = TicketPatch { tier: Some(Tier::Technical), ..Default::default() };
        let changes = t.apply(patch, &actor(Role::Agent), &sample(), now()).unwrap();
        assert!(changes[0].internal);
    }

    #[test]
    fn a_patch_that_changes_nothing_records_nothing() {
        let mut t = ticket();
        let patch =
            TicketPatch { priority: Some(Priority::Normal), title: Some(t.title.clone()), ..Default::default() };
        assert!(t.apply(patch, &actor(Role::Agent), &sample(), now()).unwrap().is_empty());
        assert_eq!(t.updated_at, DateTime::<Utc>::UNIX_EPOCH);
    }

    #[test]
    fn requester_may_not_file_by_phone_nor_set_a_priority() {
        let draft = TicketDraft {
            title: "x".into(),
            priority: Some(Priority::Critical),
            channel: Some(Channel::Phone),
            ..Default::default()
        };
        let err = NewTicket::from_draft(draft, &actor(Role::Requester), UserId(1), EstablishmentId(1), &sample());
        assert!(matches!(err, Err(DomainError::Validation(e)) if e.len() == 2));
    }

    #[test]
    fn new_ticket_starts_at_its_workflow_initial_status() {
        let draft =
            TicketDraft { title: "Évolution".into(), ticket_type: Some(TicketType::Evolution), ..Default::default() };
        let t = NewTicket::from_draft(draft, &actor(Role::Agent), UserId(1), EstablishmentId(1), &sample()).unwrap();
        assert_eq!((t.status.as_str(), t.channel), ("submitted", Channel::Api));
    }
}
