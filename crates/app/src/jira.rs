//! Level 2 in Jira (optional): escalating a ticket queues an issue in the
//! configured Jira project, in the escalation's transaction; the sync job (in
//! the web crate, with the HTTP client) creates it with the hand-over summary,
//! the reproduction record and the screenshots. Jira's webhook brings its
//! comments back as internal notes and, when the issue is done, hands the
//! ticket back to level 1.

use crate::auth::Principal;
use crate::{App, AppError};
use chrono::Duration;
use guichet_domain::history::FieldChange;
use guichet_domain::ids::TicketId;
use guichet_domain::incident::Handover;
use guichet_domain::ticket::{Channel, Tier};
use guichet_domain::user::{EmailAddress, Language, NewUser, Role, User};
use guichet_domain::webhook::{AfterFailure, RetryPolicy};
use guichet_store::jira::JiraIssue;
use guichet_store::Conn;

/// How Guichet reaches level 2's Jira.
#[derive(Debug, Clone)]
pub struct JiraSettings {
    /// `https://ent.atlassian.net`: where issues are shown (`/browse/KEY`).
    pub url: String,
    /// The secret Jira's webhook signs with (`X-Hub-Signature`) or carries
    /// in its URL (`?secret=`).
    pub webhook_secret: String,
    pub retry: RetryPolicy,
}

/// The account Jira's comments and hand-backs are written under; a system
/// account (`.invalid`) of level 2.
pub const JIRA_ADDRESS: &str = "jira@guichet.invalid";

/// What Jira's webhook told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JiraEvent {
    Comment {
        issue: String,
        id: String,
        author: String,
        body: String,
    },
    /// The issue reached a status of Jira's "done" category.
    Done {
        issue: String,
        status: String,
        resolution: Option<String>,
    },
    /// The issue moved to another status (not done); `id` is the change's.
    Moved {
        issue: String,
        id: String,
        author: String,
        from: String,
        to: String,
    },
}

/// What Guichet did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JiraOutcome {
    Noted {
        ticket: String,
    },
    HandedBack {
        ticket: String,
    },
    /// Already copied, not an issue of Guichet's, or the ticket is no longer at level 2.
    Ignored(&'static str),
}

impl App {
    pub fn jira_issue_url(&self, key: &str) -> Option<String> {
        self.settings.jira.as_ref().map(|j| format!("{}/browse/{key}", j.url.trim_end_matches('/')))
    }

    /// In the escalation's transaction: the issue to create (or to comment on).
    pub(crate) async fn queue_jira_issue(
        &self,
        tx: &mut Conn,
        ticket: TicketId,
        summary: &str,
    ) -> Result<(), AppError> {
        if self.settings.jira.is_some() {
            guichet_store::jira::queue_issue(tx, ticket.0, summary, self.now()).await?;
        }
        Ok(())
    }

    /// The account Jira acts under, made on first use.
    pub async fn jira_principal(&self) -> Result<Principal, AppError> {
        let mut conn = self.db.conn().await?;
        let email = EmailAddress::parse(JIRA_ADDRESS)?;
        let user: User = match guichet_store::users::find_user_by_email(&mut conn, &email).await? {
            Some(user) => user,
            None => {
                let new = NewUser {
                    email,
                    name: "Jira (niveau 2)".into(),
                    role: Role::Technician,
                    language: Language::Fr,
                    phones: Vec::new(),
                    establishment_uais: Vec::new(),
                };
                guichet_store::users::insert_user_if_absent(&mut conn, &new, self.now()).await?
            }
        };
        Ok(Principal::from_user(user))
    }

    /// A ticket's Jira issue, for the desk.
    pub async fn jira_issue(&self, p: &Principal, key: &str) -> Result<Option<JiraIssue>, AppError> {
        if !p.actor.role.is_staff() {
            return Err(AppError::Forbidden("only the desk sees level 2's Jira".into()));
        }
        let mut conn = self.db.conn().await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        Ok(guichet_store::jira::find_by_ticket(&mut conn, record.ticket.id.0).await?)
    }

