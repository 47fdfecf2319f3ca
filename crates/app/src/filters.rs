//! Saved filters: personal or shared with the desk, with their counts. The
//! desk's dashboard is the shared filters, shown as tiles.

use crate::auth::Principal;
use crate::{App, AppError};
use guichet_domain::query::SortKey;
use guichet_store::saved_filters::SavedFilter;
use guichet_store::tickets::{Counting, Sort, SortField, TicketFilter, TicketRecord};
use guichet_store::StoreError;

/// How many of a page's filters are counted at once (see [`App::saved_filters`]).
const DASHBOARD_QUERIES_AT_ONCE: usize = 3;

/// A saved filter with what it finds now.
#[derive(Debug, Clone)]
pub struct FilterResult {
    pub filter: SavedFilter,
    pub count: i64,
    /// More tickets than `count` match (counting stops at [`crate::tickets::TILE_COUNT_LIMIT`]).
    pub more: bool,
    /// The first tickets, when asked.
    pub items: Vec<TicketRecord>,
}

/// What a user may write into a filter.
#[derive(Debug, Clone, Default)]
pub struct FilterChange {
    pub name: Option<String>,
    pub query: Option<String>,
    pub shared: Option<bool>,
    pub position: Option<i64>,
}

fn not_found(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::NotFound("filter"),
        other => other.into(),
    }
}

/// Saved filters one user may own unless configured otherwise.
pub const DEFAULT_PER_USER: usize = 50;

impl App {
    /// Checks a query by resolving it now, so that a broken filter is refused when saved.
    async fn check_query(&self, query: &str) -> Result<String, AppError> {
        let mut conn = self.db.conn().await?;
        match self.resolve_query(&mut conn, query).await? {
            Ok(_) => Ok(query.trim().to_owned()),
            Err(e) => Err(AppError::field("query", e.to_string())),
        }
    }

