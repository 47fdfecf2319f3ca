//! Mail intake: one RFC 5322 message becomes a ticket, a reply on a ticket,
//! or an answered refusal, exactly once. A message that cannot be imported is
//! quarantined with its bytes, never dropped. The IMAP poller and the
//! `mail ingest` command both come through [`App::ingest_mail`].

use crate::auth::Principal;
use crate::notify::{is_system_account, PlainMail, UnknownSender};
use crate::tickets::Filing;
use crate::{App, AppError};
use futures_util::FutureExt;
use guichet_domain::establishment::{NewEstablishment, Uai};
use guichet_domain::history::FieldChange;
use guichet_domain::ids::{CommentId, EstablishmentId, TicketId};
use guichet_domain::mail::authentication::from_domain_authenticated;
use guichet_domain::mail::reply_token::{ReplyScope, ReplyToken};
use guichet_domain::mail::{clean_subject, is_automatic, key_in_subject, strip_keys, strip_quoted, SenderSignals};
use guichet_domain::ticket::{Channel, Ticket, TicketDraft, DESCRIPTION_MAX, TITLE_MAX};
use guichet_domain::user::{EmailAddress, Language, NewUser, Role, User};
use guichet_store::mail::{MailboxStatus, NewMailMessage, NewQuarantined, Quarantined};
use guichet_store::Conn;
use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

/// Where requests from unknown senders (or to a ticket the sender may not
/// see) wait for the desk to find their establishment. Its UAI is valid but
/// reserved: no school has it.
pub const TRIAGE_UAI: &str = "0000000A";

/// What importing a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// A new ticket, possibly in triage.
    Ticket {
        key: String,
        triage: bool,
    },
    /// A public reply on an existing ticket.
    Reply {
        key: String,
    },
    /// An internal note on an existing ticket (a desk member's answer to a notice).
    Note {
        key: String,
    },
    /// An automatic reply (out of office…) on a ticket, kept in its history only.
    Automatic {
        key: String,
    },
    /// An unknown sender, answered that their address is not known.
    Refused,
    /// Already imported: nothing to do.
    Duplicate,
    Quarantined {
        reason: String,
    },
}

/// A parsed message, reduced to what the intake uses.
struct Incoming {
    message_id: String,
    sender: EmailAddress,
    sender_name: Option<String>,
    subject: String,
    text: String,
    /// In-Reply-To, then References from the most recent.
    thread: Vec<String>,
    automatic: bool,
    files: Vec<(String, Vec<u8>)>,
    /// To, Cc and the delivery headers' addresses, lower-cased.
    recipients: Vec<String>,
    /// The `Authentication-Results` headers, from the top.
    authentication_results: Vec<String>,
}

/// Why a message was not imported: kept aside, to be retried, or imported
/// meanwhile by another process (a mail server's pipe beside the poller).
enum Refusal {
    Quarantine(String),
    Temporary(AppError),
    Duplicate,
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Internal(_) => Refusal::Temporary(e),
            AppError::Conflict { field, .. } if field == "message_id" => Refusal::Duplicate,
            other => Refusal::Quarantine(other.to_string()),
        }
    }
}

