//! Forgetting what is no longer needed: retention per data kind run by the
//! clock job, in small batches so that no transaction holds SQLite's writer
//! long, each batch fenced by the clock's lease when several nodes run.

use crate::leases::Fence;
use crate::{App, AppError};
use guichet_domain::ids::{TicketId, UserId};
use guichet_domain::privacy::{anonymised_email, anonymised_name, DataKind, RetentionPolicy, Scrubber};
use guichet_store::Conn;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Rows per batch for plain updates; tickets per batch where each ticket's
/// texts are rewritten (a few dozen statements each).
const ROWS: i64 = 500;
const TICKETS: i64 = 12;
const ACCOUNTS: i64 = 10;

/// What one retention pass did: counts per kind, never personal values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionRun {
    pub counts: BTreeMap<DataKind, u64>,
    pub batches: u64,
    /// The longest batch (one transaction): how long the writer was held at most.
    pub longest_batch: Duration,
    /// Every batch's time, for the benchmark's percentiles.
    pub batch_times: Vec<Duration>,
}

impl RetentionRun {
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// `{"help_identity": 3, …}`: what the audit log keeps of a run.
    pub fn details(&self) -> String {
        let map: BTreeMap<&str, u64> = self.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        serde_json::to_string(&map).unwrap_or_default()
    }
}

impl App {
    pub fn retention_policy(&self) -> RetentionPolicy {
        self.settings.retention
    }

    /// The privacy audit log, newest first (administrators only).
    pub async fn privacy_audit(
        &self,
        p: &crate::auth::Principal,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<guichet_store::privacy::AuditEntry>, AppError> {
        if p.user.role != guichet_domain::user::Role::Admin {
            return Err(AppError::Forbidden("only administrators read the privacy audit log".into()));
        }
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::privacy::list_audit(&mut conn, before_id, limit.clamp(1, 1000)).await?)
    }

    /// A retention pass asked for by an administrator (API, command line).
    pub async fn run_retention_now(&self, p: &crate::auth::Principal) -> Result<RetentionRun, AppError> {
        require_admin(p, "run the retention pass")?;
        self.run_retention_under(None).await
    }

    /// Applies every retention rule to what is due now, batch after batch,
    /// and records the counts in the privacy audit log.
    pub async fn run_retention_under(&self, fence: Option<&Fence>) -> Result<RetentionRun, AppError> {
        self.run_retention_counting(fence, &AtomicUsize::new(0)).await
    }

    /// The retention pass, adding each batch's forgotten items to `forgotten`
    /// as it commits, for a command to show its progress.
    pub async fn run_retention_counting(
        &self,
        fence: Option<&Fence>,
        forgotten: &AtomicUsize,
    ) -> Result<RetentionRun, AppError> {
        let policy = self.retention_policy();
        let now = self.now();
        let mut run = RetentionRun::default();
        for kind in DataKind::ALL {
            let Some(before) = policy.cutoff(kind, now) else { continue };
            loop {
                let started = Instant::now();
                let mut tx = self.db.begin().await?;
                self.check_fence(&mut tx, fence).await?;
                let (done, full) = self.retention_batch(&mut tx, kind, before).await?;
                tx.commit().await?;
                run.batches += 1;
                let took = started.elapsed();
                run.longest_batch = run.longest_batch.max(took);
                run.batch_times.push(took);
                *run.counts.entry(kind).or_default() += done;
                forgotten.fetch_add(done as usize, Ordering::Relaxed);
                if !full {
                    break;
                }
            }
        }
        run.counts.retain(|_, n| *n > 0);
        if run.total() > 0 {
            let mut tx = self.db.begin().await?;
            guichet_store::privacy::insert_audit(&mut tx, now, None, "retention", "retention", &run.details()).await?;
            tx.commit().await?;
            tracing::info!(forgotten = %run.details(), "retention pass");
        }
        Ok(run)
    }

