//! Notifications by mail. Each is composed in its recipient's language and
//! written to the outbox inside the transaction of the change that causes it;
//! the mail worker sends it later. Internal notes never produce one.

use crate::{App, AppError};
use chrono::{DateTime, Utc};
use guichet_domain::ids::{TicketId, UserId};
use guichet_domain::mail::reply_token::{ReplyScope, ReplyToken};
use guichet_domain::sla::SlaState;
use guichet_domain::user::Language;
use guichet_store::mail::NewOutgoing;
use guichet_store::Conn;
use rand::RngCore;

/// How the desk's mail is set up.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// Notifications are queued only when an SMTP server is configured.
    pub notifications: bool,
    /// The From of every mail (`Support ENT <support@ent.example>`).
    pub from: String,
    /// The domain of the Message-IDs Guichet makes.
    pub domain: String,
    /// The web address of Guichet, for links in mail.
    pub portal_url: String,
    /// What to do with mail from an address no user has.
    pub unknown_sender: UnknownSender,
    /// Tell agents of new tickets and of replies on the tickets they hold.
    pub notify_agents: bool,
    /// The desk's own addresses (the mailboxes and From): mail from them is a loop.
    pub own_addresses: Vec<String>,
    /// Largest message imported; a larger one is quarantined.
    pub max_message_bytes: usize,
    /// At most this many automatic mails (acknowledgments, refusals) per recipient and hour.
    pub automatic_per_hour: i64,
    /// Days a resolved request can be reopened by replying (said in the "resolved" mail).
    pub reopen_days: u32,
    /// Names of the configured mailboxes, for their status page.
    pub mailboxes: Vec<String>,
    /// The desk's internal address (RT's "comment" address): notices to staff
    /// ask for answers there, and a desk member's mail to it is an internal note.
    pub internal_addresses: Vec<String>,
    /// The `authserv-id` of the desk's own mail server: its
    /// `Authentication-Results` header is believed about the From domain.
    pub trusted_authserv_id: Option<String>,
    /// Failed imports of one message before it is quarantined.
    pub max_import_attempts: u32,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            notifications: false,
            from: "Guichet <guichet@localhost>".into(),
            domain: "guichet.localhost".into(),
            portal_url: "http://127.0.0.1:8080".into(),
            unknown_sender: UnknownSender::Triage,
            notify_agents: true,
            own_addresses: Vec::new(),
            max_message_bytes: 25 * 1024 * 1024,
            automatic_per_hour: 5,
            reopen_days: 5,
            mailboxes: Vec::new(),
            internal_addresses: Vec::new(),
            trusted_authserv_id: None,
            max_import_attempts: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownSender {
    /// File the request for the desk to sort out, keeping the address.
    Triage,
    /// Answer that the address is unknown, and file nothing.
    Refuse,
}

impl UnknownSender {
    pub fn parse(s: &str) -> Result<Self, AppError> {
        match s.trim() {
            "triage" => Ok(Self::Triage),
            "refuse" => Ok(Self::Refuse),
            other => Err(AppError::field("unknown_sender", format!("`{other}` is not `triage` or `refuse`"))),
        }
    }
}

