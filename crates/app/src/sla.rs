//! Keeping each ticket's service-level clocks up to date: on every change
//! that moves them, and periodically for the clocks that run by themselves.

use crate::notify::{Notice, Recipient};
use crate::{App, AppError};
use guichet_domain::history::FieldChange;
use guichet_domain::ids::TicketId;
use guichet_domain::sla::{evaluate, Facts, SlaState};
use guichet_domain::workflow::StatusCategory;
use guichet_store::tickets::SlaRecord;
use guichet_store::Conn;

impl App {
    /// The periods when the ticket's clock stood still, from its history.
    async fn pauses(
        &self,
        conn: &mut Conn,
        id: TicketId,
    ) -> Result<Vec<(chrono::DateTime<chrono::Utc>, Option<chrono::DateTime<chrono::Utc>>)>, AppError> {
        let waiting = self.workflows().codes_in(&[StatusCategory::Waiting]);
        let technical_pauses = self.sla_policy().pause_at_technical_tier;
        let events = guichet_store::events::list_events(conn, id, true).await?;
        let mut pauses = Vec::new();
        let (mut waiting_now, mut technical_now, mut school_now) = (false, false, false);
        let mut since = None;
        for e in events {
            match e.field.as_str() {
                "status" => waiting_now = e.new.as_ref().is_some_and(|s| waiting.contains(s)),
                "tier" => {
                    // A HELP request's time with its school is not level 1's.
                    school_now = e.new.as_deref() == Some("establishment");
                    technical_now = technical_pauses && e.new.as_deref() == Some("technical");
                }
                _ => continue,
            }
            let paused = waiting_now || technical_now || school_now;
            match (paused, since) {
                (true, None) => since = Some(e.at),
                (false, Some(start)) => {
                    pauses.push((start, Some(e.at)));
                    since = None;
                }
                _ => {}
            }
        }
        if let Some(start) = since {
            pauses.push((start, None));
        }
        Ok(pauses)
    }

    /// Recomputes and stores a ticket's clocks; a clock that has just been
    /// breached is written in the history.
    pub async fn refresh_sla(&self, conn: &mut Conn, id: TicketId) -> Result<SlaState, AppError> {
        let record = guichet_store::tickets::find_ticket(conn, id, &guichet_domain::actor::TicketScope::All).await?;
        let t = &record.ticket;
        // Service levels are level 1's and 2's promises, not a school's.
        if t.tier == guichet_domain::ticket::Tier::Establishment {
            guichet_store::tickets::clear_sla_next_check(conn, &[id]).await?;
            return Ok(SlaState::Ok);
        }
        let facts = Facts {
            ticket_type: t.ticket_type,
            priority: t.priority,
            created_at: t.created_at,
            first_response_at: t.first_response_at,
            resolved_at: t.resolved_at,
            pauses: self.pauses(conn, id).await?,
        };
        let assignee = t.assignee.as_ref().map(|a| a.id);
        self.record_sla(conn, id, &facts, record.sla.state, assignee).await
    }

    /// The clocks of a ticket about to be filed, from what its filing knows
    /// (no reply, no pause, no earlier state), stored with the ticket itself;
    /// `None` for a school's own HELP request, which has none.
    pub(crate) fn opening_sla(
        &self,
        new: &guichet_domain::ticket::NewTicket,
        created_at: chrono::DateTime<chrono::Utc>,
    ) -> Option<guichet_domain::sla::Status> {
        if new.tier == guichet_domain::ticket::Tier::Establishment {
            return None;
        }
        let facts = Facts {
            ticket_type: new.ticket_type,
            priority: new.priority,
            created_at,
            first_response_at: None,
            resolved_at: None,
            pauses: Vec::new(),
        };
        Some(evaluate(&self.calendar(), &self.sla_policy(), &facts, created_at))
    }