    /// One batch of one kind: how many items it forgot, and whether the batch
    /// was full (more may be due).
    async fn retention_batch(
        &self,
        tx: &mut Conn,
        kind: DataKind,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<(u64, bool), AppError> {
        use guichet_store::privacy as store;
        let now = self.now();
        Ok(match kind {
            DataKind::HelpIdentity => {
                let contacts = store::help_contacts_closed_before(tx, before, TICKETS).await?;
                for (ticket, name, email) in &contacts {
                    let placeholder = anonymised_name(ticket.0);
                    let values = [name.clone(), email.clone().unwrap_or_default()];
                    scrub_ticket(tx, *ticket, &Scrubber::new(&values, &placeholder)).await?;
                    store::anonymise_contact(tx, *ticket, &placeholder, now).await?;
                }
                (contacts.len() as u64, contacts.len() as i64 == TICKETS)
            }
            DataKind::Attachments => {
                let files = store::attachments_closed_before(tx, before, ROWS).await?;
                for (id, _, sha256) in &files {
                    store::delete_attachment(tx, *id, sha256).await?;
                }
                (files.len() as u64, files.len() as i64 == ROWS)
            }
            DataKind::RawMail => {
                let raw = store::forget_raw_mail(tx, before, ROWS).await?;
                let quarantined = store::delete_quarantine(tx, before, ROWS).await?;
                (raw + quarantined, raw as i64 == ROWS || quarantined as i64 == ROWS)
            }
            DataKind::SentMail => {
                let n = store::forget_sent_bodies(tx, before, ROWS).await?;
                (n, n as i64 == ROWS)
            }
            DataKind::Requesters => {
                let tickets = store::tickets_closed_before(tx, before, TICKETS).await?;
                for ticket in &tickets {
                    self.anonymise_ticket(tx, *ticket).await?;
                }
                (tickets.len() as u64, tickets.len() as i64 == TICKETS)
            }
            DataKind::DisabledAccounts => {
                let users = store::disabled_before(tx, before, ACCOUNTS).await?;
                for user in &users {
                    self.anonymise_account(tx, *user).await?;
                }
                (users.len() as u64, users.len() as i64 == ACCOUNTS)
            }
            DataKind::Audit => {
                let n = store::delete_audit(tx, before, ROWS).await?;
                (n, n as i64 >= ROWS)
            }
        })
    }

    /// Takes the requester's and HELP sender's values out of a ticket's
    /// texts; type, category, school, dates, levels and times stay, so that
    /// reports count it as before.
    pub(crate) async fn anonymise_ticket(&self, tx: &mut Conn, ticket: TicketId) -> Result<(), AppError> {
        use guichet_store::privacy as store;
        let people = store::ticket_people(tx, ticket).await?;
        let placeholder = anonymised_name(ticket.0);
        scrub_ticket(tx, ticket, &Scrubber::new(&people, &placeholder)).await?;
        store::anonymise_contact(tx, ticket, &placeholder, self.now()).await?;
        store::mark_ticket_anonymised(tx, ticket, self.now()).await?;
        Ok(())
    }

    /// An account becomes "Personne anonymisée #id": its values leave its
    /// history and the texts of the tickets it filed.
    pub(crate) async fn anonymise_account(&self, tx: &mut Conn, user: UserId) -> Result<(), AppError> {
        use guichet_store::privacy as store;
        let account = guichet_store::users::find_user(tx, user).await?;
        let mut values = vec![account.name.clone(), account.email.as_str().to_owned()];
        values.extend(account.phones.iter().cloned());
        let placeholder = anonymised_name(user.0);
        let scrubber = Scrubber::new(&values, &placeholder);
        store::anonymise_user(tx, user, &placeholder, &anonymised_email(user.0), self.now()).await?;
        for cell in store::user_event_texts(tx, user).await? {
            if let Some(text) = scrubber.scrub(&cell.text) {
                store::update_text(tx, &cell, &text).await?;
            }
        }
        for ticket in store::requester_tickets(tx, user).await? {
            scrub_ticket(tx, ticket, &scrubber).await?;
        }
        Ok(())
    }
}

/// Rewrites every text of a ticket the scrubber changes (the search index
/// follows by trigger); the raw mail of the ticket goes, since its encoded
/// parts cannot be rewritten reliably.
pub(crate) async fn scrub_ticket(tx: &mut Conn, ticket: TicketId, scrubber: &Scrubber) -> Result<(), AppError> {
    use guichet_store::privacy as store;
    for cell in store::ticket_texts(tx, ticket).await? {
        if let Some(text) = scrubber.scrub(&cell.text) {
            store::update_text(tx, &cell, &text).await?;
        }
    }
    store::forget_ticket_mail(tx, ticket).await?;
    // Copies sent to webhook receivers: the log's go; a waiting one is
    // made again from the scrubbed ticket when it is sent.
    guichet_store::webhooks::forget_ticket_payloads(tx, ticket.0).await?;
    Ok(())
}

/// What Guichet holds about one person, as counted before an export or an
/// erasure: what will change, and what stays for the statistics.
/// Also the API's answer (`PersonSummary`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PersonSummary {
    pub email: String,
    pub account: Option<AccountSummary>,
    /// Tickets the account filed.
    pub tickets_filed: usize,
    /// HELP requests sent from the address.
    pub help_requests: usize,
    /// Other tickets the account wrote in.
    pub tickets_commented: usize,
    pub mails_received: usize,
    pub mails_sent: usize,
    pub mails_quarantined: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AccountSummary {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub anonymised: bool,
}

/// Which content a redaction masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactionTarget {
    Description,
    Comment(guichet_domain::ids::CommentId),
    Attachment(guichet_domain::ids::AttachmentId),
}

