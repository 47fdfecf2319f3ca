//! Moving a ticket along the chain (school → level 1 → level 2 and back),
//! linking tickets, and merging a duplicate into its original.

use crate::auth::Principal;
use crate::notify::{Notice, Recipient};
use crate::tickets::TicketDetails;
use crate::{App, AppError};
use guichet_domain::actor::TicketScope;
use guichet_domain::history::FieldChange;
use guichet_domain::ids::TicketId;
use guichet_domain::incident::{Handover, LinkKind};
use guichet_domain::ticket::{Channel, Resolution, Ticket, Tier, UserRef};
use guichet_domain::user::Role;
use guichet_store::incidents::Link;

/// The tickets of one level's view. Level 1's is an exclusion rather than a
/// list of its tiers: `tier <> …` leaves the planner to the filter's own index,
/// where `tier IN (…)` made it count every open ticket through the tier index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelView {
    Everything,
    Only(Tier),
    Except(Tier),
}

impl LevelView {
    pub fn apply(self, filter: &mut guichet_store::tickets::TicketFilter) {
        match self {
            LevelView::Everything => {}
            LevelView::Only(tier) => filter.tiers = vec![tier],
            LevelView::Except(tier) => filter.not_tier = Some(tier),
        }
    }

    /// The same, as a condition of the query language.
    pub fn condition(self) -> Option<String> {
        match self {
            LevelView::Everything => None,
            LevelView::Only(tier) => Some(format!("tier = {tier}")),
            LevelView::Except(tier) => Some(format!("tier != {tier}")),
        }
    }
}

/// A link as an actor reads it, with the other ticket's key.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub link: Link,
    pub other_key: String,
}