    /// A ticket born at risk (a policy whose threshold is zero) is said to
    /// the agent holding it, like any clock that worsens.
    pub(crate) async fn announce_opening_sla(
        &self,
        conn: &mut Conn,
        id: TicketId,
        state: SlaState,
        assignee: Option<guichet_domain::ids::UserId>,
    ) -> Result<(), AppError> {
        if matches!(state, SlaState::AtRisk | SlaState::Breached) {
            self.notify_agents(conn, id, assignee, None, Notice::Sla { state }).await?;
        }
        Ok(())
    }

    /// Evaluates and stores the clocks; a breach goes to the history, and a
    /// worsening to the agent holding the ticket.
    async fn record_sla(
        &self,
        conn: &mut Conn,
        id: TicketId,
        facts: &Facts,
        before: Option<SlaState>,
        assignee: Option<guichet_domain::ids::UserId>,
    ) -> Result<SlaState, AppError> {
        let now = self.now();
        let status = evaluate(&self.calendar(), &self.sla_policy(), facts, now);
        let sla = SlaRecord {
            first_response_due: status.first_response.due,
            resolution_due: status.resolution.due,
            state: Some(status.state),
        };
        guichet_store::tickets::update_sla(conn, id, &sla, status.next_check, now).await?;
        if status.state == SlaState::Breached && before != Some(SlaState::Breached) {
            metrics::counter!("guichet_sla_breaches_total").increment(1);
            let change = FieldChange::internal("sla", before.map(|s| s.to_string()), Some(status.state.to_string()));
            self.record_history(conn, id, None, &[change], now).await?;
        }
        // The agent holding the ticket (else the agents on duty) hears of it
        // once when it becomes at risk and once when it is late.
        let worsened = !matches!(
            (before, status.state),
            (Some(SlaState::Breached), _) | (_, SlaState::Ok) | (Some(SlaState::AtRisk), SlaState::AtRisk)
        );
        if worsened && facts.resolved_at.is_none() {
            self.notify_agents(conn, id, assignee, None, Notice::Sla { state: status.state }).await?;
        }
        Ok(status.state)
    }

    /// One step of the periodic job: up to `batch` tickets whose clocks may
    /// have turned by `now` (at risk, late), soonest first. Returns how many
    /// were looked at; each leaves the queue or moves to its next instant.
    pub async fn refresh_due_slas(&self, now: chrono::DateTime<chrono::Utc>, batch: i64) -> Result<usize, AppError> {
        self.refresh_due_slas_under(now, batch, None).await
    }

    /// [`App::refresh_due_slas`] under a lease: nothing is written once the
    /// lease is another node's.
    pub async fn refresh_due_slas_under(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        batch: i64,
        fence: Option<&crate::leases::Fence>,
    ) -> Result<usize, AppError> {
        let open = self.open_statuses(true);
        let mut conn = self.db.conn().await?;
        let due = guichet_store::tickets::list_sla_due_for_check(&mut conn, now, batch).await?;
        drop(conn);
        let (running, ended): (Vec<_>, Vec<_>) = due.iter().partition(|(_, status)| open.contains(status));
        let mut tx = self.db.begin().await?;
        self.check_fence(&mut tx, fence).await?;
        for (id, _) in &running {
            self.refresh_sla(&mut tx, *id).await?;
        }
        let ended: Vec<TicketId> = ended.into_iter().map(|(id, _)| *id).collect();
        guichet_store::tickets::clear_sla_next_check(&mut tx, &ended).await?;
        tx.commit().await?;
        Ok(due.len())
    }
}

impl App {
    /// The automatic end of a ticket's life: resolved tickets close after
    /// the configured open days; tickets left waiting on the requester are
    /// resolved as "no answer" when that rule is on. Returns how many moved.
    pub async fn run_automations(&self) -> Result<usize, AppError> {
        self.run_automations_under(None).await
    }

