//! Ticket use cases: file, list, read, change and trace a ticket.

use crate::auth::Principal;
use crate::notify::{Notice, Recipient};
use crate::{App, AppError};
use guichet_domain::establishment::Uai;
use guichet_domain::history::{FieldChange, HistoryEntry};
use guichet_domain::ids::{EstablishmentId, TicketId, UserId};
use guichet_domain::incident::LinkKind;
use guichet_domain::ticket::{
    parse_key, CategoryRef, Channel, NewTicket, Priority, Reproduction, Resolution, Ticket, TicketDraft, TicketPatch,
    TicketType, Tier, UserRef,
};
use guichet_domain::user::{EmailAddress, Role};
use guichet_domain::workflow::StatusCategory;
use guichet_domain::FieldError;
use guichet_store::tickets::{Counting, Sort, SortField, TicketFilter, TicketRecord};
use guichet_store::{Conn, StoreError};

/// A ticket with its watchers, as read by one actor.
#[derive(Debug, Clone)]
pub struct TicketDetails {
    pub record: TicketRecord,
    pub watchers: Vec<UserRef>,
}

/// A request to file a ticket.
#[derive(Debug, Clone, Default)]
pub struct CreateTicket {
    pub title: String,
    pub description: String,
    /// UAI of the establishment concerned.
    pub establishment: String,
    pub ticket_type: Option<TicketType>,
    pub priority: Option<Priority>,
    /// Category code.
    pub category: Option<String>,
    pub channel: Option<Channel>,
    /// The requester's e-mail when the desk files on someone's behalf.
    pub requester: Option<String>,
    pub reproduction: Option<Reproduction>,
}

/// A request to change a ticket; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UpdateTicket {
    pub title: Option<String>,
    pub description: Option<String>,
    pub ticket_type: Option<TicketType>,
    pub status: Option<String>,
    pub priority: Option<Priority>,
    pub category: Option<Option<String>>,
    pub assignee: Option<Option<UserId>>,
    pub tier: Option<Tier>,
    pub reproduction: Option<Reproduction>,
    pub resolution: Option<Option<Resolution>>,
    pub watchers: Option<Vec<UserId>>,
    /// UAI of the establishment: the desk moves a request filed in the wrong place (or in triage).
    pub establishment: Option<String>,
    /// The version the change was made on (`If-Match`, the page form's): a
    /// change made meanwhile by someone else refuses this one.
    pub expected_version: Option<i64>,
    /// A public reply of the desk sent with this change: the status mail
    /// quotes it, so that the requester gets one mail rather than two.
    pub reply: Option<String>,
}

/// Listing parameters as they come from a URL: comma-separated codes.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub ticket_type: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub channel: Option<String>,
    pub tier: Option<String>,
    pub category: Option<String>,
    pub establishment: Option<String>,
    /// `me`, `none` or a user id.
    pub assignee: Option<String>,
    pub text: Option<String>,
    /// Comma-separated fields, `-` for descending: `-updated,priority`.
    pub sort: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    /// Only tickets whose last public message is the requester's.
    pub needs_reply: bool,
    /// Only tickets resolved since Monday.
    pub resolved_week: bool,
    /// A query in the query language; its ORDER BY wins over `sort`.
    pub q: Option<String>,
}

pub const PER_PAGE_MAX: i64 = 100;
/// Lists and filter counts are exact up to this many tickets, then "more
/// than" (« plus de 10 000 »): an exact count reads every match, and a
/// figure past it helps nobody sort their work.
pub const COUNT_LIMIT: i64 = 10_000;
/// A saved filter's count (a dashboard tile, the queue page's filters, the
/// filters API) is exact up to this many tickets, then « plus de 1 000 »:
/// it tells a queue's size at a glance, and a desk that takes hundreds of
/// requests a month does nothing different at 1,001 or at 10,000. Its
/// list, once opened, counts to [`COUNT_LIMIT`]. Counting to 10,000 took
/// most of PostgreSQL's dashboard at 1,000,000 tickets (thirteen tiles,
/// 63 ms; docs/performance.md).
pub const TILE_COUNT_LIMIT: i64 = 1_000;
/// The longest `text` filter of a listing.
pub const TEXT_FILTER_MAX: usize = 500;

