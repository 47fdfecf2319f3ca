//! Report queries: counts grouped in the database, and streams of the few
//! columns a duration needs. No query loads whole tickets.
//!
//! Every report statement but the times' weekly ones (see
//! [`for_each_resolved`]) and the desk activity's per-person lookups is sent
//! unprepared (`persistent(false)`), so that PostgreSQL plans it for its
//! period each time. A statement prepared on a
//! connection is planned for its parameters five times, then PostgreSQL may
//! keep one plan for any parameters, which misjudges how many rows a year
//! holds: at 1M tickets the year's escalations took 340 ms with it instead
//! of 130, and the tickets by establishment 270 instead of 120, on every
//! connection that had run the report five times. Planning costs a report
//! a millisecond or so; SQLite prepares its statements again, as cheaply.

use crate::db::{from_micros, to_micros, Conn, Db, Raw, Result};
use crate::tickets::{push_conditions, push_in, TicketFilter};
use chrono::{DateTime, Duration, Utc};
use futures_util::TryStreamExt;
use guichet_domain::ticket::{Priority, TicketType};
use sqlx::QueryBuilder;

/// Which instant of a ticket is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    Created,
    Resolved,
}

impl Moment {
    fn column(self) -> &'static str {
        match self {
            Moment::Created => "t.created_at",
            Moment::Resolved => "t.resolved_at",
        }
    }

    /// The column of `ticket_hour_counts` that counts this instant.
    fn hour_column(self) -> &'static str {
        match self {
            Moment::Created => "h.created",
            Moment::Resolved => "h.resolved",
        }
    }
}

/// Tickets whose `moment` falls in each `[start, end)` span, in order.
///
/// The whole desk's counts come from `ticket_hour_counts` (migration 0041)
/// for the spans' whole hours, and from `tickets` only for a part-hour edge:
/// a month is 720 rows instead of 330,000 index entries at the demo's
/// density. A narrower filter counts the tickets themselves, through the
/// index its scope gives.
pub async fn count_per_span(
    conn: &mut Conn,
    filter: &TicketFilter,
    moment: Moment,
    spans: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<i64>> {
    if !filter.is_everything() {
        return count_per_span_in_tickets(conn, filter, moment, spans).await;
    }
    let splits: Vec<UnitSplit> =
        spans.iter().map(|(s, e)| UnitSplit::of(to_micros(*s), to_micros(*e), HOUR_MICROS)).collect();
    let hours: Vec<(i64, i64)> = splits.iter().map(|s| s.units).collect();
    let mut counts = count_per_hours(conn, moment, &hours).await?;
    let (owners, edges): (Vec<usize>, Vec<_>) = splits
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.edges.iter().flatten().map(move |&(a, b)| (i, (from_micros(a), from_micros(b)))))
        .unzip();
    let edge_counts = count_per_span_in_tickets(conn, filter, moment, &edges).await?;
    for (owner, n) in owners.into_iter().zip(edge_counts) {
        if let Some(slot) = counts.get_mut(owner) {
            *slot += n;
        }
    }
    Ok(counts)
}

/// Tickets whose `moment` falls in each span, counted from `tickets`.
pub async fn count_per_span_in_tickets(
    conn: &mut Conn,
    filter: &TicketFilter,
    moment: Moment,
    spans: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<i64>> {
    if spans.is_empty() {
        return Ok(Vec::new());
    }
    let column = moment.column();
    // A VALUES list of the spans, each counted by a correlated subquery: one
    // index range per span on both backends (as a join, PostgreSQL would
    // compare every ticket with every span).
    let rows: Vec<(i64, i64)> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new("SELECT b.column1, (SELECT COUNT(*) FROM tickets t");
        push_conditions(&mut qb, filter);
        qb.push(format_args!(" AND {column} >= b.column2 AND {column} < b.column3) FROM (VALUES "));
        let mut list = qb.separated(", ");
        for (i, (start, end)) in spans.iter().enumerate() {
            list.push("(")
                .push_bind_unseparated(i as i64)
                .push_unseparated(", ")
                .push_bind_unseparated(to_micros(*start))
                .push_unseparated(", ")
                .push_bind_unseparated(to_micros(*end))
                .push_unseparated(")");
        }
        qb.push(") AS b");
        qb.build_query_as().persistent(false).fetch_all(&mut *c).await
    })?;
    Ok(in_order(rows, spans.len()))
}

/// The sums of `moment`'s hourly counts over each `[first, end)` range of hours.
async fn count_per_hours(conn: &mut Conn, moment: Moment, ranges: &[(i64, i64)]) -> Result<Vec<i64>> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let column = moment.hour_column();
    let rows: Vec<(i64, i64)> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(format!(
            "SELECT b.column1, (SELECT CAST(COALESCE(SUM({column}), 0) AS BIGINT) FROM ticket_hour_counts h \
             WHERE h.hour >= b.column2 AND h.hour < b.column3) FROM (VALUES "
        ));
        let mut list = qb.separated(", ");
        for (i, (first, end)) in ranges.iter().enumerate() {
            list.push("(")
                .push_bind_unseparated(i as i64)
                .push_unseparated(", ")
                .push_bind_unseparated(*first)
                .push_unseparated(", ")
                .push_bind_unseparated(*end)
                .push_unseparated(")");
        }
        qb.push(") AS b");
        qb.build_query_as().persistent(false).fetch_all(&mut *c).await
    })?;
    Ok(in_order(rows, ranges.len()))
}

