//! Reports: what came in, what was solved, how fast, by whom. Counted by
//! the database (or from streamed columns), over local-time buckets, within
//! the reader's scope: a requester's reports cover their establishments only.
//!
//! A ticket counts as resolved at its (latest) resolution: one reopened and
//! solved again counts once, when it was last solved, and is in the backlog
//! in between. Then `backlog(end) = backlog(start) + created - resolved`
//! holds for every bucket, and the last backlog is the number open today.

use crate::auth::Principal;
use crate::tickets::ListParams;
use crate::{App, AppError};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use guichet_domain::calendar::BusinessClock;
use guichet_domain::report::{buckets, distribution, percentiles, Bucket, Granularity, DISTRIBUTION};
use guichet_domain::workflow::StatusCategory;
use guichet_domain::FieldError;
use guichet_store::reports::{Dimension, Moment};
use guichet_store::tickets::TicketFilter;
use guichet_store::Conn;

/// A report's period, granularity and filters, as they come from a URL.
#[derive(Debug, Clone, Default)]
pub struct ReportParams {
    /// First local date (YYYY-MM-DD); default: the first of the month.
    pub from: Option<String>,
    /// Last local date, included; default: today.
    pub to: Option<String>,
    /// day, week or month; default: day for up to 62 days, else month.
    pub granularity: Option<String>,
    /// Type, channel, tier, category, establishment (a parent stands for its
    /// schools) and a query, as for the queue.
    pub filters: ListParams,
    /// A saved filter's id: its query narrows the report.
    pub saved_filter: Option<i64>,
}

/// The resolved period and filter of a report.
pub struct Scope {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub granularity: Granularity,
    pub buckets: Vec<Bucket>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    filter: TicketFilter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRow {
    pub label: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub created: i64,
    pub resolved: i64,
    /// Open at the end of the bucket.
    pub backlog: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub rows: Vec<VolumeRow>,
    /// Open at the start of the period.
    pub backlog_before: i64,
    pub created: i64,
    pub resolved: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The code (type, channel…), the category code, or the UAI.
    pub key: String,
    pub label: String,
    pub count: i64,
}

/// Business-time statistics, in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStats {
    pub count: usize,
    pub median: Option<i64>,
    pub p90: Option<i64>,
    /// Counts per class of [`DISTRIBUTION`].
    pub distribution: Vec<(String, i64)>,
}

