//! Full-text search over the tickets a reader may see: ranked, with the
//! passage that matched. A requester's search never reaches another school's
//! ticket nor any internal note, not even as a count: the scope is part of
//! the query.

use crate::auth::Principal;
use crate::{App, AppError};
use guichet_domain::search::SearchQuery;
use guichet_store::tickets::{Counting, Sort, SortField, TicketFilter, TicketRecord};

/// Marks around a matched word in a snippet: control characters no text
/// contains, replaced by the page's highlighting once escaped.
pub const MARK: (&str, &str) = ("\u{1}", "\u{2}");

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub record: TicketRecord,
    /// The passage that matched, matched words between [`MARK`]s.
    pub snippet: String,
    /// The passage is from an internal note (the desk only).
    pub internal: bool,
}

pub const SEARCH_LIMIT: i64 = 50;

impl App {
    pub async fn search(&self, p: &Principal, text: &str, limit: i64) -> Result<Vec<SearchResult>, AppError> {
        let query = SearchQuery::parse(text)?;
        if !(1..=SEARCH_LIMIT).contains(&limit) {
            return Err(AppError::field("limit", format!("`limit` is between 1 and {SEARCH_LIMIT}")));
        }
        let filter = TicketFilter { scope: p.actor.scope(), ..TicketFilter::default() };
        let mut conn = self.db.conn().await?;
        self.search_with(&mut conn, &query, filter, limit).await
    }

    /// Runs a search within a filter (which carries the actor's scope) and
    /// reads back the tickets hit, best first.
    pub(crate) async fn search_with(
        &self,
        conn: &mut guichet_store::Conn,
        query: &SearchQuery,
        filter: TicketFilter,
        limit: i64,
    ) -> Result<Vec<SearchResult>, AppError> {
        let hits = guichet_store::search::search(&self.db, conn, query, &filter, limit).await?;
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        let ids = TicketFilter { ids: Some(hits.iter().map(|h| h.ticket).collect()), ..filter };
        let sort = [Sort { field: SortField::Updated, descending: true }];
        let (records, _) = guichet_store::tickets::list_tickets(conn, &ids, &sort, limit, 0, Counting::No).await?;
        let mut results = Vec::with_capacity(hits.len());
        for hit in hits {
            if let Some(record) = records.iter().find(|r| r.ticket.id == hit.ticket) {
                results.push(SearchResult {
                    record: record.clone(),
                    snippet: query.snippet(&hit.body, 28, MARK),
                    internal: hit.internal,
                });
            }
        }
        Ok(results)
    }
}
