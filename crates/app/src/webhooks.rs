//! Webhooks: administrators subscribe an outside system to the desk's
//! events. An event becomes a delivery in the transaction of the change that
//! raised it, so that a change is never told without having happened, nor
//! happens untold; the delivery job (in the web crate, beside the views the
//! payload is made of) sends it, signed, and records each try here.

use crate::auth::Principal;
use crate::notify::PlainMail;
use crate::tickets::ListParams;
use crate::{App, AppError};
use chrono::{DateTime, Duration, Utc};
use guichet_domain::error::FieldError;
use guichet_domain::history::FieldChange;
use guichet_domain::ids::{TicketId, UserId};
use guichet_domain::user::{Language, Role};
use guichet_domain::webhook::{self, RetryPolicy, WebhookEvent};
use guichet_domain::workflow::StatusCategory;
use guichet_store::webhooks::{Attempt, Delivery, EventSubject, Outcome, Webhook, WebhookFields};
use guichet_store::Conn;

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Let receivers be on this machine or a private network (a test
    /// receiver, an intranet system). Off: such deliveries fail, said why.
    pub allow_private_networks: bool,
    pub retry: RetryPolicy,
    /// Seconds a receiver has to answer.
    pub timeout_seconds: u64,
    /// Days finished deliveries (and their bodies) are kept for the log.
    pub keep_days: u32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self { allow_private_networks: false, retry: RetryPolicy::default(), timeout_seconds: 10, keep_days: 30 }
    }
}

/// What an administrator sends to create or change a subscription.
#[derive(Debug, Clone, Default)]
pub struct WebhookInput {
    pub name: String,
    pub url: String,
    /// Event names, separated by spaces or commas.
    pub events: String,
    pub filter: Option<String>,
    pub active: bool,
}

/// The longest name, URL and filter accepted.
const NAME_MAX: usize = 100;
const URL_MAX: usize = 2000;
const FILTER_MAX: usize = 1000;
/// The deliveries an administrator's log shows.
pub const DELIVERIES_SHOWN: i64 = 100;

fn require_admin(p: &Principal) -> Result<(), AppError> {
    if p.actor.role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden("only administrators manage webhooks".into()))
    }
}

