//! Forgetting what is no longer needed: retention per data kind run by the
//! clock job, in small batches so that no transaction holds SQLite's writer
//! long, each batch fenced by the clock's lease when several nodes run.

use crate::leases::Fence;
use crate::{App, AppError};
use guichet_domain::ids::{TicketId, UserId};
use guichet_domain::privacy::{anonymised_email, anonymised_name, DataKind, RetentionPolicy, Scrubber};
use guichet_store::Conn;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Rows per batch for plain updates; tickets per batch where each ticket's
/// texts are rewritten (a few dozen statements each).
const ROWS: i64 = 500;
const TICKETS: i64 = 25;
const ACCOUNTS: i64 = 10;

/// What one retention pass did: counts per kind, never personal values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionRun {
    pub counts: BTreeMap<DataKind, u64>,
    pub batches: u64,
    /// The longest batch (one transaction): how long the writer was held at most.
    pub longest_batch: Duration,
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

    /// Applies every retention rule to what is due now, batch after batch,
    /// and records the counts in the privacy audit log.
    pub async fn run_retention_under(&self, fence: Option<&Fence>) -> Result<RetentionRun, AppError> {
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
                run.longest_batch = run.longest_batch.max(started.elapsed());
                *run.counts.entry(kind).or_default() += done;
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
    Ok(())
}
