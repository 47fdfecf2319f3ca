//! PostgreSQL's RUM indexes for the desk's search over every ticket: one per
//! kind of document and range of document numbers.
//!
//! GIN finds a word's documents but neither their order nor their rank, so
//! a common word or a prefix meant reading and ranking hundreds of
//! thousands of rows (1.5 s for `navigat*` at 1M tickets). RUM keeps each
//! document's number beside its words, but it gathers and sorts every match
//! an index holds before it yields the most recent: one index of every
//! reply took 132 ms for `navigat*` at 1M tickets (231,173 matches), the
//! newest 500,000 replies' 19 ms. So each kind's documents are indexed by
//! range ([`SPAN`] numbers each), the newest range open-ended so that no
//! document is ever outside an index, and the search reads the newest range
//! first.
//!
//! The indexes are derived data, made by [`ensure_recency_indexes`] rather
//! than by a migration: a migration cannot depend on a package the server
//! may lack (`postgresql-15-rum`), a superuser must create the extension,
//! and a restore must not fail where it is missing. Without them the search
//! works from GIN. The ranges are named after their bounds
//! (`search_docs_recent_1_from_10000000_to_12000000`), so the catalog alone
//! says which there are, in a dump as in a live database.

use crate::db::{Conn, Raw, Result};

/// How many document numbers each closed range covers: 500,000 documents
/// of each kind (numbers interleave the kinds, `id × 4 + kind`).
pub const SPAN: i64 = 2_000_000;

/// The kinds of documents: ticket text, reply or note, file name.
const KINDS: [i64; 3] = [0, 1, 2];

/// The names of the indexes start with this (and so did those of one index
/// per kind, before the ranges; `guichet restore` leaves both out).
const PREFIX: &str = "search_docs_recent_";

/// The advisory lock held while the indexes change, so that two nodes (the
/// clock job of one, the migration of another) never build the same range
/// twice, and an index left invalid is known to be a build that stopped.
const LOCK: i64 = 0x6775_6963_6865_7401;

/// A range of one kind's document numbers with a RUM index of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub kind: i64,
    pub from: i64,
    /// The end, excluded; `None` for the newest range, which has none.
    pub to: Option<i64>,
}

impl Segment {
    pub fn name(&self) -> String {
        match self.to {
            Some(to) => format!("{PREFIX}{}_from_{}_to_{to}", self.kind, self.from),
            None => format!("{PREFIX}{}_from_{}", self.kind, self.from),
        }
    }

    /// The range an index name stands for, if it is one.
    pub fn parse(name: &str) -> Option<Segment> {
        let number = |text: &str| text.parse::<i64>().ok().filter(|n| *n >= 0);
        let parts: Vec<&str> = name.strip_prefix(PREFIX)?.split('_').collect();
        let segment = match parts.as_slice() {
            [kind, "from", from] => Segment { kind: number(kind)?, from: number(from)?, to: None },
            [kind, "from", from, "to", to] => {
                Segment { kind: number(kind)?, from: number(from)?, to: Some(number(to)?) }
            }
            _ => return None,
        };
        let ordered = segment.to.is_none_or(|to| to > segment.from);
        (KINDS.contains(&segment.kind) && ordered).then_some(segment)
    }

    /// The index's predicate, which a query must repeat word for word for
    /// the planner to use the index.
    pub fn condition(&self) -> String {
        match self.to {
            Some(to) => format!("id % 4 = {} AND id >= {} AND id < {to}", self.kind, self.from),
            None => format!("id % 4 = {} AND id >= {}", self.kind, self.from),
        }
    }
}

/// Each kind's ranges, newest first, from an open-ended one down to number 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexes {
    chains: Vec<Vec<Segment>>,
}

impl Indexes {
    /// The ranges that cover every number of each kind without overlap,
    /// among those given; `None` when a kind has no such set. While the
    /// ranges change, superseded ones stay until the new ones are made.
    pub fn covering(segments: &[Segment]) -> Option<Indexes> {
        let chains = KINDS.iter().map(|&kind| chain(segments, kind)).collect::<Option<Vec<_>>>()?;
        Some(Indexes { chains })
    }

    /// The ranges of `kind`, newest first.
    pub fn of_kind(&self, kind: i64) -> &[Segment] {
        usize::try_from(kind).ok().and_then(|k| self.chains.get(k)).map_or(&[], Vec::as_slice)
    }
}

