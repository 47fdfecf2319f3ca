//! The IMAP poller: fetches new messages, has the application import each,
//! and only then flags, moves or deletes it on the server. A crash between
//! the import and the flag re-fetches the message, which the application
//! recognises by its Message-ID: imported once, never lost.
//!
//! Messages are found by UID, not by the `\Seen` flag: a person who opens
//! the shared mailbox first does not hide a message from the desk. Each
//! mailbox's UIDVALIDITY and last handled UID are kept in the database; when
//! the server renumbers the folder (a new UIDVALIDITY) every message is read
//! again and the Message-IDs already imported are recognised. Sizes are asked
//! first, so that a batch holds a bounded number of bytes and a message over
//! the limit is never downloaded.

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
    /// Mark it read (\Seen); new messages are found by UID, read or not.
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

/// Signs in to the mailbox and selects its folder, as a pass would, and
/// reads nothing: `guichet doctor`'s check. Returns the folder's message count.
pub async fn check(config: &MailboxConfig) -> Result<u32, MailError> {
    let mut session = connect(config).await?;
    let exists = session.select(&config.folder).await?.exists;
    let _ = session.logout().await;
    Ok(exists)
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
    /// Messages whose import failed this time (retried at the next pass).
    pub failed: usize,
}

/// Most UIDs whose size is asked in one command.
const SIZE_CHUNK: usize = 500;
/// Consecutive failed imports after which a pass stops: the database is
/// likely down, and the next pass will try again.
const FAILURES_BEFORE_STOPPING: usize = 3;
/// Bytes of header kept from a message too large to fetch.
const OVERSIZED_HEADER_BYTES: usize = 64 * 1024;

/// Imports every new message of the folder, at most `batch` messages (and a
/// bounded number of bytes) in memory at a time.
pub async fn import_pending(
    app: &App,
    config: &MailboxConfig,
    session: &mut Session,
    batch: usize,
) -> Result<PassReport, MailError> {
    let mut report = PassReport::default();
    let selected = session.select(&config.folder).await?;
    let validity = i64::from(selected.uid_validity.unwrap_or(0));
    let cursor = app.mailbox_cursor(&config.name).await?;
    let (first_pass, last) = match cursor {
        Some((v, last)) if v == validity => (false, last),
        Some((v, _)) => {
            tracing::warn!(mailbox = %config.name, old = v, new = validity, "UIDVALIDITY changed: reading the folder again");
            (false, 0)
        }
        None => (true, 0),
    };
    // The first pass of a mailbox kept as flagged takes its unread messages
    // only: what was read before Guichet was set up is history.
    let query = if first_pass && config.after_import == AfterImport::Flag {
        "UNSEEN UNDELETED".to_owned()
    } else {
        format!("UID {}:* UNDELETED", last.saturating_add(1))
    };
    let mut uids: Vec<u32> = session.uid_search(&query).await?.into_iter().filter(|u| i64::from(*u) > last).collect();
    uids.sort_unstable();
    let max_bytes = app.settings.mail.max_message_bytes;
    let budget = max_bytes.max(4 * 1024 * 1024);
    // Every UID up to `handled` is done; it stops at the first failure.
    let mut handled = last;
    let mut blocked = false;
    let mut failures_in_a_row = 0;
    for chunk in uids.chunks(SIZE_CHUNK) {
        let sizes = fetch_sizes(session, chunk).await?;
        for step in plan(chunk, &sizes, batch.max(1), max_bytes, budget) {
            let set = match step {
                Step::Oversized(uid, size) => {
                    if quarantine_oversized(app, config, session, uid, size).await? {
                        report.quarantined += 1;
                        if !blocked {
                            handled = i64::from(uid);
                        }
                    }
                    continue;
                }
                Step::Fetch(set) => set,
            };
            let list = set.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            // PEEK: the message stays as it is until its import is committed.
            let fetched: Vec<_> = session.uid_fetch(&list, "(UID BODY.PEEK[])").await?.try_collect().await?;
            let mut fetched: Vec<_> = fetched.iter().filter_map(|m| Some((m.uid?, m.body()?))).collect();
            fetched.sort_unstable_by_key(|(uid, _)| *uid);
            let mut done = Vec::with_capacity(fetched.len());
            for (uid, body) in fetched {
                match app.ingest_mail(body, Some(&config.name)).await {
                    Ok(outcome) => {
                        match outcome {
                            IngestOutcome::Duplicate => report.duplicates += 1,
                            IngestOutcome::Quarantined { .. } => report.quarantined += 1,
                            _ => report.imported += 1,
                        }
                        done.push(uid);
                        failures_in_a_row = 0;
                        if !blocked {
                            handled = i64::from(uid);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(mailbox = %config.name, uid, error = %e, "import failed; retried at the next pass");
                        report.failed += 1;
                        blocked = true;
                        failures_in_a_row += 1;
                        if failures_in_a_row >= FAILURES_BEFORE_STOPPING {
                            finish(config, session, &done).await?;
                            return Err(e.into());
                        }
                    }
                }
            }
            finish(config, session, &done).await?;
        }
    }
    // The first pass of a flagged mailbox leaves its cursor at the end of the
    // folder once every unread message is in; later passes move it along.
    let end = if first_pass && config.after_import == AfterImport::Flag && !blocked {
        selected.uid_next.map_or(handled, |next| i64::from(next) - 1).max(handled)
    } else {
        handled
    };
    if !(first_pass && blocked) {
        app.set_mailbox_cursor(&config.name, validity, end).await?;
    }
    Ok(report)
}

/// What to do with the next messages, in UID order.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Fetch these together: they fit the batch's count and bytes.
    Fetch(Vec<u32>),
    /// Too large to fetch: quarantined from its header.
    Oversized(u32, usize),
}

