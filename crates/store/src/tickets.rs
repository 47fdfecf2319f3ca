//! Tickets: rows with their requester, establishment, assignee and category
//! joined, written whole after the domain has applied a change.

use crate::db::{decode, from_micros, opt_from_micros, to_micros, Conn, Raw, Result, StoreError};
use chrono::{DateTime, Utc};
use guichet_domain::actor::TicketScope;
use guichet_domain::ids::{CategoryId, EstablishmentId, TicketId, UserId};
use guichet_domain::query::{
    CodeColumn, Condition, EmptyColumn, PersonColumn, PersonValue, SortKey, TimeColumn, TimeOp,
};
use guichet_domain::search::SearchQuery;
use guichet_domain::sla::SlaState;
use guichet_domain::ticket::{
    CategoryRef, Channel, NewTicket, Outcome, Priority, Profile, Reproduction, Resolution, Ticket, TicketType, Tier,
    UserRef,
};
use sqlx::{Database, QueryBuilder};

/// A ticket with what a listing shows beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub ticket: Ticket,
    pub requester_email: String,
    pub establishment_uai: String,
    pub establishment_name: String,
    pub sla: SlaRecord,
    /// The major incident the ticket is part of.
    pub incident: Option<i64>,
}

/// The service-level clocks stored with a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlaRecord {
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub state: Option<SlaState>,
}

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    title: String,
    description: String,
    ticket_type: String,
    status: String,
    priority: String,
    category_id: Option<i64>,
    category_code: Option<String>,
    channel: String,
    tier: String,
    requester_id: i64,
    requester_name: String,
    requester_email: String,
    establishment_id: i64,
    establishment_uai: String,
    establishment_name: String,
    assignee_id: Option<i64>,
    assignee_name: Option<String>,
    repro_service: Option<String>,
    repro_profile: Option<String>,
    repro_browser: Option<String>,
    repro_url: Option<String>,
    repro_steps: Option<String>,
    repro_outcome: Option<String>,
    resolution: Option<String>,
    created_at: i64,
    updated_at: i64,
    first_response_at: Option<i64>,
    resolved_at: Option<i64>,
    closed_at: Option<i64>,
    first_response_due: Option<i64>,
    resolution_due: Option<i64>,
    sla_state: Option<String>,
    incident_id: Option<i64>,
    version: i64,
}

impl TicketRow {
    fn into_record(self) -> Result<TicketRecord> {
        let ticket = Ticket {
            id: TicketId(self.id),
            title: self.title,
            description: self.description,
            ticket_type: decode(&self.ticket_type, TicketType::parse)?,
            status: self.status,
            priority: decode(&self.priority, Priority::parse)?,
            category: match (self.category_id, self.category_code) {
                (Some(id), Some(code)) => Some(CategoryRef { id: CategoryId(id), code }),
                _ => None,
            },
            channel: decode(&self.channel, Channel::parse)?,
            tier: decode(&self.tier, Tier::parse)?,
            requester: UserRef { id: UserId(self.requester_id), name: self.requester_name },
            establishment: EstablishmentId(self.establishment_id),
            assignee: match (self.assignee_id, self.assignee_name) {
                (Some(id), Some(name)) => Some(UserRef { id: UserId(id), name }),
                _ => None,
            },
            reproduction: Reproduction {
                service: self.repro_service,
                profile: self.repro_profile.as_deref().map(|p| decode(p, Profile::parse)).transpose()?,
                browser: self.repro_browser,
                url: self.repro_url,
                steps: self.repro_steps,
                outcome: self.repro_outcome.as_deref().map(|o| decode(o, Outcome::parse)).transpose()?,
            },
            resolution: self.resolution.as_deref().map(|r| decode(r, Resolution::parse)).transpose()?,
            created_at: from_micros(self.created_at),
            updated_at: from_micros(self.updated_at),
            first_response_at: opt_from_micros(self.first_response_at),
            resolved_at: opt_from_micros(self.resolved_at),
            closed_at: opt_from_micros(self.closed_at),
            version: self.version,
        };
        Ok(TicketRecord {
            ticket,
            requester_email: self.requester_email,
            establishment_uai: self.establishment_uai,
            establishment_name: self.establishment_name,
            sla: SlaRecord {
                first_response_due: opt_from_micros(self.first_response_due),
                resolution_due: opt_from_micros(self.resolution_due),
                state: self.sla_state.as_deref().map(|s| decode(s, SlaState::parse)).transpose()?,
            },
            incident: self.incident_id,
        })
    }
}

const SELECT: &str = "SELECT t.id, t.title, t.description, t.ticket_type, t.status, t.priority, \
    t.category_id, cat.code AS category_code, t.channel, t.tier, \
    t.requester_id, r.name AS requester_name, r.email AS requester_email, \
    t.establishment_id, e.uai AS establishment_uai, e.name AS establishment_name, \
    t.assignee_id, a.name AS assignee_name, \
    t.repro_service, t.repro_profile, t.repro_browser, t.repro_url, t.repro_steps, t.repro_outcome, \
    t.resolution, t.created_at, t.updated_at, t.first_response_at, t.resolved_at, t.closed_at, \
    t.first_response_due, t.resolution_due, t.sla_state, t.incident_id, t.version \
    FROM tickets t \
    JOIN users r ON r.id = t.requester_id \
    JOIN establishments e ON e.id = t.establishment_id \
    LEFT JOIN users a ON a.id = t.assignee_id \
    LEFT JOIN categories cat ON cat.id = t.category_id";

/// Stores a new ticket with its opening clocks (see [`update_sla`]).
pub async fn insert_ticket(
    conn: &mut Conn,
    new: &NewTicket,
    sla: SlaRecord,
    next_check: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<TicketId> {
    let sql = "INSERT INTO tickets (title, description, ticket_type, status, priority, category_id, channel, tier, \
        requester_id, establishment_id, repro_service, repro_profile, repro_browser, repro_url, repro_steps, \
        repro_outcome, created_at, updated_at, first_response_due, resolution_due, sla_state, sla_checked_at, \
        sla_next_check_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18, $19, $20, $17, \
        $21) RETURNING id";
    let r = &new.reproduction;
    let id: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(&new.title)
        .bind(&new.description)
        .bind(new.ticket_type.as_str())
        .bind(&new.status)
        .bind(new.priority.as_str())
        .bind(new.category.map(|c| c.0))
        .bind(new.channel.as_str())
        .bind(new.tier.as_str())
        .bind(new.requester.0)
        .bind(new.establishment.0)
        .bind(&r.service)
        .bind(r.profile.map(Profile::as_str))
        .bind(&r.browser)
        .bind(&r.url)
        .bind(&r.steps)
        .bind(r.outcome.map(Outcome::as_str))
        .bind(to_micros(now))
        .bind(sla.first_response_due.map(to_micros))
        .bind(sla.resolution_due.map(to_micros))
        .bind(sla.state.map(SlaState::as_str))
        .bind(next_check.map(to_micros))
        .fetch_one(&mut *c)
        .await)?;
    Ok(TicketId(id))
}

/// Writes every mutable field of a ticket the domain has changed.
pub async fn update_ticket(conn: &mut Conn, t: &Ticket) -> Result<()> {
    let sql = "UPDATE tickets SET title = $1, description = $2, ticket_type = $3, status = $4, priority = $5, \
        category_id = $6, tier = $7, assignee_id = $8, repro_service = $9, repro_profile = $10, repro_browser = $11, \
        repro_url = $12, repro_steps = $13, repro_outcome = $14, resolution = $15, updated_at = $16, \
        first_response_at = $17, resolved_at = $18, closed_at = $19, establishment_id = $20, version = version + 1 \
        WHERE id = $21";
    let r = &t.reproduction;
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(&t.title)
        .bind(&t.description)
        .bind(t.ticket_type.as_str())
        .bind(&t.status)
        .bind(t.priority.as_str())
        .bind(t.category.as_ref().map(|c| c.id.0))
        .bind(t.tier.as_str())
        .bind(t.assignee.as_ref().map(|a| a.id.0))
        .bind(&r.service)
        .bind(r.profile.map(Profile::as_str))
        .bind(&r.browser)
        .bind(&r.url)
        .bind(&r.steps)
        .bind(r.outcome.map(Outcome::as_str))
        .bind(t.resolution.map(Resolution::as_str))
        .bind(to_micros(t.updated_at))
        .bind(t.first_response_at.map(to_micros))
        .bind(t.resolved_at.map(to_micros))
        .bind(t.closed_at.map(to_micros))
        .bind(t.establishment.0)
        .bind(t.id.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)?;
    Ok(())
}

