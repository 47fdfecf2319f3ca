//! Ranked full-text search: the best documents first, within a ticket filter
//! (and so within the reader's scope, in the query itself).

use crate::db::{Conn, Result};
use crate::tickets::{push_conditions, TicketFilter};
use guichet_domain::ids::TicketId;
use guichet_domain::search::SearchQuery;
use sqlx::QueryBuilder;

/// How many of the most recent matching documents are ranked in a search over everything.
pub const RANKED_WINDOW: i64 = 2_000;

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
    // Ranking every match of a common word over millions of documents costs
    // seconds: over the whole base, rank the most recent matches only.
    // (Within a school's scope the matches are few and all are ranked.)
    let since: Option<i64> = if sqlite && filter.is_everything() {
        on_conn!(conn, |c| sqlx::query_scalar(
            "SELECT MIN(rowid) FROM (SELECT rowid FROM search_index WHERE search_index MATCH $1 \
             ORDER BY rowid DESC LIMIT $2)"
        )
        .bind(query.to_fts5())
        .bind(RANKED_WINDOW)
        .fetch_one(&mut *c)
        .await)?
    } else {
        None
    };
    let rows: Vec<(i64, String, bool)> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(if sqlite {
            "SELECT s.ticket_id, s.body, s.internal = 1 FROM search_index s"
        } else {
            "SELECT s.ticket_id, s.body, s.internal FROM search_docs s JOIN tickets t ON t.id = s.ticket_id"
        });
        if sqlite {
            qb.push(" WHERE search_index MATCH ").push_bind(query.to_fts5());
            if let Some(since) = since {
                qb.push(" AND s.rowid >= ").push_bind(since);
            } else if !filter.is_everything() {
                // The documents of the tickets in scope, by number: checking
                // a match's number is far cheaper than joining every match.
                // `+` keeps the list a filter on the match: looked up one number at a
                // time, a prefix would be expanded again for every document.
                qb.push(" AND +s.rowid IN (SELECT t.id * 4 FROM tickets t");
                push_conditions(&mut qb, filter);
                qb.push(" UNION ALL SELECT c.id * 4 + 1 FROM comments c JOIN tickets t ON t.id = c.ticket_id");
                push_conditions(&mut qb, filter);
                qb.push(" UNION ALL SELECT a.id * 4 + 2 FROM attachments a JOIN tickets t ON t.id = a.ticket_id");
                push_conditions(&mut qb, filter);
                qb.push(")");
            }
            if !internal {
                qb.push(" AND s.internal = 0");
            }
            qb.push(" ORDER BY bm25(search_index), s.rowid DESC LIMIT ").push_bind(fetch);
        } else {
            push_conditions(&mut qb, filter);
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