fn require_admin(p: &crate::auth::Principal, what: &str) -> Result<(), AppError> {
    if p.user.role == guichet_domain::user::Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("only administrators {what}")))
    }
}

/// Who acted, for the audit log: none for the command line's operator (no account).
fn actor(p: &crate::auth::Principal) -> Option<UserId> {
    (p.user.id.0 > 0).then_some(p.user.id)
}

fn person_email(email: &str) -> Result<String, AppError> {
    guichet_domain::user::EmailAddress::parse(email)
        .map(|e| e.as_str().to_owned())
        .map_err(|_| AppError::field("email", "not an e-mail address"))
}

impl App {
    async fn person_summary(
        &self,
        conn: &mut Conn,
        email: &str,
    ) -> Result<(PersonSummary, guichet_store::privacy::PersonTrace), AppError> {
        let trace = guichet_store::privacy::person_trace(conn, email).await?;
        let account = match trace.account {
            Some(id) => {
                let user = guichet_store::users::find_user(conn, id).await?;
                let anonymised = guichet_store::privacy::is_anonymised(conn, id).await?;
                Some(AccountSummary { id: id.0, name: user.name, role: user.role.as_str().to_owned(), anonymised })
            }
            None => None,
        };
        let summary = PersonSummary {
            email: email.to_owned(),
            account,
            tickets_filed: trace.filed.len(),
            help_requests: trace.help.len(),
            tickets_commented: trace.commented.len(),
            mails_received: trace.mails_to.len(),
            mails_sent: trace.mails_from.len(),
            mails_quarantined: trace.quarantined.len(),
        };
        Ok((summary, trace))
    }

    /// What Guichet holds about the person with this address (administrators).
    pub async fn person_preview(&self, p: &crate::auth::Principal, email: &str) -> Result<PersonSummary, AppError> {
        require_admin(p, "look up a person's data")?;
        let email = person_email(email)?;
        let mut conn = self.db.conn().await?;
        Ok(self.person_summary(&mut conn, &email).await?.0)
    }