/// Counts keyed by their position, in order (a missing position counts 0).
fn in_order(rows: Vec<(i64, i64)>, len: usize) -> Vec<i64> {
    let mut counts = vec![0; len];
    for (i, n) in rows {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) {
            *slot = n;
        }
    }
    counts
}

/// An hour in microseconds, the unit of `ticket_hour_counts`.
const HOUR_MICROS: i64 = 3_600_000_000;

/// A span of instants (microseconds) as the whole units (hours, days) it
/// covers and the part-unit edges around them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UnitSplit {
    /// `[first, end)` in units; empty when `first >= end`.
    units: (i64, i64),
    /// Part-unit spans in microseconds, counted from the rows themselves.
    edges: [Option<(i64, i64)>; 2],
}

impl UnitSplit {
    fn of(start: i64, end: i64, unit: i64) -> UnitSplit {
        let first = start.div_euclid(unit) + i64::from(start.rem_euclid(unit) != 0);
        let last = end.div_euclid(unit);
        let non_empty = |a: i64, b: i64| (a < b).then_some((a, b));
        if first > last {
            // Inside one unit: the span is its own edge.
            return UnitSplit { units: (0, 0), edges: [non_empty(start, end), None] };
        }
        UnitSplit { units: (first, last), edges: [non_empty(start, first * unit), non_empty(last * unit, end)] }
    }

    /// Everything before `at`: every unit before its own, and its part-unit.
    fn before(at: i64, unit: i64) -> UnitSplit {
        let current = at.div_euclid(unit);
        UnitSplit { units: (i64::MIN, current), edges: [(current * unit < at).then_some((current * unit, at)), None] }
    }
}

/// Tickets whose `moment` is before `at` (from the hourly counts for the
/// whole desk, as [`count_per_span`]).
pub async fn count_before(conn: &mut Conn, filter: &TicketFilter, moment: Moment, at: DateTime<Utc>) -> Result<i64> {
    if filter.is_everything() {
        let split = UnitSplit::before(to_micros(at), HOUR_MICROS);
        let hours = count_per_hours(conn, moment, &[split.units]).await?;
        let edges: Vec<_> = split.edges.iter().flatten().map(|&(a, b)| (from_micros(a), from_micros(b))).collect();
        let edge = count_per_span_in_tickets(conn, filter, moment, &edges).await?;
        return Ok(hours.iter().chain(&edge).sum());
    }
    let column = moment.column();
    Ok(on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new("SELECT COUNT(*) FROM tickets t");
        push_conditions(&mut qb, filter);
        qb.push(format_args!(" AND {column} < ")).push_bind(to_micros(at));
        qb.build_query_scalar().persistent(false).fetch_one(&mut *c).await
    })?)
}

/// Folds each hour's rows of differences into one (PostgreSQL, where every
/// change to `tickets` appends one: migration 0041); the rows folded. One
/// statement deletes the rows it sums, so a filing committed meanwhile
/// keeps its row for the next fold, and two nodes folding at once each
/// sum only what they deleted. SQLite's triggers update the hour in place.
pub async fn fold_hour_counts(conn: &mut Conn) -> Result<u64> {
    let Raw::Postgres(c) = conn.raw() else {
        return Ok(0);
    };
    let done = sqlx::query(
        "WITH gone AS (DELETE FROM ticket_hour_counts WHERE hour IN \
         (SELECT hour FROM ticket_hour_counts GROUP BY hour HAVING COUNT(*) > 1) RETURNING hour, created, resolved) \
         INSERT INTO ticket_hour_counts (hour, created, resolved) \
         SELECT hour, SUM(created), SUM(resolved) FROM gone GROUP BY hour",
    )
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected())
}

/// After a bulk load's [`fold_hour_counts`]: writes the hourly counts
/// again in as few pages as they need (PostgreSQL). The fold leaves its
/// rows after every page the load's rows of differences filled, and the
/// sums read those pages: after the 1M demo, 54 MB for 2,154 rows, and 20
/// ms for a backlog. The clock job's folds each minute keep a running
/// desk's table small; a load writes a million rows between two.
///
/// `VACUUM FULL` also copies the rows another transaction of the database
/// may still see, such as the fold's deleted rows while an autovacuum
/// worker's `ANALYZE` of the load's tables holds its snapshot: when the
/// table comes out larger than its rows need, it is tried again a little
/// later, a few times.
pub async fn compact_hour_counts(conn: &mut Conn) -> Result<()> {
    let Raw::Postgres(c) = conn.raw() else { return Ok(()) };
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        sqlx::query("VACUUM FULL ANALYZE ticket_hour_counts").execute(&mut *c).await?;
        let (rows, pages): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM ticket_hour_counts), \
             pg_relation_size('ticket_hour_counts') / current_setting('block_size')::BIGINT",
        )
        .fetch_one(&mut *c)
        .await?;
        // About 120 rows fit a page.
        if pages <= rows / 100 + 1 {
            break;
        }
    }
    Ok(())
}

