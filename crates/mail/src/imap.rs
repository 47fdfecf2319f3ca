//! The IMAP poller: fetches new messages, has the application import each,
//! and only then flags, moves or deletes it on the server. A crash between
//! the import and the flag re-fetches the message, which the application
//! recognises by its Message-ID: imported once, never lost.

use crate::{Credentials, MailError, TlsMode};
use futures_util::TryStreamExt;
use guichet_app::mail::IngestOutcome;
use guichet_app::App;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// What happens to a message on the server once it is imported.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase", tag = "action", content = "folder")]
pub enum AfterImport {
    /// Mark it read (\Seen); only unread messages are fetched.
    #[default]
    Flag,
    /// Move it to a folder (created if missing); every message in the folder is fetched.
    Move(String),
    /// Delete it (the raw message stays in Guichet).
    Delete,
}

/// One mailbox in `guichet.toml` (`[[mailboxes]]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxConfig {
    pub name: String,
    /// The mailbox's address, when the login is not one: mail from it is a loop.
    pub address: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    #[serde(flatten)]
    pub credentials: Credentials,
    #[serde(default = "inbox")]
    pub folder: String,
    #[serde(default)]
    pub after_import: AfterImport,
    /// Seconds between checks when the server has no IDLE (and the longest IDLE wait).
    #[serde(default = "poll_seconds")]
    pub poll_seconds: u64,
    /// Minutes of failure after which the administrators are told by mail.
    #[serde(default = "alert_minutes")]
    pub alert_after_minutes: i64,
}

fn inbox() -> String {
    "INBOX".into()
}
fn poll_seconds() -> u64 {
    60
}
fn alert_minutes() -> i64 {
    30
}

impl MailboxConfig {
    fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls == TlsMode::Tls { 993 } else { 143 })
    }
}

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}

pub type Session = async_imap::Session<Box<dyn Stream>>;

/// Opens, secures and logs in to the mailbox, with its folder selected.
pub async fn connect(config: &MailboxConfig) -> Result<Session, MailError> {
    let server = format!("{}:{}", config.host, config.port());
    let tcp = tokio::time::timeout(Duration::from_secs(20), TcpStream::connect(&server))
        .await
        .map_err(|_| MailError::Connect { server: server.clone(), source: std::io::ErrorKind::TimedOut.into() })?
        .map_err(|source| MailError::Connect { server: server.clone(), source })?;
    let stream: Box<dyn Stream> = match config.tls {
        TlsMode::Tls => Box::new(tls(tcp, &config.host).await?),
        TlsMode::None => Box::new(tcp),
        TlsMode::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            client.run_command_and_check_ok("STARTTLS", None).await?;
            Box::new(tls(client.into_inner(), &config.host).await?)
        }
    };
    let mut client = async_imap::Client::new(stream);
    if config.tls != TlsMode::Starttls {
        greeting(&mut client).await?;
    }
    let user = config.credentials.user.clone().unwrap_or_default();
    let password = config.credentials.password()?.unwrap_or_default();
    let mut session = client.login(user, password).await.map_err(|(e, _)| e)?;
    session.select(&config.folder).await?;
    if let AfterImport::Move(folder) = &config.after_import {
        // Already there is fine: the server answers NO.
        let _ = session.create(folder).await;
    }
    Ok(session)
}

async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    client: &mut async_imap::Client<T>,
) -> Result<(), MailError> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(MailError::Imap(async_imap::error::Error::ConnectionLost)),
        Err(e) => Err(MailError::Imap(e.into())),
    }
}

async fn tls<T: AsyncRead + AsyncWrite + Unpin>(
    stream: T,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<T>, MailError> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| MailError::Config(format!("`{host}` is not a host name: {e}")))?;
    crate::tls::connector()?
        .connect(name, stream)
        .await
        .map_err(|source| MailError::Connect { server: host.to_owned(), source })
}

/// Messages the last pass handled.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub imported: usize,
    pub duplicates: usize,
    pub quarantined: usize,
}