impl TimeStats {
    fn of(mut seconds: Vec<i64>) -> Self {
        let counts = distribution(&seconds);
        let [median, p90] = percentiles(&mut seconds, [50.0, 90.0]);
        TimeStats {
            count: seconds.len(),
            median,
            p90,
            distribution: DISTRIBUTION.iter().zip(counts).map(|((l, _), n)| ((*l).to_owned(), n)).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Times {
    pub first_response: TimeStats,
    pub resolution: TimeStats,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaRow {
    pub ticket_type: String,
    pub priority: String,
    pub resolved: i64,
    pub met: i64,
}

#[derive(Debug, Clone)]
pub struct SlaReport {
    pub rows: Vec<SlaRow>,
    pub breaches: Vec<guichet_store::reports::Breach>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalations {
    pub created: i64,
    /// Tickets escalated to the technical tier during the period.
    pub escalated: i64,
    /// Business time spent at the technical tier by those tickets.
    pub time_at_technical: TimeStats,
}

fn parse_date(field: &str, value: &str) -> Result<NaiveDate, FieldError> {
    // Exactly YYYY-MM-DD, as the API documents it (chrono would take 2026-1-5).
    let well_formed =
        value.len() == 10 && value.as_bytes().get(4) == Some(&b'-') && value.as_bytes().get(7) == Some(&b'-');
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| well_formed)
        .ok_or_else(|| FieldError::new(field, format!("`{field}` is a date (YYYY-MM-DD), not `{}`", value.trim())))
}

impl Scope {
    /// The tickets the report covers.
    pub(crate) fn filter(&self) -> &TicketFilter {
        &self.filter
    }
}

impl App {
    /// Checks a report's parameters and builds its scope.
    pub async fn report_scope(&self, p: &Principal, params: &ReportParams) -> Result<Scope, AppError> {
        let mut errors = Vec::new();
        let tz = self.calendar().tz;
        let today = self.now().with_timezone(&tz).date_naive();
        let from = match params.from.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => parse_date("from", s).map_err(|e| errors.push(e)).unwrap_or(today),
            None => today.with_day(1).unwrap_or(today),
        };
        let to = match params.to.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => parse_date("to", s).map_err(|e| errors.push(e)).unwrap_or(today),
            None => today,
        };
        let granularity = match params.granularity.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(g) => Granularity::parse(g).map_err(|e| errors.extend(validation(e))).unwrap_or(Granularity::Day),
            None if (to - from).num_days() <= 62 => Granularity::Day,
            None => Granularity::Month,
        };
        let mut conn = self.db.conn().await?;
        let mut filters = params.filters.clone();
        if let Some(id) = params.saved_filter {
            let staff = p.actor.role.is_staff();
            let saved = guichet_store::saved_filters::list_saved_filters(&mut conn, p.user.id, staff).await?;
            match saved.into_iter().find(|f| f.id == id) {
                Some(f) => {
                    let own = filters.q.take().filter(|q| !q.trim().is_empty());
                    filters.q = Some(match own {
                        Some(q) => format!("({}) AND ({q})", strip_order(&f.query)),
                        None => strip_order(&f.query).to_owned(),
                    });
                }
                // Someone else's filter is as good as missing.
                None => return Err(AppError::NotFound("saved filter")),
            }
        }
        let (filter, _) = self.ticket_filter(&mut conn, p, &filters, &mut errors).await?;
        let list = if errors.is_empty() {
            buckets(tz, from, to, granularity).map_err(|e| errors.extend(validation(e))).unwrap_or_default()
        } else {
            Vec::new()
        };
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let start = list.first().map_or_else(|| self.now(), |b| b.start);
        let end = list.last().map_or_else(|| self.now(), |b| b.end);
        Ok(Scope { from, to, granularity, buckets: list, start, end, filter })
    }

    /// Created and resolved per bucket, with the backlog at the end of each.
    pub async fn report_volume(&self, scope: &Scope) -> Result<Volume, AppError> {
        let mut conn = self.db.conn().await?;
        let spans: Vec<_> = scope.buckets.iter().map(|b| (b.start, b.end)).collect();
        let created = guichet_store::reports::count_per_span(&mut conn, &scope.filter, Moment::Created, &spans).await?;
        let resolved =
            guichet_store::reports::count_per_span(&mut conn, &scope.filter, Moment::Resolved, &spans).await?;
        let before = guichet_store::reports::count_before(&mut conn, &scope.filter, Moment::Created, scope.start)
            .await?
            - guichet_store::reports::count_before(&mut conn, &scope.filter, Moment::Resolved, scope.start).await?;
        let mut backlog = before;
        let rows = scope
            .buckets
            .iter()
            .zip(created.iter().zip(&resolved))
            .map(|(b, (c, r))| {
                backlog += c - r;
                VolumeRow {
                    label: b.label(scope.granularity),
                    first: b.first,
                    last: b.last,
                    created: *c,
                    resolved: *r,
                    backlog,
                }
            })
            .collect();
        Ok(Volume { rows, backlog_before: before, created: created.iter().sum(), resolved: resolved.iter().sum() })
    }

    /// Tickets created in the period by type, priority, channel, tier,
    /// category or establishment; past `top`, the rest is one "others" line.
    pub async fn report_breakdown(
        &self,
        scope: &Scope,
        dimension: Dimension,
        top: usize,
    ) -> Result<Vec<Share>, AppError> {
        let mut conn = self.db.conn().await?;
        let counts =
            guichet_store::reports::count_by(&mut conn, &scope.filter, dimension, scope.start, scope.end).await?;
        let mut shares = Vec::with_capacity(counts.len().min(top + 1));
        let mut others = 0;
        for (i, (key, count)) in counts.into_iter().enumerate() {
            if i >= top {
                others += count;
                continue;
            }
            let (key, label) = self.share_label(&mut conn, dimension, key).await?;
            shares.push(Share { key, label, count });
        }
        if others > 0 {
            shares.push(Share { key: "others".into(), label: "others".into(), count: others });
        }
        Ok(shares)
    }

    async fn share_label(
        &self,
        conn: &mut Conn,
        dimension: Dimension,
        key: String,
    ) -> Result<(String, String), AppError> {
        Ok(match dimension {
            Dimension::Category if key.is_empty() => ("none".into(), "none".into()),
            Dimension::Category => {
                let id: i64 = key.parse().unwrap_or_default();
                let found = self.categories().await?.into_iter().find(|c| c.id().0 == id);
                found.map_or((key.clone(), key), |c| (c.code.clone(), c.label_fr))
            }
            Dimension::Establishment => {
                let id = guichet_domain::ids::EstablishmentId(key.parse().unwrap_or_default());
                match guichet_store::establishments::find_establishment(conn, id).await {
                    Ok(e) => (e.uai.to_string(), e.name),
                    Err(_) => (key.clone(), key),
                }
            }
            _ => (key.clone(), key),
        })
    }

    /// First-response and resolution times, in the desk's business hours, of
    /// the tickets resolved in the period.
    pub async fn report_times(&self, scope: &Scope) -> Result<Times, AppError> {
        let calendar = self.calendar();
        // Most requests are solved within the year before their resolution; older ones are measured the slow way.
        let clock = BusinessClock::new(&calendar, scope.start - Duration::days(366), scope.end);
        let (mut first, mut resolution) = (Vec::new(), Vec::new());
        let mut conn = self.db.conn().await?;
        // The store's instants are microseconds, which the clock measures as they are.
        let seconds = |from: i64, to: i64| clock.between_micros(from, to) / 1_000_000;
        guichet_store::reports::for_each_resolved(&self.db, &mut conn, &scope.filter, scope.start, scope.end, |row| {
            if let Some(answered) = row.first_response_at {
                first.push(seconds(row.created_at, answered));
            }
            resolution.push(seconds(row.created_at, row.resolved_at));
        })
        .await?;
        Ok(Times { first_response: TimeStats::of(first), resolution: TimeStats::of(resolution) })
    }

    /// Service levels met among the tickets resolved in the period, per type
    /// and priority, and the tickets created in the period that were late.
    pub async fn report_sla(&self, scope: &Scope) -> Result<SlaReport, AppError> {
        let mut conn = self.db.conn().await?;
        let mut rows: Vec<SlaRow> = guichet_store::reports::sla_met(&mut conn, &scope.filter, scope.start, scope.end)
            .await?
            .into_iter()
            .map(|(ticket_type, priority, resolved, met)| SlaRow { ticket_type, priority, resolved, met })
            .collect();
        let order = |p: &str| ["critical", "high", "normal", "low"].iter().position(|x| *x == p).unwrap_or(9);
        rows.sort_by(|a, b| a.ticket_type.cmp(&b.ticket_type).then(order(&a.priority).cmp(&order(&b.priority))));
        let breaches =
            guichet_store::reports::list_breaches(&mut conn, &scope.filter, scope.start, scope.end, 50).await?;
        Ok(SlaReport { rows, breaches })
    }

    /// What each member of the desk did in the period (the desk only).
    pub async fn report_agents(
        &self,
        p: &Principal,
        scope: &Scope,
    ) -> Result<Vec<guichet_store::reports::Activity>, AppError> {
        if !p.actor.role.is_staff() {
            return Err(AppError::Forbidden("agent activity is for the desk".into()));
        }
        let resolved = self.workflows().codes_in(&[StatusCategory::Resolved]);
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::reports::agent_activity(
            &self.db,
            &mut conn,
            &scope.filter,
            &resolved,
            scope.start,
            scope.end,
        )
        .await?)
    }