/// A ticket about to be filed, its establishment and requester resolved.
pub(crate) struct Filing<'a> {
    pub draft: TicketDraft,
    pub establishment: EstablishmentId,
    pub requester: UserId,
    pub files: &'a [(String, Vec<u8>)],
    /// The channel, when the system knows it better than the actor could say (mail).
    pub channel: Option<Channel>,
    /// The tier, when not level 1 (a HELP request starts with the school).
    pub tier: Option<Tier>,
    /// Acknowledge receipt to the requester by mail.
    pub acknowledge: bool,
    /// The Message-ID of the mail that asks for it, already recorded: the
    /// ticket's notifications answer it.
    pub thread_root: Option<&'a str>,
}

/// One page of tickets and the total matching.
#[derive(Debug, Clone)]
pub struct TicketPage {
    pub items: Vec<TicketRecord>,
    pub total: i64,
    /// More tickets than `total` match: counting stopped at [`COUNT_LIMIT`].
    pub more: bool,
    pub page: i64,
    pub per_page: i64,
}

fn split(value: &Option<String>) -> impl Iterator<Item = &str> {
    value.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|v| !v.is_empty())
}

fn parse_all<T>(
    errors: &mut Vec<FieldError>,
    value: &Option<String>,
    parse: impl Fn(&str) -> Result<T, guichet_domain::DomainError>,
) -> Vec<T> {
    split(value)
        .filter_map(|v| match parse(v) {
            Ok(t) => Some(t),
            Err(guichet_domain::DomainError::Validation(e)) => {
                errors.extend(e);
                None
            }
            Err(e) => {
                errors.push(FieldError::new("filter", e.to_string()));
                None
            }
        })
        .collect()
}

fn parse_sort(value: Option<&str>) -> Result<Vec<Sort>, AppError> {
    let Some(value) = value else {
        return Ok(vec![Sort { field: SortField::Updated, descending: true }]);
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (descending, name) = s.strip_prefix('-').map_or((false, s), |n| (true, n));
            let field = match name {
                "key" => SortField::Key,
                "created" => SortField::Created,
                "updated" => SortField::Updated,
                "priority" => SortField::Priority,
                "status" => SortField::Status,
                "title" => SortField::Title,
                other => {
                    return Err(AppError::field(
                        "sort",
                        format!("cannot sort by `{other}`; fields: key, created, updated, priority, status, title"),
                    ))
                }
            };
            Ok(Sort { field, descending })
        })
        .collect()
}