/// What tickets created in a span are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Type,
    Priority,
    Channel,
    Tier,
    Category,
    Establishment,
}

impl Dimension {
    /// The column grouped by: category and establishment by their number,
    /// so that an index on it gives the groups in order (no sort).
    fn column(self) -> &'static str {
        match self {
            Dimension::Type => "t.ticket_type",
            Dimension::Priority => "t.priority",
            Dimension::Channel => "t.channel",
            Dimension::Tier => "t.tier",
            Dimension::Category => "t.category_id",
            Dimension::Establishment => "t.establishment_id",
        }
    }

    /// The group's key as text (no category: the empty string).
    fn key(self) -> &'static str {
        match self {
            Dimension::Category => "COALESCE(CAST(t.category_id AS TEXT), '')",
            Dimension::Establishment => "CAST(t.establishment_id AS TEXT)",
            other => other.column(),
        }
    }
}

/// Counts of tickets created in `[start, end)` per value of `dimension`
/// (category and establishment by id), largest first.
pub async fn count_by(
    conn: &mut Conn,
    filter: &TicketFilter,
    dimension: Dimension,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(String, i64)>> {
    let (column, key) = (dimension.column(), dimension.key());
    Ok(on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(format!("SELECT {key}, COUNT(*) FROM tickets t"));
        push_conditions(&mut qb, filter);
        qb.push(" AND t.created_at >= ").push_bind(to_micros(start));
        qb.push(" AND t.created_at < ").push_bind(to_micros(end));
        qb.push(format_args!(" GROUP BY {column} ORDER BY COUNT(*) DESC, {key}"));
        qb.build_query_as().persistent(false).fetch_all(&mut *c).await
    })?)
}

/// The clocks of a ticket resolved in a span: the instants only, as a
/// period can hold hundreds of thousands of them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ResolvedClocks {
    pub created_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: i64,
}

/// On SQLite, the index a whole desk's period by resolution is read from.
/// Its planner prefers a skip-scan of the service-level index, then reads
/// each ticket from the table: 1.6 s for a month of service levels at
/// 1,000,000 tickets, against 0.22 s from `tickets_resolved_idx`, which
/// carries what these reports read (migration 0034). A narrower filter
/// leaves the choice to the planner (a school's index, say).
fn by_resolution(filter: &TicketFilter) -> &'static str {
    if filter.is_everything() {
        " INDEXED BY tickets_resolved_idx"
    } else {
        ""
    }
}

/// Calls `each` for every ticket resolved in `[start, end)`, in no
/// particular order.
///
/// A whole desk's year is 830,000 tickets in the demo. Row by row, the
/// hand-over of each row cost more than reading it: on SQLite sqlx passes
/// each row from its worker thread through a channel (525 ms for a month);
/// on PostgreSQL each row went through sqlx's stream and decoder (about
/// 0.2 µs of the server's time for 0.15 µs of PostgreSQL's). A week's
/// clocks come as three arrays in one row instead (a few MB at most), and
/// the weeks are read on two connections when the pool has a spare, each
/// taking every other week, so that both processors work on them.
pub async fn for_each_resolved(
    db: &Db,
    conn: &mut Conn,
    filter: &TicketFilter,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    mut each: impl FnMut(ResolvedClocks),
) -> Result<()> {
    let mut weeks = Vec::new();
    let mut from = start;
    while from < end {
        let until = (from + Duration::days(7)).min(end);
        weeks.push((to_micros(from), to_micros(until)));
        from = until;
    }
    let mut hand = |packed: PackedClocks| {
        for ((created_at, first_response_at), resolved_at) in packed.0.into_iter().zip(packed.1).zip(packed.2) {
            each(ResolvedClocks { created_at, first_response_at, resolved_at });
        }
    };
    let spare = if weeks.len() > 1 { db.spare().await? } else { None };
    let Some(mut spare) = spare else {
        for (from, until) in weeks {
            hand(packed_resolved(conn, filter, from, until).await?);
        }
        return Ok(());
    };
    // At most two weeks wait for `each` beside the two being read.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<PackedClocks>(2);
    let every_other = |first: usize| weeks.iter().skip(first).step_by(2).copied().collect::<Vec<_>>();
    let even = send_packed(conn, filter, every_other(0), sender.clone());
    let odd = send_packed(&mut spare, filter, every_other(1), sender);
    let handed = async {
        while let Some(packed) = receiver.recv().await {
            hand(packed);
        }
    };
    let (even, odd, ()) = futures_util::future::join3(even, odd, handed).await;
    even?;
    odd?;
    Ok(())
}

