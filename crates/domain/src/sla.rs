//! Service levels: targets for the first public response and for the
//! resolution, per type and priority, counted in the desk's business time and
//! paused while the ticket waits on the requester. Pure: the history of the
//! ticket's pauses and the instant are given.

use crate::calendar::Calendar;
use crate::ticket::{Priority, TicketType};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

crate::vocabulary!(
    /// Where a ticket stands against its service levels.
    SlaState, "sla", {
        Ok => "ok",
        AtRisk => "at_risk",
        Breached => "breached",
        Met => "met",
        Paused => "paused",
        None => "none",
    }
);

/// Targets in business minutes; `None` means no target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    pub first_response_minutes: Option<i64>,
    pub resolution_minutes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `[type, priority, {first_response_minutes, resolution_minutes}]`; a missing
    /// pair falls back to the type's normal priority.
    #[schema(value_type = Vec<Object>)]
    pub targets: Vec<(TicketType, Priority, Targets)>,
    /// Share of a target consumed from which a ticket is at risk.
    pub at_risk_ratio: f64,
    /// Whether time at the technical tier (level 2) also pauses the clock.
    pub pause_at_technical_tier: bool,
    /// Resolved tickets close after this many open days without a reopening.
    #[serde(default = "default_close_after")]
    pub close_resolved_after_days: u32,
    /// Tickets waiting on the requester this many open days are resolved as
    /// "no answer"; `None` (the default) leaves them waiting.
    #[serde(default)]
    pub resolve_unanswered_after_days: Option<u32>,
}

fn default_close_after() -> u32 {
    5
}

const HOUR: i64 = 60;
/// One business day of the default desk (12:00 to 19:00).
const DAY: i64 = 7 * HOUR;

impl Default for Policy {
    /// Sensible targets for a level-1 desk open seven hours a day.
    fn default() -> Self {
        let t = |fr: i64, res: Option<i64>| Targets { first_response_minutes: Some(fr), resolution_minutes: res };
        let mut targets = Vec::new();
        for ty in [TicketType::Unclassified, TicketType::Assistance, TicketType::Anomaly] {
            targets.extend([
                (ty, Priority::Critical, t(2 * HOUR, Some(DAY))),
                (ty, Priority::High, t(4 * HOUR, Some(3 * DAY))),
                (ty, Priority::Normal, t(DAY, Some(5 * DAY))),
                (ty, Priority::Low, t(2 * DAY, Some(10 * DAY))),
            ]);
        }
        // Evolutions are answered, then weighed by a committee: no resolution target.
        for p in [Priority::Critical, Priority::High, Priority::Normal, Priority::Low] {
            targets.push((TicketType::Evolution, p, t(2 * DAY, None)));
        }
        Self {
            targets,
            at_risk_ratio: 0.8,
            pause_at_technical_tier: false,
            close_resolved_after_days: default_close_after(),
            resolve_unanswered_after_days: None,
        }
    }
}

/// The longest target: about ten years of a seven-hour business day. Beyond
/// it a target is a typo, and date arithmetic on it could overflow.
pub const MAX_TARGET_MINUTES: i64 = 1_000_000;
/// The longest delay, in open days, before an automatic closure or resolution.
pub const MAX_AUTOMATION_DAYS: u32 = 365;

impl Policy {
    /// Checks every value against its bounds, naming the first field at fault.
    pub fn validate(&self) -> Result<(), crate::DomainError> {
        if !(0.0..=1.0).contains(&self.at_risk_ratio) {
            return Err(crate::DomainError::field("at_risk_ratio", "`at_risk_ratio` is between 0 and 1"));
        }
        let out_of_range = |m: Option<i64>| m.is_some_and(|m| !(1..=MAX_TARGET_MINUTES).contains(&m));
        if self
            .targets
            .iter()
            .any(|(_, _, t)| out_of_range(t.first_response_minutes) || out_of_range(t.resolution_minutes))
        {
            return Err(crate::DomainError::field(
                "targets",
                format!("targets are between 1 and {MAX_TARGET_MINUTES} business minutes"),
            ));
        }
        if !(1..=MAX_AUTOMATION_DAYS).contains(&self.close_resolved_after_days) {
            return Err(crate::DomainError::field(
                "close_resolved_after_days",
                format!("`close_resolved_after_days` is between 1 and {MAX_AUTOMATION_DAYS}"),
            ));
        }
        if self.resolve_unanswered_after_days.is_some_and(|d| !(1..=MAX_AUTOMATION_DAYS).contains(&d)) {
            return Err(crate::DomainError::field(
                "resolve_unanswered_after_days",
                format!("`resolve_unanswered_after_days` is between 1 and {MAX_AUTOMATION_DAYS}"),
            ));
        }
        Ok(())
    }

