//! Ranked full-text search: the best documents first, within a ticket filter
//! (and so within the reader's scope, in the query itself).

use crate::db::{Conn, Db, Raw, Result};
use crate::tickets::{push_conditions, push_document_numbers, PrefixWords, TicketFilter};
use guichet_domain::ids::TicketId;
use guichet_domain::search::SearchQuery;
use sqlx::QueryBuilder;

pub mod recency;
pub use recency::{drop_recency_indexes, ensure_recency_indexes, has_recency_indexes};

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
    if filter.is_everything() {
        let indexes = if sqlite { None } else { recency::indexes(conn).await? };
        if sqlite || indexes.is_some() {
            let rows = recent_best(db, conn, query, indexes.as_ref(), limit).await?;
            return Ok(best_per_ticket(rows, limit));
        }
    }
    let fts5 = if sqlite {
        let words = prefix_words(conn, std::slice::from_ref(query)).await?;
        crate::tickets::fts5_within(query, &words, filter)
    } else {
        String::new()
    };
    // Each ticket's best document only, ranked in the query: a ticket with
    // many matching replies must not fill the page on its own. On SQLite,
    // bm25 weighs the text alone, not the establishment's token.
    let rows: Vec<(i64, String, bool)> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(if sqlite {
            "SELECT ticket_id, body, internal FROM (SELECT ticket_id, body, internal, score, number, \
             ROW_NUMBER() OVER (PARTITION BY ticket_id ORDER BY score, number DESC) AS place FROM \
             (SELECT s.ticket_id, s.body, s.internal = 1 AS internal, bm25(search_index, 1.0, 0.0) AS score, \
             s.rowid AS number FROM search_index s"
        } else {
            "SELECT ticket_id, body, internal FROM (SELECT DISTINCT ON (s.ticket_id) s.ticket_id, s.body, \
             s.internal, ts_rank(s.tsv, to_tsquery('french', "
        });
        if sqlite {
            qb.push(" WHERE search_index MATCH ").push_bind(fts5);
            if !filter.is_everything() {
                qb.push(" AND +s.rowid IN (");
                push_document_numbers(&mut qb, |qb| push_conditions(qb, filter));
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

/// The desk's search over the whole base. Ranking every match of a common
/// word over millions of documents costs seconds, so only the most recent
/// matches are ranked, of each kind of document apart (ticket text, reply
/// or note, file name): documents are numbered after their source (ticket
/// id × 4, comment id × 4 + 1, attachment id × 4 + 2) and replies outnumber
/// tickets, so one window by number would hold recent replies and no ticket
/// at all. Scores compare across kinds (bm25 weighs a word against the whole
/// index; `ts_rank` against the document alone), so the kinds' best are merged.
async fn recent_best(
    db: &Db,
    conn: &mut Conn,
    query: &SearchQuery,
    indexes: Option<&recency::Indexes>,
    fetch: i64,
) -> Result<Vec<(i64, String, bool)>> {
    let sqlite = conn.backend() == crate::Backend::Sqlite;
    let text = if sqlite { fts5_expression(conn, query).await? } else { query.to_tsquery() };
    // Each kind's query reads the word's postings again (a prefix expands
    // to every word it starts): replies and file names run beside the
    // tickets' text on connections of their own when the pool has them.
    let (replies, files) = (db.spare().await?, db.spare().await?);
    let aside = |spare: Option<Conn>, kind: i64| {
        let text = text.as_str();
        async move {
            match spare {
                Some(mut c) => Some(recent_best_of_kind(&mut c, text, kind, indexes, fetch).await),
                None => None,
            }
        }
    };
    let (tickets, replies, files) = futures_util::future::join3(
        recent_best_of_kind(conn, &text, 0, indexes, fetch),
        aside(replies, 1),
        aside(files, 2),
    )
    .await;
    let replies = match replies {
        Some(rows) => rows?,
        None => recent_best_of_kind(conn, &text, 1, indexes, fetch).await?,
    };
    let files = match files {
        Some(rows) => rows?,
        None => recent_best_of_kind(conn, &text, 2, indexes, fetch).await?,
    };
    let mut rows: Vec<_> = tickets?.into_iter().chain(replies).chain(files).collect();
    rows.sort_by(|a, b| a.3.total_cmp(&b.3).then(b.4.cmp(&a.4)));
    Ok(rows.into_iter().map(|(ticket, body, internal, _, _)| (ticket, body, internal)).collect())
}

/// The most words a prefix is searched as, each read on its own. Beyond
/// that FTS5's merge of the prefix's postings costs no more.
const PREFIX_WORDS: usize = 32;

/// The FTS5 expression of `query`, each prefix written as the words of the
/// index it starts when they are few: FTS5 merges every posting of a
/// prefix's words before the first match (231,173 replies for `navigat*`
/// at 1M tickets, 26–29 ms for each kind of document), where it reads the
/// postings of words joined by OR as it goes and stops at the window.
pub async fn fts5_expression(conn: &mut Conn, query: &SearchQuery) -> Result<String> {
    let words = prefix_words(conn, std::slice::from_ref(query)).await?;
    Ok(crate::tickets::fts5_of(query, &words))
}

/// The words of the full-text index that each prefix of `queries` starts,
/// for the prefixes that start at most [`PREFIX_WORDS`] (SQLite; none on
/// PostgreSQL).
pub(crate) async fn prefix_words(conn: &mut Conn, queries: &[SearchQuery]) -> Result<PrefixWords> {
    let mut known: PrefixWords = Vec::new();
    for prefix in queries.iter().flat_map(SearchQuery::prefixes) {
        if known.iter().any(|(k, _)| k == prefix) {
            continue;
        }
        if let Some(words) = words_starting(conn, prefix).await? {
            known.push((prefix.to_owned(), words));
        }
    }
    Ok(known)
}

/// The words of the full-text index that `prefix` starts, when there are
/// at most [`PREFIX_WORDS`]. Each is one seek in the index's vocabulary
/// (`search_index_words`, migration 0044): the vocabulary's rows per word
/// would count every posting of each word, and a word's first instance is
/// all this needs.
async fn words_starting(conn: &mut Conn, prefix: &str) -> Result<Option<Vec<String>>> {
    let Raw::Sqlite(c) = conn.raw() else { return Ok(None) };
    let mut words: Vec<String> = Vec::new();
    let mut from = prefix.to_owned();
    loop {
        let next: Option<String> = sqlx::query_scalar("SELECT term FROM search_index_words WHERE term >= $1 LIMIT 1")
            .bind(&from)
            .fetch_optional(&mut *c)
            .await?;
        match next {
            Some(word) if word.starts_with(prefix) => {
                if words.len() == PREFIX_WORDS {
                    return Ok(None);
                }
                // The least text after `word` in the index's byte order.
                from = format!("{word}\u{1}");
                words.push(word);
            }
            _ => return Ok(Some(words)),
        }
    }
}

/// The best `fetch` tickets among the [`RANKED_WINDOW`] most recent matching
/// documents of one kind, by their best document there: ticket, text,
/// internal, score (lower is better), number.
async fn recent_best_of_kind(
    conn: &mut Conn,
    text: &str,
    kind: i64,
    indexes: Option<&recency::Indexes>,
    fetch: i64,
) -> Result<Vec<(i64, String, bool, f64, i64)>> {
    match (conn.raw(), indexes) {
        (Raw::Postgres(c), Some(indexes)) => {
            return recent_best_of_kind_postgres(c, text, indexes.of_kind(kind), fetch).await
        }
        (Raw::Postgres(_), None) => {
            return Err(crate::StoreError::Config("the search's recency indexes are missing".into()))
        }
        (Raw::Sqlite(_), _) => {}
    }
    let sql = format!(
        "SELECT ticket_id, body, internal, score, number FROM \
         (SELECT s.ticket_id, s.body, s.internal = 1 AS internal, w.score, w.number, \
         ROW_NUMBER() OVER (PARTITION BY s.ticket_id ORDER BY w.score, w.number DESC) AS place FROM \
         (SELECT rowid AS number, bm25(search_index, 1.0, 0.0) AS score FROM search_index \
         WHERE search_index MATCH $1 AND rowid % 4 = {kind} ORDER BY rowid DESC LIMIT $2) w \
         JOIN search_index s ON s.rowid = w.number) \
         WHERE place = 1 ORDER BY score, number DESC LIMIT $3"
    );
    Ok(on_conn!(conn, |c| sqlx::query_as(&sql).bind(text).bind(RANKED_WINDOW).bind(fetch).fetch_all(&mut *c).await)?)
}

/// The number the search's RUM indexes measure each document's distance
/// from, past every document's. RUM's distances are `FLOAT8`, exact up to
/// 2^53 only: from `i64::MAX` they came in steps of 2,048, so documents
/// within a step tied, came out in any order, and the window of the most
/// recent 2,000 left some of them out for older ones.
const NEWEST: i64 = 1 << 53;

/// The PostgreSQL side of [`recent_best_of_kind`], from the kind's RUM
/// indexes (see [`recency`]), which keep each document's number beside its
/// words and so yield the most recent matches without reading every one
/// from the table. RUM gathers and sorts every match an index holds before
/// it yields the first, so each index covers one range of numbers: the
/// ranges are read newest first, and an older one only while the window is
/// not full (`navigat*` at 1M tickets: 132 ms from one index of every
/// reply, 19 ms from the newest 500,000).
///
/// The planner misjudges how many documents a common word matches and
/// would read them all through a bitmap instead; RUM sorts the matches'
/// numbers in `work_mem`, which spilled to disk at the default 4 MB for a
/// prefix (221 ms, 83 ms in memory at 1M tickets). The ranges are one
/// `UNION ALL` under the window's `LIMIT`: PostgreSQL runs its branches in
/// turn and never starts those the window does not reach, which holds
/// without parallel workers only (a parallel append interleaves them).
async fn recent_best_of_kind_postgres(
    conn: &mut sqlx::PgConnection,
    tsquery: &str,
    chain: &[recency::Segment],
    fetch: i64,
) -> Result<Vec<(i64, String, bool, f64, i64)>> {
    let ranges: Vec<String> = chain
        .iter()
        .map(|segment| {
            format!(
                "(SELECT ticket_id, body, internal, tsv, id FROM search_docs \
                 WHERE tsv @@ to_tsquery('french', $1) AND {} ORDER BY id <=| {NEWEST}::BIGINT LIMIT $2)",
                segment.condition()
            )
        })
        .collect();
    let sql = format!(
        "SELECT ticket_id, body, internal, score, number FROM \
         (SELECT DISTINCT ON (ticket_id) ticket_id, body, internal, score, number FROM \
         (SELECT ticket_id, body, internal, -ts_rank(tsv, to_tsquery('french', $1))::FLOAT8 AS score, id AS number \
         FROM ({}) recent LIMIT $2) w \
         ORDER BY ticket_id, score, number DESC) best ORDER BY score, number DESC LIMIT $3",
        ranges.join(" UNION ALL ")
    );
    let mut tx = sqlx::Connection::begin(conn).await?;
    sqlx::query(
        "SELECT set_config('enable_bitmapscan', 'off', TRUE), set_config('work_mem', '64MB', TRUE), \
         set_config('max_parallel_workers_per_gather', '0', TRUE)",
    )
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query_as(&sql).bind(tsquery).bind(RANKED_WINDOW).bind(fetch).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows)
}