/// Marks activity on a ticket (a comment, an attachment) without other change.
pub async fn touch_ticket(conn: &mut Conn, id: TicketId, now: DateTime<Utc>, first_response: bool) -> Result<()> {
    let sql = "UPDATE tickets SET updated_at = $1, version = version + 1, \
        first_response_at = CASE WHEN $2 AND first_response_at IS NULL THEN $1 ELSE first_response_at END WHERE id = $3";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(first_response)
        .bind(id.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Finds a ticket within a scope: a ticket outside it is [`StoreError::NotFound`].
pub async fn find_ticket(conn: &mut Conn, id: TicketId, scope: &TicketScope) -> Result<TicketRecord> {
    // In a write transaction on PostgreSQL the row is locked until commit:
    // a ticket is read, changed and written back whole, and two writers
    // (two agents, an agent and the clock job) must not overwrite each
    // other. SQLite's one writer already serializes write transactions.
    if let Conn::PostgresTx(tx) = conn {
        sqlx::query("SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE").bind(id.0).execute(&mut **tx).await?;
    }
    let filter = TicketFilter { scope: scope.clone(), ids: Some(vec![id]), ..TicketFilter::default() };
    let (mut rows, _) = list_tickets(conn, &filter, &[], 1, 0, Counting::No).await?;
    rows.pop().ok_or(StoreError::NotFound)
}

/// Up to `count` ticket numbers in use, spread evenly from the first to the
/// last, for reads over the whole base (the benchmarks). Numbers have gaps:
/// on PostgreSQL a filing rolled back has used its number, and a forgotten
/// ticket leaves its own. One seek in the primary key per number.
pub async fn numbers_spread(conn: &mut Conn, count: usize) -> Result<Vec<TicketId>> {
    let last: i64 =
        on_conn!(conn, |c| sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM tickets").fetch_one(&mut *c).await)?;
    let mut numbers: Vec<TicketId> = Vec::with_capacity(count);
    for k in 0..count as i64 {
        let from = 1 + k * last / count as i64;
        if numbers.last().is_some_and(|n| n.0 >= from) {
            continue;
        }
        let sql = "SELECT id FROM tickets WHERE id >= $1 ORDER BY id LIMIT 1";
        let next: Option<i64> = on_conn!(conn, |c| sqlx::query_scalar(sql).bind(from).fetch_optional(&mut *c).await)?;
        match next {
            Some(id) => numbers.push(TicketId(id)),
            None => break,
        }
    }
    Ok(numbers)
}

/// What to sort a listing by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Key,
    Created,
    Updated,
    Priority,
    Status,
    Title,
    Resolved,
    Type,
    Due,
}

impl From<SortKey> for SortField {
    fn from(key: SortKey) -> Self {
        match key {
            SortKey::Key => SortField::Key,
            SortKey::Created => SortField::Created,
            SortKey::Updated => SortField::Updated,
            SortKey::Resolved => SortField::Resolved,
            SortKey::Priority => SortField::Priority,
            SortKey::Status => SortField::Status,
            SortKey::Title => SortField::Title,
            SortKey::Type => SortField::Type,
            SortKey::Due => SortField::Due,
        }
    }
}

impl SortField {
    fn sql(self) -> &'static str {
        match self {
            SortField::Key => "t.id",
            SortField::Created => "t.created_at",
            SortField::Updated => "t.updated_at",
            // Ranks rather than codes: "critical" before "high".
            SortField::Priority => {
                // The expression of the indexes tickets_priority_*_idx (migration 0031):
                // change both together.
                "CASE t.priority WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'normal' THEN 2 ELSE 1 END"
            }
            SortField::Status => "t.status",
            SortField::Title => "t.title",
            SortField::Resolved => "t.resolved_at",
            SortField::Due => "t.resolution_due",
            SortField::Type => "t.ticket_type",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

/// Simple filters for listings; the scope is always applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFilter {
    pub scope: TicketScope,
    pub ids: Option<Vec<TicketId>>,
    pub types: Vec<TicketType>,
    pub statuses: Vec<String>,
    pub priorities: Vec<Priority>,
    pub channels: Vec<Channel>,
    pub tiers: Vec<Tier>,
    /// Every tier but this one.
    pub not_tier: Option<Tier>,
    pub categories: Vec<CategoryId>,
    pub establishments: Vec<EstablishmentId>,
    pub requester: Option<UserId>,
    /// `Some(None)`: unassigned tickets.
    pub assignee: Option<Option<UserId>>,
    /// Case-insensitive substring of title or description.
    pub text: Option<String>,
    /// Only tickets whose last public message is the requester's (or that
    /// have none yet): the desk owes them an answer.
    pub needs_reply: bool,
    /// Only tickets resolved at or after this instant.
    pub resolved_since: Option<DateTime<Utc>>,
    /// A condition of the query language, and who `currentUser()` is.
    pub query: Option<Condition>,
    pub current_user: Option<UserId>,
    /// On SQLite, the words of a `text ~ "…"` that the whole query requires
    /// and that many documents hold, and how to compile it (set by
    /// [`list_tickets`], see [`CommonText`]).
    pub common_text: Option<(String, CommonText)>,
    /// On SQLite, the words of the full-text index that each prefix of the
    /// filter's `text ~ "…"` starts, when few (set by [`list_tickets`]): a
    /// prefix asked of each ticket in turn was expanded again for each one
    /// (3.5–4.8 s for `text ~ "navigat*"` at 1,000,000 tickets, 0.08 s for
    /// `navigateur`; see [`crate::search::fts5_expression`]).
    pub prefix_words: PrefixWords,
}

/// Prefixes and the words of the full-text index each starts.
pub type PrefixWords = Vec<(String, Vec<String>)>;

/// `query` as an FTS5 expression, each prefix in `words` written as its
/// words. It asks the documents' text only: each document also holds its
/// establishment's token (migration 0047), which no word typed may match.
pub(crate) fn fts5_of(query: &SearchQuery, words: &[(String, Vec<String>)]) -> String {
    format!("body : ({})", query.to_fts5_with(|p| words.iter().find(|(k, _)| k == p).map(|(_, w)| w.as_slice())))
}

/// [`fts5_of`], confined to the documents of the establishments `filter`
/// keeps when it keeps only a few (SQLite). FTS5 then walks the words'
/// postings and the establishments' side by side, skipping through both,
/// where every match over the whole base was otherwise tested against the
/// school's document numbers: `navigat*` at a school of 1,117 tickets among
/// 1,000,000, 22–27 ms for 231,173 matches, 0.7 ms with the token. Callers
/// keep the number filter, which alone decides what the reader may see.
///
/// FTS5 merges the postings of every token of an `OR`: at 1,000,000
/// tickets, `messagerie` among 10 schools took 1.7 ms, 100 schools 14.6,
/// 2,000 (an académie named in a query) 350 and all 10,003 schools 2.7 s,
/// against 2.3 ms for the word alone. Beyond [`FEW_SCHOOLS`] the words are
/// matched alone.
pub(crate) fn fts5_within(query: &SearchQuery, words: &[(String, Vec<String>)], filter: &TicketFilter) -> String {
    let text = fts5_of(query, words);
    match filter.establishments_in_reach() {
        Some(schools) if (1..=FEW_SCHOOLS).contains(&schools.len()) => {
            let tokens: Vec<String> = schools.iter().map(|e| format!("\"e{}\"", e.0)).collect();
            format!("{text} AND establishment : ({})", tokens.join(" OR "))
        }
        _ => text,
    }
}

/// How [`list_tickets`] compiles, on SQLite, a `text ~ "…"` that the whole
/// query requires when its words are in many documents. As a set
/// (`t.id IN (matching documents' tickets)`), SQLite read every matching
/// document's ticket before ordering a page: 477,550 documents for
/// "mot de passe" at 1,000,000 tickets, 0.65 s for the page and as much
/// again for its count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommonText {
    /// The page: each ticket, in the page's order, is asked whether it
    /// matches (its text, replies, file names), until the page is full or
    /// `window_per_ticket` tickets per ticket of the page have been asked
    /// (see [`probed_page`]).
    Probe { window_per_ticket: i64 },
    /// The count: read from the documents, each one's ticket checked
    /// against the rest of the query, until the cap.
    Joined,
    /// Page and count of a few schools with many tickets: the documents
    /// that hold the words among the schools' own, by number (see
    /// [`PROBE_SCOPE_MAX`]). The schools' tickets are those of this filter:
    /// the same one, its words left out.
    Scoped(Box<TicketFilter>),
    /// Page and count of a few schools with few tickets: each was asked
    /// once, and those that hold the words are the filter's `ids`.
    Matched,
    /// PostgreSQL, a page the window of asked tickets did not fill: the
    /// matching documents' tickets collected once, then read by number.
    /// As a semi-join the planner would ask each ticket in the page's
    /// order again, with no bound: a word no document holds walked all
    /// 1,000,000 tickets (8.7 s).
    Collected,
}

/// Documents from which a `text ~` may count as common (see [`CommonText`]).
pub const COMMON_TEXT_DOCUMENTS: i64 = 1_000;

impl TicketFilter {
    /// The only establishments whose tickets the filter may keep, when it
    /// names some: its scope's, those asked for, those its whole query
    /// requires (`establishment = …` ANDed to the rest), or those common to
    /// them. `None` when it keeps every establishment's.
    pub fn establishments_in_reach(&self) -> Option<Vec<EstablishmentId>> {
        // The query's `establishment = …` when the whole query requires it.
        let named = |c: &Condition| match c {
            Condition::EstablishmentIds { ids, negated: false } => {
                Some(ids.iter().copied().map(EstablishmentId).collect::<Vec<_>>())
            }
            _ => None,
        };
        let named = match &self.query {
            Some(Condition::All(items)) => items.iter().find_map(named),
            Some(c) => named(c),
            None => None,
        };
        let scope = match &self.scope {
            TicketScope::All => None,
            TicketScope::Establishments(ids) => Some(ids.clone()),
        };
        let asked = (!self.establishments.is_empty()).then(|| self.establishments.clone());
        [scope, asked, named]
            .into_iter()
            .flatten()
            .reduce(|kept, next| kept.into_iter().filter(|e| next.contains(e)).collect())
    }

    /// True when the filter lets every ticket through.
    pub fn is_everything(&self) -> bool {
        self.scope == TicketScope::All
            && self.ids.is_none()
            && self.types.is_empty()
            && self.statuses.is_empty()
            && self.priorities.is_empty()
            && self.channels.is_empty()
            && self.tiers.is_empty()
            && self.not_tier.is_none()
            && self.categories.is_empty()
            && self.establishments.is_empty()
            && self.requester.is_none()
            && self.assignee.is_none()
            && self.text.is_none()
            && !self.needs_reply
            && self.resolved_since.is_none()
            && self.query.is_none()
    }
}

impl Default for TicketFilter {
    fn default() -> Self {
        Self {
            scope: TicketScope::Establishments(Vec::new()),
            ids: None,
            types: Vec::new(),
            statuses: Vec::new(),
            priorities: Vec::new(),
            channels: Vec::new(),
            tiers: Vec::new(),
            not_tier: None,
            categories: Vec::new(),
            establishments: Vec::new(),
            requester: None,
            assignee: None,
            text: None,
            needs_reply: false,
            resolved_since: None,
            query: None,
            current_user: None,
            common_text: None,
            prefix_words: Vec::new(),
        }
    }
}

/// Pushes bound values separated by commas (the inside of an `IN (…)`).
fn push_binds<'a, DB, T>(qb: &mut QueryBuilder<'a, DB>, values: impl IntoIterator<Item = T>)
where
    DB: Database,
    T: 'a + sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut separated = qb.separated(", ");
    for v in values {
        separated.push_bind(v);
    }
}

/// Pushes ` AND column IN (…)` with bound values, nothing for an empty list.
pub(crate) fn push_in<'a, DB, T>(qb: &mut QueryBuilder<'a, DB>, column: &str, values: impl IntoIterator<Item = T>)
where
    DB: Database,
    T: 'a + sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut values = values.into_iter().peekable();
    if values.peek().is_none() {
        return;
    }
    qb.push(format_args!(" AND {column} IN ("));
    push_binds(qb, values);
    qb.push(")");
}

/// Appends the filter's conditions; written once, compiled for each backend.
pub(crate) fn push_conditions<'a, DB>(qb: &mut QueryBuilder<'a, DB>, f: &'a TicketFilter)
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" WHERE 1 = 1");
    if let TicketScope::Establishments(ids) = &f.scope {
        if ids.is_empty() {
            qb.push(" AND 1 = 0");
        }
        push_in(qb, "t.establishment_id", ids.iter().map(|e| e.0));
    }
    if let Some(ids) = &f.ids {
        if ids.is_empty() {
            qb.push(" AND 1 = 0");
        }
        push_in(qb, "t.id", ids.iter().map(|t| t.0));
    }
    push_in(qb, "t.ticket_type", f.types.iter().map(|t| t.as_str()));
    push_in(qb, "t.status", f.statuses.iter().map(String::as_str));
    push_in(qb, "t.priority", f.priorities.iter().map(|p| p.as_str()));
    push_in(qb, "t.channel", f.channels.iter().map(|c| c.as_str()));
    push_in(qb, "t.tier", f.tiers.iter().map(|t| t.as_str()));
    if let Some(tier) = f.not_tier {
        qb.push(" AND t.tier <> ").push_bind(tier.as_str());
    }
    push_in(qb, "t.category_id", f.categories.iter().map(|c| c.0));
    push_in(qb, "t.establishment_id", f.establishments.iter().map(|e| e.0));
    if let Some(requester) = f.requester {
        qb.push(" AND t.requester_id = ").push_bind(requester.0);
    }
    match f.assignee {
        Some(Some(user)) => {
            qb.push(" AND t.assignee_id = ").push_bind(user.0);
        }
        Some(None) => {
            qb.push(" AND t.assignee_id IS NULL");
        }
        None => {}
    }
    if f.needs_reply {
        qb.push(format_args!(" AND {AWAITING_DESK}"));
    }
    if let Some(since) = f.resolved_since {
        qb.push(" AND t.resolved_at >= ").push_bind(to_micros(since));
    }
    if let Some(condition) = &f.query {
        qb.push(" AND ");
        let emit = Emit {
            me: f.current_user,
            internal: with_internal(f),
            school_driven: school_driven(condition),
            open_index_led: open_index_led(f, condition),
            common_text: f.common_text.as_ref().map(|(needle, how)| (needle.as_str(), how)),
            prefix_words: &f.prefix_words,
            filter: f,
        };
        push_condition(qb, condition, emit);
    }
    if let Some(query) = f.text.as_deref().and_then(|t| SearchQuery::parse(t).ok()) {
        qb.push(" AND ");
        push_full_text(qb, query, with_internal(f), false, f);
    }
    // A few schools' common words (SQLite, see [`CommonText::Scoped`]):
    // matched among the schools' own documents by number, the matching
    // documents' own rows read last and only theirs (each row read costs
    // more than checking a number).
    if let Some((needle, CommonText::Scoped(schools))) = &f.common_text {
        if let Ok(query) = SearchQuery::parse(needle) {
            qb.push(" AND t.id IN (SELECT d.ticket_id FROM search_index d WHERE d.rowid IN ");
            qb.push("(SELECT s.rowid FROM search_index s WHERE s.search_index MATCH ").push_bind(fts5_within(
                &query,
                &f.prefix_words,
                schools,
            ));
            // `+`: see [`push_document_numbers`].
            qb.push(" AND +s.rowid IN (");
            push_document_numbers(qb, |qb| push_conditions(qb, schools));
            qb.push("))");
            if !with_internal(f) {
                qb.push(" AND d.internal = 0");
            }
            qb.push(")");
        }
    }
}