/// The newest open-ended range of `kind` that closed ranges continue down
/// to number 0, with them.
fn chain(segments: &[Segment], kind: i64) -> Option<Vec<Segment>> {
    let mut open: Vec<&Segment> = segments.iter().filter(|s| s.kind == kind && s.to.is_none()).collect();
    open.sort_by_key(|s| std::cmp::Reverse(s.from));
    open.into_iter().find_map(|top| {
        let mut below = closed_down_to_zero(segments, kind, top.from)?;
        below.insert(0, *top);
        Some(below)
    })
}

/// Closed ranges of `kind` that end at `to` and follow each other down to
/// number 0, the shortest first where several end at the same number.
fn closed_down_to_zero(segments: &[Segment], kind: i64, to: i64) -> Option<Vec<Segment>> {
    if to == 0 {
        return Some(Vec::new());
    }
    let mut ending: Vec<&Segment> = segments.iter().filter(|s| s.kind == kind && s.to == Some(to)).collect();
    ending.sort_by_key(|s| std::cmp::Reverse(s.from));
    ending.into_iter().find_map(|segment| {
        let mut below = closed_down_to_zero(segments, kind, segment.from)?;
        below.insert(0, *segment);
        Some(below)
    })
}

/// Where the open range starting at `from` is cut into closed ranges of
/// `span`, given the greatest number of its kind: once it holds a quarter
/// more than a span, so that the newest range holds between a quarter of a
/// span and a span and a quarter.
fn cuts(from: i64, greatest: i64, span: i64) -> Vec<i64> {
    let mut cuts = Vec::new();
    let mut start = from;
    while greatest.saturating_sub(start) >= span + span / 4 {
        start += span;
        cuts.push(start);
    }
    cuts
}

/// The ranges of each kind to have, given those there are (valid ones) and
/// the greatest number of each kind: the ranges kept, then those to make,
/// newest last. Only a refresh cuts the open range of a kind that has its
/// ranges already.
fn plan(valid: &[Segment], greatest: [i64; 3], span: i64, pass: Pass) -> Vec<Segment> {
    let mut wanted = Vec::new();
    for kind in KINDS {
        let kept = chain(valid, kind);
        if let (Some(kept), Pass::Ensure) = (&kept, pass) {
            wanted.extend(kept.iter().rev().copied());
            continue;
        }
        let kept = kept.unwrap_or_default();
        let mut from = kept.first().map_or(0, |open| open.from);
        // The closed ranges kept, oldest first.
        wanted.extend(kept.iter().skip(1).rev().copied());
        for cut in cuts(from, greatest[kind as usize], span) {
            wanted.push(Segment { kind, from, to: Some(cut) });
            from = cut;
        }
        wanted.push(Segment { kind, from, to: None });
    }
    wanted
}

/// Which pass makes the indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// At a migration or after a bulk load: makes the ranges of a kind that
    /// has none (a new base, a load's end, RUM just added), with plain
    /// builds, quickest when nothing else writes. It cuts no open range:
    /// a node starting beside others must not hold their writes back.
    Ensure,
    /// The clock job's, daily: cuts the open ranges that have grown, with
    /// builds that let writes go on.
    Refresh,
}

impl Pass {
    fn keyword(self) -> &'static str {
        match self {
            Pass::Ensure => "",
            Pass::Refresh => " CONCURRENTLY",
        }
    }
}

/// The ranges of valid indexes on `search_docs`, each kind's chain; `None`
/// when one is missing (no RUM, or a bulk load under way). A catalog
/// lookup, so that indexes made after start-up are used at once.
pub async fn indexes(conn: &mut Conn) -> Result<Option<Indexes>> {
    let Raw::Postgres(c) = conn.raw() else { return Ok(None) };
    let valid: Vec<Segment> =
        index_names(c).await?.into_iter().filter(|(_, valid)| *valid).filter_map(|(n, _)| Segment::parse(&n)).collect();
    Ok(Indexes::covering(&valid))
}

/// Whether this PostgreSQL database has the recency indexes.
pub async fn has_recency_indexes(conn: &mut Conn) -> Result<bool> {
    Ok(indexes(conn).await?.is_some())
}

/// The names of the search's recency indexes, and whether each is valid (a
/// build stopped midway leaves an invalid one).
async fn index_names(c: &mut sqlx::PgConnection) -> Result<Vec<(String, bool)>> {
    Ok(sqlx::query_as(
        "SELECT c.relname::TEXT, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE i.indrelid = to_regclass('search_docs') AND starts_with(c.relname::TEXT, $1)",
    )
    .bind(PREFIX)
    .fetch_all(&mut *c)
    .await?)
}