/// Imports every waiting message of the selected folder, `batch` at a time.
pub async fn import_pending(
    app: &App,
    config: &MailboxConfig,
    session: &mut Session,
    batch: usize,
) -> Result<PassReport, MailError> {
    let mut report = PassReport::default();
    let query = match config.after_import {
        AfterImport::Flag => "UNSEEN UNDELETED",
        _ => "UNDELETED",
    };
    let mut uids: Vec<u32> = session.uid_search(query).await?.into_iter().collect();
    uids.sort_unstable();
    for chunk in uids.chunks(batch.max(1)) {
        let set = chunk.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        // PEEK: the message stays unread until its import is committed.
        let fetched: Vec<_> = session.uid_fetch(&set, "(UID BODY.PEEK[])").await?.try_collect().await?;
        let mut done = Vec::with_capacity(fetched.len());
        for message in &fetched {
            let (Some(uid), Some(body)) = (message.uid, message.body()) else { continue };
            match app.ingest_mail(body, Some(&config.name)).await? {
                IngestOutcome::Duplicate => report.duplicates += 1,
                IngestOutcome::Quarantined { .. } => report.quarantined += 1,
                _ => report.imported += 1,
            }
            done.push(uid);
        }
        if !done.is_empty() {
            finish(config, session, &done).await?;
        }
    }
    Ok(report)
}

/// Flags, moves or deletes messages whose import is committed.
async fn finish(config: &MailboxConfig, session: &mut Session, uids: &[u32]) -> Result<(), MailError> {
    let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    match &config.after_import {
        AfterImport::Flag => {
            let _: Vec<_> = session.uid_store(&set, "+FLAGS.SILENT (\\Seen)").await?.try_collect().await?;
        }
        AfterImport::Move(folder) => session.uid_mv(&set, folder).await?,
        AfterImport::Delete => {
            let _: Vec<_> = session.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?.try_collect().await?;
            let _: Vec<_> = session.expunge().await?.try_collect().await?;
        }
    }
    Ok(())
}

/// Connects once, imports what waits, logs out: for `guichet mail fetch` and the benchmark.
pub async fn poll_once(app: &App, config: &MailboxConfig) -> Result<PassReport, MailError> {
    let mut session = connect(config).await?;
    let report = import_pending(app, config, &mut session, 100).await?;
    app.mailbox_succeeded(&config.name).await?;
    let _ = session.logout().await;
    Ok(report)
}

/// Watches a mailbox until `stop` turns true: IDLE where the server has it,
/// polling otherwise; reconnects by itself, backing off, after any failure.
pub async fn run(app: App, config: MailboxConfig, mut stop: watch::Receiver<bool>) {
    let alert_after = chrono::Duration::minutes(config.alert_after_minutes);
    let mut backoff = Duration::from_secs(1);
    while !*stop.borrow() {
        let result = tokio::select! {
            r = watch_mailbox(&app, &config) => r,
            _ = stop.changed() => break,
        };
        if let Err(e) = result {
            tracing::warn!(mailbox = %config.name, error = %e, retry_in = ?backoff, "mailbox unavailable");
            if let Err(e2) = app.mailbox_failed(&config.name, &e.to_string(), alert_after).await {
                tracing::warn!(mailbox = %config.name, error = %e2, "cannot record the mailbox's failure");
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => break,
            }
            backoff = (backoff * 2).min(Duration::from_secs(config.poll_seconds.clamp(1, 300)));
        }
    }
}

async fn watch_mailbox(app: &App, config: &MailboxConfig) -> Result<(), MailError> {
    let mut session = connect(config).await?;
    let idle = session.capabilities().await?.has_str("IDLE");
    let wait = Duration::from_secs(config.poll_seconds.max(1));
    loop {
        let report = import_pending(app, config, &mut session, 100).await?;
        app.mailbox_succeeded(&config.name).await?;
        if report.imported + report.quarantined > 0 {
            tracing::info!(mailbox = %config.name, ?report, "mail imported");
        }
        if idle {
            let mut handle = session.idle();
            handle.init().await?;
            // Servers drop an IDLE after 30 minutes: the wait is shorter and renewed.
            let (done, _interrupt) = handle.wait_with_timeout(wait.min(Duration::from_secs(25 * 60)));
            done.await?;
            session = handle.done().await?;
        } else {
            tokio::time::sleep(wait).await;
            session.noop().await?;
        }
    }
}