/// The numbers of the full-text documents of the tickets `conditions`
/// keeps (SQLite; it pushes their ` WHERE …` after `tickets t`): each
/// ticket's text (id × 4), replies and notes (id × 4 + 1) and file names
/// (id × 4 + 2). Checking a match's number against them is far cheaper
/// than reading every match's ticket. Written `+s.rowid IN (…)` by the
/// caller, the list stays a filter on the match: looked up one number at a
/// time, a prefix would be expanded again for every document.
pub(crate) fn push_document_numbers<'a, DB: Database>(
    qb: &mut QueryBuilder<'a, DB>,
    mut conditions: impl FnMut(&mut QueryBuilder<'a, DB>),
) {
    qb.push("SELECT t.id * 4 FROM tickets t");
    conditions(qb);
    qb.push(" UNION ALL SELECT c.id * 4 + 1 FROM comments c JOIN tickets t ON t.id = c.ticket_id");
    conditions(qb);
    qb.push(" UNION ALL SELECT a.id * 4 + 2 FROM attachments a JOIN tickets t ON t.id = a.ticket_id");
    conditions(qb);
}

/// Internal notes count in full-text matches for the desk only.
fn with_internal(f: &TicketFilter) -> bool {
    f.scope == TicketScope::All
}

/// `t.id` among the tickets whose documents match `query`, on the backend's
/// engine. On SQLite, only the documents of the establishments `filter`
/// keeps are read when it keeps only some (see [`fts5_within`]): its
/// tickets are theirs, so the others' documents could not change the
/// answer, even negated. A requester's `text ~ messagerie AND resolved IS
/// EMPTY` read the 57,926 documents of the word over the whole base.
fn push_full_text<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    query: SearchQuery,
    internal: bool,
    negated: bool,
    filter: &TicketFilter,
) where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let not = if negated { "NOT " } else { "" };
    if DB::NAME == "SQLite" {
        qb.push(format_args!("t.id {not}IN (SELECT ticket_id FROM search_index WHERE search_index MATCH "))
            .push_bind(fts5_within(&query, &filter.prefix_words, filter));
        qb.push(if internal { ")" } else { " AND internal = 0)" });
    } else {
        qb.push(format_args!("t.id {not}IN (SELECT ticket_id FROM search_docs WHERE tsv @@ to_tsquery('french', "))
            .push_bind(query.to_tsquery());
        qb.push(if internal { "))" } else { ") AND NOT internal)" });
    }
}

/// Whether a ticket matches the words, asked of the ticket's own documents
/// (SQLite; see [`CommonText::Probe`]): its text, then its replies and
/// notes, then its file names, each by number in the full-text index.
fn push_text_probe<'a, DB>(qb: &mut QueryBuilder<'a, DB>, fts: String, internal: bool)
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let public = if internal { "" } else { " AND NOT d.internal" };
    qb.push("(EXISTS (SELECT 1 FROM search_index s WHERE s.search_index MATCH ").push_bind(fts.clone());
    qb.push(" AND s.rowid = t.id * 4)");
    for (table, kind) in [("comments", 1), ("attachments", 2)] {
        qb.push(format_args!(
            " OR EXISTS (SELECT 1 FROM {table} d WHERE d.ticket_id = t.id{public} AND EXISTS \
             (SELECT 1 FROM search_index s WHERE s.search_index MATCH "
        ))
        .push_bind(fts.clone());
        qb.push(format_args!(" AND s.rowid = d.id * 4 + {kind}))"));
    }
    qb.push(")");
}

/// The needle of a `text ~ "…"` the whole query requires, the number of
/// documents that hold its words (counted up to [`TextWeight::counted`])
/// and the number of tickets (SQLite only; see [`text_plan`]).
async fn required_text(conn: &mut Conn, filter: &TicketFilter) -> Result<Option<(String, TextWeight)>> {
    let Some((needle, query)) = required_needle(filter) else {
        return Ok(None);
    };
    let tickets: i64 =
        on_conn!(conn, |c| sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM tickets").fetch_one(&mut *c).await)?;
    let sql = "SELECT COUNT(*) FROM (SELECT 1 FROM search_index WHERE search_index MATCH $1 LIMIT $2)";
    let documents: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(fts5_of(&query, &filter.prefix_words))
        .bind(TextWeight::counted(tickets))
        .fetch_one(&mut *c)
        .await)?;
    Ok(Some((needle, TextWeight { documents, tickets })))
}

/// The needle of a `text ~ "…"` the whole query requires, parsed, unless
/// the filter is compiled already.
fn required_needle(filter: &TicketFilter) -> Option<(String, SearchQuery)> {
    if filter.common_text.is_some() {
        return None;
    }
    let required = |c: &Condition| match c {
        Condition::Text { needle, negated: false } => Some(needle.clone()),
        _ => None,
    };
    let needle = match &filter.query {
        Some(Condition::All(items)) => items.iter().find_map(required),
        Some(c) => required(c),
        None => None,
    };
    needle.and_then(|n| SearchQuery::parse(&n).ok().map(|q| (n, q)))
}

/// PostgreSQL's page of a query that requires words, over more than a few
/// schools: the tickets are asked in the page's order within a window, as
/// on SQLite ([`probed_page`]), then collected ([`CommonText::Collected`]).
/// PostgreSQL's statistics hold the frequencies of its 500 most common
/// words; any other word is guessed at about 11,000 documents, and the
/// planner asked each ticket in the page's order for it, with no bound.
/// The count stays the planner's own: it reads the words' documents.
/// A few schools' tickets are few, and their plans are the planner's.
fn postgres_plan(filter: &TicketFilter) -> Option<(TicketFilter, TicketFilter)> {
    if few_schools(filter) {
        return None;
    }
    let (needle, _) = required_needle(filter)?;
    let how = CommonText::Probe { window_per_ticket: PROBE_WINDOW_PER_TICKET };
    Some((TicketFilter { common_text: Some((needle, how)), ..filter.clone() }, filter.clone()))
}

/// Whether more than `cap` tickets of a query that requires words hold
/// them in their own text (each ticket has one such document, never
/// internal), which makes the count "more than `cap`" at once. On
/// PostgreSQL the count proper walks the documents by ticket and tests
/// each: `messagerie` took 240 ms at 1,000,000 tickets to find 10,001
/// tickets among 760,000 documents; its tickets' texts are read from their
/// own index (the RUM index of texts, or GIN) in 30 ms. Words found mostly
/// in replies cost one pass over their tickets' texts more, bounded by
/// `cap`. On SQLite, see [`sqlite_texts_pass`].
async fn texts_pass(conn: &mut Conn, filter: &TicketFilter, cap: i64) -> Result<bool> {
    if cap == i64::MAX || few_schools(filter) {
        return Ok(false);
    }
    if conn.backend() == crate::Backend::Sqlite {
        return sqlite_texts_pass(conn, filter, cap).await;
    }
    let Some((needle, query)) = required_needle(filter) else {
        return Ok(false);
    };
    let rest = TicketFilter { common_text: Some((needle, CommonText::Joined)), ..filter.clone() };
    // Each ticket has one text and a ticket's deletion takes its documents
    // with it: the words alone need not read the tickets (31 → 20 ms for
    // 10,001 texts of "mot de passe" at 1,000,000 tickets, warm).
    let joined = !words_alone(filter);
    // The texts' RUM indexes hold one range of numbers each and are used
    // only for a query that repeats a range's predicate; without them, GIN.
    let ranges: Vec<String> = match crate::search::recency::indexes(conn).await? {
        Some(indexes) => indexes.of_kind(0).iter().map(|range| range.condition()).collect(),
        None => vec!["id % 4 = 0".to_owned()],
    };
    let keep = conn.may_keep_prepared();
    let counted: i64 = on_conn!(conn, |c| {
        let mut qb = QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM (");
        for (i, range) in ranges.iter().enumerate() {
            let union = if i == 0 { "" } else { " UNION ALL " };
            qb.push(format_args!(
                "{union}SELECT ticket_id FROM search_docs WHERE {range} AND tsv @@ to_tsquery('french', "
            ));
            qb.push_bind(query.to_tsquery()).push(")");
        }
        qb.push(") s");
        if joined {
            qb.push(" JOIN tickets t ON t.id = s.ticket_id");
            push_conditions(&mut qb, &rest);
        }
        qb.push(" LIMIT ").push_bind(cap.saturating_add(1)).push(") AS texts");
        qb.build_query_scalar().persistent(keep).fetch_one(&mut *c).await
    })?;
    Ok(counted > cap)
}

/// Whether `filter` asks for words and nothing else, over every ticket:
/// the desk's `text ~ "…"`.
fn words_alone(filter: &TicketFilter) -> bool {
    let alone = TicketFilter { query: None, common_text: None, current_user: None, ..filter.clone() };
    matches!(&filter.query, Some(Condition::Text { negated: false, .. })) && alone.is_everything()
}

/// SQLite's [`texts_pass`], for the words alone over every ticket (the
/// desk's `text ~ "…"` and nothing else). The documents are numbered by
/// kind, so the tickets' own texts among the words' matches are told by
/// their number, without reading a document's ticket: at 1,000,000
/// tickets, 10,001 texts of `"mot de passe"` in 5.2 ms and of `"page
/// blanche"` in 1.7, where counting 10,001 distinct tickets of their
/// documents took 24.8 and 45.3 ms. The pass reads at most ten matches per
/// ticket it needs, so words found in replies alone cost it little (6 ms
/// for `navigateur`) before the count proper.
async fn sqlite_texts_pass(conn: &mut Conn, filter: &TicketFilter, cap: i64) -> Result<bool> {
    // The count's filter is compiled already when its words are common.
    let plain = TicketFilter { common_text: None, ..filter.clone() };
    let Some((_, query)) = required_needle(&plain).filter(|_| words_alone(filter)) else {
        return Ok(false);
    };
    let Raw::Sqlite(c) = conn.raw() else { return Ok(false) };
    let sql = "SELECT COUNT(*) FROM (SELECT 1 FROM (SELECT rowid AS number FROM search_index \
               WHERE search_index MATCH $1 LIMIT $2) WHERE number % 4 = 0 LIMIT $3)";
    let wanted = cap.saturating_add(1);
    let texts: i64 = sqlx::query_scalar(sql)
        .bind(fts5_of(&query, &filter.prefix_words))
        .bind(wanted.saturating_mul(10))
        .bind(wanted)
        .fetch_one(&mut *c)
        .await?;
    Ok(texts > cap)
}

/// How many documents hold a required `text ~`'s words, among how many tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TextWeight {
    documents: i64,
    tickets: i64,
}