    /// Erasure on request: the person's account is anonymised, their values
    /// leave the texts of their tickets and of the tickets they wrote in,
    /// mail to and from them loses its content; tickets, their dates, school,
    /// type and times stay for the statistics. One transaction: all or nothing.
    pub async fn erase_person(&self, p: &crate::auth::Principal, email: &str) -> Result<PersonSummary, AppError> {
        use guichet_store::privacy as store;
        require_admin(p, "erase a person's data")?;
        let email = person_email(email)?;
        if email == p.user.email.as_str() {
            // A conflict with who is asking, not a bad address.
            let message = "you cannot erase the account you are signed in with".to_owned();
            return Err(AppError::Conflict { field: "email".into(), message });
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let (summary, trace) = self.person_summary(&mut tx, &email).await?;
        let mut values = vec![email.clone()];
        for ticket in &trace.help {
            if let Some(contact) = guichet_store::incidents::find_contact(&mut tx, *ticket).await? {
                values.push(contact.name);
            }
        }
        let placeholder = match trace.account {
            Some(user) => {
                let account = guichet_store::users::find_user(&mut tx, user).await?;
                values.push(account.name.clone());
                values.extend(account.phones.iter().cloned());
                if !store::is_anonymised(&mut tx, user).await? {
                    self.anonymise_account(&mut tx, user).await?;
                }
                anonymised_name(user.0)
            }
            None => anonymised_name(trace.help.first().map(|t| t.0).unwrap_or_default()),
        };
        // Their own requests: their values and any address or number in them.
        let everything = Scrubber::new(&values, &placeholder);
        for ticket in &trace.help {
            scrub_ticket(&mut tx, *ticket, &everything).await?;
            store::anonymise_contact(&mut tx, *ticket, &anonymised_name(ticket.0), now).await?;
        }
        // Others' tickets they wrote in: only their own values.
        let theirs = Scrubber::known_only(&values, &placeholder);
        for ticket in &trace.commented {
            scrub_ticket(&mut tx, *ticket, &theirs).await?;
        }
        store::erase_mail_to(
            &mut tx,
            &trace.mails_to,
            &anonymised_email(trace.account.map(|u| u.0).unwrap_or_default()),
            now,
        )
        .await?;
        store::erase_mail_from(&mut tx, &trace.mails_from, &trace.quarantined).await?;
        let subject = match trace.account {
            Some(user) => format!("user:{}", user.0),
            None => "address".to_owned(),
        };
        let details = serde_json::json!({
            "tickets_filed": summary.tickets_filed, "help_requests": summary.help_requests,
            "tickets_commented": summary.tickets_commented, "mails_received": summary.mails_received,
            "mails_sent": summary.mails_sent, "mails_quarantined": summary.mails_quarantined,
        });
        store::insert_audit(&mut tx, now, actor(p), "erasure", &subject, &details.to_string()).await?;
        tx.commit().await?;
        tracing::info!(subject = %subject, "person erased on request");
        Ok(summary)
    }

    /// Masks content someone should not have written (a password, a pupil's
    /// details): gone from the ticket, the search index, the history, the
    /// outbox and the ticket's mail as received; the ticket says who masked
    /// what, when and why. Staff only.
    pub async fn redact(
        &self,
        p: &crate::auth::Principal,
        key: &str,
        target: RedactionTarget,
        secret: &str,
        reason: &str,
    ) -> Result<(), AppError> {
        use guichet_store::privacy::{self as store, TextCell, TextColumn};
        if !p.user.role.is_staff() {
            return Err(AppError::Forbidden("only the desk masks content".into()));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(AppError::field("reason", "say why, in at most 500 characters"));
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let record = self.visible_ticket(&mut tx, p, key).await?;
        let ticket = record.ticket.id;
        let (target_name, target_id, removed) = match target {
            RedactionTarget::Description => {
                let cell = TextCell {
                    column: TextColumn::TICKET_DESCRIPTION,
                    id: ticket.0,
                    text: record.ticket.description.clone(),
                };
                let Some(text) = guichet_domain::privacy::redact(&cell.text, secret) else {
                    return Err(AppError::field("text", "this text is not in the description"));
                };
                store::update_text(&mut tx, &cell, &text).await?;
                let removed = if secret.is_empty() { record.ticket.description.clone() } else { secret.to_owned() };
                ("description", None, removed)
            }
            RedactionTarget::Comment(id) => {
                let comments = guichet_store::comments::list_comments(&mut tx, ticket, true).await?;
                let Some(comment) = comments.into_iter().find(|c| c.id == id) else {
                    return Err(AppError::NotFound("comment"));
                };
                let cell = TextCell { column: TextColumn::COMMENT_BODY, id: id.0, text: comment.body.clone() };
                let Some(text) = guichet_domain::privacy::redact(&cell.text, secret) else {
                    return Err(AppError::field("text", "this text is not in the comment"));
                };
                store::update_text(&mut tx, &cell, &text).await?;
                ("comment", Some(id.0), if secret.is_empty() { comment.body } else { secret.to_owned() })
            }
            RedactionTarget::Attachment(id) => {
                let attachment =
                    guichet_store::attachments::find_attachment(&mut tx, id).await.map_err(|e| match e {
                        guichet_store::StoreError::NotFound => AppError::NotFound("attachment"),
                        other => other.into(),
                    })?;
                if attachment.ticket != ticket {
                    return Err(AppError::NotFound("attachment"));
                }
                store::delete_attachment(&mut tx, id.0, &attachment.sha256).await?;
                ("attachment", Some(id.0), attachment.filename)
            }
        };
        // The same words wherever they were copied: history, mail copies, file names.
        if !removed.trim().is_empty() {
            for cell in store::ticket_texts(&mut tx, ticket).await? {
                if let Some(text) = guichet_domain::privacy::redact(&cell.text, &removed) {
                    store::update_text(&mut tx, &cell, &text).await?;
                }
            }
        }
        store::forget_ticket_mail(&mut tx, ticket).await?;
        store::insert_redaction(&mut tx, ticket, target_name, target_id, actor(p), reason, now).await?;
        let details = serde_json::json!({"target": target_name, "id": target_id}).to_string();
        store::insert_audit(&mut tx, now, actor(p), "redaction", &format!("ticket:{}", self.key(ticket)), &details)
            .await?;
        tx.commit().await?;
        tracing::info!(ticket = %self.key(ticket), target = target_name, "content masked");
        Ok(())
    }

    /// The redactions of a ticket the reader may see.
    pub async fn redactions(
        &self,
        p: &crate::auth::Principal,
        key: &str,
    ) -> Result<Vec<guichet_store::privacy::Redaction>, AppError> {
        let mut conn = self.db.conn().await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        Ok(guichet_store::privacy::list_redactions(&mut conn, record.ticket.id).await?)
    }
}

/// A file name safe inside a ZIP archive: no folders, no control characters.
fn archive_name(name: &str) -> String {
    let clean: String =
        name.chars().map(|c| if c.is_control() || matches!(c, '/' | '\\' | ':') { '_' } else { c }).take(120).collect();
    let clean = clean.trim_start_matches('.').to_owned();
    if clean.is_empty() {
        "file".into()
    } else {
        clean
    }
}

/// Writes the export archive; the `zip` crate does the format, this the layout.
struct Archive(zip::ZipWriter<std::io::Cursor<Vec<u8>>>, zip::DateTime);

impl Archive {
    /// Files dated `at` (in UTC), not the format's default of 1980.
    fn new(at: chrono::DateTime<chrono::Utc>) -> Archive {
        use chrono::{Datelike, Timelike};
        let (y, mo, d) = (at.year(), at.month(), at.day());
        let (h, mi, se) = (at.hour(), at.minute(), at.second());
        let stamp = zip::DateTime::from_date_and_time(
            u16::try_from(y).unwrap_or(1980),
            u8::try_from(mo).unwrap_or(1),
            u8::try_from(d).unwrap_or(1),
            u8::try_from(h).unwrap_or(0),
            u8::try_from(mi).unwrap_or(0),
            u8::try_from(se).unwrap_or(0),
        )
        .unwrap_or_default();
        Archive(zip::ZipWriter::new(std::io::Cursor::new(Vec::new())), stamp)
    }

    fn add(&mut self, name: &str, content: &[u8]) -> Result<(), AppError> {
        use std::io::Write;
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(self.1);
        self.0.start_file(name, options).map_err(|e| AppError::Internal(format!("export archive: {e}").into()))?;
        self.0.write_all(content).map_err(|e| AppError::Internal(format!("export archive: {e}").into()))?;
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, AppError> {
        Ok(self.0.finish().map_err(|e| AppError::Internal(format!("export archive: {e}").into()))?.into_inner())
    }
}

fn csv_bytes(header: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| AppError::Internal(format!("export csv: {e}").into());
    w.write_record(header).map_err(fail)?;
    for row in rows {
        w.write_record(row).map_err(fail)?;
    }
    w.into_inner().map_err(|e| AppError::Internal(format!("export csv: {e}").into()))
}

impl App {
    /// The right of access: everything held about the person with this
    /// address, as a ZIP of JSON and CSV with their files and mail. Found by
    /// account and exact address only (docs/privacy.md). Administrators.
    pub async fn export_person(&self, p: &crate::auth::Principal, email: &str) -> Result<Vec<u8>, AppError> {
        use guichet_store::privacy as store;
        use serde_json::json;
        require_admin(p, "export a person's data")?;
        let email = person_email(email)?;
        let mut conn = self.db.conn().await?;
        let (summary, trace) = self.person_summary(&mut conn, &email).await?;
        let mut archive = Archive::new(self.now());
        let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339();
        let opt_time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());

        let account = match trace.account {
            Some(id) => {
                let user = guichet_store::users::find_user(&mut conn, id).await?;
                let (events, identities) = self.user_history(p, id).await?;
                let mut uais = Vec::new();
                for e in &user.establishments {
                    if let Ok(est) = guichet_store::establishments::find_establishment(&mut conn, *e).await {
                        uais.push(est.uai.as_str().to_owned());
                    }
                }
                json!({
                    "id": id.0, "email": user.email.as_str(), "name": user.name, "role": user.role.as_str(),
                    "language": user.language.as_str(), "phones": user.phones, "establishments": uais,
                    "disabled": user.disabled,
                    "identities": identities.iter().map(|i| json!({"provider": i.provider, "subject": i.subject})).collect::<Vec<_>>(),
                    "history": events.iter().map(|e| json!({"at": time(e.at), "source": e.source, "field": e.field,
                        "old": e.old, "new": e.new})).collect::<Vec<_>>(),
                })
            }
            None => serde_json::Value::Null,
        };

        let mut tickets = Vec::new();
        let mut ticket_rows = Vec::new();
        let mut comment_rows = Vec::new();
        let requests = trace.filed.iter().map(|t| (t, "filed")).chain(trace.help.iter().map(|t| (t, "help")));
        for (&id, how) in requests {
            let record =
                guichet_store::tickets::find_ticket(&mut conn, id, &guichet_domain::actor::TicketScope::All).await?;
            let t = &record.ticket;
            let key = self.key(id);
            let comments = guichet_store::comments::list_comments(&mut conn, id, true).await?;
            let history = guichet_store::events::list_events(&mut conn, id, true).await?;
            let contact = guichet_store::incidents::find_contact(&mut conn, id).await?;
            let survey = guichet_store::satisfaction::find_for_ticket(&mut conn, id).await?;
            let mut files = Vec::new();
            for a in guichet_store::attachments::list_attachments(&mut conn, id, true).await? {
                let path = format!("files/{key}/{}-{}", a.id.0, archive_name(&a.filename));
                archive.add(&path, &guichet_store::attachments::read_blob(&mut conn, &a.sha256).await?)?;
                files.push(json!({"file": path, "name": a.filename, "internal": a.internal, "at": time(a.created_at)}));
            }
            for c in &comments {
                comment_rows.push(vec![
                    key.clone(),
                    time(c.created_at),
                    c.author_name.clone(),
                    c.internal.to_string(),
                    c.body.clone(),
                ]);
            }
            ticket_rows.push(vec![
                key.clone(),
                how.into(),
                t.title.clone(),
                t.status.clone(),
                t.ticket_type.as_str().into(),
                record.establishment_uai.clone(),
                time(t.created_at),
                opt_time(t.resolved_at).unwrap_or_default(),
                opt_time(t.closed_at).unwrap_or_default(),
            ]);
            tickets.push(json!({
                "key": key, "as": how, "title": t.title, "description": t.description, "type": t.ticket_type.as_str(),
                "status": t.status, "priority": t.priority.as_str(), "channel": t.channel.as_str(),
                "establishment": {"uai": record.establishment_uai, "name": record.establishment_name},
                "reproduction": t.reproduction, "created_at": time(t.created_at),
                "resolved_at": opt_time(t.resolved_at), "closed_at": opt_time(t.closed_at),
                "contact": contact.map(|c| json!({"name": c.name, "email": c.email, "profile": c.profile})),
                "comments": comments.iter().map(|c| json!({"at": time(c.created_at), "author": c.author_name,
                    "internal": c.internal, "body": c.body})).collect::<Vec<_>>(),
                "history": history.iter().map(|h| json!({"at": time(h.at), "by": h.actor_name, "field": h.field,
                    "old": h.old, "new": h.new, "internal": h.internal})).collect::<Vec<_>>(),
                "files": files,
                "satisfaction": survey.filter(|s| s.answered_at.is_some()).map(|s| json!({
                    "rating": s.rating, "comment": s.comment, "answered_at": opt_time(s.answered_at)})),
            }));
        }
        // In others' tickets: only what the person wrote.
        let mut elsewhere = Vec::new();
        if let Some(user) = trace.account {
            for &id in &trace.commented {
                let key = self.key(id);
                for c in guichet_store::comments::list_comments(&mut conn, id, true)
                    .await?
                    .into_iter()
                    .filter(|c| c.author == user)
                {
                    comment_rows.push(vec![
                        key.clone(),
                        time(c.created_at),
                        c.author_name.clone(),
                        c.internal.to_string(),
                        c.body.clone(),
                    ]);
                    elsewhere
                        .push(json!({"ticket": key, "at": time(c.created_at), "internal": c.internal, "body": c.body}));
                }
            }
        }
        let mut received = Vec::new();
        for m in store::outbox_copies(&mut conn, &trace.mails_to).await? {
            received.push(json!({"at": time(m.at), "ticket": m.ticket.map(|t| self.key(t)), "subject": m.subject,
                "body": m.body, "sent": m.sent}));
        }
        let mut sent = Vec::new();
        for m in store::inbound_copies(&mut conn, &trace.mails_from).await? {
            let (ticket, subject, at) =
                (m.ticket_id.map(TicketId), m.subject, guichet_store::db::from_micros(m.created_at));
            let file = match m.raw {
                Some(raw) => {
                    let path = format!("mail/received-{}.eml", m.id);
                    archive.add(&path, &raw)?;
                    Some(path)
                }
                None => None,
            };
            sent.push(json!({"at": time(at), "ticket": ticket.map(|t| self.key(t)), "subject": subject, "file": file}));
        }
        for id in &trace.quarantined {
            let (q, raw) = guichet_store::mail::find_quarantine(&mut conn, *id).await?;
            let path = format!("mail/quarantined-{id}.eml");
            archive.add(&path, &raw)?;
            sent.push(json!({"at": time(q.created_at), "subject": q.subject, "file": path, "quarantined": true}));
        }
        let person = json!({
            "email": email, "exported_at": time(self.now()), "summary": summary, "account": account,
            "tickets": tickets, "comments_in_other_tickets": elsewhere, "mails_received": received, "mails_sent": sent,
        });
        let json_bytes =
            serde_json::to_vec_pretty(&person).map_err(|e| AppError::Internal(format!("export: {e}").into()))?;
        archive.add("person.json", &json_bytes)?;
        archive.add(
            "tickets.csv",
            &csv_bytes(
                &["key", "as", "title", "status", "type", "establishment", "created_at", "resolved_at", "closed_at"],
                &ticket_rows,
            )?,
        )?;
        archive.add("comments.csv", &csv_bytes(&["ticket", "at", "author", "internal", "body"], &comment_rows)?)?;
        drop(conn);
        let mut tx = self.db.begin().await?;
        let subject = trace.account.map(|u| format!("user:{}", u.0)).unwrap_or_else(|| "address".into());
        let details = json!({"tickets": tickets.len(), "mails": received.len() + sent.len()}).to_string();
        store::insert_audit(&mut tx, self.now(), actor(p), "export", &subject, &details).await?;
        tx.commit().await?;
        archive.finish()
    }
}
