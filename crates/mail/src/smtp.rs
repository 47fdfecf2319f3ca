//! The outbox sender: sends queued notifications over SMTP, oldest first,
//! retrying with backoff. A sender claims a few rows before sending them, so
//! that two senders (two nodes, or `guichet mail send` beside `serve`) never
//! send the same mail. Each mail keeps its Message-ID across attempts, so
//! that the one resend a crash can cause (after the SMTP server accepted a
//! mail, before it was marked sent) threads and deduplicates as the same mail.

use crate::{Credentials, MailError, TlsMode};
use guichet_app::App;
use guichet_store::mail::Outgoing;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials as SmtpCredentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::watch;

/// The SMTP server in `guichet.toml` (`[smtp]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    #[serde(flatten)]
    pub credentials: Credentials,
    /// The From of every mail: `Support ENT <support@ent.example>`.
    pub from: String,
}

/// The longest an SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Mails claimed at once.
const BATCH: usize = 10;

/// How long a claim holds: long enough to send one mail at the SMTP timeout
/// and mark it sent. The claim on each mail of a batch is extended just
/// before it is sent, so that the mails of a sender that died are free again
/// within this time, not after a whole batch's worth.
const CLAIM: Duration = Duration::from_secs(2 * SMTP_TIMEOUT.as_secs());

/// A configured SMTP transport and sender address.
#[derive(Clone)]
pub struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Sender {
    pub fn new(config: &SmtpConfig) -> Result<Self, MailError> {
        let from: Mailbox =
            config.from.parse().map_err(|e| MailError::Config(format!("smtp.from `{}`: {e}", config.from)))?;
        let smtp = |e: lettre::transport::smtp::Error| MailError::Config(format!("smtp: {e}"));
        let builder = match config.tls {
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(smtp)?,
            TlsMode::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host).map_err(smtp)?,
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
        };
        let port = config.port.unwrap_or(match config.tls {
            TlsMode::Tls => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        });
        let mut builder = builder.port(port).timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&config.credentials.user, config.credentials.password()?) {
            builder = builder.credentials(SmtpCredentials::new(user.clone(), password));
        }
        Ok(Self { transport: builder.build(), from })
    }

    fn build(&self, mail: &Outgoing) -> Result<Message, String> {
        let m = &mail.mail;
        let to: Mailbox = m.recipient.parse().map_err(|e| format!("recipient `{}`: {e}", m.recipient))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&m.subject)
            .date(mail.created_at.into())
            .message_id(Some(format!("<{}>", m.message_id)));
        if let Some(reply_to) = &m.reply_to {
            let reply_to: Mailbox = reply_to.parse().map_err(|e| format!("reply-to `{reply_to}`: {e}"))?;
            builder = builder.reply_to(reply_to);
        }
        if let Some(parent) = &m.in_reply_to {
            builder = builder.in_reply_to(format!("<{parent}>"));
        }
        if !m.references.is_empty() {
            builder = builder.references(m.references.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>().join(" "));
        }
        if m.automatic {
            builder = builder.header(AutoSubmitted);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(m.body_text.clone(), m.body_html.clone()))
            .map_err(|e| e.to_string())
    }

    /// Connects, greets and signs in to the SMTP server as sending would,
    /// and sends nothing: `guichet doctor`'s check.
    pub async fn check(&self) -> Result<(), MailError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(MailError::Smtp("the server did not answer NOOP".into())),
            Err(e) => Err(MailError::Smtp(e.to_string())),
        }
    }

    /// Sends every mail due now; returns how many went out.
    pub async fn send_due(&self, app: &App) -> Result<usize, MailError> {
        let claim = chrono::Duration::from_std(CLAIM).unwrap_or(chrono::Duration::minutes(1));
        let mut sent = 0;
        loop {
            let due = app.claim_due_mail(i64::try_from(BATCH).unwrap_or(10), claim).await?;
            if due.is_empty() {
                return Ok(sent);
            }
            for (i, mail) in due.iter().enumerate() {
                // Never send on a claim that may have expired: another sender may hold it by then.
                if i > 0 && !app.extend_mail_claim(mail.id, claim).await? {
                    tracing::info!(outbox = mail.id, "claim expired before sending; left to another sender");
                    continue;
                }
                // Logged under the id of the request that queued it, on whichever node sends it.
                let span = tracing::info_span!("mail", outbox = mail.id, request_id = mail.request_id.as_deref());
                let result = match self.build(mail) {
                    Ok(message) => tracing::Instrument::instrument(self.transport.send(message), span.clone())
                        .await
                        .map_err(|e| (e.to_string(), e.is_permanent())),
                    Err(e) => Err((e, true)),
                };
                match result {
                    Ok(_) => {
                        span.in_scope(|| tracing::info!("mail sent"));
                        metrics::counter!("guichet_mail_sent_total").increment(1);
                        record_sent(app, mail.id).await?;
                        sent += 1;
                    }
                    Err((error, permanent)) => {
                        span.in_scope(|| tracing::warn!(%error, permanent, "mail not sent"));
                        let kind = if permanent { "permanent" } else { "temporary" };
                        metrics::counter!("guichet_mail_send_failures_total", "kind" => kind).increment(1);
                        app.mail_failed(mail, &error, permanent).await?;
                        if !permanent {
                            // The server is likely down: the rest waits for the next round.
                            let rest: Vec<i64> = due[i + 1..].iter().map(|m| m.id).collect();
                            app.release_mail(&rest).await?;
                            return Ok(sent);
                        }
                    }
                }
            }
        }
    }
}

/// Marks a mail the SMTP server accepted as sent, trying again for a while
/// if the database does not answer: until then the claim keeps other
/// senders off it, and giving up means it is sent once more later.
async fn record_sent(app: &App, id: i64) -> Result<(), MailError> {
    let mut wait = Duration::from_millis(500);
    for _ in 0..5 {
        match app.mail_sent(id).await {
            Ok(true) => return Ok(()),
            Ok(false) => {
                tracing::warn!(outbox = id, "sent after this node's claim expired: another sender may send it again");
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(outbox = id, error = %e, "cannot record a sent mail yet; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
    app.mail_sent(id).await.map(|_| ()).map_err(MailError::from)
}

/// RFC 3834: this mail was sent by a program, do not answer it automatically.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-replied".into())
    }
}

/// Sends the outbox every few seconds until `stop` turns true.
pub async fn run(app: App, sender: Sender, period: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        match sender.send_due(&app).await {
            Ok(n) => {
                app.tasks.succeeded("smtp", app.now());
                if n > 0 {
                    tracing::info!(mails = n, "notifications sent");
                }
            }
            Err(e) => {
                app.tasks.failed("smtp", &e.to_string(), app.now());
                tracing::warn!(error = %e, "outbox round failed; retrying");
            }
        }
    }
}
