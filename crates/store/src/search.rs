//! Ranked full-text search: the best documents first, within a ticket filter
//! (and so within the reader's scope, in the query itself).

use crate::db::{Conn, Result};
use crate::tickets::{push_conditions, TicketFilter};
use guichet_domain::ids::TicketId;
use guichet_domain::search::SearchQuery;
use sqlx::QueryBuilder;

/// A matching document: the ticket it belongs to and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub ticket: TicketId,
    pub body: String,
    pub internal: bool,
}

/// The best-ranked matching documents, at most one per ticket, up to `limit`
/// tickets; internal notes only when the filter's scope is the desk's.
pub async fn search(conn: &mut Conn, query: &SearchQuery, filter: &TicketFilter, limit: i64) -> Result<Vec<Hit>> {
    let internal = filter.scope == guichet_domain::actor::TicketScope::All;
    // Several documents of one ticket may match: fetch more, keep the best of each.
    let fetch = limit.saturating_mul(4);
    let sqlite = conn.backend() == crate::Backend::Sqlite;
    let rows: Vec<(i64, String, bool)> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(if sqlite {
            "SELECT s.ticket_id, s.body, s.internal = 1 FROM search_index s JOIN tickets t ON t.id = s.ticket_id"
        } else {
            "SELECT s.ticket_id, s.body, s.internal FROM search_docs s JOIN tickets t ON t.id = s.ticket_id"
        });
        push_conditions(&mut qb, filter);
        if sqlite {
            qb.push(" AND search_index MATCH ").push_bind(query.to_fts5());
            if !internal {
                qb.push(" AND s.internal = 0");
            }
            qb.push(" ORDER BY bm25(search_index), s.rowid DESC LIMIT ").push_bind(fetch);
        } else {
            qb.push(" AND s.tsv @@ to_tsquery('simple', ").push_bind(query.to_tsquery()).push(")");
            if !internal {
                qb.push(" AND NOT s.internal");
            }
            qb.push(" ORDER BY ts_rank(s.tsv, to_tsquery('simple', ").push_bind(query.to_tsquery());
            qb.push(")) DESC, s.id DESC LIMIT ").push_bind(fetch);
        }
        qb.build_query_as().fetch_all(&mut *c).await
    })?;
    let mut hits: Vec<Hit> = Vec::new();
    for (ticket, body, internal) in rows {
        if hits.iter().any(|h| h.ticket.0 == ticket) {
            continue;
        }
        hits.push(Hit { ticket: TicketId(ticket), body, internal });
        if hits.len() as i64 >= limit {
            break;
        }
    }
    Ok(hits)
}