/// Reads the [`PackedClocks`] of each of `weeks` in turn into `sender`.
async fn send_packed(
    conn: &mut Conn,
    filter: &TicketFilter,
    weeks: Vec<(i64, i64)>,
    sender: tokio::sync::mpsc::Sender<PackedClocks>,
) -> Result<()> {
    for (from, until) in weeks {
        let packed = packed_resolved(conn, filter, from, until).await?;
        if sender.send(packed).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// The clocks of the tickets resolved in a span, column by column: created,
/// first response, resolved (microseconds).
type PackedClocks = (Vec<i64>, Vec<Option<i64>>, Vec<i64>);

/// [`PackedClocks`] of the tickets resolved in `[start, end)` (microseconds), in one row.
async fn packed_resolved(conn: &mut Conn, filter: &TicketFilter, start: i64, end: i64) -> Result<PackedClocks> {
    Ok(match conn.raw() {
        Raw::Sqlite(c) => {
            let hint = by_resolution(filter);
            let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(format!(
                "SELECT json_group_array(t.created_at), json_group_array(t.first_response_at), \
                 json_group_array(t.resolved_at) FROM tickets t{hint}"
            ));
            push_conditions(&mut qb, filter);
            qb.push(" AND t.resolved_at >= ").push_bind(start);
            qb.push(" AND t.resolved_at < ").push_bind(end);
            let (created, answered, resolved): (String, String, String) =
                qb.build_query_as().fetch_one(&mut *c).await?;
            let decode = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
            (
                serde_json::from_str(&created).map_err(decode)?,
                serde_json::from_str(&answered).map_err(decode)?,
                serde_json::from_str(&resolved).map_err(decode)?,
            )
        }
        Raw::Postgres(c) => {
            let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(
                "SELECT string_agg(int8send(t.created_at) || int8send(COALESCE(t.first_response_at, ",
            );
            qb.push_bind(NEVER_ANSWERED).push(")) || int8send(t.resolved_at), '') FROM tickets t");
            push_conditions(&mut qb, filter);
            qb.push(" AND t.resolved_at >= ").push_bind(start);
            qb.push(" AND t.resolved_at < ").push_bind(end);
            // Prepared, unlike the other reports' statements: a period is
            // read a week per statement (52 for a year), weeks hold alike
            // numbers of tickets, and one plan serves them all; planning
            // each week again took the year's report from 250 to 290 ms.
            let packed: Option<Vec<u8>> = qb.build_query_scalar().fetch_one(&mut *c).await?;
            unpack_clocks(&packed.unwrap_or_default())?
        }
    })
}

/// A ticket never answered, among PostgreSQL's packed clocks.
const NEVER_ANSWERED: i64 = i64::MIN;

/// The big-endian integers PostgreSQL packed into one `bytea` with
/// `int8send`, in records of `per_record`. sqlx decodes an array element
/// by element through its generic decoder, which was a third of the
/// process's time in the times report over a year (830,000 tickets, three
/// arrays); one `bytea` is copied once.
fn packed_numbers(bytes: &[u8], per_record: usize) -> std::result::Result<Vec<i64>, sqlx::Error> {
    if !bytes.len().is_multiple_of(8 * per_record) {
        return Err(sqlx::Error::Decode(
            format!("packed numbers of {} bytes, not records of {}", bytes.len(), 8 * per_record).into(),
        ));
    }
    Ok(bytes.chunks_exact(8).map(|b| b.first_chunk::<8>().map_or(0, |b| i64::from_be_bytes(*b))).collect())
}

/// [`PackedClocks`] from PostgreSQL's records of three numbers: created,
/// first response or [`NEVER_ANSWERED`], resolved.
fn unpack_clocks(bytes: &[u8]) -> std::result::Result<PackedClocks, sqlx::Error> {
    let numbers = packed_numbers(bytes, 3)?;
    let n = numbers.len() / 3;
    let (mut created, mut answered, mut resolved) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for record in numbers.chunks_exact(3) {
        created.push(record[0]);
        answered.push(Some(record[1]).filter(|at| *at != NEVER_ANSWERED));
        resolved.push(record[2]);
    }
    Ok((created, answered, resolved))
}

/// Per type and priority, tickets resolved in `[start, end)` and how many met their service levels.
pub async fn sla_met(
    conn: &mut Conn,
    filter: &TicketFilter,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(String, String, i64, i64)>> {
    // On SQLite, the whole desk's period is read per pair of type and
    // priority from `tickets_kind_resolved_sqlite_idx`, already grouped: grouping
    // a range by resolution sorted every ticket of it (migrations 0035, 0037).
    // The store writes no type or priority outside their vocabularies; a
    // row that has one anyway (edited by hand) sends the report the slow way.
    if conn.backend() == crate::Backend::Sqlite && filter.is_everything() {
        let rows = sla_met_by(conn, filter, start, end, true).await?;
        let resolved: i64 = on_conn!(conn, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM tickets t INDEXED BY tickets_resolved_idx WHERE t.resolved_at >= $1 AND t.resolved_at < $2",
            )
            .bind(to_micros(start))
            .bind(to_micros(end))
            .fetch_one(&mut *c)
            .await
        })?;
        if rows.iter().map(|r| r.2).sum::<i64>() == resolved {
            return Ok(rows);
        }
    }
    sla_met_by(conn, filter, start, end, false).await
}

async fn sla_met_by(
    conn: &mut Conn,
    filter: &TicketFilter,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    by_kind: bool,
) -> Result<Vec<(String, String, i64, i64)>> {
    Ok(on_conn!(conn, |c| {
        let hint = if by_kind { " INDEXED BY tickets_kind_resolved_sqlite_idx" } else { "" };
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(format!(
            "SELECT t.ticket_type, t.priority, COUNT(*), \
             SUM(CASE WHEN t.sla_state = 'breached' THEN 0 ELSE 1 END) FROM tickets t{hint}"
        ));
        push_conditions(&mut qb, filter);
        if by_kind {
            push_in(&mut qb, "t.ticket_type", TicketType::ALL.iter().map(|t| t.as_str()));
            push_in(&mut qb, "t.priority", Priority::ALL.iter().map(|p| p.as_str()));
        }
        qb.push(" AND t.resolved_at >= ").push_bind(to_micros(start));
        qb.push(" AND t.resolved_at < ").push_bind(to_micros(end));
        qb.push(" GROUP BY t.ticket_type, t.priority");
        qb.build_query_as().persistent(false).fetch_all(&mut *c).await
    })?)
}

/// A late ticket, for the list of breaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub id: i64,
    pub title: String,
    pub ticket_type: String,
    pub priority: String,
    pub establishment: String,
    pub created_at: DateTime<Utc>,
    pub resolution_due: Option<DateTime<Utc>>,
}