impl From<guichet_store::StoreError> for Refusal {
    fn from(e: guichet_store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// The longest subject kept with a message (a title is shorter still).
const SUBJECT_MAX: usize = 1_000;
/// Message-IDs of a thread looked at (In-Reply-To, then References).
const MAX_THREAD_IDS: usize = 50;
/// Recipient addresses looked at, for the internal address.
const MAX_RECIPIENTS: usize = 100;

/// Text as the databases can store it: PostgreSQL refuses NUL characters in
/// text, and a message carrying one must not fail every import.
fn storable(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', ""))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// A Message-ID as stored and compared: without angle brackets, spaces or
/// control characters; a very long one (an index entry has a size limit) is
/// replaced by its hash.
fn storable_id(id: &str) -> String {
    let id: String =
        id.trim().trim_matches(['<', '>']).chars().filter(|c| !c.is_control() && !c.is_whitespace()).collect();
    if id.len() > 250 {
        format!("{}@long-id.guichet", hex::encode(Sha256::digest(id.as_bytes())))
    } else {
        id
    }
}

fn extension(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .and_then(|c| c.subtype())
        .map(|s| s.to_lowercase().chars().filter(char::is_ascii_alphanumeric).take(8).collect::<String>())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "bin".into())
}

/// What the intake reads in a message, without storing anything: the fuzz
/// target and the never-panics property test drive the parsing through it.
pub fn inspect(raw: &[u8]) -> Result<(String, String, String, usize), String> {
    match parse_mail(raw) {
        Ok(m) => {
            let title = clean_subject(&strip_keys("SUP", &m.subject));
            let _ = key_in_subject("SUP", &m.subject);
            let _ = from_domain_authenticated(
                m.authentication_results.iter().map(|v| ("Authentication-Results", v.as_str())),
                "mx.guichet.test",
                m.sender.as_str(),
            );
            Ok((m.sender.as_str().to_owned(), title, strip_quoted(&m.text), m.files.len()))
        }
        Err(Refusal::Quarantine(reason)) => Err(reason),
        Err(Refusal::Temporary(e)) => Err(e.to_string()),
        Err(Refusal::Duplicate) => Err("already imported".into()),
    }
}

fn parse_mail(raw: &[u8]) -> Result<Incoming, Refusal> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| Refusal::Quarantine("not an e-mail message (no header could be read)".into()))?;
    let from = message
        .from()
        .and_then(|f| f.first())
        .ok_or_else(|| Refusal::Quarantine("the message has no From address".into()))?;
    let address = from.address().unwrap_or_default();
    let sender = EmailAddress::parse(address)
        .map_err(|_| Refusal::Quarantine(format!("the sender `{address}` is not an e-mail address")))?;
    let message_id = match message.message_id().map(storable_id) {
        Some(id) if !id.is_empty() => id,
        // Without a Message-ID the content identifies the message, so that a re-fetch is still recognised.
        _ => format!("{}@sha256.guichet", hex::encode(Sha256::digest(raw))),
    };
    let ids = |header: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        if let Some(list) = header.as_text_list() {
            list.iter().map(|s| storable_id(s)).collect()
        } else if let Some(one) = header.as_text() {
            one.split_whitespace().map(storable_id).collect()
        } else {
            Vec::new()
        }
    };
    // The mail answered first, then the conversation from its most recent mail.
    let mut thread = ids(message.in_reply_to());
    thread.extend(ids(message.references()).into_iter().rev());
    thread.retain(|s| !s.is_empty());
    thread.truncate(MAX_THREAD_IDS);
    let mut recipients: Vec<String> = [message.to(), message.cc()]
        .into_iter()
        .flatten()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .map(|a| storable(a).to_lowercase())
        .collect();
    let mut authentication_results = Vec::new();
    for (name, value) in message.headers_raw() {
        if name.eq_ignore_ascii_case("Authentication-Results") {
            authentication_results.push(value.to_owned());
        } else if ["Delivered-To", "X-Original-To", "Envelope-To"].iter().any(|h| name.eq_ignore_ascii_case(h)) {
            recipients.push(value.trim().trim_matches(['<', '>']).to_lowercase());
        }
    }
    recipients.truncate(MAX_RECIPIENTS);
    authentication_results.truncate(MAX_THREAD_IDS);
    let signals = SenderSignals {
        from: sender.as_str(),
        auto_submitted: message.header_raw("Auto-Submitted"),
        precedence: message.header_raw("Precedence"),
        list_id: message.header_raw("List-Id").is_some(),
        auto_response_suppress: message
            .header_raw("X-Auto-Response-Suppress")
            .is_some_and(|v| v.to_lowercase().contains("all") || v.to_lowercase().contains("oof")),
    };
    let automatic = is_automatic(&signals);
    let text = message.body_text(0).map(|t| storable(&t.replace("\r\n", "\n")).into_owned()).unwrap_or_default();
    let mut files = Vec::new();
    for (i, part) in message.attachments().enumerate() {
        let content = match part.message() {
            Some(inner) => inner.raw_message().to_vec(),
            None => part.contents().to_vec(),
        };
        let name = match (part.attachment_name(), part.message()) {
            (Some(name), _) if !storable(name).trim().is_empty() => truncate(storable(name).trim(), 200),
            (_, Some(_)) => format!("message-{}.eml", i + 1),
            _ => format!("piece-jointe-{}.{}", i + 1, extension(part)),
        };
        files.push((name, content));
    }
    Ok(Incoming {
        message_id,
        sender,
        sender_name: from.name().map(|n| truncate(storable(n).trim(), 100)).filter(|n| !n.is_empty()),
        subject: truncate(storable(message.subject().unwrap_or_default()).trim(), SUBJECT_MAX),
        text,
        thread,
        automatic,
        files,
        recipients,
        authentication_results,
    })
}

/// What a panic said, for the quarantine's reason.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// A message being imported, with where it came from.
struct Source<'a> {
    raw: &'a [u8],
    mailbox: Option<&'a str>,
    mail: &'a Incoming,
}

