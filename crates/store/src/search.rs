//! Ranked full-text search: the best documents first, within a ticket filter
//! (and so within the reader's scope, in the query itself).

use crate::db::{Conn, Db, Raw, Result};
use crate::tickets::{push_conditions, push_document_numbers, PrefixWords, TicketFilter};
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
    if filter.is_everything() && (sqlite || has_recency_indexes(conn).await?) {
        let rows = recent_best(db, conn, query, limit).await?;
        return Ok(best_per_ticket(rows, limit));
    }
    let fts5 = if sqlite { fts5_expression(conn, query).await? } else { String::new() };
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
async fn recent_best(db: &Db, conn: &mut Conn, query: &SearchQuery, fetch: i64) -> Result<Vec<(i64, String, bool)>> {
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
                Some(mut c) => Some(recent_best_of_kind(&mut c, text, kind, fetch).await),
                None => None,
            }
        }
    };
    let (tickets, replies, files) =
        futures_util::future::join3(recent_best_of_kind(conn, &text, 0, fetch), aside(replies, 1), aside(files, 2))
            .await;
    let replies = match replies {
        Some(rows) => rows?,
        None => recent_best_of_kind(conn, &text, 1, fetch).await?,
    };
    let files = match files {
        Some(rows) => rows?,
        None => recent_best_of_kind(conn, &text, 2, fetch).await?,
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
    fetch: i64,
) -> Result<Vec<(i64, String, bool, f64, i64)>> {
    if let Raw::Postgres(c) = conn.raw() {
        return recent_best_of_kind_postgres(c, text, kind, fetch).await;
    }
    let sql = format!(
        "SELECT ticket_id, body, internal, score, number FROM \
         (SELECT s.ticket_id, s.body, s.internal = 1 AS internal, w.score, w.number, \
         ROW_NUMBER() OVER (PARTITION BY s.ticket_id ORDER BY w.score, w.number DESC) AS place FROM \
         (SELECT rowid AS number, bm25(search_index) AS score FROM search_index \
         WHERE search_index MATCH $1 AND rowid % 4 = {kind} ORDER BY rowid DESC LIMIT $2) w \
         JOIN search_index s ON s.rowid = w.number) \
         WHERE place = 1 ORDER BY score, number DESC LIMIT $3"
    );
    Ok(on_conn!(conn, |c| sqlx::query_as(&sql).bind(text).bind(RANKED_WINDOW).bind(fetch).fetch_all(&mut *c).await)?)
}

/// The PostgreSQL side of [`recent_best_of_kind`], from the kind's RUM index
/// (see [`ensure_recency_indexes`]), which keeps each document's number
/// beside its words and so yields the most recent matches without reading
/// every one from the table. The planner misjudges how many documents a
/// common word matches and would read them all through a bitmap instead;
/// RUM sorts the matches' numbers in `work_mem`, which spilled to disk at
/// the default 4 MB for a prefix (221 ms, 83 ms in memory at 1M tickets).
async fn recent_best_of_kind_postgres(
    conn: &mut sqlx::PgConnection,
    tsquery: &str,
    kind: i64,
    fetch: i64,
) -> Result<Vec<(i64, String, bool, f64, i64)>> {
    let sql = format!(
        "SELECT ticket_id, body, internal, score, number FROM \
         (SELECT DISTINCT ON (ticket_id) ticket_id, body, internal, score, number FROM \
         (SELECT ticket_id, body, internal, -ts_rank(tsv, to_tsquery('french', $1))::FLOAT8 AS score, id AS number \
         FROM search_docs WHERE tsv @@ to_tsquery('french', $1) AND id % 4 = {kind} \
         ORDER BY id <=| 9223372036854775807::BIGINT LIMIT $2) w \
         ORDER BY ticket_id, score, number DESC) best ORDER BY score, number DESC LIMIT $3"
    );
    let mut tx = sqlx::Connection::begin(conn).await?;
    sqlx::query("SELECT set_config('enable_bitmapscan', 'off', TRUE), set_config('work_mem', '64MB', TRUE)")
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query_as(&sql).bind(tsquery).bind(RANKED_WINDOW).bind(fetch).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows)
}

/// The names of the RUM indexes, one per kind of document.
fn recency_index(kind: i64) -> String {
    format!("search_docs_recent_{kind}_idx")
}

/// Whether this PostgreSQL database has the recency indexes (a catalog
/// lookup, so that indexes made after start-up are used at once).
pub async fn has_recency_indexes(conn: &mut Conn) -> Result<bool> {
    let Raw::Postgres(c) = conn.raw() else { return Ok(false) };
    let found: i64 = sqlx::query_scalar("SELECT COUNT(to_regclass(name)) FROM UNNEST($1::TEXT[]) AS name")
        .bind((0..3).map(recency_index).collect::<Vec<_>>())
        .fetch_one(&mut *c)
        .await?;
    Ok(found == 3)
}

/// Drops the recency indexes for a bulk load, if there are any, and says
/// whether there were. Kept up to date, they cost each document about 0.4
/// ms (RUM's posting trees and their generic WAL), four times the rest of
/// its indexes together; made again after the load they take seconds (3 s
/// for 252,000 documents). Meanwhile the search ranks from GIN, and should
/// the load stop, the next migration makes them again.
pub async fn drop_recency_indexes(pool: &sqlx::PgPool) -> Result<bool> {
    let mut dropped = false;
    for kind in 0..3 {
        let name = recency_index(kind);
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(&name).fetch_one(pool).await?;
        if exists {
            sqlx::query(&format!("DROP INDEX IF EXISTS {name}")).execute(pool).await?;
            dropped = true;
        }
    }
    Ok(dropped)
}

/// Makes the desk's search over the whole base fast on PostgreSQL when the
/// RUM extension (`postgresql-15-rum`, packaged apart from PostgreSQL) can
/// be had: GIN finds a word's documents but neither their order nor their
/// rank, so a common word or a prefix meant reading and ranking hundreds of
/// thousands of rows (1.5 s for `navigat*` at 1M tickets). The indexes are
/// derived data, made here rather than in a migration: a migration cannot
/// depend on a package the server may lack, a superuser must create the
/// extension, and a restore must not fail where it is missing. Without them
/// the search works as before, from GIN. Returns whether they are there.
pub async fn ensure_recency_indexes(pool: &sqlx::PgPool) -> Result<bool> {
    let installed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'rum')").fetch_one(pool).await?;
    if !installed {
        let creatable: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum') \
             AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
        )
        .fetch_one(pool)
        .await?;
        if !creatable {
            tracing::info!(
                "the RUM extension is not installed in this database: the desk's search over every ticket \
                 ranks all matches (see docs/performance.md; a superuser may `CREATE EXTENSION rum`)"
            );
            return Ok(false);
        }
        sqlx::query("CREATE EXTENSION IF NOT EXISTS rum").execute(pool).await?;
    }
    for kind in 0..3 {
        let name = recency_index(kind);
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(&name).fetch_one(pool).await?;
        if exists {
            continue;
        }
        let started = std::time::Instant::now();
        let sql = format!(
            "CREATE INDEX IF NOT EXISTS {name} ON search_docs USING rum (tsv rum_tsvector_addon_ops, id) \
             WITH (attach = 'id', to = 'tsv') WHERE id % 4 = {kind}"
        );
        sqlx::query(&sql).execute(pool).await?;
        tracing::info!(index = %name, seconds = started.elapsed().as_secs_f64(), "search index made");
    }
    Ok(true)
}