/// What happened, as a notification says it.
#[derive(Debug, Clone)]
pub enum Notice<'a> {
    /// To the requester: their request was received.
    Acknowledgment,
    /// To the requester: the desk answered.
    Reply { body: &'a str },
    /// To the requester: the desk waits on them; with the desk's reply
    /// when it was sent in the same action (one mail, not two).
    Waiting { reply: Option<&'a str> },
    /// To the requester: the request is resolved; with the link of its
    /// satisfaction survey when they are asked.
    Resolved { survey: Option<&'a str>, reply: Option<&'a str> },
    /// To the requester: the one reminder of an unanswered survey.
    SatisfactionReminder { survey: &'a str },
    /// To the requester: a reminder that the desk still waits on them.
    Reminder,
    /// To an agent: a new request for them.
    NewTicket,
    /// To the assignee: the requester answered.
    RequesterReplied { body: &'a str },
    /// To the assignee or on-duty agent: a service level is at risk or breached.
    Sla { state: SlaState },
    /// To the requester: their request duplicates another, where it goes on.
    Duplicate { original: &'a str },
    /// To the requester: another request was merged into theirs.
    Merged { duplicate: &'a str },
    /// To a school's administrators: an end user asked for help.
    HelpRequest { body: &'a str },
}

impl Notice<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Notice::Acknowledgment => "acknowledgment",
            Notice::Reply { .. } => "reply",
            Notice::Waiting { .. } => "waiting",
            Notice::Resolved { .. } => "resolved",
            Notice::SatisfactionReminder { .. } => "satisfaction_reminder",
            Notice::Reminder => "reminder",
            Notice::NewTicket => "new_ticket",
            Notice::RequesterReplied { .. } => "requester_replied",
            Notice::Sla { .. } => "sla",
            Notice::Duplicate { .. } => "duplicate",
            Notice::Merged { .. } => "merged",
            Notice::HelpRequest { .. } => "help_request",
        }
    }

    fn automatic(&self) -> bool {
        matches!(self, Notice::Acknowledgment | Notice::Reminder | Notice::SatisfactionReminder { .. })
    }

    /// What an answer to this notice becomes: notices to the desk about a
    /// ticket are answered among the desk, never to the requester.
    fn reply_scope(&self) -> ReplyScope {
        match self {
            Notice::NewTicket | Notice::RequesterReplied { .. } | Notice::Sla { .. } => ReplyScope::Internal,
            _ => ReplyScope::Public,
        }
    }
}

/// The ticket facts a notification shows.
pub struct TicketFacts<'a> {
    pub key: &'a str,
    pub title: &'a str,
    pub establishment: &'a str,
    pub url: &'a str,
    pub recipient_name: &'a str,
    pub reopen_days: u32,
}

/// A composed mail: subject, plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// HTML text escaping (ammonia's `clean_text` also escapes spaces, which
/// makes mail sources unreadable).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes a notification in `language`. Pure, so that every template is tested.
pub fn compose(notice: &Notice<'_>, language: Language, f: &TicketFacts<'_>) -> Composed {
    let fr = language == Language::Fr;
    let (key, title) = (f.key, f.title);
    let (subject, lead, body): (String, String, Option<&str>) = match notice {
        Notice::Acknowledgment => (
            format!("[{key}] {title}"),
            if fr {
                format!("Nous avons bien reçu votre demande « {title} ». Sa référence est {key}. Pour ajouter une précision ou une capture d'écran, répondez simplement à ce message.")
            } else {
                format!("We have received your request “{title}”. Its reference is {key}. To add details or a screenshot, simply reply to this message.")
            },
            None,
        ),
        Notice::Reply { body } => (
            format!("Re: [{key}] {title}"),
            if fr {
                "Le support a répondu à votre demande :".into()
            } else {
                "The support desk answered your request:".into()
            },
            Some(*body),
        ),
        Notice::Waiting { reply } => (
            format!("Re: [{key}] {title}"),
            if fr {
                "Pour avancer, nous avons besoin d'une réponse de votre part : répondez à ce message.".into()
            } else {
                "To go further we need an answer from you: reply to this message.".into()
            },
            *reply,
        ),
        Notice::Reminder => (
            format!("Re: [{key}] {title}"),
            if fr {
                "Rappel : nous attendons toujours votre réponse pour avancer sur cette demande. Sans nouvelles de votre part, elle sera bientôt résolue.".into()
            } else {
                "Reminder: we are still waiting for your answer on this request. Without news from you it will soon be resolved.".into()
            },
            None,
        ),
        Notice::Resolved { reply, .. } => (
            format!("Re: [{key}] {title}"),
            if fr {
                format!("Votre demande est résolue. Si le problème persiste, répondez à ce message dans les {} jours ouvrés : elle sera rouverte.", f.reopen_days)
            } else {
                format!("Your request is resolved. If the problem persists, reply to this message within {} business days and it will be reopened.", f.reopen_days)
            },
            *reply,
        ),
        Notice::SatisfactionReminder { .. } => (
            format!("Re: [{key}] {title}"),
            if fr {
                "Votre demande a été résolue il y a quelques jours. Avez-vous une minute pour noter notre réponse ?"
                    .into()
            } else {
                "Your request was resolved a few days ago. Do you have a minute to rate our answer?".into()
            },
            None,
        ),
        Notice::NewTicket => (
            format!("[{key}] {title} ({})", f.establishment),
            if fr {
                format!("Nouvelle demande de {} : « {title} ».", f.establishment)
            } else {
                format!("New request from {}: “{title}”.", f.establishment)
            },
            None,
        ),
        Notice::RequesterReplied { body } => (
            format!("Re: [{key}] {title}"),
            if fr { "Le demandeur a répondu :".into() } else { "The requester answered:".into() },
            Some(*body),
        ),
        Notice::Duplicate { original } => (
            format!("Re: [{key}] {title}"),
            if fr {
                format!("Votre demande porte sur le même sujet que la demande {original}, qui est suivie par le support : elle est close et la conversation continue sur {original}.")
            } else {
                format!("Your request is about the same matter as request {original}, which the support desk follows: it is closed and the conversation goes on in {original}.")
            },
            None,
        ),
        Notice::Merged { duplicate } => (
            format!("Re: [{key}] {title}"),
            if fr {
                format!("La demande {duplicate}, sur le même sujet, a été rattachée à celle-ci : ses messages et pièces jointes y figurent désormais.")
            } else {
                format!("Request {duplicate}, about the same matter, was merged into this one: its messages and attachments are now here.")
            },
            None,
        ),
        Notice::HelpRequest { body } => (
            format!("[{key}] {title}"),
            if fr {
                format!("Un utilisateur de l'ENT de {} demande de l'aide. Répondez-lui depuis Guichet, ou transmettez la demande au support.", f.establishment)
            } else {
                format!("A user of {}'s ENT asks for help. Answer them from Guichet, or forward the request to the support desk.", f.establishment)
            },
            Some(*body),
        ),
        Notice::Sla { state } => {
            let late = *state == SlaState::Breached;
            let what = match (fr, late) {
                (true, true) => "en retard",
                (true, false) => "bientôt en retard",
                (false, true) => "late",
                (false, false) => "at risk of being late",
            };
            (
                if fr { format!("[{key}] {what} : {title}") } else { format!("[{key}] {what}: {title}") },
                if fr {
                    format!("La demande {key} de {} est {what} sur ses engagements de service.", f.establishment)
                } else {
                    format!("Request {key} from {} is {what} on its service levels.", f.establishment)
                },
                None,
            )
        }
    };
    let hello = if fr { format!("Bonjour {},", f.recipient_name) } else { format!("Hello {},", f.recipient_name) };
    let follow = if fr { "Suivre la demande" } else { "Follow the request" };
    let sign = if fr { "Le support" } else { "The support desk" };
    let mut text = format!("{hello}\n\n{lead}\n\n");
    let mut html = format!("<p>{}</p>\n<p>{}</p>\n", escape(&hello), escape(&lead));
    if let Some(body) = body {
        text.push_str(body.trim());
        text.push_str("\n\n");
        html.push_str("<blockquote>");
        html.push_str(&crate::render::markdown_to_safe_html(body));
        html.push_str("</blockquote>\n");
    }
    let survey = match notice {
        Notice::Resolved { survey: Some(url), .. } | Notice::SatisfactionReminder { survey: url } => Some(*url),
        _ => None,
    };
    if let Some(url) = survey {
        let ask = if fr {
            "Votre avis nous aide : notez notre réponse de 1 (pas du tout satisfait) à 5 (très satisfait), sans vous connecter :"
        } else {
            "Your opinion helps us: rate our answer from 1 (not at all satisfied) to 5 (very satisfied), without signing in:"
        };
        text.push_str(&format!("{ask}\n{url}\n\n"));
        // One link per rating: the page opens with it chosen, and the
        // answer is recorded only when sent (mail scanners follow links).
        let links: Vec<String> = (1..=5).map(|n| format!("<a href=\"{}?note={n}\">{n}</a>", escape(url))).collect();
        html.push_str(&format!("<p>{}<br>{}</p>\n", escape(ask), links.join(" · ")));
    }
    text.push_str(&format!("{follow} : {}\n\n-- \n{sign}\n", f.url));
    html.push_str(&format!(
        "<p><a href=\"{url}\">{follow} {key}</a></p>\n<p>-- <br>{sign}</p>\n",
        url = escape(f.url),
        key = escape(key)
    ));
    Composed { subject, text, html }
}

fn nonce() -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// An account with no mailbox behind it (the HELP form's): no mail ever acts as it.
pub fn is_system_account(user: &guichet_domain::user::User) -> bool {
    user.email.as_str().ends_with(".invalid")
}

/// A mail that belongs to no ticket.
pub(crate) struct PlainMail {
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    /// The Message-ID it answers.
    pub reply_to: Option<String>,
    pub automatic: bool,
}

/// Who a notification is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    Requester,
    User(UserId),
}

impl App {
    /// A fresh Message-ID in Guichet's domain.
    pub fn new_message_id(&self, key: &str) -> String {
        format!("{}.{}@{}", nonce(), key.to_lowercase(), self.settings.mail.domain)
    }

    /// A fresh Message-ID carrying a reply token: an answer quoting it acts on
    /// `token.ticket` as `token.user`, in `token.scope`.
    pub fn reply_message_id(&self, token: &ReplyToken) -> String {
        token.message_id(&self.reply_secret, &self.settings.key_prefix, &nonce(), &self.settings.mail.domain)
    }

    /// The first valid reply token among a thread's Message-IDs (In-Reply-To
    /// first, then References from the most recent).
    pub fn reply_token_in(&self, thread: &[String]) -> Option<ReplyToken> {
        thread.iter().find_map(|id| {
            ReplyToken::from_message_id(id, &self.reply_secret, &self.settings.key_prefix, &self.settings.mail.domain)
        })
    }

    pub fn ticket_url(&self, key: &str) -> String {
        format!("{}/tickets/{key}", self.settings.mail.portal_url.trim_end_matches('/'))
    }

    /// Queues a notification about a ticket, threaded after its earlier mail.
    /// Does nothing when mail is off, when the recipient is disabled, or when
    /// an automatic mail would pass the recipient's hourly limit.
    pub(crate) async fn notify(
        &self,
        tx: &mut Conn,
        ticket: TicketId,
        to: Recipient,
        notice: Notice<'_>,
    ) -> Result<(), AppError> {
        if !self.settings.mail.notifications {
            return Ok(());
        }
        let record = guichet_store::tickets::find_ticket(tx, ticket, &guichet_domain::actor::TicketScope::All).await?;
        let user_id = match to {
            Recipient::Requester => record.ticket.requester.id,
            Recipient::User(id) => id,
        };
        let user = guichet_store::users::find_user(tx, user_id).await?;
        if user.disabled {
            return Ok(());
        }
        // A HELP request not yet taken over is answered to the end user who
        // wrote it, when they left an address.
        let system = is_system_account(&user);
        let (name, email, language) = if user.email.as_str() == crate::help::HELP_FORM_ADDRESS {
            let contact = guichet_store::incidents::find_contact(tx, ticket).await?;
            match contact.and_then(|c| Some((c.name, c.email?, c.language))) {
                Some((name, email, language)) => (name, email, Language::parse(&language).unwrap_or_default()),
                None => return Ok(()),
            }
        } else {
            (user.name.clone(), user.email.as_str().to_owned(), user.language)
        };
        let now = self.now();
        if notice.automatic() && !self.automatic_mail_allowed(tx, &email).await? {
            return Ok(());
        }
        let key = self.key(ticket);
        let url = self.ticket_url(&key);
        let facts = TicketFacts {
            key: &key,
            title: &record.ticket.title,
            establishment: &record.establishment_name,
            url: &url,
            recipient_name: &name,
            reopen_days: self.settings.mail.reopen_days,
        };
        let composed = compose(&notice, language, &facts);
        let scope = notice.reply_scope();
        let references = guichet_store::mail::thread_message_ids(tx, ticket).await?;
        let mail = NewOutgoing {
            ticket: Some(ticket),
            kind: notice.kind().into(),
            recipient: email,
            subject: composed.subject,
            body_text: composed.text,
            body_html: composed.html,
            // An answer to a mail sent for a system account (to a HELP form's
            // author) carries no token: nothing may act as that account.
            message_id: if system {
                self.new_message_id(&key)
            } else {
                self.reply_message_id(&ReplyToken { ticket, user: user.id, scope })
            },
            in_reply_to: references.last().cloned(),
            references,
            automatic: notice.automatic(),
            reply_to: match scope {
                ReplyScope::Internal => self.settings.mail.internal_addresses.first().cloned(),
                ReplyScope::Public => None,
            },
        };
        guichet_store::mail::insert_outgoing(tx, &mail, now).await?;
        Ok(())
    }

    /// Tells the agent holding a ticket (or, for a new unassigned one, the
    /// agents on duty) when the settings ask for it.
    pub(crate) async fn notify_agents(
        &self,
        tx: &mut Conn,
        ticket: TicketId,
        assignee: Option<UserId>,
        author: Option<UserId>,
        notice: Notice<'_>,
    ) -> Result<(), AppError> {
        if !self.settings.mail.notifications || !self.settings.mail.notify_agents {
            return Ok(());
        }
        let people = match assignee {
            Some(id) => vec![id],
            None if matches!(notice, Notice::NewTicket | Notice::Sla { .. }) => {
                self.on_duty_now_in(tx).await?.into_iter().map(|u| u.id).collect()
            }
            None => Vec::new(),
        };
        for id in people.into_iter().filter(|id| Some(*id) != author) {
            self.notify(tx, ticket, Recipient::User(id), notice.clone()).await?;
        }
        Ok(())
    }

    /// Counts one automatic mail (acknowledgment, reminder, refusal) to
    /// `recipient` and says whether it may go: at most `automatic_per_hour`
    /// in an hour, so that two robots answering each other stop. Counted in
    /// the database with the mail's own transaction: every node counts the
    /// same hour, and a mail rolled back is not counted.
    async fn automatic_mail_allowed(&self, tx: &mut Conn, recipient: &str) -> Result<bool, AppError> {
        let now = self.now();
        let key = format!("automatic:{}", recipient.to_lowercase());
        let (sent, _) =
            guichet_store::throttles::count_attempt(tx, &key, now, now - crate::auth::COUNTER_WINDOW).await?;
        if sent > self.settings.mail.automatic_per_hour {
            tracing::warn!(to = recipient, "automatic mail withheld: hourly limit reached");
            return Ok(false);
        }
        Ok(true)
    }

    /// Queues a mail that belongs to no ticket (a refusal, an alert to administrators).
    pub(crate) async fn send_plain(&self, tx: &mut Conn, plain: PlainMail) -> Result<bool, AppError> {
        let PlainMail { kind, recipient, subject, text, reply_to, automatic } = plain;
        let recipient = recipient.as_str();
        if !self.settings.mail.notifications {
            return Ok(false);
        }
        let now = self.now();
        if automatic && !self.automatic_mail_allowed(tx, recipient).await? {
            return Ok(false);
        }
        let html = format!("<pre style=\"font-family:inherit;white-space:pre-wrap\">{}</pre>", escape(&text));
        let mail = NewOutgoing {
            ticket: None,
            message_id: self.new_message_id(&kind),
            kind,
            recipient: recipient.to_owned(),
            subject,
            body_text: text,
            body_html: html,
            in_reply_to: reply_to.clone(),
            references: reply_to.into_iter().collect(),
            automatic,
            reply_to: None,
        };
        guichet_store::mail::insert_outgoing(tx, &mail, now).await?;
        Ok(true)
    }
}

/// How long the sender keeps retrying a mail before giving up on it.
pub const GIVE_UP_AFTER_DAYS: i64 = 3;

impl App {
    /// Claims notifications due for sending now, for this node, until
    /// `lease`: no other sender (node or command) takes them meanwhile.
    /// Mails waiting to be sent and when the oldest was queued (the metrics).
    pub async fn outbox_backlog(&self) -> Result<(i64, Option<chrono::DateTime<chrono::Utc>>), AppError> {
        Ok(guichet_store::mail::outbox_backlog(&mut self.db.conn().await?).await?)
    }

    pub async fn claim_due_mail(
        &self,
        limit: i64,
        lease: chrono::Duration,
    ) -> Result<Vec<guichet_store::mail::Outgoing>, AppError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let claimed =
            guichet_store::mail::claim_due_outgoing(&mut tx, &self.settings.node, now, now + lease, limit).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Extends this node's claim on one notification it is about to send;
    /// false when the claim is no longer its own (it must not send it).
    pub async fn extend_mail_claim(&self, id: i64, lease: chrono::Duration) -> Result<bool, AppError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let kept = guichet_store::mail::extend_claim(&mut tx, id, &self.settings.node, now, now + lease).await?;
        tx.commit().await?;
        Ok(kept)
    }

    /// Gives back claimed notifications this node will not attempt now.
    pub async fn release_mail(&self, ids: &[i64]) -> Result<(), AppError> {
        let mut tx = self.db.begin().await?;
        guichet_store::mail::release_outgoing(&mut tx, &self.settings.node, ids).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a notification as sent; false when this node's claim had
    /// expired and another sender holds it.
    pub async fn mail_sent(&self, id: i64) -> Result<bool, AppError> {
        let mut tx = self.db.begin().await?;
        let marked = guichet_store::mail::mark_sent(&mut tx, id, &self.settings.node, self.now()).await?;
        tx.commit().await?;
        Ok(marked)
    }

    /// Records a failed send: retried later with backoff, or given up on when
    /// the server refused it for good or it has waited too long.
    pub async fn mail_failed(
        &self,
        mail: &guichet_store::mail::Outgoing,
        error: &str,
        permanent: bool,
    ) -> Result<(), AppError> {
        let now = self.now();
        let retry_at = if permanent {
            None
        } else {
            next_attempt(mail.attempts, mail.created_at, now, chrono::Duration::days(GIVE_UP_AFTER_DAYS))
        };
        let mut tx = self.db.begin().await?;
        guichet_store::mail::mark_attempt_failed(&mut tx, mail.id, error, retry_at, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts a mail given up on back in line (administrators).
    pub async fn retry_mail(&self, p: &crate::auth::Principal, id: i64) -> Result<(), AppError> {
        if p.actor.role != guichet_domain::user::Role::Admin {
            return Err(AppError::Forbidden("only administrators manage the mail channel".into()));
        }
        let mut conn = self.db.conn().await?;
        guichet_store::mail::retry_outgoing(&mut conn, id, self.now()).await.map_err(|_| AppError::NotFound("mail"))
    }
}

/// Exponential backoff for a failed send: 30 s, 1 min, 2 min… capped at
/// 15 min, and given up after `give_up_after` since the mail was queued.
pub fn next_attempt(
    attempts: i64,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    give_up_after: chrono::Duration,
) -> Option<DateTime<Utc>> {
    if now - created_at >= give_up_after {
        return None;
    }
    let exponent = u32::try_from(attempts.clamp(0, 10)).unwrap_or(10);
    let delay = (30_i64 << exponent).min(15 * 60);
    Some(now + chrono::Duration::seconds(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> TicketFacts<'static> {
        TicketFacts {
            key: "SUP-12",
            title: "Messagerie <en panne>",
            establishment: "Collège Jean Moulin",
            url: "https://guichet.example/tickets/SUP-12",
            recipient_name: "Anne",
            reopen_days: 5,
        }
    }

    #[test]
    fn an_acknowledgment_carries_the_key_in_subject_and_a_link_in_both_languages() {
        let fr = compose(&Notice::Acknowledgment, Language::Fr, &facts());
        assert_eq!(fr.subject, "[SUP-12] Messagerie <en panne>");
        assert!(fr.text.contains("Sa référence est SUP-12"));
        assert!(fr.text.contains("https://guichet.example/tickets/SUP-12"));
        assert!(fr.html.contains("&lt;en panne&gt;"), "{}", fr.html);
        let en = compose(&Notice::Acknowledgment, Language::En, &facts());
        assert!(en.text.starts_with("Hello Anne,"));
        assert!(en.text.contains("Its reference is SUP-12"));
    }

    #[test]
    fn a_reply_quotes_the_desk_answer_rendered_safely() {
        let c = compose(&Notice::Reply { body: "Essayez **ceci** <script>x</script>" }, Language::Fr, &facts());
        assert!(c.subject.starts_with("Re: [SUP-12]"));
        assert!(c.text.contains("Essayez **ceci**"));
        assert!(c.html.contains("<strong>ceci</strong>"));
        assert!(!c.html.contains("<script>"));
    }

    #[test]
    fn the_resolved_mail_says_how_to_reopen() {
        let c = compose(&Notice::Resolved { survey: None, reply: None }, Language::Fr, &facts());
        assert!(c.text.contains("répondez à ce message dans les 5 jours ouvrés"));
        assert!(!c.text.contains("notez notre réponse"));
    }

    #[test]
    fn the_resolved_mail_offers_the_survey_link_with_one_link_per_rating() {
        let url = "https://guichet.example/satisfaction/abc\"<x>";
        let c =
            compose(&Notice::Resolved { survey: Some(url), reply: Some("C'est **réglé**.") }, Language::En, &facts());
        assert!(
            c.text.contains("C'est **réglé**.") && c.html.contains("<strong>réglé</strong>"),
            "one mail quotes the reply"
        );
        assert!(c.text.contains(&format!(
            "rate our answer from 1 (not at all satisfied) to 5 (very satisfied), without signing in:\n{url}"
        )));
        assert!(
            c.html.contains("href=\"https://guichet.example/satisfaction/abc&quot;&lt;x&gt;?note=5\">5</a>"),
            "{}",
            c.html
        );
        let r = compose(&Notice::SatisfactionReminder { survey: url }, Language::Fr, &facts());
        assert!(r.text.contains("Avez-vous une minute") && r.text.contains(url));
    }

    #[test]
    fn backoff_doubles_is_capped_and_gives_up() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let day = chrono::Duration::days(2);
        assert_eq!(next_attempt(0, t0, t0, day), Some(t0 + chrono::Duration::seconds(30)));
        assert_eq!(next_attempt(3, t0, t0, day), Some(t0 + chrono::Duration::seconds(240)));
        assert_eq!(next_attempt(9, t0, t0, day), Some(t0 + chrono::Duration::minutes(15)));
        assert_eq!(next_attempt(2, t0, t0 + day, day), None);
    }
}