impl TextWeight {
    /// Past this many documents, more tell no plan apart: the highest
    /// threshold of [`text_plan`].
    fn counted(tickets: i64) -> i64 {
        COMMON_TEXT_DOCUMENTS.max(tickets / 10)
    }
}

/// How a required `text ~` is compiled (see [`CommonText`] and [`text_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextPlan {
    /// As a set of the matching documents' tickets: its cost is their number.
    Set,
    Probe {
        window_per_ticket: i64,
    },
    Scoped,
    Matched,
}

/// Asking a ticket whether it holds words (its text, its replies, its file
/// names) costs about as much as reading twelve matching documents' tickets
/// for the set: 24-25 µs against 2 µs at 1,000,000 tickets, the index merged.
const ASK_PER_DOCUMENT: i64 = 12;

/// How to compile a required `text ~` whose words `weight` measured, for a
/// filter that keeps `few_schools_tickets` tickets when it is about a few
/// schools (counted up to one past [`PROBE_SCOPE_MAX`]). Pure: the costs
/// are those measured at 1,000,000 tickets (docs/performance.md).
///
/// For the desk, a page of 25 asks about 50 × tickets / documents tickets
/// (a ticket that holds the words usually holds them in two documents,
/// its text and a reply), against one read per document for the set:
/// asking is cheaper from √(50 × 12 × tickets) documents, 24,500 at
/// 1,000,000 tickets. Below 60,000 tickets that is above a tenth of them,
/// the threshold measured first, which is kept. The window lets twice the
/// expected asks through.
fn text_plan(weight: TextWeight, few_schools_tickets: Option<i64>) -> TextPlan {
    let TextWeight { documents, tickets } = weight;
    if documents < COMMON_TEXT_DOCUMENTS {
        return TextPlan::Set;
    }
    match few_schools_tickets {
        // Each of the schools' tickets asked once, against one read per
        // document for the set: `messagerie` (57,926 documents) took 0.18 s
        // for a school of 118 tickets as a set, 3 ms asked. Below a tenth
        // of the tickets (the threshold measured first) both are cheap.
        Some(asked) if asked <= PROBE_SCOPE_MAX => {
            if documents >= asked.saturating_mul(ASK_PER_DOCUMENT).min(tickets / 10) {
                TextPlan::Matched
            } else {
                TextPlan::Set
            }
        }
        Some(_) if documents >= TextWeight::counted(tickets) => TextPlan::Scoped,
        Some(_) => TextPlan::Set,
        None => {
            let asking = ((50 * ASK_PER_DOCUMENT) as f64 * tickets as f64).sqrt() as i64;
            if documents < asking.min(tickets / 10) {
                return TextPlan::Set;
            }
            let expected_per_ticket = 2 * tickets / documents.max(1);
            TextPlan::Probe { window_per_ticket: (2 * expected_per_ticket).max(PROBE_WINDOW_PER_TICKET) }
        }
    }
}

/// The last public message is the requester's, or there is none yet
/// (kept on the ticket by `insert_comment`).
/// Written as a comparison: SQLite uses an index for `= TRUE`, not for a bare column.
const AWAITING_DESK: &str = "t.awaiting_desk = TRUE";

/// "Still open" as SQLite should weigh it. Its statistics count
/// `resolved_at IS NULL` as a couple of rows (the NULL is one heavy value
/// among distinct times) and walk every open ticket through the first index
/// that holds the column; stated as a quarter of the tickets, the planner
/// reads the covering index of open tickets instead (migration 0031). The
/// proportion only orders plans: a desk with more or fewer open tickets
/// gets the same choice.
const OPEN_ON_SQLITE: &str = "likelihood(t.resolved_at IS NULL, 0.25)";

/// Compiles a condition of the query language into SQL with bound values:
/// nothing the user typed is ever spliced into the statement.
/// What compiling a condition needs beyond the condition.
#[derive(Clone, Copy)]
struct Emit<'a> {
    /// Who `currentUser()` is.
    me: Option<UserId>,
    /// Internal notes count in full-text matches (the desk).
    internal: bool,
    /// The query is about a few schools: their tickets are few, so the
    /// school's index should drive it. SQLite's statistics see
    /// `resolved_at IS NULL` as matching a couple of rows (most resolution
    /// times are distinct; the open tickets' NULL is one heavy value) and
    /// would walk every open ticket of every school instead: the term is
    /// written `+t.resolved_at`, which no index serves.
    school_driven: bool,
    /// A term of the query leads an index whose second column is
    /// `resolved_at` (level, no assignee, service-level state, awaiting the
    /// desk: migration 0008): "still open" is left as SQLite's statistics
    /// see it, and that index drives the query. A named assignee is not such
    /// a term: seen as a couple of rows, an agent's open tickets by due date
    /// were read from `tickets_unassigned_idx` and sorted (65 ms for 27,000
    /// at 1,000,000 tickets) instead of walking `tickets_assignee_due_sqlite_idx`
    /// (0.1 ms); weighed, the planner also keeps `tickets_assignee_open_idx`
    /// for their last updates. Weighed with likelihood(),
    /// the planner preferred another such index when the values are bound
    /// (its statistics are averages per column then): the dashboard's count
    /// of the schools' late tickets went from 0.02 to 100 ms.
    open_index_led: bool,
    /// See [`TicketFilter::common_text`].
    common_text: Option<(&'a str, &'a CommonText)>,
    /// See [`TicketFilter::prefix_words`].
    prefix_words: &'a [(String, Vec<String>)],
    /// The whole filter, whose establishments bound its full-text matches.
    filter: &'a TicketFilter,
}

/// Whether a term ANDed to the whole query leads one of the indexes made
/// for "this and still open" (see [`Emit::open_index_led`]).
fn open_index_led(f: &TicketFilter, condition: &Condition) -> bool {
    let leads = |c: &Condition| {
        matches!(
            c,
            Condition::Codes { column: CodeColumn::Tier | CodeColumn::Sla, negated: false, .. }
                | Condition::Empty { column: EmptyColumn::Assignee, negated: false }
                | Condition::AwaitingDesk { negated: false }
        )
    };
    let in_query = match condition {
        Condition::All(items) => items.iter().any(leads),
        other => leads(other),
    };
    in_query || !f.tiers.is_empty() || f.assignee == Some(None) || f.needs_reply
}

/// Schools few enough for their tickets to be the smallest starting set.
const FEW_SCHOOLS: usize = 50;

/// The filter keeps a few schools' tickets: a requester's scope, a choice
/// of schools, or a query pinned to some (see [`school_driven`]).
fn few_schools(f: &TicketFilter) -> bool {
    let few = |n: usize| (1..=FEW_SCHOOLS).contains(&n);
    matches!(&f.scope, TicketScope::Establishments(ids) if few(ids.len()))
        || few(f.establishments.len())
        || f.query.as_ref().is_some_and(school_driven)
}

fn school_driven(condition: &Condition) -> bool {
    let pinned = |c: &Condition| matches!(c, Condition::EstablishmentIds { ids, negated: false } if (1..=FEW_SCHOOLS).contains(&ids.len()));
    match condition {
        Condition::All(items) => items.iter().any(pinned),
        other => pinned(other),
    }
}

/// `column IN (ids)`, or `NOT column IN (ids)`; with no ids, nothing
/// matches, and `negated_none` when negated.
fn push_numbers_in<'a, DB>(qb: &mut QueryBuilder<'a, DB>, column: &str, ids: &[i64], negated: bool, negated_none: &str)
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if ids.is_empty() {
        qb.push(if negated { negated_none } else { "1 = 0" });
        return;
    }
    qb.push(format_args!("{}{column} IN (", if negated { "NOT " } else { "" }));
    push_binds(qb, ids.iter().copied());
    qb.push(")");
}

