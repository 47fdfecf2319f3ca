//! The desk's dashboard: the short lists an agent looks at all afternoon.

use crate::auth::Principal;
use crate::{App, AppError};
use chrono::{Datelike, Duration, TimeZone, Utc};
use guichet_domain::workflow::StatusCategory;
use guichet_store::tickets::{Sort, SortField, TicketFilter, TicketRecord};

/// One tile of the dashboard: a count, the first tickets, and the queue behind it.
#[derive(Debug, Clone)]
pub struct Tile {
    /// Message key of the tile's title.
    pub key: &'static str,
    pub count: i64,
    pub items: Vec<TicketRecord>,
    /// Query string of the queue page showing all of them.
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

    pub async fn dashboard(&self, p: &Principal) -> Result<Vec<Tile>, AppError> {
        if !p.actor.role.is_staff() {
            return Err(AppError::Forbidden("the dashboard is the desk's".into()));
        }
        let open = self.open_statuses(true);
        let working = self.open_statuses(false);
        let base = TicketFilter { scope: p.actor.scope(), ..TicketFilter::default() };
        let sla = |state: &str| guichet_domain::query::Condition::Codes {
            column: guichet_domain::query::CodeColumn::Sla,
            values: vec![state.to_owned()],
            negated: false,
        };
        let tiles: Vec<(&'static str, TicketFilter, String)> = vec![
            (
                "late",
                TicketFilter { statuses: open.clone(), query: Some(sla("breached")), ..base.clone() },
                "q=sla%20%3D%20breached%20AND%20resolved%20IS%20EMPTY%20ORDER%20BY%20due".into(),
            ),
            (
                "at_risk",
                TicketFilter { statuses: open.clone(), query: Some(sla("at_risk")), ..base.clone() },
                "q=sla%20%3D%20at_risk%20ORDER%20BY%20due".into(),
            ),
            (
                "needs_reply",
                TicketFilter { statuses: working.clone(), needs_reply: true, ..base.clone() },
                "needs_reply=1".into(),
            ),
            (
                "unassigned",
                TicketFilter { statuses: open.clone(), assignee: Some(None), ..base.clone() },
                format!("assignee=none&status={}", open.join(",")),
            ),
            (
                "waiting",
                TicketFilter { statuses: vec!["waiting_on_requester".into()], ..base.clone() },
                "status=waiting_on_requester".into(),
            ),
            (
                "my_tickets",
                TicketFilter { statuses: open.clone(), assignee: Some(Some(p.user.id)), ..base.clone() },
                format!("assignee=me&status={}", open.join(",")),
            ),
            (
                "done_this_week",
                TicketFilter { resolved_since: Some(self.start_of_week()), ..base.clone() },
                "resolved_week=1".into(),
            ),
        ];
        let mut conn = self.db.conn().await?;
        let mut out = Vec::with_capacity(tiles.len());
        let sort = [Sort { field: SortField::Updated, descending: true }];
        for (key, filter, query) in tiles {
            let (items, count) = guichet_store::tickets::list_tickets(&mut conn, &filter, &sort, 5, 0, true).await?;
            out.push(Tile { key, count: count.unwrap_or(0), items, query });
        }
        Ok(out)
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
