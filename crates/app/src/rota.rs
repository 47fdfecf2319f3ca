//! The on-duty rota and the automatic assignment of new level-1 tickets.

use crate::auth::Principal;
use crate::{App, AppError};
use chrono::{Duration, NaiveDate, Timelike};
use guichet_domain::history::FieldChange;
use guichet_domain::ids::{TicketId, UserId};
use guichet_domain::ticket::{Tier, UserRef};
use guichet_domain::user::Role;
use guichet_store::rota::DutySlot;
use guichet_store::Conn;

/// How a new level-1 ticket finds its agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssignmentRule {
    /// Tickets wait in the unassigned queue.
    #[default]
    None,
    /// The (first) agent on duty takes them.
    OnDuty,
    /// Agents on duty take turns.
    RoundRobin,
}

impl AssignmentRule {
    pub fn parse(s: &str) -> Result<Self, AppError> {
        match s {
            "none" => Ok(Self::None),
            "on_duty" => Ok(Self::OnDuty),
            "round_robin" => Ok(Self::RoundRobin),
            other => {
                Err(AppError::field("auto_assign", format!("unknown rule `{other}`: none, on_duty or round_robin")))
            }
        }
    }
}

pub const PARTS: [&str; 3] = ["day", "morning", "afternoon"];

fn parse_day(day: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::field("day", format!("`{day}` is not a date (YYYY-MM-DD)")))
}

impl App {
    /// Today's local date and the part of the day, in the desk's time zone.
    pub fn local_now(&self) -> (NaiveDate, &'static str) {
        let local = self.now().with_timezone(&self.calendar().tz);
        (local.date_naive(), if local.hour() < 13 { "morning" } else { "afternoon" })
    }

    /// Who is on duty now.
    pub async fn on_duty_now(&self) -> Result<Vec<UserRef>, AppError> {
        let mut conn = self.db.conn().await?;
        self.on_duty_now_in(&mut conn).await
    }

    pub(crate) async fn on_duty_now_in(&self, conn: &mut Conn) -> Result<Vec<UserRef>, AppError> {
        let (today, part) = self.local_now();
        let day = today.to_string();
        let slots = guichet_store::rota::list_duty(conn, &day, &day).await?;
        let mut people: Vec<UserRef> =
            slots.into_iter().filter(|s| s.part == "day" || s.part == part).map(|s| s.user).collect();
        people.sort_by(|a, b| a.name.cmp(&b.name));
        people.dedup();
        Ok(people)
    }

    /// The rota from `from` for `days` days (the desk reads it).
    pub async fn rota(&self, p: &Principal, from: NaiveDate, days: i64) -> Result<Vec<DutySlot>, AppError> {
        if !p.actor.role.is_staff() {
            return Err(AppError::Forbidden("only the desk reads the rota".into()));
        }
        let to = from + Duration::days(days.clamp(1, 366) - 1);
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::rota::list_duty(&mut conn, &from.to_string(), &to.to_string()).await?)
    }

    fn check_slot(p: &Principal, day: &str, part: &str) -> Result<NaiveDate, AppError> {
        if !p.actor.can_manage_directory() {
            return Err(AppError::Forbidden("only administrators manage the rota".into()));
        }
        if !PARTS.contains(&part) {
            return Err(AppError::field("part", "`part` is day, morning or afternoon"));
        }
        parse_day(day)
    }

    pub async fn add_duty(&self, p: &Principal, day: &str, part: &str, user: UserId) -> Result<(), AppError> {
        let day = Self::check_slot(p, day, part)?;
        let mut tx = self.db.begin().await?;
        let person = guichet_store::users::find_user(&mut tx, user)
            .await
            .map_err(|_| AppError::field("user", format!("no user has the id {user}")))?;
        if !matches!(person.role, Role::Agent | Role::Admin) || person.disabled {
            return Err(AppError::field("user", format!("{} is not an active agent", person.name)));
        }
        guichet_store::rota::insert_duty(&mut tx, &day.to_string(), part, user).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_duty(&self, p: &Principal, day: &str, part: &str, user: UserId) -> Result<(), AppError> {
        let day = Self::check_slot(p, day, part)?;
        let mut conn = self.db.conn().await?;
        if guichet_store::rota::delete_duty(&mut conn, &day.to_string(), part, user).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("duty slot"))
        }
    }

    /// Assigns a new level-1 ticket by the configured rule; returns who, if anyone.
    pub(crate) async fn auto_assign(&self, conn: &mut Conn, id: TicketId) -> Result<Option<UserRef>, AppError> {
        if self.settings.assignment == AssignmentRule::None {
            return Ok(None);
        }
        let mut record =
            guichet_store::tickets::find_ticket(conn, id, &guichet_domain::actor::TicketScope::All).await?;
        if record.ticket.tier != Tier::Support || record.ticket.assignee.is_some() {
            return Ok(None);
        }
        let (today, part) = self.local_now();
        let day = today.to_string();
        let on_duty: Vec<UserRef> = guichet_store::rota::list_duty(conn, &day, &day)
            .await?
            .into_iter()
            .filter(|s| s.part == "day" || s.part == part)
            .map(|s| s.user)
            .collect();
        let chosen = match self.settings.assignment {
            AssignmentRule::None => None,
            AssignmentRule::OnDuty => {
                let mut sorted = on_duty.clone();
                sorted.sort_by(|a, b| a.name.cmp(&b.name));
                sorted.into_iter().next()
            }
            AssignmentRule::RoundRobin => {
                let ids: Vec<UserId> = on_duty.iter().map(|u| u.id).collect();
                let next = guichet_store::rota::least_recently_assigned(conn, &ids).await?;
                on_duty.into_iter().find(|u| Some(u.id) == next)
            }
        };
        if let Some(user) = &chosen {
            record.ticket.assignee = Some(user.clone());
            guichet_store::tickets::update_ticket(conn, &record.ticket).await?;
            let change = FieldChange::public("assignee", None, Some(user.name.clone()));
            self.record_history(conn, id, None, &[change], self.now()).await?;
        }
        Ok(chosen)
    }
}