    pub async fn claim_jira_due(&self, limit: i64, claim: Duration) -> Result<Vec<JiraIssue>, AppError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let due = guichet_store::jira::claim_due(&mut tx, &self.settings.node, now, now + claim, limit).await?;
        tx.commit().await?;
        Ok(due)
    }

    /// The issue exists in Jira as `key` (created now, or found from an
    /// earlier try whose answer was lost): recorded, and said on the ticket.
    pub async fn jira_created(&self, issue: &JiraIssue, key: &str, new: bool) -> Result<(), AppError> {
        let now = self.now();
        let jira = self.jira_principal().await?;
        let mut tx = self.db.begin().await?;
        if !guichet_store::jira::mark_created(&mut tx, issue.ticket_id, key, &self.settings.node, now).await? {
            return Ok(());
        }
        let ticket = TicketId(issue.ticket_id);
        let url = self.jira_issue_url(key).unwrap_or_default();
        let note = if new {
            format!("**Ticket Jira {key} créé** pour le niveau 2 : {url}")
        } else {
            format!("**Transmis de nouveau au niveau 2** dans le ticket Jira {key} : {url}")
        };
        let comment = guichet_store::comments::NewComment {
            ticket,
            author: jira.user.id,
            body: &note,
            internal: true,
            channel: Channel::Api,
        };
        guichet_store::comments::insert_comment(&mut tx, &comment, now).await?;
        if new {
            let change = FieldChange::internal("jira", None, Some(key.to_owned()));
            guichet_store::events::insert_events(&mut tx, ticket, Some(jira.user.id), &[change], now).await?;
        }
        tx.commit().await?;
        tracing::info!(ticket = %self.key(ticket), issue = key, "Jira issue created");
        Ok(())
    }

    /// A failed try: tried again later, or given up (the desk sees why).
    pub async fn jira_failed(&self, issue: &JiraIssue, error: &str) -> Result<(), AppError> {
        let now = self.now();
        let policy = self.settings.jira.as_ref().map(|j| j.retry).unwrap_or_default();
        let tries = u32::try_from(issue.attempts + 1).unwrap_or(u32::MAX);
        let retry_at = match policy.after_failure(tries, now) {
            AfterFailure::RetryAt(at) => Some(at),
            AfterFailure::GiveUp => None,
        };
        let mut conn = self.db.conn().await?;
        guichet_store::jira::mark_failed(&mut conn, issue.ticket_id, &self.settings.node, error, retry_at, now).await?;
        tracing::warn!(ticket = %self.key(TicketId(issue.ticket_id)), error, "Jira issue not created");
        Ok(())
    }

    /// What Jira's webhook reports, once its signature was checked.
    pub async fn jira_event(&self, event: JiraEvent) -> Result<JiraOutcome, AppError> {
        let issue_key = match &event {
            JiraEvent::Comment { issue, .. } | JiraEvent::Done { issue, .. } | JiraEvent::Moved { issue, .. } => {
                issue.clone()
            }
        };
        let mut conn = self.db.conn().await?;
        let Some(issue) = guichet_store::jira::find_by_key(&mut conn, &issue_key).await? else {
            return Ok(JiraOutcome::Ignored("not an issue Guichet created"));
        };
        drop(conn);
        let jira = self.jira_principal().await?;
        let ticket = TicketId(issue.ticket_id);
        let key = self.key(ticket);
        match event {
            JiraEvent::Comment { .. } | JiraEvent::Moved { .. } => {
                let (seen, body) = match event {
                    JiraEvent::Comment { id, author, body, .. } => {
                        (id, format!("**{author}** (Jira {issue_key}) :\n\n{body}"))
                    }
                    JiraEvent::Moved { id, author, from, to, .. } => {
                        (format!("status-{id}"), format!("Jira {issue_key} : « {from} » → « {to} » ({author})."))
                    }
                    JiraEvent::Done { .. } => return Ok(JiraOutcome::Ignored("not a note")),
                };
                let mut tx = self.db.begin().await?;
                if guichet_store::jira::comment_seen(&mut tx, &issue_key, &seen).await? {
                    return Ok(JiraOutcome::Ignored("already copied"));
                }
                let body = guichet_domain::comment::validate_body(&body)?;
                let record = guichet_store::tickets::find_ticket(&mut tx, ticket, &jira.actor.scope()).await?;
                self.comment_in(&mut tx, &jira, &record.ticket, &body, true, Channel::Api).await?;
                tx.commit().await?;
                Ok(JiraOutcome::Noted { ticket: key })
            }
            JiraEvent::Done { status, resolution, .. } => {
                let mut conn = self.db.conn().await?;
                let record = guichet_store::tickets::find_ticket(&mut conn, ticket, &jira.actor.scope()).await?;
                drop(conn);
                if record.ticket.tier != Tier::Technical {
                    return Ok(JiraOutcome::Ignored("the ticket is no longer at level 2"));
                }
                let summary = match resolution {
                    Some(r) => format!("Résolu dans Jira {issue_key} ({status}, {r})."),
                    None => format!("Résolu dans Jira {issue_key} ({status})."),
                };
                self.hand_over(&jira, &key, Handover::HandBack, &summary).await?;
                Ok(JiraOutcome::HandedBack { ticket: key })
            }
        }
    }
}