    pub fn targets_for(&self, ticket_type: TicketType, priority: Priority) -> Targets {
        let find = |p| self.targets.iter().find(|(t, pr, _)| *t == ticket_type && *pr == p).map(|(_, _, x)| *x);
        find(priority)
            .or_else(|| find(Priority::Normal))
            .unwrap_or(Targets { first_response_minutes: None, resolution_minutes: None })
    }
}

/// What the clock needs to know about a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub ticket_type: TicketType,
    pub priority: Priority,
    pub created_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Periods when the clock stopped (waiting on the requester…); the last
    /// may still be running.
    pub pauses: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

/// One clock: its due date and state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub due: Option<DateTime<Utc>>,
    pub state: SlaState,
    /// When time alone would next change the state (at risk, then late);
    /// `None` when only a change to the ticket can (stopped, paused, late).
    pub next_change: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub first_response: Clock,
    pub resolution: Clock,
    /// The worst of the two running clocks.
    pub state: SlaState,
    /// The earliest instant either clock changes state by itself: the
    /// periodic job looks at a ticket then, and not before.
    pub next_check: Option<DateTime<Utc>>,
}

fn paused_between(
    calendar: &Calendar,
    pauses: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    until: DateTime<Utc>,
) -> Duration {
    pauses
        .iter()
        .map(|(start, end)| {
            let end = end.unwrap_or(until).min(until);
            if end > *start {
                calendar.business_between(*start, end)
            } else {
                Duration::zero()
            }
        })
        .fold(Duration::zero(), |a, b| a + b)
}

