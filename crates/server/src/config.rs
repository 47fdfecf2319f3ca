//! Configuration: defaults, then `guichet.toml`, then `GUICHET_*` variables,
//! then command-line flags. Validated once at start.

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use guichet_mail::imap::AfterImport;
use guichet_mail::TlsMode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod auth;
pub use auth::AuthOptions;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the embedded SQLite database lives when no `database_url` is set.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`.
    #[serde(serialize_with = "skip_secret")]
    pub database_url: Option<SecretString>,
    /// A file holding the database URL (for secrets managers).
    pub database_url_file: Option<PathBuf>,
    /// PostgreSQL connections this node keeps at most (its pool); add one
    /// for the notifications listener. Nodes × (pool + 1) must stay under
    /// the server's `max_connections`, less what backups and psql need.
    pub database_pool_size: u32,
    /// A direct URL to PostgreSQL for LISTEN when `database_url` goes
    /// through a pooler in transaction mode (PgBouncer), which cannot hold a
    /// listening session. Unset: the listener uses `database_url`.
    #[serde(serialize_with = "skip_secret")]
    pub database_listen_url: Option<SecretString>,
    /// What an acknowledged write survives on SQLite: `safe` (the default,
    /// a power cut too) or `fast` (a crash of the process only; the last
    /// writes before a power cut may be lost). docs/operations.md.
    pub durability: DurabilityOption,
    /// How log lines are written: `text` (for people; coloured on a
    /// terminal only) or `json` (one object per line, for a log collector).
    pub log_format: LogFormat,
    /// A second address serving only `/metrics`, without a token, for
    /// Prometheus on the monitoring network. Unset: `/metrics` on `bind`,
    /// for an administrator's token.
    pub metrics_bind: Option<SocketAddr>,
    pub bind: SocketAddr,
    /// Prefix of ticket keys: `SUP` gives `SUP-123`.
    pub key_prefix: String,
    /// Largest attachment accepted, in bytes.
    pub attachment_max_bytes: usize,
    /// Log filter (`info`, `guichet=debug,sqlx=warn`…).
    pub log: String,
    /// Mark cookies `Secure` and name them `__Host-…`. Unset: true when the
    /// public URL is https (the usual case behind a TLS proxy).
    pub secure_cookies: Option<bool>,
    /// How new level-1 tickets are assigned: `none`, `on_duty` or `round_robin`.
    pub auto_assign: String,
    /// The address people reach Guichet at, for links in mail (default: `http://` + bind).
    pub public_url: Option<String>,
    /// How mail is handled (`[mail]`).
    pub mail: MailOptions,
    /// The SMTP server notifications leave by (`[smtp]`); no notification is sent without it.
    pub smtp: Option<guichet_mail::smtp::SmtpConfig>,
    /// The mailboxes mail comes in from (`[[mailboxes]]`).
    pub mailboxes: Vec<guichet_mail::imap::MailboxConfig>,
    /// When the dashboard proposes a major incident (`[incidents]`).
    pub incidents: IncidentOptions,
    /// The public HELP pages (`[help]`).
    pub help: HelpOptions,
    /// Proxies (addresses or networks) whose `X-Forwarded-For` names the
    /// client: the load balancer. Any other sender of that header is ignored.
    pub trusted_proxies: Vec<String>,
    /// This process's name among the nodes sharing a database (default: the
    /// host's name and the process id); it holds leases and claims under it.
    pub node: Option<String>,
    /// Sign-in limits and credentials' lifetimes (`[sign_in]`).
    pub sign_in: SignInOptions,
    /// Bounds on what the server accepts and holds (`[limits]`).
    pub limits: LimitOptions,
    /// The background jobs' timing (`[jobs]`).
    pub jobs: JobOptions,
    /// Password sign-in and identity providers (`[auth]`, `[[auth.cas]]`, `[[auth.oidc]]`).
    pub auth: AuthOptions,
    /// How long each kind of personal data is kept (`[retention]`, docs/privacy.md).
    pub retention: RetentionOptions,
    /// Satisfaction surveys after a resolution (`[satisfaction]`).
    pub satisfaction: SatisfactionOptions,
    /// How webhook deliveries are made (`[webhooks]`).
    pub webhooks: WebhookOptions,
    /// Level 2's Jira, when it keeps working there (`[jira]`).
    pub jira: Option<JiraOptions>,
}

