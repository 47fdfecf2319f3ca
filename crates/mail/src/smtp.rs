//! The outbox sender: sends queued notifications over SMTP, oldest first,
//! retrying with backoff. Each mail keeps its Message-ID across attempts, so
//! that a resend after a crash threads (and deduplicates) as the same mail.

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
        let mut builder = builder.port(port).timeout(Some(Duration::from_secs(30)));
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

    /// Sends every mail due now; returns how many went out.
    pub async fn send_due(&self, app: &App) -> Result<usize, MailError> {
        let mut sent = 0;
        loop {
            let due = app.due_mail(50).await?;
            if due.is_empty() {
                return Ok(sent);
            }
            let mut progressed = false;
            for mail in &due {
                let result = match self.build(mail) {
                    Ok(message) => self.transport.send(message).await.map_err(|e| (e.to_string(), e.is_permanent())),
                    Err(e) => Err((e, true)),
                };
                match result {
                    Ok(_) => {
                        app.mail_sent(mail.id).await?;
                        sent += 1;
                        progressed = true;
                    }
                    Err((error, permanent)) => {
                        tracing::warn!(to = %mail.mail.recipient, %error, permanent, "mail not sent");
                        app.mail_failed(mail, &error, permanent).await?;
                        if !permanent {
                            // The server is likely down: the rest waits for the next round.
                            return Ok(sent);
                        }
                    }
                }
            }
            if !progressed {
                return Ok(sent);
            }
        }
    }
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
            Ok(0) => {}
            Ok(n) => tracing::info!(mails = n, "notifications sent"),
            Err(e) => tracing::warn!(error = %e, "outbox round failed; retrying"),
        }
    }
}