/// Drops the recency indexes for a bulk load, if there are any, and says
/// whether there were. Kept up to date, they cost each document about 0.4
/// ms (RUM's posting trees and their generic WAL), four times the rest of
/// its indexes together; made again after the load they take seconds (3 s
/// for 252,000 documents). Meanwhile the search ranks from GIN, and should
/// the load stop, the next migration makes them again.
pub async fn drop_recency_indexes(pool: &sqlx::PgPool) -> Result<bool> {
    let mut c = pool.acquire().await?;
    let names = index_names(&mut c).await?;
    for (name, _) in &names {
        sqlx::query(&format!("DROP INDEX IF EXISTS {}", quoted(name))).execute(&mut *c).await?;
    }
    Ok(!names.is_empty())
}

/// Makes the desk's search over the whole base fast on PostgreSQL when the
/// RUM extension can be had (see the module's comment), at a migration or
/// after a bulk load. Returns whether the indexes are there.
pub async fn ensure_recency_indexes(pool: &sqlx::PgPool) -> Result<bool> {
    maintain(pool, SPAN, Pass::Ensure).await
}

/// Makes the ranges `plan` asks for and drops those it no longer needs
/// (and the one index per kind of before the ranges), under [`LOCK`]; when
/// another session holds it, that session does the work and this does
/// nothing. Returns whether the search has its indexes afterwards.
pub async fn maintain(pool: &sqlx::PgPool, span: i64, pass: Pass) -> Result<bool> {
    if !rum_installed(pool).await? {
        return Ok(false);
    }
    let mut c = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LOCK).fetch_one(&mut *c).await?;
    if !locked {
        tracing::info!("the search's recency indexes are being made by another session");
        return Ok(false);
    }
    let outcome = maintain_locked(&mut c, span, pass).await;
    let unlocked = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)").bind(LOCK).fetch_one(&mut *c).await;
    if !matches!(unlocked, Ok(true)) {
        // A connection still holding the lock must not go back to the pool.
        drop(c.detach());
    }
    outcome
}

async fn maintain_locked(c: &mut sqlx::PgConnection, span: i64, pass: Pass) -> Result<bool> {
    let mut valid = Vec::new();
    for (name, is_valid) in index_names(c).await? {
        match Segment::parse(&name) {
            Some(segment) if is_valid => valid.push(segment),
            // Under the lock no build is under way: this one stopped midway.
            Some(_) => drop_index(c, &name, pass).await?,
            None => {}
        }
    }
    let greatest: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COALESCE(MAX(id), 0) * 4 FROM tickets), (SELECT COALESCE(MAX(id), 0) * 4 + 1 FROM comments), \
         (SELECT COALESCE(MAX(id), 0) * 4 + 2 FROM attachments)",
    )
    .fetch_one(&mut *c)
    .await?;
    let wanted = plan(&valid, [greatest.0, greatest.1, greatest.2], span, pass);
    for segment in wanted.iter().filter(|s| !valid.contains(s)) {
        let started = std::time::Instant::now();
        let sql = format!(
            "CREATE INDEX{} IF NOT EXISTS {} ON search_docs USING rum (tsv rum_tsvector_addon_ops, id) \
             WITH (attach = 'id', to = 'tsv') WHERE {}",
            pass.keyword(),
            quoted(&segment.name()),
            segment.condition()
        );
        sqlx::query(&sql).execute(&mut *c).await?;
        tracing::info!(index = %segment.name(), seconds = started.elapsed().as_secs_f64(), "search index made");
    }
    // Superseded ranges, and the one index per kind of before the ranges.
    for (name, _) in index_names(c).await? {
        if !Segment::parse(&name).is_some_and(|s| wanted.contains(&s)) {
            drop_index(c, &name, pass).await?;
        }
    }
    Ok(true)
}

async fn drop_index(c: &mut sqlx::PgConnection, name: &str, pass: Pass) -> Result<()> {
    sqlx::query(&format!("DROP INDEX{} IF EXISTS {}", pass.keyword(), quoted(name))).execute(&mut *c).await?;
    tracing::info!(index = %name, "search index dropped");
    Ok(())
}