/// Tickets created in `[start, end)` whose service level was breached, newest first.
pub async fn list_breaches(
    conn: &mut Conn,
    filter: &TicketFilter,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Breach>> {
    type Row = (i64, String, String, String, String, i64, Option<i64>);
    let rows: Vec<Row> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(
            "SELECT t.id, t.title, t.ticket_type, t.priority, e.name, t.created_at, t.resolution_due \
             FROM tickets t JOIN establishments e ON e.id = t.establishment_id",
        );
        push_conditions(&mut qb, filter);
        qb.push(" AND t.sla_state = 'breached' AND t.created_at >= ").push_bind(to_micros(start));
        qb.push(" AND t.created_at < ").push_bind(to_micros(end));
        qb.push(" ORDER BY t.created_at DESC, t.id DESC LIMIT ").push_bind(limit);
        qb.build_query_as().persistent(false).fetch_all(&mut *c).await
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, title, ticket_type, priority, establishment, created, due)| Breach {
            id,
            title,
            ticket_type,
            priority,
            establishment,
            created_at: from_micros(created),
            resolution_due: due.map(from_micros),
        })
        .collect())
}

/// One member of the desk's work over a span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    pub user_id: i64,
    pub name: String,
    pub replies: i64,
    pub notes: i64,
    pub resolutions: i64,
    pub tickets: i64,
}