fn clock(
    calendar: &Calendar,
    policy: &Policy,
    facts: &Facts,
    target: Option<i64>,
    stopped_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Clock {
    // Out of range only in a policy stored before targets were bounded: no clock then, rather than a panic.
    let Some(target) = target.filter(|m| (1..=MAX_TARGET_MINUTES).contains(m)).map(Duration::minutes) else {
        return Clock { due: None, state: SlaState::None, next_change: None };
    };
    let until = stopped_at.unwrap_or(now);
    let paused = paused_between(calendar, &facts.pauses, until);
    let due = calendar.add_business(facts.created_at, target + paused);
    let consumed = calendar.business_between(facts.created_at, until) - paused;
    let running_pause = stopped_at.is_none() && facts.pauses.last().is_some_and(|(_, end)| end.is_none());
    let state = match stopped_at {
        Some(at) if due.is_some_and(|d| at > d) => SlaState::Breached,
        Some(_) => SlaState::Met,
        None if consumed >= target => SlaState::Breached,
        None if running_pause => SlaState::Paused,
        None if consumed.num_seconds() as f64 >= target.num_seconds() as f64 * policy.at_risk_ratio => SlaState::AtRisk,
        None => SlaState::Ok,
    };
    let next_change = match state {
        SlaState::Ok => {
            let at_risk_after = Duration::seconds((target.num_seconds() as f64 * policy.at_risk_ratio).ceil() as i64);
            calendar.add_business(facts.created_at, at_risk_after + paused)
        }
        SlaState::AtRisk => due,
        _ => None,
    };
    // Never in the past: a rounding second must not bring the ticket back
    // to the job in the same pass.
    let next_change = next_change.map(|at| at.max(now + Duration::seconds(1)));
    Clock { due, state, next_change }
}

fn rank(state: SlaState) -> u8 {
    match state {
        SlaState::Breached => 5,
        SlaState::AtRisk => 4,
        SlaState::Ok => 3,
        SlaState::Paused => 2,
        SlaState::Met => 1,
        SlaState::None => 0,
    }
}

/// Where a ticket stands at `now`.
pub fn evaluate(calendar: &Calendar, policy: &Policy, facts: &Facts, now: DateTime<Utc>) -> Status {
    let targets = policy.targets_for(facts.ticket_type, facts.priority);
    let first_response = clock(calendar, policy, facts, targets.first_response_minutes, facts.first_response_at, now);
    let resolution = clock(calendar, policy, facts, targets.resolution_minutes, facts.resolved_at, now);
    // A breached clock stays visible even when stopped; otherwise the running one speaks.
    let state = [first_response.state, resolution.state].into_iter().max_by_key(|s| rank(*s)).unwrap_or(SlaState::None);
    let next_check = first_response.next_change.into_iter().chain(resolution.next_change).min();
    Status { first_response, resolution, state, next_check }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn facts(created: &str) -> Facts {
        Facts {
            ticket_type: TicketType::Anomaly,
            priority: Priority::Critical,
            created_at: utc(created),
            first_response_at: None,
            resolved_at: None,
            pauses: Vec::new(),
        }
    }

    #[test]
    fn a_policy_with_a_target_too_large_to_count_is_refused_and_never_evaluated() {
        let mut policy = Policy::default();
        policy.targets[0].2.resolution_minutes = Some(150_000_000_000_000);
        assert_eq!(policy.validate().unwrap_err().to_string(), "targets are between 1 and 1000000 business minutes");
        let facts =
            Facts { ticket_type: policy.targets[0].0, priority: policy.targets[0].1, ..facts("2026-03-27T17:30:00Z") };
        let _ = evaluate(&Calendar::default(), &policy, &facts, facts.created_at + Duration::days(3));
        policy.targets[0].2.resolution_minutes = Some(60);
        policy.close_resolved_after_days = 4_000_000_000;
        assert!(policy.validate().is_err());
        policy.close_resolved_after_days = 5;
        assert!(policy.validate().is_ok());
    }

    #[test]
    fn a_critical_anomaly_filed_on_friday_evening_is_due_on_monday_after_the_dst_change() {
        let (cal, policy) = (Calendar::default(), Policy::default());
        // Friday 2026-03-27 18:30 Paris (17:30 UTC): 30 minutes left that day,
        // then Monday 2026-03-30 from 12:00 Paris, now UTC+2 (10:00 UTC).
        let f = facts("2026-03-27T17:30:00Z");
        let s = evaluate(&cal, &policy, &f, utc("2026-03-27T17:45:00Z"));
        assert_eq!(s.first_response.due, Some(utc("2026-03-30T11:30:00Z")));
        // Resolution: 7 business hours: 30 minutes Friday, 6h30 on Monday.
        assert_eq!(s.resolution.due, Some(utc("2026-03-30T16:30:00Z")));
        assert_eq!(s.state, SlaState::Ok);
        // Monday 13:00 Paris: 1h30 of 2h consumed (75 %): still ok; 13:10: at risk.
        assert_eq!(evaluate(&cal, &policy, &f, utc("2026-03-30T11:00:00Z")).first_response.state, SlaState::Ok);
        assert_eq!(evaluate(&cal, &policy, &f, utc("2026-03-30T11:10:00Z")).first_response.state, SlaState::AtRisk);
        assert_eq!(evaluate(&cal, &policy, &f, utc("2026-03-30T11:30:00Z")).state, SlaState::Breached);
    }

    #[test]
    fn the_next_check_falls_when_a_clock_turns_at_risk_then_late_and_never_after() {
        let (cal, policy) = (Calendar::default(), Policy::default());
        // The critical anomaly above: at risk at Monday 13:06 Paris (96 of 120
        // minutes), late at 13:30; its resolution clock turns later.
        let f = facts("2026-03-27T17:30:00Z");
        let s = evaluate(&cal, &policy, &f, utc("2026-03-27T17:45:00Z"));
        assert_eq!(s.first_response.next_change, Some(utc("2026-03-30T11:06:00Z")));
        assert_eq!(s.next_check, Some(utc("2026-03-30T11:06:00Z")));
        let s = evaluate(&cal, &policy, &f, utc("2026-03-30T11:10:00Z"));
        assert_eq!(s.next_check, Some(utc("2026-03-30T11:30:00Z")));
        // Late on the response: the resolution clock (7 h, at risk after 5 h 36) speaks next.
        let s = evaluate(&cal, &policy, &f, utc("2026-03-30T11:31:00Z"));
        assert_eq!(s.first_response.next_change, None);
        assert_eq!(s.next_check, Some(utc("2026-03-30T15:06:00Z")));
        // Answered and resolved: nothing changes by itself any more.
        let mut done = f.clone();
        done.first_response_at = Some(utc("2026-03-30T11:00:00Z"));
        done.resolved_at = Some(utc("2026-03-30T12:00:00Z"));
        assert_eq!(evaluate(&cal, &policy, &done, utc("2026-03-30T12:00:00Z")).next_check, None);
    }

    #[test]
    fn a_paused_clock_is_not_checked_until_the_ticket_changes() {
        let (cal, policy) = (Calendar::default(), Policy::default());
        let mut f = facts("2026-03-25T11:00:00Z");
        f.first_response_at = Some(utc("2026-03-25T11:30:00Z"));
        f.pauses = vec![(utc("2026-03-25T12:00:00Z"), None)];
        let s = evaluate(&cal, &policy, &f, utc("2026-03-25T15:00:00Z"));
        assert_eq!((s.state, s.next_check), (SlaState::Paused, None));
    }

    #[test]
    fn a_next_check_is_never_in_the_past() {
        let (cal, policy) = (Calendar::default(), Policy::default());
        let f = facts("2026-03-27T17:30:00Z");
        // Saturday: the desk is closed, the clock still reads "ok".
        let now = utc("2026-03-28T10:00:00Z");
        let s = evaluate(&cal, &policy, &f, now);
        assert!(s.next_check.is_some_and(|at| at > now));
    }

    #[test]
    fn waiting_on_the_requester_pauses_the_clock_and_pushes_the_due_date() {
        let (cal, policy) = (Calendar::default(), Policy::default());
        let mut f = facts("2026-03-25T11:00:00Z"); // Wednesday 12:00 Paris
        f.first_response_at = Some(utc("2026-03-25T11:30:00Z"));
        // Waiting from 13:00 to 16:00 Paris: three business hours paused.
        f.pauses = vec![(utc("2026-03-25T12:00:00Z"), Some(utc("2026-03-25T15:00:00Z")))];
        let s = evaluate(&cal, &policy, &f, utc("2026-03-25T16:00:00Z"));
        assert_eq!(s.first_response.state, SlaState::Met);
        // 7 hours + 3 paused from Wednesday 12:00 = Thursday 15:00 Paris.
        assert_eq!(s.resolution.due, Some(utc("2026-03-26T14:00:00Z")));
        // While the pause runs, the state says so.
        f.pauses = vec![(utc("2026-03-25T12:00:00Z"), None)];
        assert_eq!(evaluate(&cal, &policy, &f, utc("2026-03-25T15:00:00Z")).resolution.state, SlaState::Paused);
    }

    #[test]
    fn a_holiday_is_skipped_and_a_late_response_stays_breached() {
        let (cal, policy) = (Calendar::default(), Policy::default());
        // Wednesday 2026-05-13 18:00 Paris (16:00 UTC); Thursday 14 is Ascension.
        let mut f = facts("2026-05-13T16:00:00Z");
        let s = evaluate(&cal, &policy, &f, utc("2026-05-13T16:30:00Z"));
        assert_eq!(s.first_response.due, Some(utc("2026-05-15T11:00:00Z")));
        f.first_response_at = Some(utc("2026-05-15T12:00:00Z"));
        let s = evaluate(&cal, &policy, &f, utc("2026-05-15T12:30:00Z"));
        assert_eq!((s.first_response.state, s.state), (SlaState::Breached, SlaState::Breached));
    }

    #[test]
    fn evolutions_have_no_resolution_target_and_unknown_pairs_fall_back() {
        let policy = Policy::default();
        assert_eq!(policy.targets_for(TicketType::Evolution, Priority::High).resolution_minutes, None);
        let sparse = Policy {
            targets: vec![(
                TicketType::Anomaly,
                Priority::Normal,
                Targets { first_response_minutes: Some(60), resolution_minutes: None },
            )],
            ..Policy::default()
        };
        assert_eq!(sparse.targets_for(TicketType::Anomaly, Priority::Critical).first_response_minutes, Some(60));
        assert_eq!(sparse.targets_for(TicketType::Assistance, Priority::Critical).first_response_minutes, None);
    }
}