impl App {
    /// Parses and resolves a query of the query language for now, in the
    /// desk's time zone, against the configured statuses and categories.
    pub async fn resolve_query(
        &self,
        conn: &mut Conn,
        text: &str,
    ) -> Result<Result<guichet_domain::query::Resolved, guichet_domain::query::QueryError>, AppError> {
        let parsed = match guichet_domain::query::parse(text) {
            Ok(parsed) => parsed,
            Err(e) => return Ok(Err(e)),
        };
        let statuses = self
            .workflows()
            .0
            .iter()
            .flat_map(|w| w.statuses.iter())
            .map(|s| (s.code.clone(), s.label_fr.clone(), s.label_en.clone()))
            .collect();
        let categories = guichet_store::categories::list_categories(conn).await?;
        let category_ids: Vec<(String, i64)> = categories.iter().map(|c| (c.code.clone(), c.id)).collect();
        let categories = categories.into_iter().map(|c| (c.code, c.label_fr, c.label_en)).collect();
        let ctx = guichet_domain::query::Context {
            now: self.now(),
            tz: self.calendar().tz,
            key_prefix: self.settings.key_prefix.clone(),
            statuses,
            categories,
        };
        let mut resolved = match guichet_domain::query::resolve(&parsed, &ctx) {
            Ok(resolved) => resolved,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(condition) = resolved.condition.take() {
            let mut ids = Vec::new();
            for names in condition.establishment_names() {
                ids.push(guichet_store::tickets::establishment_ids_named(conn, names).await?);
            }
            let condition = condition.pin_establishments(&mut ids.into_iter());
            let mut ids = Vec::new();
            for name in condition.person_names() {
                ids.push(guichet_store::users::user_ids_named(conn, name).await?);
            }
            let condition = condition.pin_people(&mut ids.into_iter());
            let id_of = |code: &str| category_ids.iter().find(|(c, _)| c == code).map(|(_, id)| *id);
            resolved.condition = Some(condition.pin_categories(&id_of));
        }
        Ok(Ok(resolved))
    }

    pub(crate) fn ticket_id(&self, key: &str) -> Result<TicketId, AppError> {
        parse_key(&self.settings.key_prefix, key).ok_or(AppError::NotFound("ticket"))
    }

    /// Loads a ticket the actor may see; any other is "not found", exists or not.
    pub(crate) async fn visible_ticket(
        &self,
        conn: &mut Conn,
        p: &Principal,
        key: &str,
    ) -> Result<TicketRecord, AppError> {
        let id = self.ticket_id(key)?;
        guichet_store::tickets::find_ticket(conn, id, &p.actor.scope()).await.map_err(|e| match e {
            StoreError::NotFound => AppError::NotFound("ticket"),
            other => other.into(),
        })
    }

    pub(crate) async fn details(&self, conn: &mut Conn, record: TicketRecord) -> Result<TicketDetails, AppError> {
        let watchers = guichet_store::tickets::list_watchers(conn, record.ticket.id).await?;
        Ok(TicketDetails { record, watchers })
    }

    pub async fn create_ticket(&self, p: &Principal, req: CreateTicket) -> Result<TicketDetails, AppError> {
        self.create_ticket_with_files(p, req, &[]).await
    }

    /// Files a ticket with its files (a portal request and its screenshots)
    /// in one transaction: a file refused leaves no ticket behind.
    pub async fn create_ticket_with_files(
        &self,
        p: &Principal,
        req: CreateTicket,
        files: &[(String, Vec<u8>)],
    ) -> Result<TicketDetails, AppError> {
        for (filename, content) in files {
            let upload = crate::attachments::Upload { filename, content, internal: false, comment: None };
            Self::check_upload(p, &upload, self.settings.attachment_max_bytes)?;
        }
        // What the filing refers to is read before the write begins: SQLite's
        // one writer is held only for the writes.
        let mut conn = self.db.conn().await?;
        let uai = Uai::parse(&req.establishment).map_err(|_| {
            AppError::field("establishment", format!("`{}` is not a valid UAI code", req.establishment.trim()))
        })?;
        let establishment = guichet_store::establishments::find_establishment_by_uai(&mut conn, &uai)
            .await?
            .filter(|e| p.actor.can_see_establishment(e.id))
            .ok_or_else(|| {
                AppError::field("establishment", format!("no establishment {uai} you may file a request for"))
            })?;
        let requester = match (&req.requester, p.actor.role.is_staff()) {
            (Some(email), true) => self.requester_of(&mut conn, email, establishment.id).await?,
            (Some(_), false) => return Err(AppError::field("requester", "only the desk files on someone's behalf")),
            (None, _) => p.user.id,
        };
        let category = match &req.category {
            Some(code) => Some(self.category(&mut conn, code).await?.id()),
            None => None,
        };
        drop(conn);
        let draft = TicketDraft {
            title: req.title,
            description: req.description,
            ticket_type: req.ticket_type,
            priority: req.priority,
            category,
            channel: req.channel,
            reproduction: req.reproduction,
        };
        // Filings arriving together share a commit (group commit on SQLite).
        let (app, principal, files) = (self.clone(), p.clone(), files.to_vec());
        let establishment = establishment.id;
        let id = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    let filing = Filing {
                        draft,
                        establishment,
                        requester,
                        files: &files,
                        channel: None,
                        tier: None,
                        acknowledge: true,
                        thread_root: None,
                    };
                    app.file_ticket(tx, &principal, filing).await
                })
            })
            .await?;
        // Read back once written, as the caller sees it. Nobody watches it yet.
        let record = guichet_store::tickets::find_ticket(&mut self.db.conn().await?, id, &p.actor.scope()).await?;
        let details = TicketDetails { record, watchers: Vec::new() };
        tracing::info!(ticket = %self.key(id), channel = %details.record.ticket.channel, "ticket created");
        Ok(details)
    }

    /// Stores a new ticket inside the caller's transaction: its history, its
    /// files, its assignment, its service-level clocks and its notifications.
    pub(crate) async fn file_ticket(
        &self,
        tx: &mut Conn,
        p: &Principal,
        filing: Filing<'_>,
    ) -> Result<TicketId, AppError> {
        self.forget_proposals();
        let now = self.now();
        let mut new =
            NewTicket::from_draft(filing.draft, &p.actor, filing.requester, filing.establishment, &self.workflows())?;
        if let Some(channel) = filing.channel {
            new.channel = channel;
        }
        if let Some(tier) = filing.tier {
            new.tier = tier;
        }
        let clocks = self.opening_sla(&new, now);
        let sla = clocks.map(|c| guichet_store::tickets::SlaRecord {
            first_response_due: c.first_response.due,
            resolution_due: c.resolution.due,
            state: Some(c.state),
        });
        let next_check = clocks.and_then(|c| c.next_check);
        let id = guichet_store::tickets::insert_ticket(tx, &new, sla.unwrap_or_default(), next_check, now).await?;
        metrics::counter!("guichet_tickets_created_total", "channel" => new.channel.to_string()).increment(1);
        if let Some(message_id) = filing.thread_root {
            guichet_store::mail::set_message_ticket(tx, message_id, id, None).await?;
        }
        let mut created = vec![FieldChange::public("created", None, Some(new.channel.to_string()))];
        if new.tier != Tier::Support {
            // The starting level, for the clocks that pause outside level 1.
            created.push(FieldChange::internal("tier", None, Some(new.tier.to_string())));
        }
        self.record_history(tx, id, Some(p.user.id), &created, now).await?;
        for (filename, content) in filing.files {
            let upload = crate::attachments::Upload { filename, content, internal: false, comment: None };
            self.attach_in(tx, p, id, upload).await?;
        }
        // A new ticket has no assignee but the one the rule gives it.
        let assignee = self.auto_assign(tx, id).await?.map(|a| a.id);
        if let Some(clocks) = clocks {
            self.announce_opening_sla(tx, id, clocks.state, assignee).await?;
        }
        if filing.acknowledge {
            self.notify(tx, id, Recipient::Requester, Notice::Acknowledgment).await?;
        }
        // A school's own HELP requests are not level 1's until forwarded.
        if new.tier != Tier::Establishment {
            self.notify_agents(tx, id, assignee, Some(p.user.id), Notice::NewTicket).await?;
        }
        Ok(id)
    }

    async fn requester_of(
        &self,
        conn: &mut Conn,
        email: &str,
        establishment: EstablishmentId,
    ) -> Result<UserId, AppError> {
        let email = EmailAddress::parse(email).map_err(|_| AppError::field("requester", "not an e-mail address"))?;
        let user = guichet_store::users::find_user_by_email(conn, &email)
            .await?
            .ok_or_else(|| AppError::field("requester", format!("no user has the address {}", email.as_str())))?;
        if user.role == Role::Requester && !user.establishments.contains(&establishment) {
            return Err(AppError::field("requester", "this requester does not belong to the establishment"));
        }
        Ok(user.id)
    }

    async fn category(&self, conn: &mut Conn, code: &str) -> Result<guichet_store::categories::Category, AppError> {
        guichet_store::categories::find_category_by_code(conn, code.trim())
            .await?
            .filter(|c| c.active)
            .ok_or_else(|| AppError::field("category", format!("unknown category `{}`", code.trim())))
    }

    pub async fn get_ticket(&self, p: &Principal, key: &str) -> Result<TicketDetails, AppError> {
        let mut conn = self.db.conn().await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        self.details(&mut conn, record).await
    }

    /// The filter a listing's parameters describe, within the actor's scope;
    /// also the sort a query's ORDER BY asks for. Bad parameters are added to `errors`.
    pub(crate) async fn ticket_filter(
        &self,
        conn: &mut Conn,
        p: &Principal,
        params: &ListParams,
        errors: &mut Vec<FieldError>,
    ) -> Result<(TicketFilter, Vec<Sort>), AppError> {
        for code in split(&params.status) {
            if !self.workflows().all_status_codes().any(|known| known == code) {
                errors.push(FieldError::new("status", format!("unknown status `{code}`")));
            }
        }
        if params.text.as_deref().is_some_and(|t| t.chars().count() > TEXT_FILTER_MAX) {
            errors.push(FieldError::new("text", format!("`text` is at most {TEXT_FILTER_MAX} characters")));
        }
        let mut filter = TicketFilter {
            scope: p.actor.scope(),
            types: parse_all(errors, &params.ticket_type, TicketType::parse),
            statuses: split(&params.status).map(str::to_owned).collect(),
            priorities: parse_all(errors, &params.priority, Priority::parse),
            channels: parse_all(errors, &params.channel, Channel::parse),
            tiers: parse_all(errors, &params.tier, Tier::parse),
            text: params.text.clone(),
            needs_reply: params.needs_reply,
            resolved_since: params.resolved_week.then(|| self.start_of_week()),
            ..TicketFilter::default()
        };
        if params.needs_reply && filter.statuses.is_empty() {
            filter.statuses = self.open_statuses(false);
        }
        for code in split(&params.category) {
            match guichet_store::categories::find_category_by_code(conn, code).await? {
                Some(c) => filter.categories.push(c.id()),
                None => errors.push(FieldError::new("category", format!("unknown category `{code}`"))),
            }
        }
        for uai in split(&params.establishment) {
            let found = match Uai::parse(uai) {
                Ok(uai) => guichet_store::establishments::find_establishment_by_uai(conn, &uai).await?,
                Err(_) => None,
            };
            match found {
                // A parent (département, académie) stands for its schools. An
                // establishment outside the scope simply yields nothing.
                Some(e) => {
                    filter.establishments.extend(guichet_store::establishments::list_descendants(conn, e.id).await?)
                }
                None => errors.push(FieldError::new("establishment", format!("unknown establishment `{uai}`"))),
            }
        }
        filter.assignee = match params.assignee.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("me") => Some(Some(p.user.id)),
            Some("none") => Some(None),
            Some(id) => match id.parse() {
                Ok(id) => Some(Some(UserId(id))),
                Err(_) => {
                    errors.push(FieldError::new("assignee", "`assignee` is `me`, `none` or a user id"));
                    None
                }
            },
        };
        let mut sort = Vec::new();
        if let Some(text) = params.q.as_deref().filter(|q| !q.trim().is_empty()) {
            match self.resolve_query(conn, text).await? {
                Ok(resolved) => {
                    filter.query = resolved.condition;
                    filter.current_user = Some(p.user.id);
                    sort = resolved
                        .order
                        .into_iter()
                        .map(|(key, descending)| Sort { field: key.into(), descending })
                        .collect();
                }
                Err(e) => errors.push(FieldError::new("q", e.to_string())),
            }
        }
        Ok((filter, sort))
    }

    /// How the database would run [`App::list_tickets`]'s page and count,
    /// for the query benchmark (`guichet bench queries --explain`).
    pub async fn explain_tickets(
        &self,
        p: &Principal,
        params: &ListParams,
    ) -> Result<(Vec<String>, Vec<String>), AppError> {
        let mut conn = self.db.conn().await?;
        let mut errors = Vec::new();
        let (filter, sort) = self.ticket_filter(&mut conn, p, params, &mut errors).await?;
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        Ok(guichet_store::tickets::explain_list(&mut conn, &filter, &sort, COUNT_LIMIT).await?)
    }

    pub async fn list_tickets(&self, p: &Principal, params: &ListParams) -> Result<TicketPage, AppError> {
        let mut errors = Vec::new();
        let page = params.page.unwrap_or(1);
        let per_page = params.per_page.unwrap_or(25);
        if page < 1 {
            errors.push(FieldError::new("page", "`page` starts at 1"));
        }
        if !(1..=PER_PAGE_MAX).contains(&per_page) {
            errors.push(FieldError::new("per_page", format!("`per_page` must be between 1 and {PER_PAGE_MAX}")));
        }
        let mut conn = self.db.conn().await?;
        let (filter, query_sort) = self.ticket_filter(&mut conn, p, params, &mut errors).await?;
        let sort = match parse_sort(params.sort.as_deref()) {
            Ok(_) if !query_sort.is_empty() => query_sort,
            Ok(sort) => sort,
            Err(AppError::Validation(e)) => {
                errors.extend(e);
                Vec::new()
            }
            Err(other) => return Err(other),
        };
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let offset = (page - 1).saturating_mul(per_page);
        let counting = Counting::UpTo(COUNT_LIMIT);
        let (items, total) =
            guichet_store::tickets::list_tickets(&mut conn, &filter, &sort, per_page, offset, counting).await?;
        let total = total.unwrap_or_default();
        Ok(TicketPage { items, total: total.count, more: total.more, page, per_page })
    }

    pub async fn update_ticket(&self, p: &Principal, key: &str, req: UpdateTicket) -> Result<TicketDetails, AppError> {
        let mut tx = self.db.begin().await?;
        let record = self.visible_ticket(&mut tx, p, key).await?;
        if let Some(expected) = req.expected_version.filter(|v| *v != record.ticket.version) {
            return Err(AppError::Stale { expected, current: record.ticket.version });
        }
        let (ticket, _) = self.apply_update(&mut tx, p, &record, req).await?;
        let record = guichet_store::tickets::find_ticket(&mut tx, ticket.id, &p.actor.scope()).await?;
        let details = self.details(&mut tx, record).await?;
        tx.commit().await?;
        Ok(details)
    }

    /// Applies a change inside the caller's transaction: checks it, records
    /// its history, refreshes the service levels and tells the requester.
    /// Says whether the requester's mail quoted `req.reply`.
    pub(crate) async fn apply_update(
        &self,
        tx: &mut Conn,
        p: &Principal,
        record: &TicketRecord,
        req: UpdateTicket,
    ) -> Result<(Ticket, bool), AppError> {
        let now = self.now();
        let mut quoted = false;
        let mut ticket = record.ticket.clone();
        let record_before_category = record.ticket.status_category(&self.workflows());
        if req.tier.is_some_and(|t| t != ticket.tier) {
            return Err(AppError::field(
                "tier",
                "a request changes level by a hand-over with its summary: POST /tickets/{key}/escalate, /hand-back or /forward",
            ));
        }
        let category = match req.category {
            Some(Some(code)) => {
                let c = self.category(tx, &code).await?;
                Some(Some(CategoryRef { id: c.id(), code: c.code }))
            }
            Some(None) => Some(None),
            None => None,
        };
        let assignee = match req.assignee {
            Some(Some(id)) => Some(Some(self.assignable(tx, id).await?)),
            Some(None) => Some(None),
            None => None,
        };
        let patch = TicketPatch {
            title: req.title,
            description: req.description,
            ticket_type: req.ticket_type,
            status: req.status,
            priority: req.priority,
            category,
            assignee,
            tier: req.tier,
            reproduction: req.reproduction,
            resolution: req.resolution,
        };
        let mut changes = ticket.apply(patch, &p.actor, &self.workflows(), now)?;
        if let Some(watchers) = req.watchers {
            if !p.actor.role.is_staff() {
                return Err(AppError::field("watchers", "only the desk may change `watchers`"));
            }
            let mut names = Vec::with_capacity(watchers.len());
            for id in &watchers {
                let user = guichet_store::users::find_user(tx, *id)
                    .await
                    .map_err(|_| AppError::field("watchers", format!("no user has the id {id}")))?;
                names.push(user.name);
            }
            let old: Vec<String> =
                guichet_store::tickets::list_watchers(tx, ticket.id).await?.into_iter().map(|w| w.name).collect();
            names.sort();
            if names != old {
                guichet_store::tickets::replace_watchers(tx, ticket.id, &watchers).await?;
                changes.push(FieldChange::internal("watchers", Some(old.join(", ")), Some(names.join(", "))));
                ticket.updated_at = now;
            }
        }
        if let Some(uai) = req.establishment {
            if !p.actor.role.is_staff() {
                return Err(AppError::field("establishment", "only the desk moves a request to another establishment"));
            }
            let uai = Uai::parse(&uai)
                .map_err(|_| AppError::field("establishment", format!("`{}` is not a valid UAI code", uai.trim())))?;
            let target = guichet_store::establishments::find_establishment_by_uai(tx, &uai)
                .await?
                .ok_or_else(|| AppError::field("establishment", format!("no establishment has the UAI {uai}")))?;
            if target.id != ticket.establishment {
                ticket.establishment = target.id;
                ticket.updated_at = now;
                let old = Some(record.establishment_uai.clone());
                changes.push(FieldChange::public("establishment", old, Some(uai.to_string())));
            }
        }
        if !changes.is_empty() {
            guichet_store::tickets::update_ticket(tx, &ticket).await?;
            self.record_history(tx, ticket.id, Some(p.user.id), &changes, now).await?;
            self.refresh_sla(tx, ticket.id).await?;
            if p.actor.role.is_staff() || record.ticket.tier == Tier::Establishment {
                quoted = self.notify_status_change(tx, &record.ticket, &ticket, req.reply.as_deref()).await?;
            }
        }
        let resolved = Some(StatusCategory::Resolved);
        if ticket.status_category(&self.workflows()) == resolved && record_before_category != resolved {
            // Counted before the commit: a rolled-back resolution is counted
            // once too many, which a rate over minutes does not notice.
            metrics::counter!("guichet_tickets_resolved_total", "channel" => ticket.channel.to_string()).increment(1);
        }
        Ok((ticket, quoted))
    }

    /// Tells the requester their request now waits on them, or is resolved;
    /// `reply`, the desk's answer sent in the same action, is quoted in that
    /// mail. Says whether it was (else the caller sends the reply on its own).
    pub(crate) async fn notify_status_change(
        &self,
        tx: &mut Conn,
        before: &Ticket,
        after: &Ticket,
        reply: Option<&str>,
    ) -> Result<bool, AppError> {
        let (old, new) = (before.status_category(&self.workflows()), after.status_category(&self.workflows()));
        if old == new {
            return Ok(false);
        }
        match new {
            Some(StatusCategory::Waiting) => {
                self.notify(tx, after.id, Recipient::Requester, Notice::Waiting { reply }).await?;
                Ok(reply.is_some())
            }
            Some(StatusCategory::Resolved) => {
                // A duplicate's requester learns where the conversation goes on.
                let original = if after.resolution == Some(Resolution::Duplicate) {
                    let links = guichet_store::incidents::list_links(tx, after.id).await?;
                    links.into_iter().find(|l| l.outgoing && l.kind == LinkKind::DuplicateOf).map(|l| self.key(l.other))
                } else {
                    None
                };
                // A duplicate's requester is asked about the original, not this one.
                let survey = match original {
                    Some(_) => None,
                    None => self.offer_survey(tx, after).await?,
                };
                let notice = match &original {
                    Some(original) => Notice::Duplicate { original },
                    None => Notice::Resolved { survey: survey.as_deref(), reply },
                };
                self.notify(tx, after.id, Recipient::Requester, notice).await?;
                Ok(original.is_none() && reply.is_some())
            }
            _ => Ok(false),
        }
    }

    /// Only active staff can be assigned a ticket.
    async fn assignable(&self, conn: &mut Conn, id: UserId) -> Result<UserRef, AppError> {
        let user = guichet_store::users::find_user(conn, id)
            .await
            .map_err(|_| AppError::field("assignee", format!("no user has the id {id}")))?;
        if !user.role.is_staff() || user.disabled {
            return Err(AppError::field("assignee", format!("{} cannot be assigned a request", user.name)));
        }
        Ok(UserRef { id: user.id, name: user.name })
    }

    /// The ticket's history; internal entries only for the desk. An entry
    /// naming a ticket the caller may not see (a link recorded before links
    /// across schools became internal) is left out for them.
    pub async fn ticket_history(&self, p: &Principal, key: &str) -> Result<Vec<HistoryEntry>, AppError> {
        let mut conn = self.db.conn().await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        self.history_of(&mut conn, p, record.ticket.id).await
    }

    /// [`App::ticket_history`] for a ticket already checked visible.
    pub(crate) async fn history_of(
        &self,
        conn: &mut Conn,
        p: &Principal,
        ticket: TicketId,
    ) -> Result<Vec<HistoryEntry>, AppError> {
        let entries = guichet_store::events::list_events(conn, ticket, p.actor.can_see_internal()).await?;
        if p.actor.can_see_internal() {
            return Ok(entries);
        }
        let scope = p.actor.scope();
        let mut kept = Vec::with_capacity(entries.len());
        for entry in entries {
            let named = ["link", "merged_into", "merged_from"]
                .contains(&entry.field.as_str())
                .then(|| entry.new.as_deref().or(entry.old.as_deref()))
                .flatten()
                .and_then(|v| v.split_whitespace().last())
                .and_then(|k| guichet_domain::ticket::parse_key(&self.settings.key_prefix, k));
            let visible = match named {
                Some(id) => guichet_store::tickets::find_ticket(conn, id, &scope).await.is_ok(),
                None => true,
            };
            if visible {
                kept.push(entry);
            }
        }
        Ok(kept)
    }
}