/// An index name as an SQL identifier. The names come from the catalog or
/// from [`Segment::name`], but a name is never pasted into SQL unquoted.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether the RUM extension is in this database, creating it when it is
/// available and this user may.
async fn rum_installed(pool: &sqlx::PgPool) -> Result<bool> {
    let installed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'rum')").fetch_one(pool).await?;
    if installed {
        return Ok(true);
    }
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
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(kind: i64, from: i64) -> Segment {
        Segment { kind, from, to: None }
    }

    fn closed(kind: i64, from: i64, to: i64) -> Segment {
        Segment { kind, from, to: Some(to) }
    }

    #[test]
    fn a_range_is_read_back_from_its_index_name_and_nothing_else_is() {
        for segment in [open(0, 0), open(2, 12_000_000), closed(1, 10_000_000, 12_000_000)] {
            assert_eq!(Segment::parse(&segment.name()), Some(segment));
        }
        for name in [
            "search_docs_recent_1_idx",
            "search_docs_recent_3_from_0",
            "search_docs_recent_1_from_-4",
            "search_docs_recent_1_from_8_to_8",
            "search_docs_recent_1_from_0_to_",
            "search_docs_tsv_idx",
        ] {
            assert_eq!(Segment::parse(name), None, "{name}");
        }
        assert_eq!(closed(1, 8, 16).condition(), "id % 4 = 1 AND id >= 8 AND id < 16");
    }

    #[test]
    fn each_kind_is_read_from_its_newest_range_down_to_number_zero() {
        let segments = [closed(1, 0, 8), open(0, 0), closed(1, 8, 16), open(1, 16), open(2, 0)];
        let indexes = Indexes::covering(&segments).unwrap();
        assert_eq!(indexes.of_kind(1), [open(1, 16), closed(1, 8, 16), closed(1, 0, 8)]);
        assert_eq!(indexes.of_kind(0), [open(0, 0)]);
        assert_eq!(indexes.of_kind(7), []);
        // A kind with a gap, or with no open range, has no chain.
        assert_eq!(Indexes::covering(&[open(0, 0), open(1, 16), closed(1, 0, 8), open(2, 0)]), None);
        assert_eq!(Indexes::covering(&[open(0, 0), closed(1, 0, 8), open(2, 0)]), None);
    }

    #[test]
    fn ranges_being_replaced_are_read_only_once() {
        // The open range from 8 is being cut at 16: its closed half is made,
        // the new open one not yet.
        let midway = [open(0, 0), open(2, 0), closed(1, 0, 8), open(1, 8), closed(1, 8, 16)];
        assert_eq!(Indexes::covering(&midway).unwrap().of_kind(1), [open(1, 8), closed(1, 0, 8)]);
        let made = [midway.as_slice(), &[open(1, 16)]].concat();
        assert_eq!(Indexes::covering(&made).unwrap().of_kind(1), [open(1, 16), closed(1, 8, 16), closed(1, 0, 8)]);
        // Ranges of another span, the shorter ones first where they lead to 0.
        let spans = [open(0, 0), open(2, 0), closed(1, 0, 16), closed(1, 12, 16), open(1, 16)];
        assert_eq!(Indexes::covering(&spans).unwrap().of_kind(1), [open(1, 16), closed(1, 0, 16)]);
    }

    #[test]
    fn the_open_range_is_cut_once_it_holds_a_quarter_more_than_a_span() {
        assert_eq!(cuts(0, 0, 8), Vec::<i64>::new());
        assert_eq!(cuts(0, 9, 8), Vec::<i64>::new());
        assert_eq!(cuts(0, 10, 8), [8]);
        assert_eq!(cuts(8, 50, 8), [16, 24, 32, 40, 48]);
        assert_eq!(cuts(0, 12_622_105, SPAN), [2_000_000, 4_000_000, 6_000_000, 8_000_000, 10_000_000, 12_000_000]);
    }

    #[test]
    fn the_plan_keeps_the_ranges_there_are_and_only_a_refresh_cuts_the_open_one() {
        let valid = [open(0, 0), closed(1, 0, 8), open(1, 8), open(2, 0)];
        assert_eq!(
            plan(&valid, [4, 20, 2], 8, Pass::Refresh),
            [open(0, 0), closed(1, 0, 8), closed(1, 8, 16), open(1, 16), open(2, 0)]
        );
        // A migration leaves a grown open range to the clock job.
        assert_eq!(plan(&valid, [4, 20, 2], 8, Pass::Ensure), valid);
        // From nothing, as after a bulk load, either pass cuts.
        for pass in [Pass::Ensure, Pass::Refresh] {
            assert_eq!(plan(&[], [0, 12, 2], 8, pass), [open(0, 0), closed(1, 0, 8), open(1, 8), open(2, 0)]);
        }
        // A kind without its ranges gets them, beside the kinds that have theirs.
        assert_eq!(
            plan(&[open(0, 0), closed(1, 0, 8), open(1, 8)], [4, 20, 2], 8, Pass::Ensure),
            [open(0, 0), closed(1, 0, 8), open(1, 8), open(2, 0)]
        );
    }
}
