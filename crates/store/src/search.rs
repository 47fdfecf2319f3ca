//! Ranked full-text search: the best documents first, within a ticket filter
//! (and so within the reader's scope, in the query itself).

use crate::db::{Conn, Db, Result};
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
pub async fn search(
    db: &Db,
    conn: &mut Conn,
    query: &SearchQuery,
    filter: &TicketFilter,
    limit: i64,
) -> Result<Vec<Hit>> {
    let internal = filter.scope == guichet_domain::actor::TicketScope::All;
    let sqlite = conn.backend() == crate::Backend::Sqlite;
    if sqlite && filter.is_everything() {
        let rows = recent_best(db, conn, query, limit).await?;
        return Ok(best_per_ticket(rows, limit));
    }
    // Each ticket's best document only, ranked in the query: a ticket with
    // many matching replies must not fill the page on its own.
    let rows: Vec<(i64, String, bool)> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(if sqlite {
            "SELECT ticket_id, body, internal FROM (SELECT ticket_id, body, internal, score, number, \
             ROW_NUMBER() OVER (PARTITION BY ticket_id ORDER BY score, number DESC) AS place FROM \
             (SELECT s.ticket_id, s.body, s.internal = 1 AS internal, bm25(search_index) AS score, \
             s.rowid AS number FROM search_index s"
        } else {
            "SELECT ticket_id, body, internal FROM (SELECT DISTINCT ON (s.ticket_id) s.ticket_id, s.body, \
             s.internal, ts_rank(s.tsv, to_tsquery('french', "
        });
        if sqlite {
            qb.push(" WHERE search_index MATCH ").push_bind(query.to_fts5());
            if !filter.is_everything() {
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
            qb.push(")) WHERE place = 1 ORDER BY score, number DESC LIMIT ").push_bind(limit);
        } else {
            qb.push_bind(query.to_tsquery());
            if filter.is_everything() {
                qb.push(")) AS score, s.id AS number FROM search_docs s WHERE 1 = 1");
            } else {
                // The documents of the tickets in scope first, then the match
                // on each: the planner misjudges how many documents a phrase
                // or a common word matches and would read every one of them
                // from the GIN index (0.5 s) for a school's hundred tickets.
                // `OFFSET 0` keeps the match out of the subquery.
                qb.push(")) AS score, s.id AS number FROM (SELECT s.* FROM search_docs s ");
                qb.push("JOIN tickets t ON t.id = s.ticket_id");
                push_conditions(&mut qb, filter);
                qb.push(" OFFSET 0) s WHERE 1 = 1");
            }
            qb.push(" AND s.tsv @@ to_tsquery('french', ").push_bind(query.to_tsquery()).push(")");
            if !internal {
                qb.push(" AND NOT s.internal");
            }
            qb.push(" ORDER BY s.ticket_id, score DESC, s.id DESC) best ORDER BY score DESC, number DESC LIMIT ");
            qb.push_bind(limit);
        }
        qb.build_query_as().fetch_all(&mut *c).await
    })?;
    Ok(best_per_ticket(rows, limit))
}

/// Keeps the first (best) document of each ticket, up to `limit` tickets.
fn best_per_ticket(rows: Vec<(i64, String, bool)>, limit: i64) -> Vec<Hit> {
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
    hits
}

/// The desk's search over the whole base, on SQLite. Ranking every match of
/// a common word over millions of documents costs seconds, so only the most
/// recent matches are ranked, of each kind of document apart (ticket text,
/// reply or note, file name): documents are numbered after their source
/// (ticket id × 4, comment id × 4 + 1, attachment id × 4 + 2) and replies
/// outnumber tickets, so one window by number would hold recent replies and
/// no ticket at all. bm25 weighs a word against the whole index, so the
/// kinds' scores compare: their best are merged.
async fn recent_best(db: &Db, conn: &mut Conn, query: &SearchQuery, fetch: i64) -> Result<Vec<(i64, String, bool)>> {
    let fts = query.to_fts5();
    // Each kind's query expands a prefix again (FTS5 merges every word it
    // starts): on separate connections the three run side by side.
    let (tickets, comments, files) = if db.parallel_reads() {
        let kind = |kind: i64| {
            let fts = fts.as_str();
            async move { recent_best_of_kind(&mut db.conn().await?, fts, kind, fetch).await }
        };
        futures_util::future::try_join3(kind(0), kind(1), kind(2)).await?
    } else {
        (
            recent_best_of_kind(conn, &fts, 0, fetch).await?,
            recent_best_of_kind(conn, &fts, 1, fetch).await?,
            recent_best_of_kind(conn, &fts, 2, fetch).await?,
        )
    };
    let mut rows: Vec<_> = tickets.into_iter().chain(comments).chain(files).collect();
    rows.sort_by(|a, b| a.3.total_cmp(&b.3).then(b.4.cmp(&a.4)));
    Ok(rows.into_iter().map(|(ticket, body, internal, _, _)| (ticket, body, internal)).collect())
}

/// The best `fetch` tickets among the [`RANKED_WINDOW`] most recent matching
/// documents of one kind, by their best document there: ticket, text,
/// internal, bm25 score, number.
async fn recent_best_of_kind(
    conn: &mut Conn,
    fts: &str,
    kind: i64,
    fetch: i64,
) -> Result<Vec<(i64, String, bool, f64, i64)>> {
    let sql = format!(
        "SELECT ticket_id, body, internal, score, number FROM \
         (SELECT s.ticket_id, s.body, s.internal = 1 AS internal, w.score, w.number, \
         ROW_NUMBER() OVER (PARTITION BY s.ticket_id ORDER BY w.score, w.number DESC) AS place FROM \
         (SELECT rowid AS number, bm25(search_index) AS score FROM search_index \
         WHERE search_index MATCH $1 AND rowid % 4 = {kind} ORDER BY rowid DESC LIMIT $2) w \
         JOIN search_index s ON s.rowid = w.number) \
         WHERE place = 1 ORDER BY score, number DESC LIMIT $3"
    );
    Ok(on_conn!(conn, |c| sqlx::query_as(&sql).bind(fts).bind(RANKED_WINDOW).bind(fetch).fetch_all(&mut *c).await)?)
}