/// Level 2's Jira: escalations open an issue there, its comments and its
/// resolution come back by its webhook.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JiraOptions {
    /// `https://ent.atlassian.net`.
    pub url: String,
    /// Jira Cloud: the account's e-mail (with an API token); none: `token` is a
    /// Data Center personal access token.
    pub user: Option<String>,
    #[serde(serialize_with = "skip_secret")]
    pub token: Option<SecretString>,
    /// The project level 2 works in (`N2`).
    pub project: String,
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    /// 2 (text) or 3 (Atlassian Document Format).
    #[serde(default = "default_api_version")]
    pub api_version: u8,
    /// The secret of Jira's webhook to `/hooks/jira`.
    #[serde(serialize_with = "skip_secret")]
    pub webhook_secret: Option<SecretString>,
    /// Seconds between two rounds of the sync job.
    #[serde(default = "default_sync_seconds")]
    pub sync_interval_seconds: u64,
}

fn default_issue_type() -> String {
    "Bug".into()
}

fn default_api_version() -> u8 {
    2
}

fn default_sync_seconds() -> u64 {
    5
}

impl JiraOptions {
    fn secret(value: &Option<SecretString>, name: &str) -> anyhow::Result<String> {
        value
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| anyhow::anyhow!("[jira] needs `{name}`"))
    }

    pub fn settings(&self) -> anyhow::Result<guichet_app::jira::JiraSettings> {
        Ok(guichet_app::jira::JiraSettings {
            url: self.url.trim_end_matches('/').to_owned(),
            webhook_secret: Self::secret(&self.webhook_secret, "webhook_secret")?,
            retry: guichet_domain::webhook::RetryPolicy::default(),
        })
    }

    pub fn client(&self) -> anyhow::Result<guichet_web::jira::JiraClient> {
        let token = Self::secret(&self.token, "token")?;
        guichet_web::jira::JiraClient::new(
            &self.url,
            self.user.as_deref(),
            &token,
            &self.project,
            &self.issue_type,
            self.api_version,
        )
        .map_err(|e| anyhow::anyhow!("[jira]: {e}"))
    }
}

/// How webhook deliveries are made.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookOptions {
    /// Let receivers be on this machine or a private network (off: refused,
    /// so that a subscription cannot reach what only the server can).
    pub allow_private_networks: bool,
    /// Seconds a receiver has to answer.
    pub timeout_seconds: u64,
    /// Seconds between two rounds of the delivery job.
    pub deliver_interval_seconds: u64,
    /// Seconds before the first retry of a failed delivery; each next wait doubles, up to an hour.
    pub first_retry_seconds: u64,
    /// Tries of one delivery before it is given up (it can be sent again from the admin page).
    pub max_attempts: u32,
    /// Hours of failures after which a subscription is paused and its owner told.
    pub pause_after_hours: u32,
    /// Days finished deliveries and their bodies are kept for the log.
    pub keep_days: u32,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        let d = guichet_app::webhooks::WebhookSettings::default();
        Self {
            allow_private_networks: d.allow_private_networks,
            timeout_seconds: d.timeout_seconds,
            deliver_interval_seconds: 2,
            first_retry_seconds: u64::try_from(d.retry.first_wait.num_seconds()).unwrap_or(30),
            max_attempts: d.retry.max_attempts,
            pause_after_hours: u32::try_from(d.retry.pause_after.num_hours()).unwrap_or(24),
            keep_days: d.keep_days,
        }
    }
}

impl WebhookOptions {
    pub fn settings(&self) -> guichet_app::webhooks::WebhookSettings {
        let d = guichet_app::webhooks::WebhookSettings::default();
        let first = i64::try_from(self.first_retry_seconds.clamp(1, 3600)).unwrap_or(30);
        guichet_app::webhooks::WebhookSettings {
            allow_private_networks: self.allow_private_networks,
            retry: guichet_domain::webhook::RetryPolicy {
                first_wait: chrono::Duration::seconds(first),
                max_attempts: self.max_attempts.clamp(1, 100),
                pause_after: chrono::Duration::hours(i64::from(self.pause_after_hours.clamp(1, 24 * 30))),
                ..d.retry
            },
            timeout_seconds: self.timeout_seconds.clamp(1, 120),
            keep_days: self.keep_days.clamp(1, 3650),
        }
    }
}

/// Whether requesters are asked to rate resolved requests, and when reminded.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SatisfactionOptions {
    pub enabled: bool,
    /// Days before the one reminder of an unanswered survey; 0: no reminder.
    pub reminder_days: u32,
    /// Days a survey's links stay valid.
    pub valid_days: u32,
}

impl Default for SatisfactionOptions {
    fn default() -> Self {
        let d = guichet_app::satisfaction::SatisfactionSettings::default();
        Self { enabled: d.enabled, reminder_days: d.reminder_days, valid_days: d.valid_days }
    }
}