/// Replies, internal notes, resolutions and tickets touched per staff member.
///
/// Its statements stay prepared, unlike the other reports': each reads one
/// person's range of a key (author or actor, then day or instant), which one
/// plan serves for any period, and planning the statement of every member
/// again took the year's report from 157–161 to 185–192 ms at 1M tickets.
pub async fn agent_activity(
    db: &Db,
    conn: &mut Conn,
    filter: &TicketFilter,
    resolved_statuses: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Activity>> {
    // The desk first (a handful of people), then each one's range of the
    // author indexes, read in author order: grouped without a sort, and
    // without reading a comment or event from its table (migration 0035).
    let staff: Vec<(i64, String)> = on_conn!(conn, |c| {
        sqlx::query_as("SELECT id, name FROM users WHERE role <> 'requester' ORDER BY id").fetch_all(&mut *c).await
    })?;
    if staff.is_empty() {
        return Ok(Vec::new());
    }
    let ids = || staff.iter().map(|(id, _)| *id);
    // Without a condition on the tickets, the comments and events are counted alone.
    let everything = filter.is_everything();
    // Over a busy year the comments are millions of index entries (2.1M of
    // the desk's over the demo's 90 days, beside 43,000 resolutions): the
    // later half of the time they span is read on a second connection
    // (resolutions with each half), so that both processors work on them.
    // By time rather than by person: a desk's members write unequal shares
    // (the demo's agents nine times its technicians').
    let members: Vec<i64> = ids().collect();
    let split = match db.spare().await? {
        Some(spare) => first_comment_at(conn, &members, start, end)
            .await?
            .map(|first| first + (to_micros(end) - first) / 2)
            .filter(|middle| *middle > to_micros(start))
            .map(|middle| (spare, from_micros(middle))),
        None => None,
    };
    let (comments, resolutions) = match split {
        Some((mut spare, middle)) => {
            let (earlier, later) = futures_util::future::join(
                activity_between(conn, filter, everything, &members, resolved_statuses, start, middle),
                activity_between(&mut spare, filter, everything, &members, resolved_statuses, middle, end),
            )
            .await;
            let (mut comments, mut resolutions) = earlier?;
            let (later_comments, later_resolutions) = later?;
            for (author, replies, notes, tickets) in later_comments {
                match comments.iter_mut().find(|row| row.0 == author) {
                    Some(row) => {
                        row.1 += replies;
                        row.2 += notes;
                        row.3.extend(tickets);
                    }
                    None => comments.push((author, replies, notes, tickets)),
                }
            }
            for (actor, count) in later_resolutions {
                match resolutions.iter_mut().find(|row| row.0 == actor) {
                    Some(row) => row.1 += count,
                    None => resolutions.push((actor, count)),
                }
            }
            (comments, resolutions)
        }
        None => activity_between(conn, filter, everything, &members, resolved_statuses, start, end).await?,
    };
    let comments: Vec<(i64, i64, i64, i64)> = comments
        .into_iter()
        .map(|(author, replies, notes, mut tickets)| (author, replies, notes, distinct(&mut tickets)))
        .collect();
    let mut out: Vec<Activity> = Vec::new();
    for (user_id, name) in staff {
        let (replies, notes, tickets) =
            comments.iter().find(|row| row.0 == user_id).map_or((0, 0, 0), |row| (row.1, row.2, row.3));
        let resolutions = resolutions.iter().find(|row| row.0 == user_id).map_or(0, |row| row.1);
        if replies + notes + resolutions > 0 {
            out.push(Activity { user_id, name, replies, notes, resolutions, tickets });
        }
    }
    out.sort_by(|a, b| (b.replies + b.resolutions).cmp(&(a.replies + a.resolutions)).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// The comments of each of `members` (see [`comments_per_author`]) and their
/// resolutions in `[start, end)`.
async fn activity_between(
    conn: &mut Conn,
    filter: &TicketFilter,
    everything: bool,
    members: &[i64],
    resolved_statuses: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<AuthorsActivity> {
    let comments = comments_per_author(conn, filter, everything, members, start, end).await?;
    let resolutions = resolutions_per_actor(conn, filter, everything, members, resolved_statuses, start, end).await?;
    Ok((comments, resolutions))
}

/// Per member: (member, replies, notes, the numbers of the tickets written
/// on); then (member, resolutions).
type AuthorsActivity = (Vec<(i64, i64, i64, Vec<i64>)>, Vec<(i64, i64)>);

/// The resolutions (changes to one of `statuses`) made by each of `actors`
/// in `[start, end)`.
async fn resolutions_per_actor(
    conn: &mut Conn,
    filter: &TicketFilter,
    everything: bool,
    actors: &[i64],
    statuses: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(i64, i64)>> {
    if statuses.is_empty() {
        return Ok(Vec::new());
    }
    Ok(on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new("SELECT e.actor_id, COUNT(*) FROM ticket_events e");
        if everything {
            qb.push(" WHERE 1 = 1");
        } else {
            qb.push(" JOIN tickets t ON t.id = e.ticket_id");
            push_conditions(&mut qb, filter);
        }
        qb.push(" AND e.field = 'status'");
        push_in(&mut qb, "e.actor_id", actors.iter().copied());
        push_in(&mut qb, "e.new_value", statuses.iter().map(String::as_str));
        qb.push(" AND e.at >= ").push_bind(to_micros(start));
        qb.push(" AND e.at < ").push_bind(to_micros(end));
        qb.push(" GROUP BY e.actor_id");
        qb.build_query_as().fetch_all(&mut *c).await
    })?)
}

/// The earliest comment of any of `authors` in `[start, end)`: one probe of
/// the author index each.
async fn first_comment_at(
    conn: &mut Conn,
    authors: &[i64],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Option<i64>> {
    if authors.is_empty() {
        return Ok(None);
    }
    Ok(on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new("SELECT MIN(m) FROM (");
        let mut each = qb.separated(" UNION ALL ");
        for author in authors {
            each.push("SELECT (SELECT created_at FROM comments WHERE author_id = ")
                .push_bind_unseparated(*author)
                .push_unseparated(" AND created_at >= ")
                .push_bind_unseparated(to_micros(start))
                .push_unseparated(" AND created_at < ")
                .push_bind_unseparated(to_micros(end))
                .push_unseparated(" ORDER BY created_at LIMIT 1) AS m");
        }
        qb.push(") firsts");
        qb.build_query_scalar().fetch_one(&mut *c).await
    })?)
}

const DAY_MICROS: i64 = 24 * HOUR_MICROS;

/// Replies, internal notes and the numbers of the tickets written on (one
/// per person, ticket and day, or per comment at the edges) of each of
/// `authors` in `[start, end)`.
async fn comments_per_author(
    conn: &mut Conn,
    filter: &TicketFilter,
    everything: bool,
    authors: &[i64],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(i64, i64, i64, Vec<i64>)>> {
    // The tickets each one wrote on are counted here rather than by
    // `COUNT(DISTINCT …)` (see `count_distinct`): their numbers come as one
    // JSON array per person on SQLite, one packed `bytea` on PostgreSQL
    // (see `packed_numbers`).
    if authors.is_empty() {
        return Ok(Vec::new());
    }
    let tickets = match conn.backend() {
        crate::Backend::Sqlite => "json_group_array(x.ticket_id)",
        crate::Backend::Postgres => "string_agg(int8send(x.ticket_id), '')",
    };
    // Whole UTC days from the daily rows (migration 0046), the part-days at
    // either end from the comments themselves.
    let split = UnitSplit::of(to_micros(start), to_micros(end), DAY_MICROS);
    Ok(match conn.raw() {
        Raw::Sqlite(c) => {
            let mut qb: QueryBuilder<'_, _> = QueryBuilder::new("");
            push_comments_per_author(&mut qb, tickets, split, filter, everything, authors);
            let rows: Vec<(i64, i64, i64, String)> = qb.build_query_as().fetch_all(&mut *c).await?;
            let mut decoded = Vec::with_capacity(rows.len());
            for (author, replies, notes, tickets) in rows {
                let tickets: Vec<i64> = serde_json::from_str(&tickets).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                decoded.push((author, replies, notes, tickets));
            }
            decoded
        }
        Raw::Postgres(c) => {
            let mut qb: QueryBuilder<'_, _> = QueryBuilder::new("");
            push_comments_per_author(&mut qb, tickets, split, filter, everything, authors);
            let rows: Vec<(i64, i64, i64, Vec<u8>)> = qb.build_query_as().fetch_all(&mut *c).await?;
            let mut decoded = Vec::with_capacity(rows.len());
            for (author, replies, notes, tickets) in rows {
                decoded.push((author, replies, notes, packed_numbers(&tickets, 1)?));
            }
            decoded
        }
    })
}

/// [`comments_per_author`]'s statement, `tickets` the aggregate of their
/// numbers: one aggregate per person, each over a range of the indexes by
/// person and date. With the people in one `IN` list and one `GROUP BY`,
/// PostgreSQL read the whole table of daily rows, and hashed its 1.1M rows
/// (the demo's year): 265-480 ms against 150-220 on one processor.
fn push_comments_per_author<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    tickets: &str,
    split: UnitSplit,
    filter: &'a TicketFilter,
    everything: bool,
    authors: &[i64],
) where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    for (i, author) in authors.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push("SELECT ").push_bind(*author);
        qb.push(format_args!(", CAST(SUM(x.replies) AS BIGINT), CAST(SUM(x.notes) AS BIGINT), {tickets} FROM ("));
        qb.push("SELECT d.replies, d.notes, d.ticket_id FROM comment_days d");
        push_comment_conditions(qb, filter, everything, "d", *author);
        qb.push(" AND d.day >= ").push_bind(split.units.0);
        qb.push(" AND d.day < ").push_bind(split.units.1);
        for (from, until) in split.edges.into_iter().flatten() {
            qb.push(
                " UNION ALL SELECT CASE WHEN c.internal THEN 0 ELSE 1 END, \
                 CASE WHEN c.internal THEN 1 ELSE 0 END, c.ticket_id FROM comments c",
            );
            push_comment_conditions(qb, filter, everything, "c", *author);
            qb.push(" AND c.created_at >= ").push_bind(from);
            qb.push(" AND c.created_at < ").push_bind(until);
        }
        qb.push(") x HAVING COUNT(*) > 0");
    }
}