impl<'a> Source<'a> {
    /// The message as recorded by its Message-ID.
    fn record(&self, outcome: &'static str, ticket: Option<TicketId>) -> NewMailMessage<'a> {
        NewMailMessage {
            message_id: &self.mail.message_id,
            inbound: true,
            mailbox: self.mailbox,
            outcome,
            ticket,
            comment: None,
            sender: self.mail.sender.as_str(),
            subject: &self.mail.subject,
            raw: Some(self.raw),
        }
    }
}

/// Who a message proves it comes from.
enum Identity {
    /// It answers a mail that carried a valid reply token: it acts on the
    /// token's ticket as the token's recipient.
    Token(User, ReplyToken),
    /// The desk's mail server vouched for the From domain, and a user has that address.
    Verified(User),
    /// Nothing proves the From address, which belongs to this user.
    Claimed(User),
    /// The address of a disabled account, or a reserved address without a
    /// mailbox (the HELP form's): no mail acts as it. Says which.
    Barred(&'static str),
    /// An address no user has.
    Unknown,
}

impl App {
    /// Imports one message; `Err` only for a temporary failure (the
    /// database), after which the caller leaves the message to retry later.
    /// A message whose import fails (or panics) `max_import_attempts` times
    /// is quarantined instead, so that it never holds back the ones after it.
    pub async fn ingest_mail(&self, raw: &[u8], mailbox: Option<&str>) -> Result<IngestOutcome, AppError> {
        let outcome = self.ingest_mail_once(raw, mailbox).await;
        let label = match &outcome {
            Ok(IngestOutcome::Ticket { .. }) => "ticket",
            Ok(IngestOutcome::Reply { .. }) => "reply",
            Ok(IngestOutcome::Note { .. }) => "note",
            Ok(IngestOutcome::Automatic { .. }) => "automatic",
            Ok(IngestOutcome::Refused) => "refused",
            Ok(IngestOutcome::Duplicate) => "duplicate",
            Ok(IngestOutcome::Quarantined { .. }) => "quarantined",
            Err(_) => "failed",
        };
        let mailbox_label = mailbox.unwrap_or("-").to_owned();
        metrics::counter!("guichet_mail_received_total", "mailbox" => mailbox_label, "outcome" => label).increment(1);
        outcome
    }

    async fn ingest_mail_once(&self, raw: &[u8], mailbox: Option<&str>) -> Result<IngestOutcome, AppError> {
        let attempt = std::panic::AssertUnwindSafe(self.import_mail(raw, mailbox)).catch_unwind().await;
        let failure = match attempt {
            Ok(Ok(outcome)) => return Ok(outcome),
            Ok(Err(Refusal::Quarantine(reason))) => {
                self.quarantine(raw, mailbox, &reason).await?;
                tracing::warn!(mailbox = mailbox.unwrap_or("-"), %reason, "mail quarantined");
                return Ok(IngestOutcome::Quarantined { reason });
            }
            Ok(Err(Refusal::Duplicate)) => return Ok(IngestOutcome::Duplicate),
            Ok(Err(Refusal::Temporary(e))) => e,
            Err(panic) => AppError::Internal(format!("the import panicked: {}", panic_text(&panic)).into()),
        };
        let sha256 = hex::encode(Sha256::digest(raw));
        let error = storable(&failure.to_string()).into_owned();
        let attempts = {
            let mut tx = self.db.begin().await?;
            let n = guichet_store::mail::record_import_failure(&mut tx, &sha256, mailbox, &error, self.now()).await?;
            tx.commit().await?;
            n
        };
        tracing::warn!(mailbox = mailbox.unwrap_or("-"), attempts, error = %failure, "mail import failed");
        if attempts < i64::from(self.settings.mail.max_import_attempts.max(1)) {
            return Err(failure);
        }
        let reason = format!("the import failed {attempts} times; last error: {error}");
        self.quarantine(raw, mailbox, &reason).await?;
        Ok(IngestOutcome::Quarantined { reason })
    }