fn push_condition<'a, DB>(qb: &mut QueryBuilder<'a, DB>, condition: &'a Condition, emit: Emit)
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let list = |qb: &mut QueryBuilder<'a, DB>, items: &'a [Condition], joiner: &str, empty: &str| {
        if items.is_empty() {
            qb.push(empty);
            return;
        }
        qb.push("(");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                qb.push(joiner);
            }
            push_condition(qb, item, emit);
        }
        qb.push(")");
    };
    let not = |negated: bool| if negated { "NOT " } else { "" };
    match condition {
        Condition::All(items) => list(qb, items, " AND ", "1 = 1"),
        Condition::Any(items) => list(qb, items, " OR ", "1 = 0"),
        Condition::Not(inner) => {
            qb.push("NOT (");
            push_condition(qb, inner, emit);
            qb.push(")");
        }
        Condition::Codes { column, values, negated } => {
            let sql = match column {
                CodeColumn::Type => "t.ticket_type IN (",
                CodeColumn::Status => "t.status IN (",
                CodeColumn::Priority => "t.priority IN (",
                CodeColumn::Channel => "t.channel IN (",
                CodeColumn::Tier => "t.tier IN (",
                CodeColumn::Category => "t.category_id IN (SELECT id FROM categories WHERE code IN (",
                CodeColumn::Sla => "t.sla_state IN (",
            };
            qb.push(format_args!("{}{sql}", not(*negated)));
            push_binds(qb, values.iter().map(String::as_str));
            qb.push(if *column == CodeColumn::Category { "))" } else { ")" });
            if *negated && *column == CodeColumn::Category {
                qb.push(" AND t.category_id IS NOT NULL");
            }
        }
        Condition::Time { column, op, at } => {
            let column = match column {
                TimeColumn::Created => "t.created_at",
                TimeColumn::Updated => "t.updated_at",
                TimeColumn::Resolved => "t.resolved_at",
                TimeColumn::Due => "t.resolution_due",
            };
            qb.push(format_args!("{column} {} ", op.sql())).push_bind(to_micros(*at));
        }
        Condition::Empty { column: EmptyColumn::Resolved, negated: false }
            if !emit.school_driven && !emit.open_index_led && DB::NAME == "SQLite" =>
        {
            qb.push(OPEN_ON_SQLITE);
        }
        Condition::Empty { column, negated } => {
            let column = match column {
                EmptyColumn::Assignee => "t.assignee_id",
                EmptyColumn::Category => "t.category_id",
                EmptyColumn::Resolved if emit.school_driven => "+t.resolved_at",
                EmptyColumn::Resolved => "t.resolved_at",
                EmptyColumn::Due => "t.resolution_due",
            };
            qb.push(format_args!("{column} IS {}NULL", not(*negated)));
        }
        Condition::Person { column, values, negated } => {
            let column = match column {
                PersonColumn::Requester => "t.requester_id",
                PersonColumn::Assignee => "t.assignee_id",
            };
            if values.is_empty() {
                // Nobody by that name: no ticket is theirs.
                qb.push(if *negated { format!("{column} IS NOT NULL") } else { "1 = 0".into() });
                return;
            }
            qb.push(format_args!("{}(", not(*negated)));
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    qb.push(" OR ");
                }
                match value {
                    PersonValue::Me => {
                        qb.push(format_args!("{column} = ")).push_bind(emit.me.map_or(-1, |u| u.0));
                    }
                    PersonValue::Id(id) => {
                        qb.push(format_args!("{column} = ")).push_bind(*id);
                    }
                    PersonValue::Name(name) => {
                        qb.push(format_args!("{column} IN (SELECT id FROM users WHERE email = "))
                            .push_bind(name.as_str())
                            .push(" OR LOWER(name) IN (");
                        push_binds(qb, crate::fold::lower_forms(name));
                        qb.push("))");
                    }
                }
            }
            qb.push(")");
            if *negated {
                qb.push(format_args!(" AND {column} IS NOT NULL"));
            }
        }
        Condition::Establishment { values, negated } => {
            // A UAI or name of the school, or of a parent (département, académie).
            qb.push(format_args!("{}t.establishment_id IN (SELECT e.id FROM establishments e LEFT JOIN establishments p ON p.id = e.parent_id WHERE ", not(*negated)));
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    qb.push(" OR ");
                }
                let upper = value.to_uppercase();
                let forms = crate::fold::lower_forms(&value.to_lowercase());
                qb.push("e.uai = ").push_bind(upper.clone()).push(" OR p.uai = ").push_bind(upper);
                qb.push(" OR LOWER(e.name) IN (");
                push_binds(qb, forms.clone());
                qb.push(") OR LOWER(p.name) IN (");
                push_binds(qb, forms);
                qb.push(")");
            }
            qb.push(")");
        }
        Condition::EstablishmentIds { ids, negated } => {
            // No such school: nothing matches (everything, when negated).
            push_numbers_in(qb, "t.establishment_id", ids, *negated, "1 = 1");
        }
        Condition::CategoryIds { ids, negated } => {
            // A ticket without a category is not "of another category".
            push_numbers_in(qb, "t.category_id", ids, *negated, "t.category_id IS NOT NULL");
            if *negated && !ids.is_empty() {
                qb.push(" AND t.category_id IS NOT NULL");
            }
        }
        Condition::Keys { ids, aliases, negated } => {
            qb.push(format_args!("{}(", not(*negated)));
            if !ids.is_empty() {
                qb.push("t.id IN (");
                push_binds(qb, ids.iter().copied());
                qb.push(")");
            }
            if !aliases.is_empty() {
                qb.push(if ids.is_empty() { "t.alias IN (" } else { " OR t.alias IN (" });
                push_binds(qb, aliases.iter().cloned());
                qb.push(")");
            }
            qb.push(")");
        }
        Condition::AwaitingDesk { negated } => {
            qb.push(if *negated { "t.awaiting_desk = FALSE" } else { AWAITING_DESK });
        }
        Condition::Linked { ids, negated } => {
            // A school does not learn of links to other schools' tickets.
            let same_school = if emit.internal { "" } else { " AND o.establishment_id = t.establishment_id" };
            qb.push(format_args!("{}EXISTS (SELECT 1 FROM ticket_links l JOIN tickets o ON o.id = CASE WHEN l.ticket_id = t.id THEN l.other_id ELSE l.ticket_id END WHERE (l.ticket_id = t.id OR l.other_id = t.id){same_school}", not(*negated)));
            if let Some(ids) = ids {
                qb.push(" AND o.id IN (");
                push_binds(qb, ids.iter().copied());
                qb.push(")");
            }
            qb.push(")");
        }
        Condition::Incident { ids: None, negated } => {
            qb.push(if *negated { "t.incident_id IS NULL" } else { "t.incident_id IS NOT NULL" });
        }
        Condition::Incident { ids: Some(ids), negated } => {
            qb.push(format_args!("COALESCE(t.incident_id, 0) {}IN (", not(*negated)));
            push_binds(qb, ids.iter().copied());
            qb.push(")");
        }
        Condition::KeyCompare { op, id } => {
            qb.push(format_args!("t.id {} ", op.sql())).push_bind(*id);
        }
        Condition::Text { needle, negated: false } if emit.common_text.is_some_and(|(n, _)| n == needle) => {
            match (SearchQuery::parse(needle), emit.common_text.map(|(_, how)| how)) {
                (Ok(query), Some(CommonText::Probe { .. })) if DB::NAME == "SQLite" => {
                    push_text_probe(qb, fts5_of(&query, emit.prefix_words), emit.internal)
                }
                (Ok(query), Some(CommonText::Probe { .. })) => {
                    let public = if emit.internal { "" } else { " AND NOT d.internal" };
                    qb.push("EXISTS (SELECT 1 FROM search_docs d WHERE d.ticket_id = t.id");
                    qb.push(" AND d.tsv @@ to_tsquery('french', ").push_bind(query.to_tsquery());
                    qb.push(format_args!("){public})"));
                }
                (Ok(query), Some(CommonText::Collected)) => {
                    let public = if emit.internal { "" } else { " AND NOT internal" };
                    qb.push("t.id = ANY(ARRAY(SELECT ticket_id FROM search_docs WHERE tsv @@ to_tsquery('french', ");
                    qb.push_bind(query.to_tsquery());
                    qb.push(format_args!("){public}))"));
                }
                // The count's join requires the words already.
                _ => {
                    qb.push("1 = 1");
                }
            }
        }
        Condition::Text { needle, negated } => match SearchQuery::parse(needle) {
            Ok(query) => push_full_text(qb, query, emit.internal, *negated, emit.filter),
            Err(_) => {
                qb.push(if *negated { "1 = 1" } else { "1 = 0" });
            }
        },
        Condition::TitleContains { needle, negated } => {
            let like = |text: String| format!("%{}%", crate::establishments::escape_like(&text));
            qb.push(format_args!("{}(", not(*negated)));
            if DB::NAME == "SQLite" {
                // SQLite's LOWER and LIKE fold ASCII letters only: `école`
                // missed "École". The titles' trigram index (migration 0032)
                // folds every letter's case, and a phrase of trigrams is a
                // piece of the title: it answers alone, from the index. A
                // needle under three characters has no trigram: the title
                // then holds it in small or in capital letters (LIKE still
                // folds the ASCII ones), "Él" for `él`.
                if needle.chars().count() >= 3 {
                    let phrase = format!("\"{}\"", needle.replace('"', "\"\""));
                    qb.push("t.id IN (SELECT rowid FROM search_titles WHERE search_titles MATCH ").push_bind(phrase);
                    qb.push(")");
                } else {
                    qb.push("t.title LIKE ").push_bind(like(needle.to_lowercase())).push(" ESCAPE '\\'");
                    qb.push(" OR t.title LIKE ").push_bind(like(needle.to_uppercase())).push(" ESCAPE '\\'");
                }
                qb.push(")");
            } else {
                // PostgreSQL's LOWER follows the database's locale (UTF-8:
                // every letter; `C`: A to Z only), so the needle goes in each
                // form it may leave a title in; the trigram index serves each LIKE.
                for (i, form) in crate::fold::lower_forms(&needle.to_lowercase()).into_iter().enumerate() {
                    qb.push(if i == 0 { "LOWER(t.title) LIKE " } else { " OR LOWER(t.title) LIKE " });
                    qb.push_bind(like(form)).push(" ESCAPE '\\'");
                }
                qb.push(")");
            }
        }
    }
}

/// The establishments whose UAI is `$1` (upper-cased) or whose name,
/// lower-cased by the database, is one of `forms` values from `$2` on (see
/// [`crate::fold::lower_forms`]).
pub fn establishments_named(forms: usize) -> String {
    format!("SELECT id FROM establishments WHERE uai = $1 OR LOWER(name) IN ({})", crate::db::placeholders(2, forms))
}