    fn check_name(name: &str) -> Result<String, AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(AppError::field("name", "a filter's name has 1 to 80 characters"));
        }
        Ok(name.to_owned())
    }

    /// The filters the user sees, with counts and optionally the first tickets of each.
    /// The saved filters a user may use, without running them.
    pub async fn saved_filter_list(
        &self,
        p: &Principal,
    ) -> Result<Vec<guichet_store::saved_filters::SavedFilter>, AppError> {
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::saved_filters::list_saved_filters(&mut conn, p.user.id, p.actor.role.is_staff()).await?)
    }

    pub async fn saved_filters(&self, p: &Principal, items: i64) -> Result<Vec<FilterResult>, AppError> {
        let mut conn = self.db.conn().await?;
        let filters =
            guichet_store::saved_filters::list_saved_filters(&mut conn, p.user.id, p.actor.role.is_staff()).await?;
        let mut planned = Vec::with_capacity(filters.len());
        for filter in filters {
            let resolved = match self.resolve_query(&mut conn, &filter.query).await? {
                Ok(r) => r,
                // A filter broken by a vocabulary change shows as empty rather than breaking the page.
                Err(_) => {
                    planned.push((filter, None));
                    continue;
                }
            };
            // Built-in filters show each level its own queue.
            let mut ticket_filter = TicketFilter {
                scope: p.actor.scope(),
                query: resolved.condition,
                current_user: Some(p.user.id),
                ..TicketFilter::default()
            };
            if filter.builtin {
                Self::level_view(p).apply(&mut ticket_filter);
            }
            let mut sort: Vec<Sort> =
                resolved.order.into_iter().map(|(key, descending)| Sort { field: key.into(), descending }).collect();
            if sort.is_empty() {
                sort.push(Sort { field: SortField::from(SortKey::Updated), descending: true });
            }
            planned.push((filter, Some((ticket_filter, sort))));
        }
        drop(conn);
        // The tiles' queries are independent: a few at once on their own
        // connections (PostgreSQL's dashboard of 13 tiles at 1,000,000
        // tickets: 33.5 ms one after the other, docs/performance.md), not
        // all, so that one page does not take the whole pool.
        let at_once = if self.db.parallel_reads() { DASHBOARD_QUERIES_AT_ONCE } else { 1 };
        let counting = Counting::UpTo(crate::tickets::TILE_COUNT_LIMIT);
        let run = |(filter, plan): (SavedFilter, Option<(TicketFilter, Vec<Sort>)>)| async move {
            let Some((ticket_filter, sort)) = plan else {
                return Ok::<_, AppError>(FilterResult { filter, count: 0, more: false, items: Vec::new() });
            };
            let mut conn = self.db.conn().await?;
            let (found, count) =
                guichet_store::tickets::list_tickets(&mut conn, &ticket_filter, &sort, items.max(0), 0, counting)
                    .await?;
            let count = count.unwrap_or_default();
            Ok(FilterResult { filter, count: count.count, more: count.more, items: found })
        };
        use futures_util::{StreamExt, TryStreamExt};
        futures_util::stream::iter(planned).map(run).buffered(at_once).try_collect().await
    }

    pub async fn create_filter(
        &self,
        p: &Principal,
        name: &str,
        query: &str,
        shared: bool,
    ) -> Result<SavedFilter, AppError> {
        if shared && !p.actor.role.is_staff() {
            return Err(AppError::field("shared", "only the desk shares filters"));
        }
        let name = Self::check_name(name)?;
        let query = self.check_query(query).await?;
        let mut tx = self.db.begin().await?;
        // Every filter is counted on the queue page: their number is bounded.
        let own = guichet_store::saved_filters::list_saved_filters(&mut tx, p.user.id, false).await?;
        let limit = self.settings.saved_filters_per_user;
        if own.iter().filter(|f| f.owner_id == Some(p.user.id.0)).count() >= limit {
            return Err(AppError::field(
                "name",
                format!("you already have {limit} saved filters: delete one before saving another"),
            ));
        }
        let id = guichet_store::saved_filters::insert_saved_filter(&mut tx, p.user.id, &name, &query, shared).await?;
        let filter = guichet_store::saved_filters::find_saved_filter(&mut tx, id).await?;
        tx.commit().await?;
        Ok(filter)
    }

    /// A filter the user may change: their own, or a shared one for admins.
    async fn writable_filter(&self, p: &Principal, id: i64) -> Result<SavedFilter, AppError> {
        let mut conn = self.db.conn().await?;
        let filter = guichet_store::saved_filters::find_saved_filter(&mut conn, id).await.map_err(not_found)?;
        let own = filter.owner_id == Some(p.user.id.0);
        let visible = own || (filter.shared && p.actor.role.is_staff());
        if !visible {
            return Err(AppError::NotFound("filter"));
        }
        if !own && !p.actor.can_manage_directory() {
            return Err(AppError::Forbidden("only administrators change the desk's shared filters".into()));
        }
        Ok(filter)
    }

    pub async fn update_filter(&self, p: &Principal, id: i64, change: FilterChange) -> Result<SavedFilter, AppError> {
        let mut filter = self.writable_filter(p, id).await?;
        if let Some(name) = change.name {
            filter.name = Self::check_name(&name)?;
        }
        if let Some(query) = change.query {
            filter.query = self.check_query(&query).await?;
        }
        if let Some(shared) = change.shared {
            if shared && !p.actor.role.is_staff() {
                return Err(AppError::field("shared", "only the desk shares filters"));
            }
            filter.shared = shared;
        }
        if let Some(position) = change.position {
            filter.position = position;
        }
        let mut conn = self.db.conn().await?;
        guichet_store::saved_filters::update_saved_filter(&mut conn, &filter).await.map_err(not_found)?;
        Ok(filter)
    }

    pub async fn delete_filter(&self, p: &Principal, id: i64) -> Result<(), AppError> {
        self.writable_filter(p, id).await?;
        let mut conn = self.db.conn().await?;
        guichet_store::saved_filters::delete_saved_filter(&mut conn, id).await?;
        Ok(())
    }
}
