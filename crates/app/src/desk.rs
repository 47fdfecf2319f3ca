//! The desk's dashboard: the short lists an agent looks at all afternoon.

use crate::auth::Principal;
use crate::{App, AppError};
use chrono::{Datelike, Duration, TimeZone, Utc};
use guichet_domain::workflow::StatusCategory;
use guichet_store::tickets::{Counting, Sort, SortField, TicketFilter, TicketRecord};

/// One tile of the dashboard: a saved filter's count, first tickets and query.
#[derive(Debug, Clone)]
pub struct Tile {
    pub id: i64,
    pub title: String,
    pub count: i64,
    /// More tickets than `count` match (counting stops at [`crate::tickets::TILE_COUNT_LIMIT`]).
    pub more: bool,
    pub items: Vec<TicketRecord>,
    /// The query of the queue page showing all of them.
    pub query: String,
}

impl App {
    /// Statuses that are still being worked (open or waiting), in every workflow.
    pub fn open_statuses(&self, waiting: bool) -> Vec<String> {
        if waiting {
            self.workflows().codes_in(&[StatusCategory::Open, StatusCategory::Waiting])
        } else {
            self.workflows().codes_in(&[StatusCategory::Open])
        }
    }

    /// Monday 00:00 of the current week, in the desk's time zone.
    pub fn start_of_week(&self) -> chrono::DateTime<Utc> {
        let today = self.now().with_timezone(&self.calendar().tz).date_naive();
        self.local_midnight(today - Duration::days(i64::from(today.weekday().num_days_from_monday())))
    }

    /// 00:00 today, in the desk's time zone.
    pub fn start_of_today(&self) -> chrono::DateTime<Utc> {
        self.local_midnight(self.now().with_timezone(&self.calendar().tz).date_naive())
    }

    fn local_midnight(&self, day: chrono::NaiveDate) -> chrono::DateTime<Utc> {
        let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        self.calendar()
            .tz
            .from_local_datetime(&midnight)
            .earliest()
            .map_or_else(|| Utc.from_utc_datetime(&midnight), |t| t.with_timezone(&Utc))
    }

    pub async fn dashboard(&self, p: &Principal) -> Result<Vec<Tile>, AppError> {
        if !p.actor.role.is_staff() {
            return Err(AppError::Forbidden("the dashboard is the desk's".into()));
        }
        Ok(self
            .saved_filters(p, 5)
            .await?
            .into_iter()
            .map(|r| Tile {
                title: r.filter.name,
                count: r.count,
                more: r.more,
                items: r.items,
                query: r.filter.query,
                id: r.filter.id,
            })
            .collect())
    }
}

impl App {
    /// A caller's tickets still being worked, newest first.
    pub async fn open_tickets_of(
        &self,
        p: &Principal,
        requester: guichet_domain::ids::UserId,
    ) -> Result<Vec<TicketRecord>, AppError> {
        let filter = TicketFilter {
            scope: p.actor.scope(),
            requester: Some(requester),
            statuses: self.open_statuses(true),
            ..TicketFilter::default()
        };
        let mut conn = self.db.conn().await?;
        let sort = [Sort { field: SortField::Updated, descending: true }];
        Ok(guichet_store::tickets::list_tickets(&mut conn, &filter, &sort, 20, 0, Counting::No).await?.0)
    }
}

/// The desk's time settings, editable at run time.
#[derive(Debug, Clone, PartialEq)]
pub struct DeskConfig {
    pub calendar: guichet_domain::calendar::Calendar,
    pub sla_policy: guichet_domain::sla::Policy,
}

const CALENDAR_KEY: &str = "calendar";
const SLA_POLICY_KEY: &str = "sla_policy";

impl App {
    /// Reads the stored calendar, policy and workflows (the defaults where
    /// none is stored): what another node may have changed.
    pub async fn reload_desk_config(&self) -> Result<(), AppError> {
        let mut conn = self.db.conn().await?;
        let workflows = guichet_store::workflows::load_workflows(&mut conn).await?;
        self.set_workflows(workflows);
        let mut config =
            DeskConfig { calendar: self.settings.calendar.clone(), sla_policy: self.settings.sla_policy.clone() };
        if let Some(json) = guichet_store::settings::find_setting(&mut conn, CALENDAR_KEY).await? {
            match serde_json::from_str(&json) {
                Ok(calendar) => config.calendar = calendar,
                Err(e) => tracing::error!(error = %e, "the stored calendar cannot be read; using the default"),
            }
        }
        if let Some(json) = guichet_store::settings::find_setting(&mut conn, SLA_POLICY_KEY).await? {
            match serde_json::from_str::<guichet_domain::sla::Policy>(&json) {
                Ok(policy) if policy.validate().is_ok() => config.sla_policy = policy,
                Ok(_) => tracing::error!("the stored service-level policy is out of bounds; using the default"),
                Err(e) => {
                    tracing::error!(error = %e, "the stored service-level policy cannot be read; using the default")
                }
            }
        }
        self.set_desk_config(config);
        Ok(())
    }

    /// Replaces the business calendar (administrators). A calendar that never
    /// opens is refused: no due date could ever be computed.
    pub async fn set_calendar(
        &self,
        p: &Principal,
        calendar: guichet_domain::calendar::Calendar,
    ) -> Result<(), AppError> {
        if !p.actor.can_manage_directory() {
            return Err(AppError::Forbidden("only administrators change the calendar".into()));
        }
        if calendar.week.iter().all(Vec::is_empty) {
            return Err(AppError::field("week", "the desk must open at least once a week"));
        }
        let json = serde_json::to_string(&calendar).map_err(|e| AppError::Internal(Box::new(e)))?;
        let mut tx = self.db.begin().await?;
        guichet_store::settings::upsert_setting(&mut tx, CALENDAR_KEY, &json).await?;
        guichet_store::settings::notify_settings_changed(&mut tx).await?;
        // Every running clock may turn at another instant now.
        guichet_store::tickets::recheck_all_slas(&mut tx, &self.open_statuses(true)).await?;
        tx.commit().await?;
        self.set_desk_config(DeskConfig { calendar, sla_policy: self.sla_policy() });
        Ok(())
    }

    /// Replaces the service-level policy (administrators).
    pub async fn set_sla_policy(&self, p: &Principal, policy: guichet_domain::sla::Policy) -> Result<(), AppError> {
        if !p.actor.can_manage_directory() {
            return Err(AppError::Forbidden("only administrators change the service levels".into()));
        }
        policy.validate()?;
        let json = serde_json::to_string(&policy).map_err(|e| AppError::Internal(Box::new(e)))?;
        let mut tx = self.db.begin().await?;
        guichet_store::settings::upsert_setting(&mut tx, SLA_POLICY_KEY, &json).await?;
        guichet_store::settings::notify_settings_changed(&mut tx).await?;
        // Every running clock may turn at another instant now.
        guichet_store::tickets::recheck_all_slas(&mut tx, &self.open_statuses(true)).await?;
        tx.commit().await?;
        self.set_desk_config(DeskConfig { calendar: self.calendar(), sla_policy: policy });
        Ok(())
    }
}