/// The establishments a query's `establishment = …` names: by UAI or name,
/// or under a parent (département, académie) of that UAI or name. The
/// schools under the named ones are a second lookup: one join with
/// conditions on both sides read every school and its parent (53 ms for
/// 10,000 schools on PostgreSQL), and PostgreSQL hashes every school when
/// it expects a name to be shared by dozens.
pub async fn establishment_ids_named(conn: &mut Conn, values: &[String]) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = Vec::new();
    for value in values {
        let upper = value.to_uppercase();
        let forms = crate::fold::lower_forms(&value.to_lowercase());
        let sql = establishments_named(forms.len());
        let named: Vec<i64> = on_conn!(conn, |c| {
            let mut query = sqlx::query_scalar(&sql).bind(&upper);
            for form in &forms {
                query = query.bind(form);
            }
            query.fetch_all(&mut *c).await
        })?;
        if named.is_empty() {
            continue;
        }
        let under: Vec<i64> = on_conn!(conn, |c| {
            let mut qb = QueryBuilder::new("SELECT id FROM establishments WHERE parent_id IN (");
            push_binds(&mut qb, named.iter().copied());
            qb.push(")");
            qb.build_query_scalar().fetch_all(&mut *c).await
        })?;
        ids.extend(named);
        ids.extend(under);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// How a list's page and count require common words (see [`CommonText`]):
/// `None` when the filter is compiled as given.
async fn compile(conn: &mut Conn, filter: &TicketFilter) -> Result<Option<(TicketFilter, TicketFilter)>> {
    // PostgreSQL's plan is the planner's own. Matching a big school's words
    // among its own documents (as [`CommonText::Scoped`] does) was tried
    // there: a rare word went from 1.4 to 0.7 s, but a common one from 0.07
    // to 0.7 s and an open ticket's from 0.2 to 3.5 s (docs/performance.md).
    if conn.backend() != crate::Backend::Sqlite {
        return Ok(postgres_plan(filter));
    }
    let Some((needle, weight)) = required_text(conn, filter).await? else {
        return Ok(None);
    };
    let with = |how: CommonText| TicketFilter { common_text: Some((needle.clone(), how)), ..filter.clone() };
    let schools = with(CommonText::Joined);
    let few_schools_tickets = match few_schools(filter) && weight.documents >= COMMON_TEXT_DOCUMENTS {
        true => Some(count_up_to(conn, &schools, PROBE_SCOPE_MAX.saturating_add(1)).await?),
        false => None,
    };
    match text_plan(weight, few_schools_tickets) {
        TextPlan::Set => Ok(None),
        TextPlan::Probe { window_per_ticket } => {
            Ok(Some((with(CommonText::Probe { window_per_ticket }), with(CommonText::Joined))))
        }
        TextPlan::Scoped => {
            let scoped = with(CommonText::Scoped(Box::new(schools)));
            Ok(Some((scoped.clone(), scoped)))
        }
        // A few schools' tickets are usually few: each is asked once, and
        // the page and the count are taken from those that hold the words
        // (reading every matching document to keep a school's took 2.2 s at
        // 1,000,000 tickets; asking each ticket for the page, then again
        // for the count, took 55-66 ms for a school of 113).
        TextPlan::Matched => {
            let probing = with(CommonText::Probe { window_per_ticket: PROBE_WINDOW_PER_TICKET });
            let holding: Vec<i64> = on_conn!(conn, |c| {
                let mut qb = QueryBuilder::new("SELECT t.id FROM tickets t");
                push_conditions(&mut qb, &probing);
                qb.build_query_scalar().fetch_all(&mut *c).await
            })?;
            let matched = TicketFilter {
                ids: Some(holding.into_iter().map(TicketId).collect()),
                common_text: Some((needle.clone(), CommonText::Matched)),
                ..filter.clone()
            };
            Ok(Some((matched.clone(), matched)))
        }
    }
}

/// Lists tickets matching `filter`, sorted, one page; the total only when asked.
pub async fn list_tickets(
    conn: &mut Conn,
    filter: &TicketFilter,
    sort: &[Sort],
    limit: i64,
    offset: i64,
    counting: Counting,
) -> Result<(Vec<TicketRecord>, Option<Total>)> {
    let prepared = prepare(conn, filter).await?;
    let filter = prepared.as_ref().unwrap_or(filter);
    // The query as given: a common word's set, should asking tickets fail.
    let plain = filter;
    let compiled = compile(conn, filter).await?;
    let (page_filter, filter) = match &compiled {
        Some((page, count)) => (page, count),
        None => (filter, filter),
    };
    let rows = match &page_filter.common_text {
        Some((needle, CommonText::Probe { window_per_ticket })) => {
            let window_per_ticket = *window_per_ticket;
            probed_page(conn, page_filter, needle, window_per_ticket, plain, sort, (limit, offset)).await?
        }
        _ => page(conn, page_filter, sort, limit, offset, None).await?,
    };
    let cap = match counting {
        Counting::No => None,
        Counting::Exact => Some(i64::MAX),
        Counting::UpTo(cap) => Some(cap.max(0)),
    };
    let total = match (cap, filter.not_tier) {
        (None, _) => None,
        // Counting "every tier but one" row by row would read each matching
        // ticket for its tier; everything minus that tier's few counts from
        // the indexes. Counting everything up to the cap plus that tier's
        // tickets tells whether more than the cap remain without them.
        (Some(cap), Some(tier)) if filter.tiers.is_empty() => {
            let excluded = TicketFilter { not_tier: None, tiers: vec![tier], ..filter.clone() };
            let excluded = count_one_tier(conn, &excluded).await?;
            let everything = TicketFilter { not_tier: None, ..filter.clone() };
            let all = count(conn, &everything, cap.saturating_add(excluded)).await?;
            Some(if all.more {
                Total { count: cap, more: true }
            } else {
                Total { count: all.count - excluded, more: false }
            })
        }
        (Some(cap), _) if texts_pass(conn, filter, cap).await? => Some(Total { count: cap, more: true }),
        (Some(cap), _) => Some(count(conn, filter, cap).await?),
    };
    Ok((rows.into_iter().map(TicketRow::into_record).collect::<Result<_>>()?, total))
}

/// `filter` as [`list_tickets`] compiles it, or `None` when that is as
/// given. The queue's text box is the query's `text ~`, so that common
/// words get the same plans (see [`CommonText`]): as a set of every
/// matching document's ticket, `text=navigateur` took 0.8-1.0 s at
/// 1,000,000 tickets where `text ~ "navigateur"` takes 0.035 s.
async fn prepare(conn: &mut Conn, filter: &TicketFilter) -> Result<Option<TicketFilter>> {
    let moved = filter.text.as_ref().map(|text| {
        let words = Condition::Text { needle: text.clone(), negated: false };
        let query = match filter.query.clone() {
            Some(Condition::All(mut items)) => {
                items.push(words);
                Condition::All(items)
            }
            Some(other) => Condition::All(vec![other, words]),
            None => words,
        };
        TicketFilter { text: None, query: Some(query), ..filter.clone() }
    });
    let filter_now = moved.as_ref().unwrap_or(filter);
    Ok(with_prefix_words(conn, filter_now).await?.or(moved))
}

/// `filter` with [`TicketFilter::prefix_words`] for the prefixes of its
/// full-text conditions (SQLite), or `None` when it has none to look up.
pub async fn with_prefix_words(conn: &mut Conn, filter: &TicketFilter) -> Result<Option<TicketFilter>> {
    fn needles<'c>(c: &'c Condition, out: &mut Vec<&'c str>) {
        match c {
            Condition::All(items) | Condition::Any(items) => items.iter().for_each(|c| needles(c, out)),
            Condition::Not(c) => needles(c, out),
            Condition::Text { needle, .. } => out.push(needle),
            _ => {}
        }
    }
    if conn.backend() != crate::Backend::Sqlite || !filter.prefix_words.is_empty() {
        return Ok(None);
    }
    let mut texts: Vec<&str> = filter.text.as_deref().into_iter().collect();
    if let Some(c) = &filter.query {
        needles(c, &mut texts);
    }
    let queries: Vec<SearchQuery> = texts.into_iter().filter_map(|t| SearchQuery::parse(t).ok()).collect();
    let words = crate::search::prefix_words(conn, &queries).await?;
    Ok((!words.is_empty()).then(|| TicketFilter { prefix_words: words, ..filter.clone() }))
}

/// The most tickets of a few schools that are each asked about common words
/// (see [`CommonText::Matched`]): about 0.3 ms a ticket at 1,000,000
/// tickets, while matching the words among the schools' documents by number
/// ([`CommonText::Scoped`]) reads the words' whole list of documents, 0.1 to
/// 0.2 s for a common word there. A school that had gathered 58,000 tickets
/// took 20 s for its requester's `text ~ "mot de passe"`, 0.5 s since.
const PROBE_SCOPE_MAX: i64 = 500;

/// How many tickets `filter` keeps, counted up to `n` (its words left
/// out, as a [`CommonText::Joined`] filter's are).
async fn count_up_to(conn: &mut Conn, filter: &TicketFilter, n: i64) -> Result<i64> {
    let keep = conn.may_keep_prepared();
    Ok(on_conn!(conn, |c| {
        let mut qb = QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM tickets t");
        push_conditions(&mut qb, filter);
        qb.push(" LIMIT ").push_bind(n).push(") AS capped");
        qb.build_query_scalar().persistent(keep).fetch_one(&mut *c).await
    })?)
}

/// How far down a page's order asking each ticket about common words goes,
/// per ticket the page needs, before the set of matching documents is taken
/// instead (see [`probed_page`]). At least a tenth of the documents hold the
/// words, so a page's tickets are usually among ten times as many; forty
/// leaves room for words that fill replies more than tickets.
const PROBE_WINDOW_PER_TICKET: i64 = 40;
/// The most tickets a page asks about common words: about 170 ms at
/// 1,000,000 tickets (42 µs a ticket, its text and its replies) before the
/// set, once the nightly merge has left the full-text index in one segment.
/// With 19 segments (12,000 tickets filed since the merge) a ticket costs up
/// to 1 ms: a first page's window of 1,000 then took as long as the set
/// after it (1.0 s each).
const PROBE_WINDOW_MAX: i64 = 4_000;

/// A page of a query that requires common words (SQLite; see
/// [`CommonText::Probe`]). Asking each ticket in the page's order stops as
/// soon as the page is full, which is quick when the words are spread over
/// time, but it went on for as long as the latest tickets did not hold
/// them: "mot de passe" after 30,000 tickets about a connection outage took
/// 5 s at 1,000,000 tickets (20 s before the nightly merge of the index),
/// and eight such lists at once held every reader. So only the first
/// tickets of the order are asked, down to a bound on its leading column
/// (the window's last ticket, found from the index); when they hold fewer
/// than the page, the page comes from the set of matching documents, whose
/// cost is bounded by their number. Orders that no such column leads
/// (priority, status, title…) take the window as a list: the ids of the
/// order's first tickets, chosen without the words.
async fn probed_page(
    conn: &mut Conn,
    probing: &TicketFilter,
    needle: &str,
    window_per_ticket: i64,
    plain: &TicketFilter,
    sort: &[Sort],
    (limit, offset): (i64, i64),
) -> Result<Vec<TicketRow>> {
    let collected;
    let plain = match conn.backend() {
        crate::Backend::Sqlite => plain,
        crate::Backend::Postgres => {
            collected = TicketFilter { common_text: Some((needle.to_owned(), CommonText::Collected)), ..plain.clone() };
            &collected
        }
    };
    let wanted = offset.saturating_add(limit);
    let window = wanted.saturating_mul(window_per_ticket).min(PROBE_WINDOW_MAX);
    if wanted == 0 || window < wanted {
        return page(conn, plain, sort, limit, offset, None).await;
    }
    // The same query without the words ("1 = 1" in their place).
    let candidates = TicketFilter { common_text: Some((needle.to_owned(), CommonText::Joined)), ..probing.clone() };
    let Some((column, descending)) = leading_column(sort) else {
        // No index walks this order, so SQLite asked every ticket, then
        // sorted: `ORDER BY priority DESC` ran past the 60 s request
        // timeout at 1,000,000 tickets. The window is then the order's
        // first tickets themselves, chosen without the words.
        let first = Bound::First { candidates: &candidates, window };
        let rows = page(conn, probing, sort, limit, offset, Some(first)).await?;
        if rows.len() as i64 >= limit {
            return Ok(rows);
        }
        return page(conn, plain, sort, limit, offset, None).await;
    };
    let order = order_by(sort);
    let since = updated_since_creation(&candidates, sort);
    let keep = conn.may_keep_prepared();
    let last: Option<i64> = on_conn!(conn, |c| {
        let mut qb = QueryBuilder::new(format!("SELECT {column} FROM tickets t"));
        push_conditions(&mut qb, &candidates);
        if let Some(since) = since {
            qb.push(" AND t.updated_at >= ").push_bind(to_micros(since));
        }
        qb.push(format_args!(" ORDER BY {order} LIMIT 1 OFFSET ")).push_bind(window - 1);
        qb.build_query_scalar().persistent(keep).fetch_optional(&mut *c).await
    })?;
    // Fewer tickets than the window: asking each of them is bounded already.
    let Some(last) = last else {
        return page(conn, probing, sort, limit, offset, None).await;
    };
    let rows = page(conn, probing, sort, limit, offset, Some(Bound::Column { column, descending, last })).await?;
    if rows.len() as i64 >= limit {
        return Ok(rows);
    }
    page(conn, plain, sort, limit, offset, None).await
}

/// The column leading an order when it tells almost every ticket apart
/// (number, arrival, last update; never empty), and whether it descends.
fn leading_column(sort: &[Sort]) -> Option<(&'static str, bool)> {
    match sort.first() {
        // [`order_by`]'s own: the newest number first.
        None => Some((SortField::Key.sql(), true)),
        Some(s) if matches!(s.field, SortField::Key | SortField::Created | SortField::Updated) => {
            Some((s.field.sql(), s.descending))
        }
        Some(_) => None,
    }
}

