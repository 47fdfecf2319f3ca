//! Guichet's use cases: each public method of [`App`] is one thing a person or
//! a channel does, checked against the actor's permissions and run in one
//! transaction. Handlers stay thin and call these.

pub mod attachments;
pub mod auth;
pub mod canned;
pub mod comments;
pub mod demo;
pub mod desk;
pub mod directory;
pub mod error;
pub mod filters;
pub mod handover;
pub mod help;
pub mod identities;
pub mod import;
pub mod incidents;
pub mod jira;
pub mod kb;
pub mod leases;
pub mod mail;
pub mod notify;
pub mod privacy;
pub mod render;
pub mod reports;
pub mod rota;
pub mod satisfaction;
pub mod search;
pub mod sla;
pub mod tasks;
pub mod ticket_view;
pub mod tickets;
pub mod webhooks;

pub use error::AppError;

use chrono::{DateTime, Utc};
use guichet_domain::clock::Clock;
use guichet_domain::workflow::Workflows;
use guichet_store::Db;
use std::sync::Arc;

/// Settings the use cases need; the server builds them from its configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Prefix of ticket keys (`SUP` gives `SUP-123`).
    pub key_prefix: String,
    /// Largest attachment accepted, in bytes.
    pub attachment_max_bytes: usize,
    /// The desk's business hours, in which service levels are counted.
    pub calendar: guichet_domain::calendar::Calendar,
    pub sla_policy: guichet_domain::sla::Policy,
    /// How new level-1 tickets are assigned.
    pub assignment: rota::AssignmentRule,
    pub mail: notify::MailSettings,
    /// When Guichet proposes a major incident.
    pub incident_rule: guichet_domain::incident::ProposalRule,
    /// How many HELP messages are accepted per hour.
    pub help_limits: help::HelpLimits,
    /// This process's name among the nodes sharing the database: it holds
    /// claims (outbox rows) in that name.
    pub node: String,
    /// Sign-in limits and credentials' lifetimes.
    pub sign_in: auth::SignInSettings,
    /// Personal saved filters per user.
    pub saved_filters_per_user: usize,
    /// How each identity provider's people become accounts, by provider name.
    pub identity_rules: std::collections::BTreeMap<String, guichet_domain::identity::IdentityRules>,
    /// How long each kind of personal data is kept.
    pub retention: guichet_domain::privacy::RetentionPolicy,
    /// Whether and when requesters are asked to rate resolved requests.
    pub satisfaction: satisfaction::SatisfactionSettings,
    /// How webhook deliveries are made.
    pub webhooks: webhooks::WebhookSettings,
    /// Level 2's Jira, when one is configured.
    pub jira: Option<jira::JiraSettings>,
}

/// A name for this process: the host's name and the process id.
pub fn default_node_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "guichet".into());
    format!("{host}-{}", std::process::id())
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            key_prefix: "SUP".into(),
            attachment_max_bytes: 10 * 1024 * 1024,
            calendar: guichet_domain::calendar::Calendar::default(),
            sla_policy: guichet_domain::sla::Policy::default(),
            assignment: rota::AssignmentRule::None,
            mail: notify::MailSettings::default(),
            incident_rule: guichet_domain::incident::ProposalRule::default(),
            help_limits: help::HelpLimits::default(),
            node: default_node_name(),
            sign_in: auth::SignInSettings::default(),
            saved_filters_per_user: filters::DEFAULT_PER_USER,
            identity_rules: std::collections::BTreeMap::new(),
            retention: guichet_domain::privacy::RetentionPolicy::default(),
            satisfaction: satisfaction::SatisfactionSettings::default(),
            webhooks: webhooks::WebhookSettings::default(),
            jira: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place that reads the wall clock.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The application: storage, settings, clock and the workflows loaded at start.