impl SatisfactionOptions {
    pub fn settings(&self) -> guichet_app::satisfaction::SatisfactionSettings {
        guichet_app::satisfaction::SatisfactionSettings {
            enabled: self.enabled,
            reminder_days: self.reminder_days.min(3650),
            valid_days: self.valid_days.clamp(1, 3650),
        }
    }
}

/// Days (or months of 30 days) each kind of personal data is kept; 0 keeps it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionOptions {
    /// A HELP sender's name, address and profile, after the request is closed.
    pub help_identity_days: u32,
    /// Screenshots and other files, after the ticket is closed.
    pub attachments_days: u32,
    /// Inbound mail as received, and quarantined mail.
    pub raw_mail_days: u32,
    /// Bodies of the mail sent.
    pub sent_mail_days: u32,
    /// Names, addresses and phone numbers in closed tickets' text.
    pub requesters_months: u32,
    /// Disabled accounts are anonymised this long after being disabled.
    pub disabled_accounts_days: u32,
    /// The privacy audit log and accounts' histories.
    pub audit_months: u32,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        Self {
            help_identity_days: 90,
            attachments_days: 365,
            raw_mail_days: 90,
            sent_mail_days: 90,
            requesters_months: 24,
            disabled_accounts_days: 90,
            audit_months: 12,
        }
    }
}

impl RetentionOptions {
    pub fn policy(&self) -> guichet_domain::privacy::RetentionPolicy {
        use guichet_domain::privacy::MONTH_DAYS;
        // Bounded so that the cut-off stays a date: 100 years is "keep" in practice.
        let days = |n: u32| (n > 0).then(|| chrono::Duration::days(i64::from(n.min(36_500))));
        let months = |n: u32| (n > 0).then(|| chrono::Duration::days(i64::from(n.min(1_200)) * MONTH_DAYS));
        guichet_domain::privacy::RetentionPolicy {
            help_identity: days(self.help_identity_days),
            attachments: days(self.attachments_days),
            raw_mail: days(self.raw_mail_days),
            sent_mail: days(self.sent_mail_days),
            requesters: months(self.requesters_months),
            disabled_accounts: days(self.disabled_accounts_days),
            audit: months(self.audit_months),
        }
    }