/// Where a page's tickets are taken from: a prefix of its order.
#[derive(Clone, Copy)]
enum Bound<'f> {
    /// No further down than the ticket whose leading column is `last`
    /// (ties included).
    Column { column: &'static str, descending: bool, last: i64 },
    /// Among the first `window` tickets of `candidates` in the page's order.
    First { candidates: &'f TicketFilter, window: i64 },
}

/// One page of `filter` in `sort`'s order, within `bound` when given.
async fn page(
    conn: &mut Conn,
    filter: &TicketFilter,
    sort: &[Sort],
    limit: i64,
    offset: i64,
    bound: Option<Bound<'_>>,
) -> Result<Vec<TicketRow>> {
    // Planned for its values on PostgreSQL, as each statement of a list
    // (see [`Conn::may_keep_prepared`]), but for tickets named by number:
    // the primary key is their plan whatever the numbers, and planning a
    // ticket's read each time took 3.3 ms at 1,000,000 tickets (30 indexes
    // weighed) for 0.3 of execution, nine times per ticket page.
    let keep = conn.may_keep_prepared() || filter.ids.is_some();
    Ok(on_conn!(conn, |c| {
        let mut qb = QueryBuilder::new(SELECT);
        push_page(&mut qb, filter, sort, limit, offset, bound);
        qb.build_query_as().persistent(keep).fetch_all(&mut *c).await
    })?)
}

/// The page's tickets are chosen from the tickets table alone, then joined
/// to their requester, school, assignee and category: given the joins, the
/// planner would start from another table (SQLite walked every requester
/// for `ORDER BY priority`) and sort thousands of joined rows for 25.
fn push_page<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    filter: &'a TicketFilter,
    sort: &[Sort],
    limit: i64,
    offset: i64,
    bound: Option<Bound<'a>>,
) where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let order = order_by(sort);
    qb.push(" WHERE t.id IN (SELECT t.id FROM tickets t");
    push_conditions(qb, filter);
    if let Some(since) = updated_since_creation(filter, sort).filter(|_| DB::NAME == "SQLite") {
        qb.push(" AND t.updated_at >= ").push_bind(to_micros(since));
    }
    match bound {
        Some(Bound::Column { column, descending, last }) => {
            qb.push(format_args!(" AND {column} {} ", if descending { ">=" } else { "<=" })).push_bind(last);
        }
        Some(Bound::First { candidates, window }) => {
            qb.push(" AND t.id IN (SELECT t.id FROM tickets t");
            push_conditions(qb, candidates);
            qb.push(format_args!(" ORDER BY {order} LIMIT ")).push_bind(window).push(")");
        }
        None => {}
    }
    qb.push(format_args!(" ORDER BY {order} LIMIT "));
    qb.push_bind(limit).push(" OFFSET ").push_bind(offset);
    qb.push(format_args!(") ORDER BY {order}"));
}

/// A lower bound on the creation of the tickets of a list by last update,
/// stated again on `updated_at` for the page: a ticket is updated at or
/// after its creation (filing sets both to the same instant, each change
/// moves `updated_at` forward, an import keeps it at or after the creation),
/// so no ticket is left out. Without it SQLite read a week's 28,000 tickets
/// through the index by arrival, each one's last update from the table, and
/// sorted them (85 ms at 1,000,000 tickets for `created >= startOfWeek() AND
/// tier = support ORDER BY updated DESC`); with it, it walks the index by
/// last update from the end (0.2 ms). PostgreSQL's planner already walked it.
/// The count has no sort and keeps the covering index by arrival.
fn updated_since_creation(filter: &TicketFilter, sort: &[Sort]) -> Option<DateTime<Utc>> {
    if sort.first().map(|s| s.field) != Some(SortField::Updated) {
        return None;
    }
    let lower_bound = |c: &Condition| match c {
        Condition::Time { column: TimeColumn::Created, op: TimeOp::Ge | TimeOp::Gt | TimeOp::Eq, at } => Some(*at),
        _ => None,
    };
    match filter.query.as_ref()? {
        Condition::All(items) => items.iter().filter_map(lower_bound).max(),
        other => lower_bound(other),
    }
}

/// Whether a list also counts its matches, and how far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    No,
    Exact,
    /// Exactly up to this many, then "more than": a count reads every match,
    /// and past a few thousand nobody reads the exact figure.
    UpTo(i64),
}

/// How many tickets a list matches: `count`, or more than `count` when
/// counting stopped at its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Total {
    pub count: i64,
    pub more: bool,
}

/// The ORDER BY of a list: the sort keys, then the id for a total order
/// (paging stays stable); the id follows the last key's direction so that
/// an index on that key also gives the order of ties.
fn order_by(sort: &[Sort]) -> String {
    let mut order: Vec<String> =
        sort.iter().map(|s| format!("{} {}", s.field.sql(), if s.descending { "DESC" } else { "ASC" })).collect();
    order.push(if sort.last().is_some_and(|s| !s.descending) { "t.id ASC" } else { "t.id DESC" }.into());
    order.join(", ")
}

/// How the database runs a list's page and its count (`EXPLAIN QUERY PLAN`
/// on SQLite, `EXPLAIN` on PostgreSQL), for `guichet bench queries --explain`:
/// the statements [`list_tickets`] runs, common words compiled as it does
/// (a probed page shown without its window).
pub async fn explain_list(
    conn: &mut Conn,
    filter: &TicketFilter,
    sort: &[Sort],
    cap: i64,
) -> Result<(Vec<String>, Vec<String>)> {
    let explain = match conn.backend() {
        crate::Backend::Sqlite => "EXPLAIN QUERY PLAN ",
        crate::Backend::Postgres => "EXPLAIN ",
    };
    let prepared = prepare(conn, filter).await?;
    let filter = prepared.as_ref().unwrap_or(filter);
    let compiled = compile(conn, filter).await?;
    let (page_filter, count_filter) = match &compiled {
        Some((page, count)) => (page, count),
        None => (filter, filter),
    };
    let mut plans = Vec::new();
    for counting in [false, true] {
        let lines: Vec<String> = on_conn!(conn, |c| {
            let mut qb = QueryBuilder::new(explain);
            if counting {
                push_count(&mut qb, count_filter, cap, |qb| push_conditions(qb, count_filter));
            } else {
                qb.push(SELECT);
                push_page(&mut qb, page_filter, sort, 25, 0, None);
            }
            let rows = qb.build().fetch_all(&mut *c).await?;
            // SQLite: (id, parent, notused, detail); PostgreSQL: one text column.
            Ok::<_, sqlx::Error>(
                rows.iter()
                    .map(|r| {
                        use sqlx::Row;
                        r.try_get::<String, _>("detail").or_else(|_| r.try_get::<String, _>(0)).unwrap_or_default()
                    })
                    .collect(),
            )
        })?;
        plans.push(lines);
    }
    let count = plans.pop().unwrap_or_default();
    Ok((plans.pop().unwrap_or_default(), count))
}

async fn count(conn: &mut Conn, filter: &TicketFilter, cap: i64) -> Result<Total> {
    let keep = conn.may_keep_prepared();
    let counted: i64 = on_conn!(conn, |c| {
        let mut qb = QueryBuilder::new("");
        push_count(&mut qb, filter, cap, |qb| push_conditions(qb, filter));
        qb.build_query_scalar().persistent(keep).fetch_one(&mut *c).await
    })?;
    Ok(if counted > cap { Total { count: cap, more: true } } else { Total { count: counted, more: false } })
}

/// The statement counting `filter`'s tickets up to one past `cap` (one row
/// past it tells "more" from "exactly the cap"). A query that requires the
/// common words of a [`CommonText::Joined`] (SQLite) is counted from the
/// matching documents in index order, each one's ticket checked against
/// the rest of the query, each ticket once. `conditions` pushes the
/// filter's ` WHERE …` (see [`push_conditions`]).
fn push_count<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    filter: &TicketFilter,
    cap: i64,
    mut conditions: impl FnMut(&mut QueryBuilder<'a, DB>),
) where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let capped = cap < i64::MAX;
    if let Some((needle, CommonText::Joined)) = &filter.common_text {
        qb.push("SELECT COUNT(*) FROM (SELECT DISTINCT t.id FROM search_index s JOIN tickets t ON t.id = s.ticket_id");
        conditions(qb);
        match SearchQuery::parse(needle) {
            Ok(query) => {
                qb.push(" AND s.search_index MATCH ").push_bind(fts5_of(&query, &filter.prefix_words));
            }
            // [`common_text`] keeps only words that parse.
            Err(_) => {
                qb.push(" AND 1 = 0");
            }
        }
        if !with_internal(filter) {
            qb.push(" AND s.internal = 0");
        }
    } else if capped {
        qb.push("SELECT COUNT(*) FROM (SELECT 1 FROM tickets t");
        conditions(qb);
    } else {
        qb.push("SELECT COUNT(*) FROM tickets t");
        conditions(qb);
        return;
    }
    if capped {
        qb.push(" LIMIT ").push_bind(cap.saturating_add(1));
    }
    qb.push(") AS counted");
}

/// Counts a filter kept to one tier of few tickets (the schools' own, see
/// [`list_tickets`]) from that tier's index. SQLite's statistics see
/// "still open" as a couple of rows in every index that carries it (see
/// [`OPEN_ON_SQLITE`]), so for "awaiting our reply" it read every open
/// ticket awaiting the desk (`tickets_awaiting_idx`) to find the tier's
/// two: 170 ms of the dashboard's 200 at 1,000,000 tickets, 0.1 ms this way.
async fn count_one_tier(conn: &mut Conn, filter: &TicketFilter) -> Result<i64> {
    let select = match conn.backend() {
        crate::Backend::Sqlite => "SELECT COUNT(*) FROM tickets t INDEXED BY tickets_tier_status_idx",
        crate::Backend::Postgres => "SELECT COUNT(*) FROM tickets t",
    };
    let keep = conn.may_keep_prepared();
    Ok(on_conn!(conn, |c| {
        let mut qb = QueryBuilder::new(select);
        push_conditions(&mut qb, filter);
        qb.build_query_scalar().persistent(keep).fetch_one(&mut *c).await
    })?)
}

pub async fn list_watchers(conn: &mut Conn, ticket: TicketId) -> Result<Vec<UserRef>> {
    let sql = "SELECT u.id, u.name FROM ticket_watchers w JOIN users u ON u.id = w.user_id WHERE w.ticket_id = $1 ORDER BY u.name";
    let rows: Vec<(i64, String)> = on_conn!(conn, |c| sqlx::query_as(sql).bind(ticket.0).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(|(id, name)| UserRef { id: UserId(id), name }).collect())
}