    /// [`App::run_automations`] under a lease. Each change re-reads its
    /// ticket, locked, and checks that it still qualifies: a second run (on
    /// another node, or after a crash) changes nothing and sends nothing twice.
    pub async fn run_automations_under(&self, fence: Option<&crate::leases::Fence>) -> Result<usize, AppError> {
        use guichet_domain::actor::{Actor, TicketScope};
        use guichet_domain::ticket::{Resolution, TicketPatch};
        let policy = self.sla_policy();
        let calendar = self.calendar();
        let now = self.now();
        let codes = |category: StatusCategory| self.workflows().codes_in(&[category]);
        // The system acts with the desk's rights; its history entries have no author.
        let system = Actor {
            user: guichet_domain::ids::UserId(0),
            role: guichet_domain::user::Role::Admin,
            establishments: vec![],
        };
        let mut plans: Vec<(TicketId, TicketPatch)> = Vec::new();
        let mut conn = self.db.conn().await?;
        let before = calendar.open_days_before(now, policy.close_resolved_after_days);
        let resolved = codes(StatusCategory::Resolved);
        for id in guichet_store::tickets::list_stale_in_status(&mut conn, &resolved, before, None, 500).await? {
            plans.push((id, TicketPatch { status: Some("closed".into()), ..TicketPatch::default() }));
        }
        let mut reminders = Vec::new();
        let mut remind_before = now;
        let resolved_before = before;
        let mut unanswered_before = now;
        let waiting = codes(StatusCategory::Waiting);
        if let Some(days) = policy.resolve_unanswered_after_days {
            // One reminder halfway, then the resolution.
            remind_before = calendar.open_days_before(now, days.div_ceil(2).max(1));
            reminders =
                guichet_store::tickets::list_stale_in_status(&mut conn, &waiting, remind_before, Some("reminder"), 500)
                    .await?;
            unanswered_before = calendar.open_days_before(now, days);
            for id in
                guichet_store::tickets::list_stale_in_status(&mut conn, &waiting, unanswered_before, None, 500).await?
            {
                let patch = TicketPatch {
                    status: Some("resolved".into()),
                    resolution: Some(Some(Resolution::NoAnswer)),
                    ..TicketPatch::default()
                };
                plans.push((id, patch));
            }
        }
        drop(conn);
        // A ticket resolved now needs no reminder first.
        reminders.retain(|id| !plans.iter().any(|(p, _)| p == id));
        let mut moved = 0;
        for id in reminders {
            let mut tx = self.db.begin().await?;
            self.check_fence(&mut tx, fence).await?;
            // Locked and looked at again: still waiting, still without a reminder.
            guichet_store::tickets::find_ticket(&mut tx, id, &TicketScope::All).await?;
            if !guichet_store::tickets::is_stale_in_status(&mut tx, id, &waiting, remind_before, Some("reminder"))
                .await?
            {
                continue;
            }
            let change = FieldChange::public("reminder", None, Some("sent".into()));
            self.record_history(&mut tx, id, None, &[change], now).await?;
            self.notify(&mut tx, id, Recipient::Requester, Notice::Reminder).await?;
            tx.commit().await?;
            moved += 1;
        }
        for (id, patch) in plans {
            let mut tx = self.db.begin().await?;
            self.check_fence(&mut tx, fence).await?;
            let mut ticket = guichet_store::tickets::find_ticket(&mut tx, id, &TicketScope::All).await?.ticket;
            // Still as it was listed (an agent may have reopened it since).
            let (statuses, cutoff) = if patch.status.as_deref() == Some("closed") {
                (&resolved, resolved_before)
            } else {
                (&waiting, unanswered_before)
            };
            if !guichet_store::tickets::is_stale_in_status(&mut tx, id, statuses, cutoff, None).await? {
                continue;
            }
            // A workflow without that transition (an evolution's "declined") is left alone.
            let before = ticket.clone();
            let Ok(changes) = ticket.apply(patch, &system, &self.workflows(), now) else { continue };
            guichet_store::tickets::update_ticket(&mut tx, &ticket).await?;
            self.record_history(&mut tx, id, None, &changes, now).await?;
            self.refresh_sla(&mut tx, id).await?;
            self.notify_status_change(&mut tx, &before, &ticket, None).await?;
            tx.commit().await?;
            moved += 1;
        }
        // Reminders of satisfaction surveys ride on the same clock; they move no ticket.
        self.send_survey_reminders(fence).await?;
        Ok(moved)
    }
}
