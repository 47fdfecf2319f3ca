//! The webhook delivery job: sends queued deliveries, signed, oldest first
//! and in order per ticket, and records each try. It lives beside the API's
//! views because a delivery's body is made of them: a receiver reads the
//! same ticket the API gives.

use crate::api::v1::incidents::IncidentDetails;
use crate::views::{CommentView, TicketView};
use guichet_app::webhooks::WebhookSettings;
use guichet_app::{App, AppError};
use guichet_domain::ids::TicketId;
use guichet_domain::webhook::{self, WebhookEvent};
use guichet_store::webhooks::{Attempt, Delivery, Webhook};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Deliveries claimed per round.
const BATCH: i64 = 10;
/// The start of a receiver's answer kept in the log.
const RESPONSE_EXCERPT: usize = 1024;

/// Sends deliveries as the settings say.
#[derive(Debug, Clone)]
pub struct Deliverer {
    allow_private_networks: bool,
    timeout: Duration,
}

impl Deliverer {
    pub fn new(settings: &WebhookSettings) -> Self {
        Self {
            allow_private_networks: settings.allow_private_networks,
            timeout: Duration::from_secs(settings.timeout_seconds.max(1)),
        }
    }

    /// Sends every delivery due now; returns how many were delivered.
    pub async fn deliver_due(&self, app: &App) -> Result<usize, AppError> {
        // Long enough for a whole batch of receivers that answer at the timeout.
        let claim =
            chrono::Duration::from_std(self.timeout * (BATCH as u32 + 1)).unwrap_or(chrono::Duration::minutes(5));
        let mut delivered = 0;
        loop {
            let due = app.claim_due_deliveries(BATCH, claim).await?;
            if due.is_empty() {
                return Ok(delivered);
            }
            for delivery in due {
                let Some(hook) = app.find_webhook_for_delivery(delivery.webhook_id).await? else { continue };
                let span = tracing::info_span!(
                    "webhook",
                    webhook = hook.id,
                    delivery = delivery.id,
                    request_id = delivery.request_id.as_deref()
                );
                let ok = tracing::Instrument::instrument(self.deliver(app, &hook, &delivery), span).await?;
                delivered += usize::from(ok);
            }
        }
    }

    async fn deliver(&self, app: &App, hook: &Webhook, delivery: &Delivery) -> Result<bool, AppError> {
        let payload = match &delivery.payload {
            Some(p) => p.clone(),
            None => match payload(app, hook, delivery).await {
                Ok(Some(p)) => {
                    app.set_delivery_payload(delivery.id, &p).await?;
                    p
                }
                Ok(None) => {
                    app.record_delivery(hook, delivery, None, false).await?;
                    return Ok(false);
                }
                Err(why) => {
                    let attempt = failed_attempt(app, why, Duration::ZERO);
                    app.record_delivery(hook, delivery, Some(attempt), false).await?;
                    return Ok(false);
                }
            },
        };
        let started = Instant::now();
        let attempt = match self.post(hook, delivery, &payload, app.now()).await {
            Ok((status, response)) => Attempt {
                at: app.now(),
                node: app.settings.node.clone(),
                status: Some(i64::from(status)),
                duration_ms: elapsed_ms(started),
                response,
                error: (!(200..300).contains(&status)).then(|| format!("the receiver answered {status}")),
            },
            Err(why) => failed_attempt(app, why, started.elapsed()),
        };
        let ok = attempt.error.is_none();
        if ok {
            tracing::info!(status = attempt.status, "webhook delivered");
            metrics::counter!("guichet_webhook_deliveries_total", "outcome" => "delivered").increment(1);
        } else {
            tracing::warn!(error = attempt.error.as_deref(), "webhook not delivered");
            metrics::counter!("guichet_webhook_deliveries_total", "outcome" => "failed").increment(1);
        }
        if !app.record_delivery(hook, delivery, Some(attempt), ok).await? {
            tracing::warn!("delivered after this node's claim expired: another node may deliver it again");
        }
        Ok(ok)
    }