pub async fn add_watcher(conn: &mut Conn, ticket: TicketId, user: UserId) -> Result<()> {
    let sql = "INSERT INTO ticket_watchers (ticket_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    on_conn!(conn, |c| sqlx::query(sql).bind(ticket.0).bind(user.0).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Gives a ticket another requester (a school's administrator taking over an end user's HELP request).
pub async fn set_requester(conn: &mut Conn, ticket: TicketId, requester: UserId) -> Result<()> {
    let sql = "UPDATE tickets SET requester_id = $1 WHERE id = $2";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(requester.0)
        .bind(ticket.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

pub async fn replace_watchers(conn: &mut Conn, ticket: TicketId, users: &[UserId]) -> Result<()> {
    on_conn!(conn, |c| sqlx::query("DELETE FROM ticket_watchers WHERE ticket_id = $1")
        .bind(ticket.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    for user in users {
        add_watcher(conn, ticket, *user).await?;
    }
    Ok(())
}

/// Stores a ticket's recomputed service-level clocks and when the periodic
/// job should look at them again (`None`: only a change to the ticket can
/// move them).
pub async fn update_sla(
    conn: &mut Conn,
    id: TicketId,
    sla: &SlaRecord,
    next_check: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = "UPDATE tickets SET first_response_due = $1, resolution_due = $2, sla_state = $3, sla_checked_at = $4, \
               sla_next_check_at = $5 WHERE id = $6";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(sla.first_response_due.map(to_micros))
        .bind(sla.resolution_due.map(to_micros))
        .bind(sla.state.map(SlaState::as_str))
        .bind(to_micros(now))
        .bind(next_check.map(to_micros))
        .bind(id.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Tickets whose clocks may have changed by themselves by `now`, soonest
/// first, with their status (the job skips those no longer open).
pub async fn list_sla_due_for_check(
    conn: &mut Conn,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(TicketId, String)>> {
    let sql = "SELECT id, status FROM tickets WHERE sla_next_check_at <= $1 ORDER BY sla_next_check_at LIMIT $2";
    let rows: Vec<(i64, String)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(to_micros(now)).bind(limit).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(|(id, status)| (TicketId(id), status)).collect())
}

/// Forgets when to look at these tickets' clocks again (no longer open, or
/// with a school: only a change to the ticket moves them).
pub async fn clear_sla_next_check(conn: &mut Conn, ids: &[TicketId]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new("UPDATE tickets SET sla_next_check_at = NULL WHERE 1 = 1");
        push_in(&mut qb, "id", ids.iter().map(|id| id.0));
        qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Has the periodic job look at every ticket in one of `open_statuses` at
/// its next pass: the calendar or the targets changed, so may every clock.
pub async fn recheck_all_slas(conn: &mut Conn, open_statuses: &[String]) -> Result<u64> {
    if open_statuses.is_empty() {
        return Ok(0);
    }
    Ok(on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new("UPDATE tickets SET sla_next_check_at = 0 WHERE 1 = 1");
        push_in(&mut qb, "status", open_statuses.iter().map(String::as_str));
        qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
    })?)
}

/// Tickets in one of `statuses` whose last change of status is older than
/// `before`; with `unless_event`, only those without such an event since then.
pub async fn list_stale_in_status(
    conn: &mut Conn,
    statuses: &[String],
    before: DateTime<Utc>,
    unless_event: Option<&str>,
    limit: i64,
) -> Result<Vec<TicketId>> {
    stale_in_status(conn, None, statuses, before, unless_event, limit).await
}

/// Whether one ticket is still as [`list_stale_in_status`] would list it.
pub async fn is_stale_in_status(
    conn: &mut Conn,
    id: TicketId,
    statuses: &[String],
    before: DateTime<Utc>,
    unless_event: Option<&str>,
) -> Result<bool> {
    Ok(!stale_in_status(conn, Some(id), statuses, before, unless_event, 1).await?.is_empty())
}

async fn stale_in_status(
    conn: &mut Conn,
    only: Option<TicketId>,
    statuses: &[String],
    before: DateTime<Utc>,
    unless_event: Option<&str>,
    limit: i64,
) -> Result<Vec<TicketId>> {
    if statuses.is_empty() {
        return Ok(Vec::new());
    }
    const LAST_STATUS_CHANGE: &str = "COALESCE((SELECT MAX(e.at) FROM ticket_events e \
        WHERE e.ticket_id = t.id AND e.field = 'status'), t.created_at)";
    let ids: Vec<i64> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new("SELECT t.id FROM tickets t WHERE ");
        qb.push(LAST_STATUS_CHANGE).push(" < ").push_bind(to_micros(before));
        if let Some(id) = only {
            qb.push(" AND t.id = ").push_bind(id.0);
        }
        push_in(&mut qb, "t.status", statuses.iter().map(String::as_str));
        if let Some(field) = unless_event {
            qb.push(" AND NOT EXISTS (SELECT 1 FROM ticket_events r WHERE r.ticket_id = t.id AND r.field = ")
                .push_bind(field)
                .push(" AND r.at >= ")
                .push(LAST_STATUS_CHANGE)
                .push(")");
        }
        qb.push(" ORDER BY t.id LIMIT ").push_bind(limit);
        qb.build_query_scalar().fetch_all(&mut *c).await
    })?;
    Ok(ids.into_iter().map(TicketId).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_sql(filter: &TicketFilter) -> String {
        let mut qb = QueryBuilder::<sqlx::Sqlite>::new("SELECT t.id FROM tickets t");
        push_conditions(&mut qb, filter);
        qb.sql().to_owned()
    }

    fn open_and(term: Condition) -> TicketFilter {
        let open = Condition::Empty { column: EmptyColumn::Resolved, negated: false };
        TicketFilter { query: Some(Condition::All(vec![term, open])), ..TicketFilter::default() }
    }

    fn codes(column: CodeColumn, value: &str) -> Condition {
        Condition::Codes { column, values: vec![value.into()], negated: false }
    }

    #[test]
    fn a_few_schools_words_are_matched_among_their_documents_and_many_schools_words_alone() {
        let query = SearchQuery::parse("messagerie").unwrap();
        let scope = |n: i64| TicketFilter {
            scope: TicketScope::Establishments((1..=n).map(EstablishmentId).collect()),
            ..TicketFilter::default()
        };
        assert_eq!(fts5_within(&query, &[], &scope(1)), r#"body : ("messagerie") AND establishment : ("e1")"#);
        assert_eq!(fts5_within(&query, &[], &scope(2)), r#"body : ("messagerie") AND establishment : ("e1" OR "e2")"#);
        assert!(fts5_within(&query, &[], &scope(FEW_SCHOOLS as i64)).contains(&format!("\"e{FEW_SCHOOLS}\")")));
        for filter in [scope(FEW_SCHOOLS as i64 + 1), scope(0), TicketFilter { scope: TicketScope::All, ..scope(1) }] {
            assert_eq!(fts5_within(&query, &[], &filter), r#"body : ("messagerie")"#);
        }
    }

    #[test]
    fn the_establishments_in_reach_are_those_every_part_of_the_filter_allows() {
        let ids = |v: &[i64]| v.iter().copied().map(EstablishmentId).collect::<Vec<_>>();
        let named = |v: &[i64], negated| Condition::EstablishmentIds { ids: v.to_vec(), negated };
        let desk = TicketFilter { scope: TicketScope::All, ..TicketFilter::default() };
        assert_eq!(desk.establishments_in_reach(), None);
        let school = TicketFilter { scope: TicketScope::Establishments(ids(&[1, 2, 3])), ..TicketFilter::default() };
        assert_eq!(school.establishments_in_reach(), Some(ids(&[1, 2, 3])));
        let asked = TicketFilter { establishments: ids(&[2, 3, 4]), ..school.clone() };
        assert_eq!(asked.establishments_in_reach(), Some(ids(&[2, 3])));
        let required = Condition::All(vec![codes(CodeColumn::Priority, "high"), named(&[3, 5], false)]);
        let queried = TicketFilter { query: Some(required), ..asked.clone() };
        assert_eq!(queried.establishments_in_reach(), Some(ids(&[3])));
        let alone = TicketFilter { query: Some(named(&[5], false)), ..desk.clone() };
        assert_eq!(alone.establishments_in_reach(), Some(ids(&[5])));
        // Not required by the whole query: every establishment of the scope stays.
        for loose in [
            named(&[5], true),
            Condition::Any(vec![named(&[5], false), codes(CodeColumn::Priority, "high")]),
            Condition::Not(Box::new(named(&[5], false))),
        ] {
            let f = TicketFilter { query: Some(loose), ..school.clone() };
            assert_eq!(f.establishments_in_reach(), Some(ids(&[1, 2, 3])));
            let f = TicketFilter { query: f.query, ..desk.clone() };
            assert_eq!(f.establishments_in_reach(), None);
        }
        let apart = TicketFilter { establishments: ids(&[9]), ..school };
        assert_eq!(apart.establishments_in_reach(), Some(Vec::new()));
    }

    #[test]
    fn still_open_is_weighed_for_sqlite_when_no_term_leads_an_open_index() {
        let sql = sqlite_sql(&open_and(codes(CodeColumn::Priority, "high")));
        assert!(sql.contains("likelihood(t.resolved_at IS NULL, 0.25)"), "{sql}");
    }

    #[test]
    fn still_open_is_left_to_the_statistics_beside_a_level_state_or_assignee() {
        for term in [
            codes(CodeColumn::Tier, "technical"),
            codes(CodeColumn::Sla, "breached"),
            Condition::Empty { column: EmptyColumn::Assignee, negated: false },
            Condition::AwaitingDesk { negated: false },
        ] {
            let sql = sqlite_sql(&open_and(term));
            assert!(!sql.contains("likelihood") && sql.contains("t.resolved_at IS NULL"), "{sql}");
        }
        // The dashboard counts the schools' own level beside any filter.
        let filter = TicketFilter { tiers: vec![Tier::Establishment], ..open_and(codes(CodeColumn::Sla, "breached")) };
        assert!(!sqlite_sql(&filter).contains("likelihood"));
        let filter = TicketFilter { tiers: vec![Tier::Establishment], ..open_and(codes(CodeColumn::Priority, "high")) };
        assert!(!sqlite_sql(&filter).contains("likelihood"));
    }

    #[test]
    fn still_open_is_kept_off_the_indexes_for_a_few_schools_and_plain_on_postgres() {
        let school = Condition::EstablishmentIds { ids: vec![7], negated: false };
        assert!(sqlite_sql(&open_and(school)).contains("+t.resolved_at IS NULL"));
        let mut qb = QueryBuilder::<sqlx::Postgres>::new("SELECT t.id FROM tickets t");
        let filter = open_and(codes(CodeColumn::Priority, "high"));
        push_conditions(&mut qb, &filter);
        assert!(!qb.sql().contains("likelihood") && qb.sql().contains("t.resolved_at IS NULL"));
    }

    fn plan(documents: i64, tickets: i64, schools: Option<i64>) -> TextPlan {
        text_plan(TextWeight { documents, tickets }, schools)
    }

    #[test]
    fn words_in_few_documents_are_read_as_a_set() {
        assert_eq!(plan(999, 5_000, None), TextPlan::Set);
        assert_eq!(plan(999, 5_000, Some(10)), TextPlan::Set);
        assert_eq!(plan(0, 0, None), TextPlan::Set);
    }

    #[test]
    fn the_desk_asks_its_tickets_about_words_in_a_tenth_of_them_on_a_small_base() {
        assert_eq!(plan(1_000, 10_000, None), TextPlan::Probe { window_per_ticket: 40 });
        assert_eq!(plan(999, 5_000, None), TextPlan::Set);
        assert_eq!(plan(4_999, 50_000, None), TextPlan::Set);
        assert_eq!(plan(5_000, 50_000, None), TextPlan::Probe { window_per_ticket: 40 });
    }

    #[test]
    fn on_a_big_base_the_desk_asks_about_words_in_fewer_than_a_tenth_of_the_tickets() {
        // `messagerie` and `parent` at 1,000,000 tickets.
        assert_eq!(plan(57_926, 1_000_000, None), TextPlan::Probe { window_per_ticket: 68 });
        assert_eq!(plan(24_989, 1_000_000, None), TextPlan::Probe { window_per_ticket: 160 });
        assert_eq!(plan(24_000, 1_000_000, None), TextPlan::Set);
        assert_eq!(plan(100_000, 1_000_000, None), TextPlan::Probe { window_per_ticket: 40 });
    }

    #[test]
    fn a_small_school_asks_each_of_its_tickets_once_from_twelve_documents_a_ticket() {
        assert_eq!(plan(57_926, 1_000_000, Some(118)), TextPlan::Matched);
        assert_eq!(plan(1_416, 1_000_000, Some(118)), TextPlan::Matched);
        assert_eq!(plan(1_415, 1_000_000, Some(118)), TextPlan::Set);
        assert_eq!(plan(5_999, 1_000_000, Some(500)), TextPlan::Set);
        assert_eq!(plan(6_000, 1_000_000, Some(500)), TextPlan::Matched);
        // On a small base, from a tenth of the tickets, as before.
        assert_eq!(plan(1_000, 2_500, Some(250)), TextPlan::Matched);
    }

    #[test]
    fn a_big_school_matches_its_own_documents_only_for_words_in_a_tenth_of_the_tickets() {
        assert_eq!(plan(100_000, 1_000_000, Some(501)), TextPlan::Scoped);
        assert_eq!(plan(99_999, 1_000_000, Some(501)), TextPlan::Set);
    }
}
