//! Mail servers for the tests: the Dovecot that the test command started
//! (IMAP, and LMTP delivery into the same mailboxes) and an SMTP server
//! started per test (so that a test can take it down and bring it back).

use futures_util::TryStreamExt;
use guichet_app::notify::MailSettings;
use guichet_app::Settings;
use guichet_mail::imap::{AfterImport, MailboxConfig};
use guichet_mail::smtp::SmtpConfig;
use guichet_mail::{Credentials, TlsMode};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The password Dovecot accepts for any user in the tests.
pub const PASSWORD: &str = "guichet";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh, which starts Dovecot (scripts/mail-servers.sh)")
    })
}

/// Dovecot's IMAP address, `host:port`.
pub fn imap_server() -> (String, u16) {
    let addr = env("GUICHET_TEST_IMAP");
    let (host, port) = addr.rsplit_once(':').unwrap();
    (host.to_owned(), port.parse().unwrap())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (nor an earlier run) uses: mailboxes outlive a test.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The desk's mailbox in Dovecot for the user `user`.
pub fn mailbox(user: &str) -> MailboxConfig {
    let (host, port) = imap_server();
    MailboxConfig {
        name: user.to_owned(),
        address: Some(format!("{user}@guichet.test")),
        host,
        port: Some(port),
        tls: TlsMode::None,
        credentials: Credentials { user: Some(user.to_owned()), password: Some(PASSWORD.into()), password_file: None },
        folder: "INBOX".into(),
        after_import: AfterImport::Flag,
        poll_seconds: 1,
        alert_after_minutes: 30,
    }
}

/// The `authserv-id` the tests' mail "server" writes in Authentication-Results.
pub const AUTHSERV_ID: &str = "mx.guichet.test";

/// The header the desk's mail server adds to a message whose From domain it
/// authenticated (DMARC pass).
pub fn authenticated(from: &str) -> String {
    let domain = from.rsplit_once('@').map_or(from, |(_, d)| d).trim_end_matches('>');
    format!(
        "Authentication-Results: {AUTHSERV_ID}; spf=pass smtp.mailfrom={domain}; dmarc=pass header.from={domain}\r\n"
    )
}

/// The desk's internal address in the tests: a sub-address Dovecot delivers
/// into the desk's own mailbox.
pub fn internal_address(desk: &str) -> String {
    format!("{desk}+interne@guichet.test")
}

/// Settings with notifications on, the desk's mailbox being `desk`.
pub fn settings(desk: &str) -> Settings {
    Settings {
        attachment_max_bytes: 64 * 1024,
        mail: MailSettings {
            notifications: true,
            from: format!("Support ENT <{desk}@guichet.test>"),
            domain: "guichet.test".into(),
            portal_url: "https://guichet.test".into(),
            own_addresses: vec![format!("{desk}@guichet.test")],
            max_message_bytes: 512 * 1024,
            mailboxes: vec![desk.to_owned()],
            internal_addresses: vec![internal_address(desk)],
            trusted_authserv_id: Some(AUTHSERV_ID.into()),
            ..MailSettings::default()
        },
        ..Settings::default()
    }
}

pub fn smtp(port: u16, desk: &str) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: TlsMode::None,
        credentials: Credentials::default(),
        from: format!("Support ENT <{desk}@guichet.test>"),
    }
}

/// Puts a message in a mailbox, as if it had been delivered.
pub async fn append(user: &str, raw: &[u8]) {
    let mut session = guichet_mail::imap::connect(&mailbox(user)).await.unwrap();
    session.append("INBOX", None, None, raw).await.unwrap();
    session.logout().await.unwrap();
}

/// Hands a message to an SMTP server, as any mail program (or forger) can.
pub async fn submit(port: u16, from: &str, to: &str, raw: &[u8]) {
    use lettre::AsyncTransport;
    let transport =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1").port(port).build();
    let envelope = lettre::address::Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
    transport.send_raw(&envelope, raw).await.unwrap();
}

/// Marks every message of a user's inbox read, as a person opening the mailbox would.
pub async fn mark_all_seen(user: &str) {
    let mut session = guichet_mail::imap::connect(&mailbox(user)).await.unwrap();
    let _: Vec<_> = session.store("1:*", "+FLAGS (\\Seen)").await.unwrap().try_collect().await.unwrap();
    session.logout().await.unwrap();
}

/// Every message in a user's inbox, read or not.
pub async fn messages(user: &str) -> Vec<Vec<u8>> {
    let mut session = guichet_mail::imap::connect(&mailbox(user)).await.unwrap();
    let fetched: Vec<_> = session.fetch("1:*", "BODY.PEEK[]").await.unwrap().try_collect().await.unwrap_or_default();
    let out = fetched.iter().filter_map(|m| m.body().map(<[u8]>::to_vec)).collect();
    session.logout().await.unwrap();
    out
}

/// The SMTP server of the tests: aiosmtpd delivering by LMTP into Dovecot.
/// Stopped when dropped.
pub struct SmtpRelay {
    child: Child,
}

impl SmtpRelay {
    pub fn start(port: u16) -> SmtpRelay {
        Self::start_logging(port, None)
    }

    /// [`SmtpRelay::start`], writing each delivery to `log` (Message-ID,
    /// recipient, time: one tab-separated line per recipient).
    pub fn start_logging(port: u16, log: Option<&std::path::Path>) -> SmtpRelay {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/smtp-relay.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(env("GUICHET_TEST_LMTP"))
            .args(log)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP relay did not start (is aiosmtpd installed?)");
        SmtpRelay { child }
    }
}

impl Drop for SmtpRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