    /// How many tickets went to the technical tier, and how long they stayed there.
    pub async fn report_escalations(&self, scope: &Scope) -> Result<Escalations, AppError> {
        let calendar = self.calendar();
        let now = self.now();
        let clock = BusinessClock::new(&calendar, scope.start, now.max(scope.end));
        let mut conn = self.db.conn().await?;
        let spans = [(scope.start, scope.end)];
        let mut escalated = 0;
        // Hand-overs from a school to level 1 are tier changes too: only a
        // ticket that reached level 2 counts as escalated, once.
        let mut counted: Option<i64> = None;
        let mut stays = Vec::new();
        // Per ticket: from each arrival at the technical tier to the next
        // change of tier, its resolution or now.
        let mut current: Option<(i64, Option<DateTime<Utc>>, Option<i64>)> = None;
        let close = |entry: Option<(i64, Option<DateTime<Utc>>, Option<i64>)>, stays: &mut Vec<i64>| {
            if let Some((_, Some(since), resolved)) = entry {
                let until = resolved.map_or(now, guichet_store::db::from_micros);
                stays.push(clock.between(since, until.max(since)).num_seconds());
            }
        };
        let each = |change: guichet_store::reports::TierChange| {
            let at = guichet_store::db::from_micros(change.at);
            if change.tier.as_deref() == Some("technical") && counted != Some(change.ticket_id) {
                escalated += 1;
                counted = Some(change.ticket_id);
            }
            match current {
                Some((id, since, resolved)) if id == change.ticket_id => {
                    if let Some(since) = since {
                        stays.push(clock.between(since, at.max(since)).num_seconds());
                    }
                    let technical = change.tier.as_deref() == Some("technical");
                    current = Some((id, technical.then_some(at), resolved));
                }
                _ => {
                    close(current.take(), &mut stays);
                    let technical = change.tier.as_deref() == Some("technical");
                    current = Some((change.ticket_id, technical.then_some(at), change.resolved_at));
                }
            }
        };
        // The whole desk's arrivals come from the hourly counts; a narrower
        // filter counts index entries (a busy year's million took 125 ms on
        // PostgreSQL), so they are counted on a second connection meanwhile.
        let tiers = guichet_store::reports::for_each_tier_change;
        let count = guichet_store::reports::count_per_span;
        let (created, changes) = match self.db.spare().await? {
            Some(mut spare) => {
                futures_util::future::join(
                    count(&mut spare, &scope.filter, Moment::Created, &spans),
                    tiers(&mut conn, &scope.filter, scope.start, scope.end, each),
                )
                .await
            }
            None => {
                let created = count(&mut conn, &scope.filter, Moment::Created, &spans).await;
                (created, tiers(&mut conn, &scope.filter, scope.start, scope.end, each).await)
            }
        };
        changes?;
        let created = created?.first().copied().unwrap_or(0);
        close(current, &mut stays);
        Ok(Escalations { created, escalated, time_at_technical: TimeStats::of(stays) })
    }

    /// The previous calendar month, for the monthly report.
    pub fn last_month(&self) -> (NaiveDate, NaiveDate) {
        let today = self.now().with_timezone(&self.calendar().tz).date_naive();
        let first_this = today.with_day(1).unwrap_or(today);
        let last = first_this - Duration::days(1);
        (last.with_day(1).unwrap_or(last), last)
    }
}

fn validation(e: guichet_domain::DomainError) -> Vec<FieldError> {
    match e {
        guichet_domain::DomainError::Validation(errors) => errors,
        other => vec![FieldError::new("report", other.to_string())],
    }
}

/// A saved filter's query without its ORDER BY, to combine with others.
fn strip_order(query: &str) -> &str {
    let upper = query.to_uppercase();
    match upper.rfind("ORDER BY") {
        Some(i) => query[..i].trim(),
        None => query.trim(),
    }
}