impl App {
    /// Escalates, hands back or forwards a ticket. Escalating and handing back
    /// are the desk's and need a summary, kept as an internal note and in the
    /// history; a school's administrator forwards a HELP request to level 1
    /// and becomes its requester.
    pub async fn hand_over(
        &self,
        p: &Principal,
        key: &str,
        handover: Handover,
        summary: &str,
    ) -> Result<TicketDetails, AppError> {
        let staff = p.actor.role.is_staff();
        if handover != Handover::Forward && !staff {
            return Err(AppError::Forbidden("only the desk escalates or hands back a request".into()));
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let record = self.visible_ticket(&mut tx, p, key).await?;
        // At the wrong level, the request conflicts with the ticket's state (409), not with its wording.
        if record.ticket.tier != handover.from_to().0 {
            let e = handover.check(record.ticket.tier, summary).err().map(|e| e.to_string()).unwrap_or_default();
            return Err(AppError::Conflict { field: "tier".into(), message: e });
        }
        let summary = handover.check(record.ticket.tier, summary)?;
        let (from, to) = handover.from_to();
        let mut ticket = record.ticket.clone();
        ticket.tier = to;
        ticket.updated_at = now;
        let mut changes = vec![FieldChange::internal("tier", Some(from.to_string()), Some(to.to_string()))];
        if handover == Handover::Escalate {
            // Level 2 picks it from its own queue.
            if let Some(old) = ticket.assignee.take() {
                changes.push(FieldChange::public("assignee", Some(old.name), None));
            }
        }
        let mut new_requester = None;
        if handover == Handover::Forward && p.actor.role == Role::Requester && ticket.requester.id != p.user.id {
            changes.push(FieldChange::public(
                "requester",
                Some(ticket.requester.name.clone()),
                Some(p.user.name.clone()),
            ));
            ticket.requester = UserRef { id: p.user.id, name: p.user.name.clone() };
            new_requester = Some(p.user.id);
        }
        if !summary.is_empty() {
            changes.push(FieldChange::internal("handover", None, Some(summary.clone())));
        }
        guichet_store::tickets::update_ticket(&mut tx, &ticket).await?;
        if let Some(requester) = new_requester {
            guichet_store::tickets::set_requester(&mut tx, ticket.id, requester).await?;
        }
        self.record_history(&mut tx, ticket.id, Some(p.user.id), &changes, now).await?;
        if !summary.is_empty() {
            let note = match handover {
                Handover::Escalate => format!("**Transmise au niveau 2.**\n\n{summary}"),
                Handover::HandBack => format!("**Rendue au niveau 1.**\n\n{summary}"),
                Handover::Forward => format!("**Transmise au support.**\n\n{summary}"),
            };
            // A forward's words are the school's, meant for level 1 to read.
            let internal = handover != Handover::Forward || staff;
            let author = p.clone();
            let new = guichet_store::comments::NewComment {
                ticket: ticket.id,
                author: author.user.id,
                body: &note,
                internal,
                channel: Channel::Portal,
            };
            guichet_store::comments::insert_comment(&mut tx, &new, now).await?;
        }
        self.refresh_sla(&mut tx, ticket.id).await?;
        if handover == Handover::Escalate {
            self.queue_jira_issue(&mut tx, ticket.id, &summary).await?;
        }
        if handover == Handover::Forward {
            self.notify_agents(&mut tx, ticket.id, None, Some(p.user.id), Notice::NewTicket).await?;
        }
        let record = guichet_store::tickets::find_ticket(&mut tx, ticket.id, &p.actor.scope()).await?;
        let details = self.details(&mut tx, record).await?;
        tx.commit().await?;
        tracing::info!(ticket = key, from = %from, to = %to, "hand-over");
        Ok(details)
    }

    /// The links of a ticket the actor may see (a requester only sees the
    /// tickets of their establishments at the other end).
    pub async fn links(&self, p: &Principal, key: &str) -> Result<Vec<LinkView>, AppError> {
        let mut conn = self.db.conn().await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        self.links_of(&mut conn, p, record.ticket.id).await
    }

    /// [`App::links`] for a ticket already checked visible.
    pub(crate) async fn links_of(
        &self,
        conn: &mut guichet_store::Conn,
        p: &Principal,
        ticket: TicketId,
    ) -> Result<Vec<LinkView>, AppError> {
        let links = guichet_store::incidents::list_links(conn, ticket).await?;
        Ok(links
            .into_iter()
            .filter(|l| p.actor.can_see_establishment(l.other_establishment))
            .map(|link| LinkView { other_key: self.key(link.other), link })
            .collect())
    }

    /// The ticket acted on and the other one a form names in `field`: both
    /// visible to the actor, and not the same.
    async fn ticket_pair(
        &self,
        tx: &mut guichet_store::Conn,
        p: &Principal,
        key: &str,
        other: &str,
        field: &str,
    ) -> Result<(Ticket, Ticket), AppError> {
        let first = self.visible_ticket(tx, p, key).await?.ticket;
        let second = self.visible_ticket(tx, p, other).await.map_err(|_| AppError::NotFound("ticket"))?.ticket;
        if first.id == second.id {
            return Err(AppError::field(field, "a request cannot be paired with itself"));
        }
        Ok((first, second))
    }

    /// Links two tickets (the desk). A ticket is not linked to itself.
    pub async fn link_tickets(&self, p: &Principal, key: &str, kind: LinkKind, other: &str) -> Result<(), AppError> {
        Self::require_staff(p, "link requests")?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let (from, to) = self.ticket_pair(&mut tx, p, key, other, "other").await?;
        if guichet_store::incidents::insert_link(&mut tx, from.id, kind, to.id, p.user.id, now).await? {
            let value = Some(format!("{kind} {}", self.key(to.id)));
            // Another school's key is for the desk's eyes only.
            let change = if from.establishment == to.establishment {
                FieldChange::public("link", None, value)
            } else {
                FieldChange::internal("link", None, value)
            };
            self.record_history(&mut tx, from.id, Some(p.user.id), &[change], now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn unlink_tickets(&self, p: &Principal, key: &str, kind: LinkKind, other: &str) -> Result<(), AppError> {
        Self::require_staff(p, "link requests")?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let (from, to) = self.ticket_pair(&mut tx, p, key, other, "other").await?;
        if !guichet_store::incidents::delete_link(&mut tx, from.id, kind, to.id).await? {
            return Err(AppError::NotFound("link"));
        }
        let value = Some(format!("{kind} {}", self.key(to.id)));
        let change = if from.establishment == to.establishment {
            FieldChange::public("link", value, None)
        } else {
            FieldChange::internal("link", value, None)
        };
        self.record_history(&mut tx, from.id, Some(p.user.id), &[change], now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Merges a duplicate into its original: replies and files move over, the
    /// duplicate is resolved as such and linked to it, and both requesters
    /// are told where the conversation goes on.
    pub async fn merge_tickets(&self, p: &Principal, key: &str, into: &str) -> Result<TicketDetails, AppError> {
        Self::require_staff(p, "merge requests")?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let (source, target) = self.ticket_pair(&mut tx, p, key, into, "into").await?;
        // A merge moves replies and files, and makes the requester a watcher:
        // across schools it would show one school the other's conversation.
        if source.establishment != target.establishment {
            return Err(AppError::field(
                "into",
                format!(
                    "{} and {} belong to different establishments: a merge would show one school the other's \
                     conversation; link them instead",
                    self.key(source.id),
                    self.key(target.id)
                ),
            ));
        }
        if !target.is_open(&self.workflows()) {
            return Err(AppError::field("into", format!("{} is no longer open", self.key(target.id))));
        }
        let (source_key, target_key) = (self.key(source.id), self.key(target.id));
        guichet_store::incidents::move_conversation(&mut tx, source.id, target.id).await?;
        guichet_store::incidents::insert_link(&mut tx, source.id, LinkKind::DuplicateOf, target.id, p.user.id, now)
            .await?;
        let merged = FieldChange::public("merged_into", None, Some(target_key.clone()));
        self.record_history(&mut tx, source.id, Some(p.user.id), &[merged], now).await?;
        let received = FieldChange::public("merged_from", None, Some(source_key.clone()));
        self.record_history(&mut tx, target.id, Some(p.user.id), &[received], now).await?;
        if source.is_open(&self.workflows()) {
            self.resolve_quietly(&mut tx, p, source.id, Resolution::Duplicate).await?;
        }
        if source.requester.id != target.requester.id {
            guichet_store::tickets::add_watcher(&mut tx, target.id, source.requester.id).await?;
        }
        self.notify(&mut tx, source.id, Recipient::Requester, Notice::Duplicate { original: &target_key }).await?;
        self.notify(&mut tx, target.id, Recipient::Requester, Notice::Merged { duplicate: &source_key }).await?;
        let record = guichet_store::tickets::find_ticket(&mut tx, target.id, &TicketScope::All).await?;
        let details = self.details(&mut tx, record).await?;
        tx.commit().await?;
        Ok(details)
    }

    /// What a person's queues and dashboard show by default: level 2 what
    /// was escalated to it, level 1 everything but the schools' own HELP
    /// requests, a requester all of their establishments' requests.
    pub fn level_view(p: &Principal) -> LevelView {
        match p.actor.role {
            Role::Technician => LevelView::Only(Tier::Technical),
            Role::Agent | Role::Admin => LevelView::Except(Tier::Establishment),
            Role::Requester => LevelView::Everything,
        }
    }
}

impl App {
    /// Who looked at a HELP sender's address: once per reader, ticket and
    /// day in the privacy audit log. A write, so the caller gives its
    /// reading connection back first.
    pub(crate) async fn contact_seen(
        &self,
        p: &Principal,
        ticket: TicketId,
        contact: Option<&guichet_store::incidents::Contact>,
    ) -> Result<(), AppError> {
        // The operator (command line, id 0) is no account to record.
        if p.user.id.0 <= 0 || contact.is_none_or(|c| c.email.is_none()) {
            return Ok(());
        }
        use guichet_store::privacy::{audited_since, insert_audit};
        const ACTION: &str = "help_contact_viewed";
        let key = self.key(ticket);
        let now = self.now();
        let subject = format!("ticket:{key}");
        let mut tx = self.db.begin().await?;
        if !audited_since(&mut tx, p.user.id, ACTION, &subject, now - chrono::Duration::days(1)).await? {
            insert_audit(&mut tx, now, Some(p.user.id), ACTION, &subject, "{}").await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