    /// Posts the body, signed now; returns the status and the start of the answer.
    async fn post(
        &self,
        hook: &Webhook,
        delivery: &Delivery,
        payload: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(u16, String), String> {
        let url = guichet_app::webhooks::check_url(&hook.fields.url, self.allow_private_networks)?;
        let host = url.host_str().ok_or("the URL has no host")?.to_owned();
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let addr = self.resolve(&host, port).await?;
        // The checked address is the one connected to: a name that resolves
        // elsewhere a moment later (DNS rebinding) changes nothing.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(self.timeout)
            .resolve(host.trim_start_matches('[').trim_end_matches(']'), addr)
            .user_agent(concat!("Guichet-Webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let mut response = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Guichet-Event", &delivery.event)
            .header("X-Guichet-Delivery", delivery.id.to_string())
            .header(webhook::SIGNATURE_HEADER, webhook::sign(&hook.secret, now, payload.as_bytes()))
            .body(payload.to_owned())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while body.len() < RESPONSE_EXCERPT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(RESPONSE_EXCERPT);
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((bare, port)).await.map_err(|e| format!("cannot resolve {bare}: {e}"))?.collect();
        let first = addrs.first().copied().ok_or_else(|| format!("{bare} has no address"))?;
        if self.allow_private_networks {
            return Ok(first);
        }
        match addrs.iter().find(|a| !webhook::is_public_address(a.ip())) {
            Some(private) => Err(format!(
                "{bare} resolves to {}, on this machine or a private network; \
                 set [webhooks] allow_private_networks = true to deliver there",
                private.ip()
            )),
            None => Ok(first),
        }
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

fn failed_attempt(app: &App, why: String, took: Duration) -> Attempt {
    Attempt {
        at: app.now(),
        node: app.settings.node.clone(),
        status: None,
        duration_ms: i64::try_from(took.as_millis()).unwrap_or(i64::MAX),
        response: String::new(),
        error: Some(why),
    }
}

/// A sending error in one line, with its cause (reqwest's top line alone
/// says only "error sending request").
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "the receiver did not answer in time".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The body of a delivery: the event, who caused it, the history entries,
/// and the ticket (or incident) as the API shows it to the subscription's
/// owner. None when the ticket does not pass the subscription's filter.
async fn payload(app: &App, hook: &Webhook, d: &Delivery) -> Result<Option<String>, String> {
    let owner = app
        .webhook_owner(hook)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the subscription's owner is no longer an administrator: another administrator must take it over")?;
    let event = WebhookEvent::parse(&d.event).map_err(|e| e.to_string())?;
    let changes: serde_json::Value = serde_json::from_str(&d.changes).unwrap_or_else(|_| json!([]));
    let mut body = json!({
        "delivery": d.id,
        "event": d.event,
        "occurred_at": d.occurred_at,
        "actor": match d.actor_id {
            Some(id) => json!({"id": id, "name": app.user_name(id).await.map_err(|e| e.to_string())?}),
            None => json!(null),
        },
        "changes": changes,
        "webhook": {"id": hook.id, "name": hook.fields.name},
    });
    if let Some(ticket) = d.ticket_id.filter(|_| event.about_a_ticket()) {
        if let Some(filter) = &hook.fields.filter {
            if !app.webhook_filter_matches(&owner, ticket, filter).await.map_err(|e| e.to_string())? {
                return Ok(None);
            }
        }
        let key = app.key(TicketId(ticket));
        let details = app.get_ticket(&owner, &key).await.map_err(|e| format!("{key}: {e}"))?;
        let view = TicketView::from_details(app, details);
        body["ticket"] = serde_json::to_value(view).map_err(|e| e.to_string())?;
        if event == WebhookEvent::PublicComment {
            let comments = app.list_comments(&owner, &key).await.map_err(|e| e.to_string())?;
            let comment = comments.into_iter().rfind(|c| !c.internal && c.created_at <= d.occurred_at);
            body["comment"] = serde_json::to_value(comment.map(CommentView::from)).map_err(|e| e.to_string())?;
        }
    }
    if let Some(incident) = d.incident_id {
        let view = app.incident(&owner, incident).await.map_err(|e| e.to_string())?;
        body["incident"] = serde_json::to_value(IncidentDetails::new(app, view)).map_err(|e| e.to_string())?;
    }
    if event == WebhookEvent::Ping {
        body["webhook"]["events"] = json!(hook.fields.events);
    }
    Ok(Some(body.to_string()))
}

/// Delivers every few seconds until `stop` turns true; deletes finished
/// deliveries past their keeping time once an hour.
pub async fn run(app: App, deliverer: Deliverer, period: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(period);
    let mut last_purge: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        match deliverer.deliver_due(&app).await {
            Ok(_) => app.tasks.succeeded("webhooks", app.now()),
            Err(e) => {
                app.tasks.failed("webhooks", &e.to_string(), app.now());
                tracing::warn!(error = %e, "webhook round failed; retrying");
            }
        }
        if last_purge.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            last_purge = Some(Instant::now());
            match app.purge_webhook_deliveries().await {
                Ok(n) if n > 0 => tracing::info!(deliveries = n, "old webhook deliveries deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot delete old webhook deliveries"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_resolving_to_this_machine_is_refused_unless_allowed() {
        let strict = Deliverer::new(&WebhookSettings::default());
        let error = strict.resolve("localhost", 80).await.unwrap_err();
        assert!(error.contains("private network"), "{error}");
        let allowing = Deliverer::new(&WebhookSettings { allow_private_networks: true, ..WebhookSettings::default() });
        assert!(allowing.resolve("localhost", 80).await.unwrap().ip().is_loopback());
    }
}
