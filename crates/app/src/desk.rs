//! The desk's dashboard: the short lists an agent looks at all afternoon.

use crate::auth::Principal;
use crate::{App, AppError};
use chrono::{Datelike, Duration, TimeZone, Utc};
use guichet_domain::workflow::StatusCategory;
use guichet_store::tickets::{Sort, SortField, TicketFilter, TicketRecord};

/// One tile of the dashboard: a saved filter's count, first tickets and query.
#[derive(Debug, Clone)]
pub struct Tile {
    pub id: i64,
    pub title: String,
    pub count: i64,
    pub items: Vec<TicketRecord>,
    /// The query of the queue page showing all of them.
    pub query: String,
}

impl App {
    /// Statuses that are still being worked (open or waiting), in every workflow.
    pub fn open_statuses(&self, waiting: bool) -> Vec<String> {
        let mut codes: Vec<String> = self
            .workflows()
            .0
            .iter()
            .flat_map(|w| w.statuses.iter())
            .filter(|s| s.category == StatusCategory::Open || (waiting && s.category == StatusCategory::Waiting))
            .map(|s| s.code.clone())
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }

    /// Monday 00:00 of the current week. UTC for now; the desk's calendar
    /// (Europe/Paris) replaces it with the business calendar.
    pub fn start_of_week(&self) -> chrono::DateTime<Utc> {
        let now = self.now();
        let monday = now.date_naive() - Duration::days(i64::from(now.weekday().num_days_from_monday()));
        Utc.from_utc_datetime(&monday.and_hms_opt(0, 0, 0).unwrap_or_default())
    }

    /// The desk's dashboard: every saved filter the user sees (the shared
    /// built-ins first), with its count and first tickets.
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
        Ok(guichet_store::tickets::list_tickets(&mut conn, &filter, &sort, 20, 0, false).await?.0)
    }
}