/// Checks a receiver's URL: http(s), a host, no credentials (they would
/// show on the admin page; the signature authenticates Guichet), and, when
/// private networks are not allowed, no literal private address (names are
/// checked when resolved, at each delivery).
pub fn check_url(text: &str, allow_private: bool) -> Result<url::Url, String> {
    let text = text.trim();
    if text.len() > URL_MAX {
        return Err(format!("the URL is longer than {URL_MAX} characters"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the URL must start with https:// (or http://), not {}://", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not hold a user name or password: receivers check the signature instead".into());
    }
    let ip = match url.host() {
        None => return Err("the URL has no host".into()),
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
        }
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(ip) = ip.filter(|ip| !allow_private && !webhook::is_public_address(*ip)) {
        return Err(format!(
            "{ip} is this machine or a private network; set [webhooks] allow_private_networks = true to deliver there"
        ));
    }
    Ok(url)
}

impl App {
    /// The statuses of the workflows' "resolved" category.
    fn resolved_codes(&self) -> Vec<String> {
        self.workflows().codes_in(&[StatusCategory::Resolved])
    }

    /// Records a ticket's history entries and queues the webhook deliveries
    /// they raise, in the caller's transaction: every change of a ticket
    /// goes through here.
    pub(crate) async fn record_history(
        &self,
        tx: &mut Conn,
        ticket: TicketId,
        actor: Option<UserId>,
        changes: &[FieldChange],
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        guichet_store::events::insert_events(tx, ticket, actor, changes, now).await?;
        let events = webhook::ticket_events(changes, &self.resolved_codes());
        if events.is_empty() {
            return Ok(());
        }
        let subject = EventSubject {
            ticket: Some(ticket.0),
            incident: None,
            actor: actor.map(|a| a.0),
            changes: changes_json(changes),
        };
        for event in events {
            guichet_store::webhooks::queue_deliveries(tx, event.as_str(), &subject, now).await?;
        }
        Ok(())
    }

    /// Queues an incident's event (declared, resolved) in the caller's transaction.
    pub(crate) async fn queue_incident_event(
        &self,
        tx: &mut Conn,
        event: WebhookEvent,
        incident: i64,
        actor: UserId,
    ) -> Result<(), AppError> {
        let subject =
            EventSubject { ticket: None, incident: Some(incident), actor: Some(actor.0), changes: "[]".into() };
        guichet_store::webhooks::queue_deliveries(tx, event.as_str(), &subject, self.now()).await?;
        Ok(())
    }

    /// Checks what an administrator wrote, as `owner` will see tickets.
    async fn webhook_fields(&self, owner: &Principal, input: WebhookInput) -> Result<WebhookFields, AppError> {
        let mut errors = Vec::new();
        let name = input.name.trim().to_owned();
        if name.is_empty() {
            errors.push(FieldError::new("name", "give the subscription a name"));
        } else if name.chars().count() > NAME_MAX {
            errors.push(FieldError::new("name", format!("the name is longer than {NAME_MAX} characters")));
        }
        let url = match check_url(&input.url, self.settings.webhooks.allow_private_networks) {
            Ok(url) => url.to_string(),
            Err(message) => {
                errors.push(FieldError::new("url", message));
                String::new()
            }
        };
        let events = match webhook::parse_events(&input.events) {
            Ok(events) => events.into_iter().map(|e| e.as_str().to_owned()).collect(),
            Err(e) => {
                errors.push(FieldError::new("events", e.to_string()));
                Vec::new()
            }
        };
        let filter = input.filter.map(|f| f.trim().to_owned()).filter(|f| !f.is_empty());
        if let Some(filter) = &filter {
            if let Err(message) = self.check_filter(owner, filter).await? {
                errors.push(FieldError::new("filter", message));
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        Ok(WebhookFields { name, url, events, filter, active: input.active })
    }

    /// A filter is a query-language condition without ORDER BY, checked by
    /// running it: the error says what the ticket list would.
    async fn check_filter(&self, owner: &Principal, filter: &str) -> Result<Result<(), String>, AppError> {
        if filter.chars().count() > FILTER_MAX {
            return Ok(Err(format!("the filter is longer than {FILTER_MAX} characters")));
        }
        match guichet_domain::query::parse(filter) {
            Err(e) => return Ok(Err(e.to_string())),
            Ok(q) if !q.order.is_empty() => {
                return Ok(Err("a webhook's filter chooses tickets; it has no ORDER BY".into()))
            }
            Ok(_) => {}
        }
        let params = ListParams { q: Some(filter.to_owned()), per_page: Some(1), ..ListParams::default() };
        match self.list_tickets(owner, &params).await {
            Ok(_) => Ok(Ok(())),
            Err(AppError::Validation(errors)) => {
                Ok(Err(errors.into_iter().map(|e| e.message).collect::<Vec<_>>().join("; ")))
            }
            Err(other) => Err(other),
        }
    }

    pub async fn webhooks(&self, p: &Principal) -> Result<Vec<Webhook>, AppError> {
        require_admin(p)?;
        Ok(guichet_store::webhooks::list_webhooks(&mut self.db.conn().await?).await?)
    }

    pub async fn webhook(&self, p: &Principal, id: i64) -> Result<Webhook, AppError> {
        require_admin(p)?;
        guichet_store::webhooks::find_webhook(&mut self.db.conn().await?, id)
            .await?
            .ok_or(AppError::NotFound("webhook"))
    }

    /// Creates a subscription owned by `p`; its secret is in the result,
    /// the one time it is shown with the creation.
    pub async fn create_webhook(&self, p: &Principal, input: WebhookInput) -> Result<Webhook, AppError> {
        require_admin(p)?;
        let fields = self.webhook_fields(p, input).await?;
        let secret = crate::auth::random_secret();
        let mut tx = self.db.begin().await?;
        let id = guichet_store::webhooks::insert_webhook(&mut tx, &fields, &secret, p.user.id.0, self.now()).await?;
        tx.commit().await?;
        tracing::info!(webhook = id, url = %fields.url, "webhook created");
        self.webhook(p, id).await
    }

    pub async fn update_webhook(&self, p: &Principal, id: i64, input: WebhookInput) -> Result<Webhook, AppError> {
        let existing = self.webhook(p, id).await?;
        let owner = self.webhook_owner(&existing).await?.unwrap_or_else(|| p.clone());
        let fields = self.webhook_fields(&owner, input).await?;
        let mut tx = self.db.begin().await?;
        guichet_store::webhooks::update_webhook(&mut tx, id, &fields, self.now()).await?;
        tx.commit().await?;
        self.webhook(p, id).await
    }

    pub async fn delete_webhook(&self, p: &Principal, id: i64) -> Result<(), AppError> {
        require_admin(p)?;
        let mut tx = self.db.begin().await?;
        if !guichet_store::webhooks::delete_webhook(&mut tx, id).await? {
            return Err(AppError::NotFound("webhook"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A new secret; deliveries are signed with it from now on.
    pub async fn rotate_webhook_secret(&self, p: &Principal, id: i64) -> Result<Webhook, AppError> {
        require_admin(p)?;
        let mut tx = self.db.begin().await?;
        if !guichet_store::webhooks::set_secret(&mut tx, id, &crate::auth::random_secret(), self.now()).await? {
            return Err(AppError::NotFound("webhook"));
        }
        tx.commit().await?;
        self.webhook(p, id).await
    }

    /// Ends a pause: what waited goes out, in order.
    pub async fn resume_webhook(&self, p: &Principal, id: i64) -> Result<Webhook, AppError> {
        require_admin(p)?;
        let mut tx = self.db.begin().await?;
        if !guichet_store::webhooks::resume_webhook(&mut tx, id, self.now()).await? {
            return Err(AppError::NotFound("webhook"));
        }
        tx.commit().await?;
        self.webhook(p, id).await
    }

    /// Queues a `ping` to check the receiver; returns the delivery.
    pub async fn ping_webhook(&self, p: &Principal, id: i64) -> Result<Delivery, AppError> {
        self.webhook(p, id).await?;
        let mut tx = self.db.begin().await?;
        let delivery = guichet_store::webhooks::queue_ping(&mut tx, id, p.user.id.0, self.now()).await?;
        tx.commit().await?;
        self.webhook_delivery(p, id, delivery).await.map(|(d, _)| d)
    }

    pub async fn webhook_deliveries(&self, p: &Principal, id: i64) -> Result<Vec<Delivery>, AppError> {
        self.webhook(p, id).await?;
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::webhooks::list_deliveries(&mut conn, id, DELIVERIES_SHOWN).await?)
    }

    pub async fn webhook_delivery(
        &self,
        p: &Principal,
        id: i64,
        delivery: i64,
    ) -> Result<(Delivery, Vec<Attempt>), AppError> {
        require_admin(p)?;
        let mut conn = self.db.conn().await?;
        let d = guichet_store::webhooks::find_delivery(&mut conn, id, delivery)
            .await?
            .ok_or(AppError::NotFound("delivery"))?;
        let attempts = guichet_store::webhooks::list_attempts(&mut conn, delivery).await?;
        Ok((d, attempts))
    }

    /// Sends a delivery again, with the body it was first sent with.
    pub async fn redeliver_webhook(&self, p: &Principal, id: i64, delivery: i64) -> Result<Delivery, AppError> {
        require_admin(p)?;
        let mut tx = self.db.begin().await?;
        if !guichet_store::webhooks::redeliver(&mut tx, id, delivery, self.now()).await? {
            return Err(AppError::NotFound("delivery"));
        }
        tx.commit().await?;
        self.webhook_delivery(p, id, delivery).await.map(|(d, _)| d)
    }

    /// The subscription's owner as they are now; None when they may no
    /// longer see what it sends (no longer an administrator, disabled).
    pub async fn webhook_owner(&self, hook: &Webhook) -> Result<Option<Principal>, AppError> {
        let mut conn = self.db.conn().await?;
        let user = guichet_store::users::find_user(&mut conn, UserId(hook.owner_id)).await?;
        Ok((!user.disabled && user.role == Role::Admin).then(|| Principal::from_user(user)))
    }

    /// A person's name, for a delivery's `actor`.
    pub async fn user_name(&self, id: i64) -> Result<String, AppError> {
        Ok(guichet_store::users::find_user(&mut self.db.conn().await?, UserId(id)).await?.name)
    }

    /// Whether a ticket matches a subscription's filter, as its owner sees it.
    pub async fn webhook_filter_matches(&self, owner: &Principal, ticket: i64, filter: &str) -> Result<bool, AppError> {
        let key = self.key(TicketId(ticket));
        let params =
            ListParams { q: Some(format!("key = {key} AND ({filter})")), per_page: Some(1), ..ListParams::default() };
        match self.list_tickets(owner, &params).await {
            Ok(page) => Ok(!page.items.is_empty()),
            // A filter that no longer reads (a category removed since) matches nothing.
            Err(AppError::Validation(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Claims deliveries due now for this node, until `claim` from now.
    pub async fn claim_due_deliveries(&self, limit: i64, claim: Duration) -> Result<Vec<Delivery>, AppError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let due = guichet_store::webhooks::claim_due_deliveries(&mut tx, &self.settings.node, now, now + claim, limit)
            .await?;
        tx.commit().await?;
        Ok(due)
    }

    pub async fn find_webhook_for_delivery(&self, id: i64) -> Result<Option<Webhook>, AppError> {
        Ok(guichet_store::webhooks::find_webhook(&mut self.db.conn().await?, id).await?)
    }

    pub async fn set_delivery_payload(&self, id: i64, payload: &str) -> Result<(), AppError> {
        let mut conn = self.db.conn().await?;
        guichet_store::webhooks::set_payload(&mut conn, id, payload).await?;
        Ok(())
    }

    /// Gives back claims this node will not use now.
    pub async fn release_deliveries(&self, ids: &[i64]) -> Result<(), AppError> {
        let mut conn = self.db.conn().await?;
        guichet_store::webhooks::release_deliveries(&mut conn, &self.settings.node, ids).await?;
        Ok(())
    }

    /// Records a try (None: decided without sending, e.g. filtered out).
    /// A failure schedules the next try or gives up; a subscription whose
    /// deliveries have all failed for the policy's time is paused, and its
    /// owner told once. Returns false when this node's claim had expired.
    pub async fn record_delivery(
        &self,
        hook: &Webhook,
        delivery: &Delivery,
        attempt: Option<Attempt>,
        delivered: bool,
    ) -> Result<bool, AppError> {
        let policy = &self.settings.webhooks.retry;
        let now = self.now();
        let outcome = match (&attempt, delivered) {
            (None, _) => Outcome::Filtered,
            (Some(_), true) => Outcome::Delivered,
            (Some(_), false) => {
                let tries = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
                match policy.after_failure(tries, now) {
                    webhook::AfterFailure::RetryAt(at) => Outcome::RetryAt(at),
                    webhook::AfterFailure::GiveUp => Outcome::GiveUp,
                }
            }
        };
        let mut tx = self.db.begin().await?;
        let node = &self.settings.node;
        if !guichet_store::webhooks::record_attempt(&mut tx, delivery, node, attempt.as_ref(), outcome).await? {
            return Ok(false);
        }
        if matches!(outcome, Outcome::RetryAt(_) | Outcome::GiveUp) {
            let failing_since = guichet_store::webhooks::find_webhook(&mut tx, hook.id)
                .await?
                .and_then(|h| h.failing_since)
                .unwrap_or(now);
            if policy.pauses(failing_since, now)
                && guichet_store::webhooks::pause_webhook(&mut tx, hook.id, now).await?
            {
                tracing::warn!(webhook = hook.id, url = %hook.fields.url, "webhook paused after a day of failures");
                self.tell_webhook_paused(&mut tx, hook, failing_since).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn tell_webhook_paused(
        &self,
        tx: &mut Conn,
        hook: &Webhook,
        failing_since: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let owner = guichet_store::users::find_user(tx, UserId(hook.owner_id)).await?;
        let page = format!("{}/admin/webhooks/{}", self.settings.mail.portal_url.trim_end_matches('/'), hook.id);
        let since = failing_since.format("%d/%m/%Y %H:%M");
        let (subject, text) = match owner.language {
            Language::Fr => (
                format!("Guichet : le webhook « {} » est suspendu", hook.fields.name),
                format!(
                    "Les envois vers {} échouent depuis le {since} (UTC) : le webhook « {} » est suspendu.\n\
                     Les événements continuent d'être enregistrés et partiront dans l'ordre quand vous le reprendrez : {page}",
                    hook.fields.url, hook.fields.name
                ),
            ),
            Language::En => (
                format!("Guichet: the webhook \"{}\" is paused", hook.fields.name),
                format!(
                    "Deliveries to {} have failed since {since} (UTC): the webhook \"{}\" is paused.\n\
                     Events are still recorded and will go out in order when you resume it: {page}",
                    hook.fields.url, hook.fields.name
                ),
            ),
        };
        let plain = PlainMail {
            kind: "webhook_paused".into(),
            recipient: owner.email.as_str().to_owned(),
            subject,
            text,
            reply_to: None,
            automatic: false,
        };
        self.send_plain(tx, plain).await?;
        Ok(())
    }

    /// Deletes finished deliveries past their keeping time.
    pub async fn purge_webhook_deliveries(&self) -> Result<u64, AppError> {
        let before = self.now() - Duration::days(i64::from(self.settings.webhooks.keep_days));
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::webhooks::purge_done(&mut conn, before).await?)
    }
}

/// The history entries as a receiver reads them.
fn changes_json(changes: &[FieldChange]) -> String {
    let list: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| serde_json::json!({"field": c.field, "old": c.old, "new": c.new, "internal": c.internal}))
        .collect();
    serde_json::Value::Array(list).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_url_is_http_with_a_host_and_no_credentials() {
        assert!(check_url("https://hooks.example.org/guichet", false).is_ok());
        assert!(check_url("ftp://hooks.example.org/", false).unwrap_err().contains("https://"));
        assert!(check_url("https://user:pw@hooks.example.org/", false).unwrap_err().contains("password"));
        assert!(check_url("not a url", false).is_err());
    }

    #[test]
    fn a_private_or_local_receiver_needs_the_setting() {
        for url in ["http://127.0.0.1:9000/", "http://localhost/", "http://[::1]/", "http://169.254.169.254/latest"] {
            assert!(check_url(url, false).unwrap_err().contains("allow_private_networks"), "{url}");
            assert!(check_url(url, true).is_ok(), "{url}");
        }
    }
}