#[derive(Debug, Clone)]
pub struct App {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
    /// Reloaded with the other settings (`reload_desk_config`).
    workflows: Arc<std::sync::RwLock<Arc<Workflows>>>,
    /// The calendar and service-level policy in force: the stored ones, else
    /// the settings' defaults. Reloaded by the periodic job so that every
    /// node follows an administrator's change.
    desk: Arc<std::sync::RwLock<desk::DeskConfig>>,
    /// The key of the reply tokens in outgoing mail: made on first start,
    /// kept in the database so that every node and restart shares it.
    reply_secret: Arc<Vec<u8>>,
    /// The background tasks' health, for the probes and the admin pages.
    pub tasks: Arc<tasks::TaskBoard>,
    /// The last incident proposals and when they were made, shared by the
    /// dashboards of this node for a few seconds.
    proposals: Arc<std::sync::Mutex<Option<KeptProposals>>>,
    /// Where password checks run, bounded.
    password_checks: Arc<auth::PasswordChecks>,
    /// A hash that no password matches in practice, checked for unknown
    /// accounts so that they take as long as known ones.
    dummy_hash: Arc<String>,
}

impl App {
    pub async fn new(db: Db, settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        let mut conn = db.conn().await?;
        let workflows = guichet_store::workflows::load_workflows(&mut conn).await?;
        drop(conn);
        let reply_secret = load_reply_secret(&db).await?;
        let (hash_concurrency, hash_queue) = (settings.sign_in.hash_concurrency, settings.sign_in.hash_queue);
        let defaults =
            desk::DeskConfig { calendar: settings.calendar.clone(), sla_policy: settings.sla_policy.clone() };
        let app = Self {
            db,
            settings: Arc::new(settings),
            clock,
            workflows: Arc::new(std::sync::RwLock::new(Arc::new(workflows))),
            desk: Arc::new(std::sync::RwLock::new(defaults)),
            reply_secret: Arc::new(reply_secret),
            tasks: Arc::new(tasks::TaskBoard::default()),
            proposals: Arc::default(),
            password_checks: Arc::new(auth::PasswordChecks::new(hash_concurrency, hash_queue)),
            dummy_hash: Arc::new(auth::hash_password(&auth::random_secret())?),
        };
        app.reload_desk_config().await?;
        Ok(app)
    }

    /// The business calendar in force.
    pub fn calendar(&self) -> guichet_domain::calendar::Calendar {
        self.desk.read().map(|d| d.calendar.clone()).unwrap_or_else(|e| e.into_inner().calendar.clone())
    }

    /// The service-level policy in force.
    pub fn sla_policy(&self) -> guichet_domain::sla::Policy {
        self.desk.read().map(|d| d.sla_policy.clone()).unwrap_or_else(|e| e.into_inner().sla_policy.clone())
    }

    pub(crate) fn set_desk_config(&self, config: desk::DeskConfig) {
        match self.desk.write() {
            Ok(mut d) => *d = config,
            Err(e) => *e.into_inner() = config,
        }
    }

    /// The workflows in force (a snapshot: a reload replaces it).
    pub fn workflows(&self) -> Arc<Workflows> {
        match self.workflows.read() {
            Ok(w) => w.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn set_workflows(&self, workflows: Workflows) {
        match self.workflows.write() {
            Ok(mut w) => *w = Arc::new(workflows),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(workflows),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn key(&self, id: guichet_domain::ids::TicketId) -> String {
        guichet_domain::ticket::format_key(&self.settings.key_prefix, id)
    }
}

/// Incident proposals and when they were made.
type KeptProposals = (DateTime<Utc>, Vec<guichet_domain::incident::Proposal>);

const REPLY_SECRET_SETTING: &str = "mail_reply_secret";

/// The reply tokens' key, made once: the first node to start writes it and
/// every other one reads that one (the insert does nothing if one exists).
async fn load_reply_secret(db: &Db) -> Result<Vec<u8>, AppError> {
    let mut conn = db.conn().await?;
    let found = guichet_store::settings::find_setting(&mut conn, REPLY_SECRET_SETTING).await?;
    drop(conn);
    let stored = match found {
        Some(value) => value,
        None => {
            let fresh = serde_json::to_string(&auth::random_secret()).map_err(|e| AppError::Internal(e.into()))?;
            let mut tx = db.begin().await?;
            guichet_store::settings::insert_setting_if_absent(&mut tx, REPLY_SECRET_SETTING, &fresh).await?;
            let value = guichet_store::settings::find_setting(&mut tx, REPLY_SECRET_SETTING).await?;
            tx.commit().await?;
            value.ok_or(AppError::NotFound("reply secret"))?
        }
    };
    let secret: String = serde_json::from_str(&stored).map_err(|e| AppError::Internal(e.into()))?;
    Ok(secret.into_bytes())
}