    fn to_toml(&self) -> String {
        format!(
            "[retention]\nhelp_identity_days = {}\nattachments_days = {}\nraw_mail_days = {}\nsent_mail_days = {}\n\
             requesters_months = {}\ndisabled_accounts_days = {}\naudit_months = {}\n",
            self.help_identity_days,
            self.attachments_days,
            self.raw_mail_days,
            self.sent_mail_days,
            self.requesters_months,
            self.disabled_accounts_days,
            self.audit_months
        )
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobOptions {
    /// Seconds between two passes of the service-level clock.
    pub clock_seconds: u64,
    /// Seconds a lease (the clock's, each mailbox's) lasts unless renewed;
    /// it is renewed every third of it, and taken over by another node at
    /// most this long after its holder stopped answering.
    pub lease_seconds: u64,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self { clock_seconds: 60, lease_seconds: 30 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitOptions {
    /// Seconds a request may take before it is answered 408.
    pub request_timeout_seconds: u64,
    /// Requests served at once; beyond, 503 with Retry-After.
    pub max_in_flight: usize,
    /// Public HELP messages received at once; beyond, 503.
    pub help_in_flight: usize,
    /// Writes waiting for SQLite's writer; beyond, writers wait.
    pub write_queue: usize,
    /// Personal saved filters per user.
    pub saved_filters_per_user: usize,
}

impl Default for LimitOptions {
    fn default() -> Self {
        let web = guichet_web::WebConfig::default();
        Self {
            request_timeout_seconds: web.request_timeout.as_secs(),
            max_in_flight: web.max_in_flight,
            help_in_flight: web.help_in_flight,
            write_queue: guichet_store::group_commit::DEFAULT_QUEUE,
            saved_filters_per_user: guichet_app::filters::DEFAULT_PER_USER,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignInOptions {
    /// Sign-in attempts on one account per window before it waits.
    pub per_account: u32,
    /// Failed sign-ins from one client address per window before it waits.
    pub per_client: u32,
    pub window_minutes: i64,
    /// Password checks running at once; more wait.
    pub hash_concurrency: usize,
    /// Password checks waiting beyond which sign-in answers "busy" (503).
    pub hash_queue: usize,
    /// A web session ends after this many minutes without a request…
    pub session_idle_minutes: i64,
    /// …and this many hours after sign-in in any case.
    pub session_hours: i64,
    /// Days a new API token lasts unless its creator says otherwise.
    pub token_days: u32,
}

impl Default for SignInOptions {
    fn default() -> Self {
        let d = guichet_app::auth::SignInSettings::default();
        Self {
            per_account: d.per_account,
            per_client: d.per_client,
            window_minutes: d.window.num_minutes(),
            hash_concurrency: d.hash_concurrency,
            hash_queue: d.hash_queue,
            session_idle_minutes: d.session_idle.num_minutes(),
            session_hours: d.session_lifetime.num_hours(),
            token_days: d.token_days,
        }
    }
}

impl SignInOptions {
    pub fn settings(&self) -> guichet_app::auth::SignInSettings {
        guichet_app::auth::SignInSettings {
            per_account: self.per_account,
            per_client: self.per_client,
            window: chrono::Duration::minutes(self.window_minutes),
            hash_concurrency: self.hash_concurrency,
            hash_queue: self.hash_queue,
            session_idle: chrono::Duration::minutes(self.session_idle_minutes),
            session_lifetime: chrono::Duration::hours(self.session_hours),
            token_days: self.token_days,
            ..guichet_app::auth::SignInSettings::default()
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentOptions {
    /// Propose an incident when at least this many alike requests…
    pub propose_tickets: usize,
    /// …from at least this many establishments…
    pub propose_establishments: usize,
    /// …arrive within this many minutes.
    pub propose_minutes: i64,
}

impl Default for IncidentOptions {
    fn default() -> Self {
        let rule = guichet_domain::incident::ProposalRule::default();
        Self {
            propose_tickets: rule.tickets,
            propose_establishments: rule.establishments,
            propose_minutes: rule.window.num_minutes(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HelpOptions {
    /// Most HELP messages accepted from one IP address per hour.
    pub per_ip_per_hour: u32,
    /// Most HELP messages accepted for one establishment per hour.
    pub per_establishment_per_hour: u32,
    /// Origins allowed to show the HELP page in a frame (the ENT's, such as
    /// `https://ent.example.fr`); none: only Guichet itself.
    pub frame_ancestors: Vec<String>,
}

impl Default for HelpOptions {
    fn default() -> Self {
        Self { per_ip_per_hour: 10, per_establishment_per_hour: 60, frame_ancestors: Vec::new() }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailOptions {
    /// `triage` (file the request for the desk to sort out) or `refuse` (answer, file nothing).
    pub unknown_sender: String,
    /// Tell agents of new tickets and of the replies on theirs.
    pub notify_agents: bool,
    /// Largest message imported, in bytes; a larger one is quarantined.
    pub max_message_bytes: usize,
    /// Most automatic mails (acknowledgments, refusals) to one address per hour.
    pub automatic_per_hour: i64,
    /// Seconds between two rounds of the outbox sender.
    pub send_interval_seconds: u64,
    /// The desk's internal address (like Request Tracker's comment address):
    /// notices to staff ask for answers there, and a desk member's mail to it
    /// becomes an internal note. It must deliver into one of the mailboxes.
    pub internal_address: Option<String>,
    /// The `authserv-id` of the desk's own mail server: the first
    /// `Authentication-Results` header it writes is believed about the From
    /// domain (dmarc=pass, or an aligned dkim=pass). Unset: only reply tokens
    /// authenticate a sender.
    pub trusted_authserv_id: Option<String>,
    /// Failed imports of one message before it is quarantined.
    pub max_import_attempts: u32,
}

impl Default for MailOptions {
    fn default() -> Self {
        Self {
            unknown_sender: "triage".into(),
            notify_agents: true,
            max_message_bytes: 25 * 1024 * 1024,
            automatic_per_hour: 5,
            send_interval_seconds: 5,
            internal_address: None,
            trusted_authserv_id: None,
            max_import_attempts: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityOption {
    Safe,
    Fast,
}

impl DurabilityOption {
    pub fn as_str(self) -> &'static str {
        match self {
            DurabilityOption::Safe => "safe",
            DurabilityOption::Fast => "fast",
        }
    }

    pub fn store(self) -> guichet_store::Durability {
        match self {
            DurabilityOption::Safe => guichet_store::Durability::Safe,
            DurabilityOption::Fast => guichet_store::Durability::Fast,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

fn skip_secret<S: serde::Serializer>(_: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_none()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("guichet-data"),
            database_url: None,
            database_url_file: None,
            database_pool_size: 16,
            database_listen_url: None,
            durability: DurabilityOption::Safe,
            log_format: LogFormat::Text,
            metrics_bind: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            key_prefix: "SUP".into(),
            attachment_max_bytes: 10 * 1024 * 1024,
            log: "info,sqlx=error".into(),
            secure_cookies: None,
            auto_assign: "none".into(),
            public_url: None,
            mail: MailOptions::default(),
            smtp: None,
            mailboxes: Vec::new(),
            incidents: IncidentOptions::default(),
            help: HelpOptions::default(),
            trusted_proxies: Vec::new(),
            node: None,
            sign_in: SignInOptions::default(),
            limits: LimitOptions::default(),
            jobs: JobOptions::default(),
            retention: RetentionOptions::default(),
            satisfaction: SatisfactionOptions::default(),
            webhooks: WebhookOptions::default(),
            jira: None,
            auth: AuthOptions::default(),
        }
    }
}

/// Values given on the command line, applied last.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Config {
    /// Loads the configuration. An explicitly named file must exist; the
    /// default `guichet.toml` is read only if present.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => bail!("configuration file {} does not exist", path.display()),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("guichet.toml").exists() => figment = figment.merge(Toml::file_exact("guichet.toml")),
            None => {}
        }
        // Only the settings' own names: other GUICHET_* variables (GUICHET_CONFIG,
        // a test harness's) are not configuration.
        let env = Env::prefixed("GUICHET_")
            .only(&[
                "data_dir",
                "database_url",
                "database_url_file",
                "database_pool_size",
                "database_listen_url",
                "durability",
                "log_format",
                "metrics_bind",
                "bind",
                "key_prefix",
                "attachment_max_bytes",
                "log",
                "secure_cookies",
                "auto_assign",
                "public_url",
                "trusted_proxies",
                "node",
                // The SMTP server, nested with `__` (GUICHET_SMTP__HOST): a container's
                // usual way. Mailboxes are a list, and stay in the file.
                "smtp__host",
                "smtp__port",
                "smtp__tls",
                "smtp__user",
                "smtp__password",
                "smtp__password_file",
                "smtp__from",
            ])
            .split("__");
        figment = figment.merge(env).merge(Serialized::defaults(overrides));
        let mut config: Config = figment.extract().context("invalid configuration")?;
        if let Some(path) = &config.database_url_file {
            let url = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            config.database_url = Some(SecretString::from(url.trim().to_owned()));
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let prefix_ok = !self.key_prefix.is_empty()
            && self.key_prefix.len() <= 10
            && self.key_prefix.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !prefix_ok {
            bail!("key_prefix must be 1 to 10 upper-case letters or digits, not `{}`", self.key_prefix);
        }
        if !matches!(self.auto_assign.as_str(), "none" | "on_duty" | "round_robin") {
            bail!("auto_assign must be none, on_duty or round_robin, not `{}`", self.auto_assign);
        }
        if self.attachment_max_bytes == 0 || self.attachment_max_bytes > 1024 * 1024 * 1024 {
            bail!("attachment_max_bytes must be between 1 and 1073741824");
        }
        if let Some(address) = &self.mail.internal_address {
            if guichet_domain::user::EmailAddress::parse(address).is_err() {
                bail!("mail.internal_address `{address}` is not an e-mail address");
            }
        }
        if self.mail.trusted_authserv_id.as_deref().is_some_and(|id| id.trim().is_empty() || id.contains(';')) {
            bail!("mail.trusted_authserv_id must be the host name your mail server writes in Authentication-Results");
        }
        self.trusted_proxies()?;
        if let Some(node) = &self.node {
            if node.is_empty()
                || node.len() > 100
                || !node.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            {
                bail!("node must be 1 to 100 letters, digits or - _ . :, not `{node}`");
            }
        }
        for origin in &self.help.frame_ancestors {
            let rest = origin.split_once("://").map_or("", |(_, r)| r);
            let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !rest.is_empty()
                && !rest.contains(['/', ' ', ';', '\'', '"', ','])
                && rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*'));
            if !valid {
                bail!("help.frame_ancestors: `{origin}` is not an origin such as https://ent.example.fr");
            }
        }
        let si = &self.sign_in;
        let ranges = [
            ("per_account", i64::from(si.per_account), 1, 1000),
            ("per_client", i64::from(si.per_client), 1, 100_000),
            ("window_minutes", si.window_minutes, 1, 24 * 60),
            ("hash_concurrency", i64::try_from(si.hash_concurrency).unwrap_or(i64::MAX), 1, 64),
            ("hash_queue", i64::try_from(si.hash_queue).unwrap_or(i64::MAX), 1, 10_000),
            ("session_idle_minutes", si.session_idle_minutes, 5, 7 * 24 * 60),
            ("session_hours", si.session_hours, 1, 30 * 24),
            ("token_days", i64::from(si.token_days), 1, i64::from(guichet_app::auth::MAX_TOKEN_DAYS)),
        ];
        for (name, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                bail!("sign_in.{name} must be between {min} and {max}, not {value}");
            }
        }
        if !(1..=3600).contains(&self.jobs.clock_seconds) || !(3..=3600).contains(&self.jobs.lease_seconds) {
            bail!("jobs.clock_seconds is between 1 and 3600, jobs.lease_seconds between 3 and 3600");
        }
        let l = &self.limits;
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let limits = [
            ("request_timeout_seconds", i64::try_from(l.request_timeout_seconds).unwrap_or(i64::MAX), 1, 3600),
            ("max_in_flight", as_i64(l.max_in_flight), 1, 100_000),
            ("help_in_flight", as_i64(l.help_in_flight), 1, 10_000),
            ("write_queue", as_i64(l.write_queue), 1, 1_000_000),
            ("saved_filters_per_user", as_i64(l.saved_filters_per_user), 1, 1000),
        ];
        for (name, value, min, max) in limits {
            if !(min..=max).contains(&value) {
                bail!("limits.{name} must be between {min} and {max}, not {value}");
            }
        }
        self.auth.validate()?;
        if !(1..=1000).contains(&self.database_pool_size) {
            bail!("database_pool_size must be between 1 and 1000, not {}", self.database_pool_size);
        }
        if !(1..=100).contains(&self.mail.max_import_attempts) {
            bail!("mail.max_import_attempts must be between 1 and 100");
        }
        if !matches!(self.mail.unknown_sender.as_str(), "triage" | "refuse") {
            bail!("mail.unknown_sender must be triage or refuse, not `{}`", self.mail.unknown_sender);
        }
        let mut names = std::collections::HashSet::new();
        for mailbox in &self.mailboxes {
            if mailbox.name.trim().is_empty() || !names.insert(mailbox.name.as_str()) {
                bail!("every mailbox needs a name of its own (`{}`)", mailbox.name);
            }
        }
        if let Some(url) = &self.database_url {
            let url = url.expose_secret();
            if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                bail!("database_url must start with sqlite:// or postgres://");
            }
        }
        Ok(())
    }

    /// The database URL, and whether the database may be created: only the
    /// default embedded file is created on first start.
    pub fn database(&self) -> anyhow::Result<(String, bool)> {
        match &self.database_url {
            Some(url) => Ok((url.expose_secret().to_owned(), false)),
            None => {
                std::fs::create_dir_all(&self.data_dir)
                    .with_context(|| format!("cannot create the data directory {}", self.data_dir.display()))?;
                Ok((format!("sqlite://{}", self.data_dir.join("guichet.db").display()), true))
            }
        }
    }

    /// The effective configuration as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("data_dir = {:?}\n", self.data_dir.display().to_string()));
        let url = self.database_url.as_ref().map(|u| mask_url(u.expose_secret()));
        out.push_str(&format!("database_url = {:?}\n", url.unwrap_or_else(|| "(embedded SQLite in data_dir)".into())));
        out.push_str(&format!("database_pool_size = {}\n", self.database_pool_size));
        if let Some(url) = &self.database_listen_url {
            out.push_str(&format!("database_listen_url = {:?}\n", mask_url(url.expose_secret())));
        }
        out.push_str(&format!("durability = {:?}\n", self.durability.as_str()));
        out.push_str(&format!("log_format = {:?}\n", self.log_format.as_str()));
        if let Some(bind) = self.metrics_bind {
            out.push_str(&format!("metrics_bind = \"{bind}\"\n"));
        }
        out.push_str(&format!("bind = \"{}\"\n", self.bind));
        out.push_str(&format!("key_prefix = {:?}\n", self.key_prefix));
        out.push_str(&format!("attachment_max_bytes = {}\n", self.attachment_max_bytes));
        out.push_str(&format!("log = {:?}\n", self.log));
        out.push_str(&format!("secure_cookies = {}\n", self.secure_cookies()));
        out.push_str(&format!("auto_assign = {:?}\n", self.auto_assign));
        out.push_str(&format!("public_url = {:?}\n", self.public_url()));
        out.push_str(&format!("trusted_proxies = {:?}\n", self.trusted_proxies));
        out.push_str(&format!("node = {:?}\n", self.node_name()));
        out.push_str(&format!(
            "[mail]\nunknown_sender = {:?}\nnotify_agents = {}\nmax_message_bytes = {}\nautomatic_per_hour = {}\n",
            self.mail.unknown_sender,
            self.mail.notify_agents,
            self.mail.max_message_bytes,
            self.mail.automatic_per_hour
        ));
        out.push_str(&format!(
            "internal_address = {:?}\ntrusted_authserv_id = {:?}\nmax_import_attempts = {}\n",
            self.mail.internal_address.as_deref().unwrap_or(""),
            self.mail.trusted_authserv_id.as_deref().unwrap_or(""),
            self.mail.max_import_attempts
        ));
        out.push_str(&format!(
            "[incidents]\npropose_tickets = {}\npropose_establishments = {}\npropose_minutes = {}\n",
            self.incidents.propose_tickets, self.incidents.propose_establishments, self.incidents.propose_minutes
        ));
        let si = &self.sign_in;
        out.push_str(&format!(
            "[sign_in]\nper_account = {}\nper_client = {}\nwindow_minutes = {}\nhash_concurrency = {}\nhash_queue = {}\n\
             session_idle_minutes = {}\nsession_hours = {}\ntoken_days = {}\n",
            si.per_account,
            si.per_client,
            si.window_minutes,
            si.hash_concurrency,
            si.hash_queue,
            si.session_idle_minutes,
            si.session_hours,
            si.token_days
        ));
        let l = &self.limits;
        out.push_str(&format!(
            "[limits]\nrequest_timeout_seconds = {}\nmax_in_flight = {}\nhelp_in_flight = {}\nwrite_queue = {}\n\
             saved_filters_per_user = {}\n",
            l.request_timeout_seconds, l.max_in_flight, l.help_in_flight, l.write_queue, l.saved_filters_per_user
        ));
        out.push_str(&format!(
            "[jobs]\nclock_seconds = {}\nlease_seconds = {}\n",
            self.jobs.clock_seconds, self.jobs.lease_seconds
        ));
        out.push_str(&self.auth.to_masked_toml());
        out.push_str(&self.retention.to_toml());
        let sat = &self.satisfaction;
        out.push_str(&format!(
            "[satisfaction]\nenabled = {}\nreminder_days = {}\nvalid_days = {}\n",
            sat.enabled, sat.reminder_days, sat.valid_days
        ));
        if let Some(j) = &self.jira {
            out.push_str(&format!(
                "[jira]\nurl = {:?}\nuser = {:?}\ntoken = \"***\"\nproject = {:?}\nissue_type = {:?}\napi_version = {}\n\
                 webhook_secret = \"***\"\nsync_interval_seconds = {}\n",
                j.url,
                j.user.as_deref().unwrap_or(""),
                j.project,
                j.issue_type,
                j.api_version,
                j.sync_interval_seconds
            ));
        }
        let w = &self.webhooks;
        out.push_str(&format!(
            "[webhooks]\nallow_private_networks = {}\ntimeout_seconds = {}\ndeliver_interval_seconds = {}\n\
             first_retry_seconds = {}\nmax_attempts = {}\npause_after_hours = {}\nkeep_days = {}\n",
            w.allow_private_networks,
            w.timeout_seconds,
            w.deliver_interval_seconds,
            w.first_retry_seconds,
            w.max_attempts,
            w.pause_after_hours,
            w.keep_days
        ));
        out.push_str(&format!(
            "[help]\nper_ip_per_hour = {}\nper_establishment_per_hour = {}\nframe_ancestors = {:?}\n",
            self.help.per_ip_per_hour, self.help.per_establishment_per_hour, self.help.frame_ancestors
        ));
        if let Some(smtp) = &self.smtp {
            out.push_str(&format!("[smtp]\nhost = {:?}\n{}tls = \"{}\"\n", smtp.host, port(smtp.port), tls(smtp.tls)));
            out.push_str(&format!(
                "user = {:?}\npassword = \"***\"\nfrom = {:?}\n",
                user(&smtp.credentials),
                smtp.from
            ));
        }
        for m in &self.mailboxes {
            let after = match &m.after_import {
                AfterImport::Flag => "{ action = \"flag\" }".to_owned(),
                AfterImport::Move(folder) => format!("{{ action = \"move\", folder = {folder:?} }}"),
                AfterImport::Delete => "{ action = \"delete\" }".to_owned(),
            };
            out.push_str(&format!(
                "[[mailboxes]]\nname = {:?}\nhost = {:?}\n{}tls = \"{}\"\n",
                m.name,
                m.host,
                port(m.port),
                tls(m.tls)
            ));
            out.push_str(&format!(
                "user = {:?}\npassword = \"***\"\nfolder = {:?}\nafter_import = {after}\npoll_seconds = {}\n",
                user(&m.credentials),
                m.folder,
                m.poll_seconds
            ));
        }
        out
    }

    /// The trusted proxies as networks (a bare address is a network of one).
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| anyhow::anyhow!("trusted_proxies: `{p}` is not an address or a network (10.0.0.0/8)"))
            })
            .collect()
    }

    /// This process's node name.
    pub fn node_name(&self) -> String {
        self.node.clone().unwrap_or_else(guichet_app::default_node_name)
    }

    /// Whether cookies are `Secure` (`__Host-`): as configured, else when
    /// the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies.unwrap_or_else(|| self.public_url().starts_with("https://"))
    }

    /// A word for the operator when the internal address does not look like
    /// one delivered to a configured mailbox (its address, or a
    /// sub-address of it such as `support+interne@…`): answers to notices
    /// would then never come back. Aliases cannot be seen from here, so this
    /// is a warning, not an error.
    pub fn internal_address_warning(&self) -> Option<String> {
        let internal = self.mail.internal_address.as_deref()?.trim().to_lowercase();
        let (local, domain) = internal.split_once('@')?;
        let base = local.split('+').next().unwrap_or(local);
        let delivered = self.mailboxes.iter().any(|m| {
            let address = m.address.clone().or_else(|| m.credentials.user.clone()).unwrap_or_default().to_lowercase();
            address == internal || address.split_once('@').is_some_and(|(l, d)| d == domain && l == base)
        });
        (!delivered).then(|| {
            format!(
                "mail.internal_address {internal} is not the address of a configured mailbox nor a sub-address of one: \
                 make sure it is delivered into a mailbox Guichet reads, or answers to notices will not come back"
            )
        })
    }

    /// The HTTP layer's settings.
    pub fn web(&self) -> anyhow::Result<guichet_web::WebConfig> {
        Ok(guichet_web::WebConfig {
            secure_cookies: self.secure_cookies(),
            https: self.public_url().starts_with("https://"),
            help_frame_ancestors: self.help.frame_ancestors.clone(),
            trusted_proxies: self.trusted_proxies()?,
            request_timeout: std::time::Duration::from_secs(self.limits.request_timeout_seconds),
            max_in_flight: self.limits.max_in_flight,
            help_in_flight: self.limits.help_in_flight,
            providers: self.auth.providers(&self.public_url())?,
            metrics: None,
        })
    }

    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.bind))
    }
}

fn port(port: Option<u16>) -> String {
    port.map(|p| format!("port = {p}\n")).unwrap_or_default()
}

fn tls(mode: TlsMode) -> &'static str {
    match mode {
        TlsMode::Tls => "tls",
        TlsMode::Starttls => "starttls",
        TlsMode::None => "none",
    }
}

fn user(credentials: &guichet_mail::Credentials) -> String {
    credentials.user.clone().unwrap_or_default()
}

/// Hides the password of a URL such as `postgres://user:secret@host/db`.
fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***{}", &url[..scheme], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(mask_url("postgres://guichet:s3cret@db/guichet"), "postgres://guichet:***@db/guichet");
        assert_eq!(mask_url("sqlite://data/guichet.db"), "sqlite://data/guichet.db");
    }

    #[test]
    fn an_internal_address_no_mailbox_receives_is_pointed_out() {
        let mailbox: guichet_mail::imap::MailboxConfig = serde_json::from_value(
            serde_json::json!({"name": "support", "address": "support@ent.fr", "host": "imap.ent.fr"}),
        )
        .unwrap();
        let mut config = Config { mailboxes: vec![mailbox], ..Config::default() };
        config.mail.internal_address = Some("support+interne@ent.fr".into());
        assert_eq!(config.internal_address_warning(), None);
        config.mail.internal_address = Some("Support@ENT.fr".into());
        assert_eq!(config.internal_address_warning(), None);
        config.mail.internal_address = Some("autre+interne@ent.fr".into());
        assert!(config.internal_address_warning().unwrap().contains("not the address of a configured mailbox"));
    }

    #[test]
    fn debug_output_never_shows_the_database_url() {
        let config = Config { database_url: Some(SecretString::from("postgres://u:pw@h/d")), ..Config::default() };
        assert!(!format!("{config:?}").contains("pw@"));
    }
}