fn plan(
    uids: &[u32],
    sizes: &std::collections::HashMap<u32, usize>,
    batch: usize,
    max_bytes: usize,
    budget: usize,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut pending: Vec<u32> = Vec::new();
    let mut pending_bytes = 0usize;
    for &uid in uids {
        // A message expunged since the search has no size: nothing to do.
        let Some(&size) = sizes.get(&uid) else { continue };
        if size > max_bytes {
            if !pending.is_empty() {
                steps.push(Step::Fetch(std::mem::take(&mut pending)));
                pending_bytes = 0;
            }
            steps.push(Step::Oversized(uid, size));
            continue;
        }
        if !pending.is_empty() && (pending.len() >= batch || pending_bytes.saturating_add(size) > budget) {
            steps.push(Step::Fetch(std::mem::take(&mut pending)));
            pending_bytes = 0;
        }
        pending.push(uid);
        pending_bytes = pending_bytes.saturating_add(size);
    }
    if !pending.is_empty() {
        steps.push(Step::Fetch(pending));
    }
    steps
}

/// The size of each message, by UID.
async fn fetch_sizes(session: &mut Session, uids: &[u32]) -> Result<std::collections::HashMap<u32, usize>, MailError> {
    let list = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let fetched: Vec<_> = session.uid_fetch(&list, "(UID RFC822.SIZE)").await?.try_collect().await?;
    Ok(fetched.iter().filter_map(|m| Some((m.uid?, usize::try_from(m.size?).unwrap_or(usize::MAX)))).collect())
}

/// Quarantines a message over the size limit from its header alone, and
/// marks it read (never deleted nor moved: the server keeps the only copy).
async fn quarantine_oversized(
    app: &App,
    config: &MailboxConfig,
    session: &mut Session,
    uid: u32,
    size: usize,
) -> Result<bool, MailError> {
    let query = format!("(UID BODY.PEEK[HEADER]<0.{OVERSIZED_HEADER_BYTES}>)");
    let fetched: Vec<_> = session.uid_fetch(uid.to_string(), &query).await?.try_collect().await?;
    let Some(header) = fetched.iter().find_map(|m| m.header()) else { return Ok(false) };
    app.quarantine_oversized(header, u64::try_from(size).unwrap_or(u64::MAX), Some(&config.name)).await?;
    let _: Vec<_> = session.uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)").await?.try_collect().await?;
    Ok(true)
}

/// Flags, moves or deletes messages whose import is committed.
async fn finish(config: &MailboxConfig, session: &mut Session, uids: &[u32]) -> Result<(), MailError> {
    if uids.is_empty() {
        return Ok(());
    }
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
        let started = std::time::Instant::now();
        let result = tokio::select! {
            r = watch_mailbox(&app, &config) => r,
            _ = stop.changed() => break,
        };
        // A connection that lived a while was a recovery: the next failure starts the backoff again.
        if started.elapsed() > Duration::from_secs(config.poll_seconds.clamp(1, 300)) {
            backoff = Duration::from_secs(1);
        }
        if let Err(e) = result {
            app.tasks.failed(&format!("imap:{}", config.name), &e.to_string(), app.now());
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
        app.tasks.succeeded(&format!("imap:{}", config.name), app.now());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_a_bounded_count_and_bytes_and_oversized_messages_stand_apart() {
        let sizes = [(1, 10), (2, 10), (3, 500), (4, 10), (5, 60), (6, 10), (7, 10)].into_iter().collect();
        let steps = plan(&[1, 2, 3, 4, 5, 6, 7, 8], &sizes, 3, 100, 75);
        assert_eq!(
            steps,
            [Step::Fetch(vec![1, 2]), Step::Oversized(3, 500), Step::Fetch(vec![4, 5]), Step::Fetch(vec![6, 7]),]
        );
    }
}