    async fn quarantine(&self, raw: &[u8], mailbox: Option<&str>, reason: &str) -> Result<(), AppError> {
        let parsed = MessageParser::default().parse(raw);
        let sender = parsed
            .as_ref()
            .and_then(|m| m.from())
            .and_then(|f| f.first())
            .and_then(|a| a.address())
            .map(|a| truncate(&storable(a), 320));
        let subject = parsed.as_ref().and_then(|m| m.subject()).map(|s| truncate(&storable(s), SUBJECT_MAX));
        let sha256 = hex::encode(Sha256::digest(raw));
        let reason = storable(reason);
        let q = NewQuarantined {
            sha256: &sha256,
            mailbox,
            sender: sender.as_deref(),
            subject: subject.as_deref(),
            raw,
            error: &reason,
        };
        let mut tx = self.db.begin().await?;
        guichet_store::mail::insert_quarantine(&mut tx, &q, self.now()).await?;
        guichet_store::mail::delete_import_failure(&mut tx, &sha256).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps aside a message too large to fetch whole: its header (all the
    /// desk needs to find it on the server) and the reason.
    pub async fn quarantine_oversized(
        &self,
        header: &[u8],
        size: u64,
        mailbox: Option<&str>,
    ) -> Result<IngestOutcome, AppError> {
        let reason = format!(
            "the message is {size} bytes, more than the limit of {} bytes: only its header is kept here, \
             the message stays on the mail server",
            self.settings.mail.max_message_bytes
        );
        self.quarantine(header, mailbox, &reason).await?;
        tracing::warn!(mailbox = mailbox.unwrap_or("-"), size, "oversized mail quarantined");
        Ok(IngestOutcome::Quarantined { reason })
    }

    /// Who the message proves it comes from (see the README's mail section).
    async fn identify(&self, tx: &mut Conn, mail: &Incoming) -> Result<Identity, AppError> {
        if let Some(token) = self.reply_token_in(&mail.thread) {
            match guichet_store::users::find_user(tx, token.user).await {
                Ok(user) if !user.disabled && !is_system_account(&user) => return Ok(Identity::Token(user, token)),
                // A token for a user since disabled or removed proves nothing more than the From.
                Ok(_) | Err(guichet_store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // `.invalid` (RFC 2606) has no mailboxes: Guichet's own system
        // accounts live there, and no mail may create or act as one.
        if mail.sender.as_str().ends_with(".invalid") {
            return Ok(Identity::Barred("an account that receives no mail"));
        }
        let Some(user) = guichet_store::users::find_user_by_email(tx, &mail.sender).await? else {
            return Ok(Identity::Unknown);
        };
        if user.disabled {
            return Ok(Identity::Barred("a disabled account"));
        }
        if is_system_account(&user) {
            return Ok(Identity::Barred("an account that receives no mail"));
        }
        let domain = mail.sender.as_str().rsplit_once('@').map_or("", |(_, d)| d);
        let vouched = self.settings.mail.trusted_authserv_id.as_deref().is_some_and(|id| {
            from_domain_authenticated(
                mail.authentication_results.iter().map(|v| ("Authentication-Results", v.as_str())),
                id,
                domain,
            )
        });
        Ok(if vouched { Identity::Verified(user) } else { Identity::Claimed(user) })
    }

    /// Whether the message was written to the desk's internal address.
    fn to_internal_address(&self, mail: &Incoming) -> bool {
        let internal = &self.settings.mail.internal_addresses;
        mail.recipients.iter().any(|r| internal.iter().any(|a| a.eq_ignore_ascii_case(r)))
    }

    async fn import_mail(&self, raw: &[u8], mailbox: Option<&str>) -> Result<IngestOutcome, Refusal> {
        let max = self.settings.mail.max_message_bytes;
        if raw.len() > max {
            return Err(Refusal::Quarantine(format!(
                "the message is {} bytes, more than the limit of {max} bytes",
                raw.len()
            )));
        }
        let mail = parse_mail(raw)?;
        let own = self.settings.mail.own_addresses.iter().chain(&self.settings.mail.internal_addresses);
        if own.into_iter().any(|a| a.eq_ignore_ascii_case(mail.sender.as_str())) {
            return Err(Refusal::Quarantine(format!(
                "sent from the desk's own address {}: refused to avoid a mail loop",
                mail.sender.as_str()
            )));
        }
        let mut tx = self.db.begin().await?;
        if guichet_store::mail::message_known(&mut tx, &mail.message_id).await? {
            return Ok(IngestOutcome::Duplicate);
        }
        let identity = self.identify(&mut tx, &mail).await?;
        let source = Source { raw, mailbox, mail: &mail };
        let record = |outcome, ticket| source.record(outcome, ticket);
        let now = self.now();
        let outcome = match identity {
            Identity::Token(user, token) => {
                let ticket = self.find_ticket_for(&mut tx, Some(token.ticket)).await?;
                match ticket.filter(|t| may_reply(&user, t)) {
                    Some(ticket) => {
                        let internal = token.scope == ReplyScope::Internal || self.to_internal_address(&mail);
                        self.answer_by_mail(&mut tx, user, &ticket, &source, internal).await?
                    }
                    // The token's ticket is gone, or the user lost access to it.
                    None => self.file_for(&mut tx, user, &source, true).await?,
                }
            }
            Identity::Verified(user) => {
                let thread_ticket = match key_in_subject(&self.settings.key_prefix, &mail.subject) {
                    Some(id) => Some(id),
                    None => guichet_store::mail::find_thread_ticket(&mut tx, &mail.thread).await?,
                };
                let ticket = self.find_ticket_for(&mut tx, thread_ticket).await?;
                match ticket.filter(|t| may_reply(&user, t)) {
                    Some(ticket) => {
                        let internal = self.to_internal_address(&mail);
                        self.answer_by_mail(&mut tx, user, &ticket, &source, internal).await?
                    }
                    None => self.file_for(&mut tx, user, &source, thread_ticket.is_none()).await?,
                }
            }
            Identity::Barred(why) => {
                return Err(Refusal::Quarantine(format!(
                    "mail from the address of {why} ({}): kept for review, nothing acts in its name",
                    mail.sender.as_str()
                )));
            }
            Identity::Claimed(user) if user.role.is_staff() => {
                return Err(Refusal::Quarantine(format!(
                    "unauthenticated mail from the address of a desk member ({}): no reply token and no \
                     passing Authentication-Results, so it is kept for review instead of acting in their name",
                    mail.sender.as_str()
                )));
            }
            Identity::Claimed(user) => {
                // Filed, but where only the desk sees it, and never on an
                // existing ticket: anyone can write this From.
                guichet_store::mail::insert_message(&mut tx, &record("ticket", None), now).await?;
                let id = self.file_by_mail(&mut tx, user.clone(), None, &mail).await?;
                let change = FieldChange::internal("unauthenticated_sender", None, Some(mail.sender.as_str().into()));
                self.record_history(&mut tx, id, None, &[change], now).await?;
                IngestOutcome::Ticket { key: self.key(id), triage: true }
            }
            Identity::Unknown if self.settings.mail.unknown_sender == UnknownSender::Triage => {
                let user = self.user_for_unknown_sender(&mut tx, &mail).await?;
                guichet_store::mail::insert_message(&mut tx, &record("ticket", None), now).await?;
                let id = self.file_by_mail(&mut tx, user, None, &mail).await?;
                IngestOutcome::Ticket { key: self.key(id), triage: true }
            }
            Identity::Unknown => {
                if !mail.automatic {
                    let (subject, text) = refusal_text(&mail.subject);
                    let reply_to = Some(mail.message_id.clone());
                    let plain = PlainMail {
                        kind: "refusal".into(),
                        recipient: mail.sender.as_str().into(),
                        subject,
                        text,
                        reply_to,
                        automatic: true,
                    };
                    self.send_plain(&mut tx, plain).await?;
                }
                guichet_store::mail::insert_message(&mut tx, &record("refused", None), now).await?;
                IngestOutcome::Refused
            }
        };
        guichet_store::mail::delete_import_failure(&mut tx, &hex::encode(Sha256::digest(raw))).await?;
        tx.commit().await.map_err(AppError::from)?;
        tracing::debug!(mailbox = mailbox.unwrap_or("-"), outcome = ?outcome, "mail imported");
        Ok(outcome)
    }

    async fn find_ticket_for(&self, tx: &mut Conn, id: Option<TicketId>) -> Result<Option<Ticket>, AppError> {
        let Some(id) = id else { return Ok(None) };
        match guichet_store::tickets::find_ticket(tx, id, &guichet_domain::actor::TicketScope::All).await {
            Ok(record) => Ok(Some(record.ticket)),
            Err(guichet_store::StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// An authenticated sender's answer on a ticket they may write to: a
    /// public reply, an internal note (a desk member answering a notice, or
    /// writing to the internal address), or an automatic reply kept in the history.
    async fn answer_by_mail(
        &self,
        tx: &mut Conn,
        user: User,
        ticket: &Ticket,
        source: &Source<'_>,
        internal: bool,
    ) -> Result<IngestOutcome, AppError> {
        let (mail, record) = (source.mail, |outcome, ticket| source.record(outcome, ticket));
        let now = self.now();
        let key = self.key(ticket.id);
        if mail.automatic {
            let change = FieldChange::internal("automatic_mail", None, Some(truncate(&mail.subject, 200)));
            self.record_history(tx, ticket.id, Some(user.id), &[change], now).await?;
            guichet_store::mail::insert_message(tx, &record("automatic", Some(ticket.id)), now).await?;
            return Ok(IngestOutcome::Automatic { key });
        }
        // Only the desk writes internal notes; a requester's mail is a reply.
        let internal = internal && user.role.is_staff();
        let p = Principal::from_user(user);
        // Recorded first, so that the notifications it causes thread after it.
        let outcome = if internal { "note" } else { "reply" };
        guichet_store::mail::insert_message(tx, &record(outcome, Some(ticket.id)), now).await?;
        let comment = self.reply_by_mail(tx, &p, ticket, mail, internal).await?;
        guichet_store::mail::set_message_ticket(tx, &mail.message_id, ticket.id, Some(comment)).await?;
        Ok(if internal { IngestOutcome::Note { key } } else { IngestOutcome::Reply { key } })
    }

    /// A new request from an authenticated sender: a school administrator's
    /// is filed for their school (unless it names a ticket they may not
    /// see), anyone else's in triage.
    async fn file_for(
        &self,
        tx: &mut Conn,
        user: User,
        source: &Source<'_>,
        own_school: bool,
    ) -> Result<IngestOutcome, AppError> {
        let (mail, record) = (source.mail, |outcome, ticket| source.record(outcome, ticket));
        let home = match (user.role, user.establishments.first()) {
            (Role::Requester, Some(e)) if own_school => Some(*e),
            _ => None,
        };
        guichet_store::mail::insert_message(tx, &record("ticket", None), self.now()).await?;
        let id = self.file_by_mail(tx, user, home, mail).await?;
        Ok(IngestOutcome::Ticket { key: self.key(id), triage: home.is_none() })
    }

    /// The body kept for a mail: what the person wrote, without the quoted
    /// history, with a word for each file that could not be kept.
    fn mail_body(&self, mail: &Incoming, reply: bool) -> (String, Vec<(String, Vec<u8>)>) {
        let mut body = if reply { strip_quoted(&mail.text) } else { mail.text.trim().to_owned() };
        let limit = self.settings.attachment_max_bytes;
        let mut files = Vec::new();
        for (name, content) in &mail.files {
            if content.is_empty() {
                continue;
            }
            if content.len() > limit {
                body.push_str(&format!(
                    "\n\n[Pièce jointe non reprise car trop volumineuse : {name} ({} Mo) ; elle reste dans le message d'origine.]",
                    content.len().div_ceil(1024 * 1024)
                ));
                continue;
            }
            files.push((name.clone(), content.clone()));
        }
        if body.trim().is_empty() {
            body = files.iter().map(|(n, _)| format!("📎 {n}")).collect::<Vec<_>>().join("\n");
        }
        if body.trim().is_empty() {
            body = "(message vide)".into();
        }
        (truncate(&body, DESCRIPTION_MAX - 200), files)
    }

    async fn reply_by_mail(
        &self,
        tx: &mut Conn,
        p: &Principal,
        ticket: &Ticket,
        mail: &Incoming,
        internal: bool,
    ) -> Result<CommentId, AppError> {
        let (body, files) = self.mail_body(mail, true);
        let comment = self.comment_in(tx, p, ticket, &body, internal, Channel::Email).await?;
        for (filename, content) in &files {
            let upload = crate::attachments::Upload { filename, content, internal, comment: Some(comment) };
            self.attach_in(tx, p, ticket.id, upload).await?;
        }
        Ok(comment)
    }

    async fn file_by_mail(
        &self,
        tx: &mut Conn,
        sender: User,
        establishment: Option<EstablishmentId>,
        mail: &Incoming,
    ) -> Result<TicketId, AppError> {
        let (description, files) = self.mail_body(mail, false);
        // A key that did not thread the mail (another school's ticket, a
        // missing one) is not carried into the new ticket's title.
        let subject = clean_subject(&strip_keys(&self.settings.key_prefix, &mail.subject));
        let title = if subject.is_empty() {
            let first = description.lines().find(|l| !l.trim().is_empty()).unwrap_or("(sans objet)");
            truncate(first.trim(), 80)
        } else {
            truncate(&subject, TITLE_MAX)
        };
        let establishment = match establishment {
            Some(e) => e,
            None => self.triage_establishment(tx).await?,
        };
        let requester = sender.id;
        // The ticket is filed as the system would, for the sender: a
        // requester cannot choose the mail channel nor the triage establishment.
        let p = Principal::from_user(sender);
        let draft = TicketDraft { title, description, ..Default::default() };
        let filing = Filing {
            draft,
            establishment,
            requester,
            files: &files,
            channel: Some(Channel::Email),
            tier: None,
            acknowledge: !mail.automatic,
            thread_root: Some(&mail.message_id),
        };
        self.file_ticket(tx, &p, filing).await
    }

    async fn triage_establishment(&self, tx: &mut Conn) -> Result<EstablishmentId, AppError> {
        let uai = Uai::parse(TRIAGE_UAI).map_err(AppError::from)?;
        if let Some(e) = guichet_store::establishments::find_establishment_by_uai(tx, &uai).await? {
            return Ok(e.id);
        }
        let new = NewEstablishment::parse(TRIAGE_UAI, "Demandes à trier", "Guichet", None)?;
        let (e, _) = guichet_store::establishments::upsert_establishment(tx, &new, self.now()).await?;
        Ok(e.id)
    }

    /// A requester account, attached to no establishment, that keeps an
    /// unknown sender's address so that the desk can answer them.
    async fn user_for_unknown_sender(&self, tx: &mut Conn, mail: &Incoming) -> Result<User, AppError> {
        let name = mail
            .sender_name
            .clone()
            .unwrap_or_else(|| mail.sender.as_str().split('@').next().unwrap_or("?").to_owned());
        let new = NewUser {
            email: mail.sender.clone(),
            name: truncate(&name, 100),
            role: Role::Requester,
            language: Language::Fr,
            phones: Vec::new(),
            establishment_uais: Vec::new(),
        };
        Ok(guichet_store::users::insert_user_if_absent(tx, &new, self.now()).await?)
    }

    /// Messages waiting in quarantine (administrators).
    pub async fn list_quarantine(&self, p: &Principal) -> Result<Vec<Quarantined>, AppError> {
        require_admin(p)?;
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::mail::list_quarantine(&mut conn, 200).await?)
    }

    /// The raw bytes of a quarantined message, to look at it.
    pub async fn quarantined_raw(&self, p: &Principal, id: i64) -> Result<Vec<u8>, AppError> {
        require_admin(p)?;
        let mut conn = self.db.conn().await?;
        let (_, raw) = guichet_store::mail::find_quarantine(&mut conn, id)
            .await
            .map_err(|_| AppError::NotFound("quarantined message"))?;
        Ok(raw)
    }

    /// Runs a quarantined message through the intake again (after a fix, or
    /// once its sender was added); it leaves the quarantine when imported.
    pub async fn reprocess_quarantined(&self, p: &Principal, id: i64) -> Result<IngestOutcome, AppError> {
        require_admin(p)?;
        let mut conn = self.db.conn().await?;
        let (q, raw) = guichet_store::mail::find_quarantine(&mut conn, id)
            .await
            .map_err(|_| AppError::NotFound("quarantined message"))?;
        drop(conn);
        if q.released_at.is_some() {
            return Err(AppError::Conflict { field: "id".into(), message: "this message was already released".into() });
        }
        let outcome = self.ingest_mail(&raw, q.mailbox.as_deref()).await?;
        let ticket = match &outcome {
            IngestOutcome::Quarantined { .. } => return Ok(outcome),
            IngestOutcome::Ticket { key, .. }
            | IngestOutcome::Reply { key }
            | IngestOutcome::Note { key }
            | IngestOutcome::Automatic { key } => guichet_domain::ticket::parse_key(&self.settings.key_prefix, key),
            IngestOutcome::Refused | IngestOutcome::Duplicate => None,
        };
        let mut conn = self.db.conn().await?;
        guichet_store::mail::release_quarantine(&mut conn, id, ticket, self.now()).await?;
        Ok(outcome)
    }

    /// Sets a quarantined message aside for good (spam, a test): it stays stored.
    pub async fn dismiss_quarantined(&self, p: &Principal, id: i64) -> Result<(), AppError> {
        require_admin(p)?;
        let mut conn = self.db.conn().await?;
        guichet_store::mail::release_quarantine(&mut conn, id, None, self.now())
            .await
            .map_err(|_| AppError::NotFound("quarantined message"))
    }

    /// The configured mailboxes' health (the desk and administrators).
    pub async fn mailbox_status(&self, p: &Principal) -> Result<Vec<MailboxStatus>, AppError> {
        if !p.actor.role.is_staff() {
            return Err(AppError::Forbidden("only the desk sees the mailboxes".into()));
        }
        let since = self.start_of_today();
        let mut conn = self.db.conn().await?;
        let mut list =
            guichet_store::mail::list_mailbox_status(&mut conn, &self.settings.mail.mailboxes, since).await?;
        let now = guichet_store::leases::database_now(&mut conn).await?;
        let leases = guichet_store::leases::list_leases(&mut conn).await?;
        for status in &mut list {
            let name = format!("imap:{}", status.name);
            status.polled_by = leases.iter().find(|l| l.name == name && l.expires_at > now).map(|l| l.holder.clone());
        }
        Ok(list)
    }

    /// This process's background tasks and their health (the desk).
    pub fn background_tasks(&self, p: &Principal) -> Result<Vec<crate::tasks::TaskState>, AppError> {
        if !p.actor.role.is_staff() {
            return Err(AppError::Forbidden("only the desk sees the background tasks".into()));
        }
        Ok(self.tasks.list())
    }

    /// Notifications not sent yet, or given up on (administrators).
    pub async fn unsent_mail(&self, p: &Principal) -> Result<Vec<guichet_store::mail::Outgoing>, AppError> {
        require_admin(p)?;
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::mail::list_unsent_outgoing(&mut conn, 200).await?)
    }

    /// Where the reading of a mailbox stands: (UIDVALIDITY, last UID handled).
    pub async fn mailbox_cursor(&self, name: &str) -> Result<Option<(i64, i64)>, AppError> {
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::mail::find_mailbox_cursor(&mut conn, name).await?)
    }

    pub async fn set_mailbox_cursor(&self, name: &str, uid_validity: i64, last_uid: i64) -> Result<(), AppError> {
        let mut tx = self.db.begin().await?;
        guichet_store::mail::update_mailbox_cursor(&mut tx, name, uid_validity, last_uid).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a mailbox's successful fetch.
    pub async fn mailbox_succeeded(&self, name: &str) -> Result<(), AppError> {
        let mut conn = self.db.conn().await?;
        guichet_store::mail::record_mailbox_success(&mut conn, name, self.now()).await?;
        Ok(())
    }

    /// Records a mailbox's failure and, once it has lasted `alert_after`,
    /// tells the administrators by mail (once per outage).
    pub async fn mailbox_failed(&self, name: &str, error: &str, alert_after: chrono::Duration) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let since = guichet_store::mail::record_mailbox_error(&mut tx, name, error, now).await?;
        if now - since >= alert_after && guichet_store::mail::mark_mailbox_alerted(&mut tx, name, now).await? {
            let admins = guichet_store::users::list_admin_emails(&mut tx).await?;
            for admin in admins {
                let subject = format!("Guichet : la boîte « {name} » ne répond plus");
                let text = format!(
                    "La boîte de réception « {name} » est en échec depuis le {} (UTC).\nDernière erreur : {error}\n\n\
                     Les messages restent sur le serveur et seront importés à son retour ; voir {}/admin/mail.",
                    since.format("%d/%m/%Y %H:%M"),
                    self.settings.mail.portal_url.trim_end_matches('/')
                );
                let plain = PlainMail {
                    kind: "mailbox_alert".into(),
                    recipient: admin,
                    subject,
                    text,
                    reply_to: None,
                    automatic: false,
                };
                self.send_plain(&mut tx, plain).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

fn require_admin(p: &Principal) -> Result<(), AppError> {
    if p.actor.role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden("only administrators manage the mail channel".into()))
    }
}

/// A sender may add to a ticket of their establishments, or to one they filed.
fn may_reply(user: &User, ticket: &Ticket) -> bool {
    user.role.is_staff() || user.establishments.contains(&ticket.establishment) || ticket.requester.id == user.id
}

fn refusal_text(subject: &str) -> (String, String) {
    let subject = format!("Re: {}", clean_subject(subject));
    let text = "Bonjour,\n\nVotre adresse n'est pas connue du support : votre message n'a pas été enregistré. \
        Demandez à l'administrateur de votre établissement de vous ouvrir un accès, ou passez par lui.\n\n\
        Your address is not known to the support desk: your message was not filed. Ask your school's \
        administrator for an account.\n\n-- \nLe support"
        .to_owned();
    (subject, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = "From: =?utf-8?Q?Ana=C3=AFs?= <anais@lycee.test>\r\nSubject: =?iso-8859-1?Q?R=E9seau?=\r\n\
        Message-ID: <a@b>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n\
        Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCoup=C3=A9\r\n\
        --x\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--x--\r\n";

    #[test]
    fn a_well_formed_message_is_read_with_its_encodings() {
        let (sender, subject, text, files) = inspect(SAMPLE.as_bytes()).unwrap();
        assert_eq!(sender, "anais@lycee.test");
        assert_eq!(subject, "Réseau");
        assert_eq!(text.trim(), "Coupé");
        assert_eq!(files, 1);
    }

    #[test]
    fn a_message_without_sender_is_refused_with_a_reason() {
        assert_eq!(inspect(b"Subject: x\r\n\r\nbody").unwrap_err(), "the message has no From address");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = inspect(&bytes);
        }

        #[test]
        fn subjects_bodies_and_headers_of_case_folding_text_nul_bytes_and_long_lines_never_panic(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just("İ".to_owned()), Just("ẞ".to_owned()), Just("ﬀ".to_owned()), Just("Σς".to_owned()),
                    Just("K".to_owned()), Just("\0".to_owned()), Just("[SUP-1]".to_owned()), Just("Re: ".to_owned()),
                    Just("=?utf-8?B?xLA=?=".to_owned()), Just("x".repeat(2000)), "\\PC{0,8}",
                ],
                0..16,
            )
        ) {
            let text = pieces.concat();
            let line = text.replace(['\r', '\n'], " ");
            let raw = format!(
                "From: {line} <a@b.test>\r\nSubject: {line}\r\nIn-Reply-To: <{line}>\r\n\
                 Authentication-Results: {line}; dmarc=pass\r\nMessage-ID: <{line}>\r\n\r\n{text}\r\n"
            );
            let _ = inspect(raw.as_bytes());
        }

        #[test]
        fn a_damaged_message_never_panics(cut in 0..SAMPLE.len(), flips in proptest::collection::vec((0..SAMPLE.len(), any::<u8>()), 0..16)) {
            let mut bytes = SAMPLE.as_bytes()[..cut].to_vec();
            for (at, b) in flips {
                if at < bytes.len() {
                    bytes[at] = b;
                }
            }
            let _ = inspect(&bytes);
        }
    }
}