/// The conditions of [`agent_activity`]'s comments or daily rows (`alias`):
/// the filter's tickets (none without a condition on them), the author.
fn push_comment_conditions<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    filter: &'a TicketFilter,
    everything: bool,
    alias: &str,
    author: i64,
) where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if everything {
        qb.push(" WHERE 1 = 1");
    } else {
        qb.push(format_args!(" JOIN tickets t ON t.id = {alias}.ticket_id"));
        push_conditions(qb, filter);
    }
    qb.push(format_args!(" AND {alias}.author_id = ")).push_bind(author);
}

fn distinct(tickets: &mut [i64]) -> i64 {
    i64::try_from(guichet_domain::report::count_distinct(tickets)).unwrap_or(i64::MAX)
}

/// A change of tier of a ticket escalated in the span, with the ticket's resolution.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TierChange {
    pub ticket_id: i64,
    pub at: i64,
    pub tier: Option<String>,
    pub resolved_at: Option<i64>,
}

/// Every change of tier of the tickets escalated to the technical tier in
/// `[start, end)`, by ticket then time, streamed to `each`.
pub async fn for_each_tier_change(
    conn: &mut Conn,
    filter: &TicketFilter,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    mut each: impl FnMut(TierChange),
) -> Result<()> {
    let packed = conn.backend() == crate::Backend::Sqlite;
    // As in `for_each_resolved`: the 66,000 changes of the demo's 90 days,
    // handed over one row at a time by sqlx's SQLite worker, took 300 ms
    // where SQLite reads them in 110. On SQLite they come as one JSON array.
    let (select, order) = if packed {
        (
            "SELECT json_group_array(json_array(e.ticket_id, e.at, e.new_value, t.resolved_at) \
          ORDER BY e.ticket_id, e.at, e.id) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id",
            ")",
        )
    } else {
        (
            "SELECT e.ticket_id, e.at, e.new_value AS tier, t.resolved_at FROM ticket_events e \
          JOIN tickets t ON t.id = e.ticket_id",
            ") ORDER BY e.ticket_id, e.at, e.id",
        )
    };
    on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(select);
        push_conditions(&mut qb, filter);
        // SQLite's planner reads the period's tier changes from the index
        // by field and date, then each one's value and ticket from the table
        // (134 ms for the demo's 66,000 over 90 days) rather than from the
        // partial index of escalations, which holds both (8 ms): it does not
        // count a partial index's constant columns as covered.
        qb.push(" AND e.field = 'tier' AND e.ticket_id IN (SELECT x.ticket_id FROM ticket_events x");
        if packed {
            qb.push(" INDEXED BY ticket_events_escalated_idx");
        }
        qb.push(" WHERE x.field = 'tier' AND x.new_value = 'technical' AND x.at >= ").push_bind(to_micros(start));
        qb.push(" AND x.at < ").push_bind(to_micros(end));
        qb.push(order);
        if packed {
            let json: String = qb.build_query_scalar().persistent(false).fetch_one(&mut *c).await?;
            let changes: Vec<(i64, i64, Option<String>, Option<i64>)> =
                serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            for (ticket_id, at, tier, resolved_at) in changes {
                each(TierChange { ticket_id, at, tier, resolved_at });
            }
            return Ok(());
        }
        let mut rows = qb.build_query_as::<TierChange>().persistent(false).fetch(&mut *c);
        while let Some(row) = rows.try_next().await? {
            each(row);
        }
        Ok::<(), sqlx::Error>(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_MICROS;

    #[test]
    fn packed_clocks_come_back_as_written_and_a_torn_record_is_an_error() {
        let records = [(1_700_000_000_000_000, Some(1_700_000_060_000_000), 1_700_000_900_000_000), (-5, None, 0)];
        let mut bytes = Vec::new();
        for (created, answered, resolved) in records {
            for n in [created, answered.unwrap_or(NEVER_ANSWERED), resolved] {
                bytes.extend_from_slice(&i64::to_be_bytes(n));
            }
        }
        let (created, answered, resolved) = unpack_clocks(&bytes).unwrap();
        assert_eq!(created, [1_700_000_000_000_000, -5]);
        assert_eq!(answered, [Some(1_700_000_060_000_000), None]);
        assert_eq!(resolved, [1_700_000_900_000_000, 0]);
        assert_eq!(unpack_clocks(&[]).unwrap(), (vec![], vec![], vec![]));
        assert!(unpack_clocks(&bytes[..30]).is_err());
        assert!(unpack_clocks(&bytes[..8]).is_err());
        // A person's ticket numbers, one per record.
        assert_eq!(packed_numbers(&bytes[..16], 1).unwrap(), [1_700_000_000_000_000, 1_700_000_060_000_000]);
        assert!(packed_numbers(&bytes[..12], 1).is_err());
    }

    #[test]
    fn a_span_on_whole_hours_is_read_from_the_hours_alone() {
        assert_eq!(UnitSplit::of(10 * H, 34 * H, H), UnitSplit { units: (10, 34), edges: [None, None] });
    }

    #[test]
    fn part_hours_at_either_end_are_counted_from_the_tickets() {
        let s = UnitSplit::of(10 * H + 15, 12 * H + 30, H);
        assert_eq!(s, UnitSplit { units: (11, 12), edges: [Some((10 * H + 15, 11 * H)), Some((12 * H, 12 * H + 30))] });
        // Across one boundary: no whole hour, two edges that meet.
        let s = UnitSplit::of(10 * H + 15, 11 * H + 30, H);
        assert_eq!(s.edges, [Some((10 * H + 15, 11 * H)), Some((11 * H, 11 * H + 30))]);
        assert!(s.units.0 >= s.units.1);
    }

    #[test]
    fn a_span_inside_one_hour_is_counted_once() {
        let s = UnitSplit::of(10 * H + 15, 10 * H + 45, H);
        assert_eq!(s.edges, [Some((10 * H + 15, 10 * H + 45)), None]);
        assert!(s.units.0 >= s.units.1);
        assert_eq!(UnitSplit::of(10 * H + 15, 10 * H + 15, H).edges, [None, None]);
    }

    #[test]
    fn instants_before_1970_fall_in_the_hour_that_holds_them() {
        let s = UnitSplit::of(-H - 1, -H + 1, H);
        assert_eq!(s.edges, [Some((-H - 1, -H)), Some((-H, -H + 1))]);
        assert_eq!(UnitSplit::before(-1, H), UnitSplit { units: (i64::MIN, -1), edges: [Some((-H, -1)), None] });
        assert_eq!(UnitSplit::before(5 * H, H), UnitSplit { units: (i64::MIN, 5), edges: [None, None] });
    }
}
