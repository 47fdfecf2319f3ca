//! Webhook subscriptions, their deliveries (an outbox, claimed by one sender
//! at a time as the mail's is) and each delivery's tries (see migration 0028).

use crate::db::{from_micros, opt_from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub fields: WebhookFields,
    pub secret: String,
    pub owner_id: i64,
    pub owner_name: String,
    pub paused_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Deliveries waiting to be sent.
    pub pending: i64,
}

/// What an administrator writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookFields {
    pub name: String,
    pub url: String,
    /// Event names.
    pub events: Vec<String>,
    pub filter: Option<String>,
    pub active: bool,
}

impl WebhookFields {
    /// Stored with a space on each side, so that `LIKE '% name %'` finds one.
    fn events_column(&self) -> String {
        format!(" {} ", self.events.join(" "))
    }
}

type WebhookRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    bool,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
);

const WEBHOOK_SELECT: &str = "SELECT w.id, w.name, w.url, w.secret, w.events, w.filter, w.active, w.owner_id, u.name, \
     w.paused_at, w.failing_since, w.last_success_at, w.created_at, \
     (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending') \
     FROM webhooks w JOIN users u ON u.id = w.owner_id";

fn webhook(r: WebhookRow) -> Webhook {
    Webhook {
        id: r.0,
        fields: WebhookFields {
            name: r.1,
            url: r.2,
            events: r.4.split_whitespace().map(str::to_owned).collect(),
            filter: r.5,
            active: r.6,
        },
        secret: r.3,
        owner_id: r.7,
        owner_name: r.8,
        paused_at: opt_from_micros(r.9),
        failing_since: opt_from_micros(r.10),
        last_success_at: opt_from_micros(r.11),
        created_at: from_micros(r.12),
        pending: r.13,
    }
}

pub async fn list_webhooks(conn: &mut Conn) -> Result<Vec<Webhook>> {
    let sql = format!("{WEBHOOK_SELECT} ORDER BY w.name, w.id");
    let rows: Vec<WebhookRow> = on_conn!(conn, |c| sqlx::query_as(&sql).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(webhook).collect())
}

pub async fn find_webhook(conn: &mut Conn, id: i64) -> Result<Option<Webhook>> {
    let sql = format!("{WEBHOOK_SELECT} WHERE w.id = $1");
    let row: Option<WebhookRow> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await)?;
    Ok(row.map(webhook))
}

pub async fn insert_webhook(
    conn: &mut Conn,
    fields: &WebhookFields,
    secret: &str,
    owner: i64,
    now: DateTime<Utc>,
) -> Result<i64> {
    let sql = "INSERT INTO webhooks (name, url, secret, events, filter, active, owner_id, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(&fields.name)
        .bind(&fields.url)
        .bind(secret)
        .bind(fields.events_column())
        .bind(&fields.filter)
        .bind(fields.active)
        .bind(owner)
        .bind(to_micros(now))
        .fetch_one(&mut *c)
        .await)?)
}

/// Returns whether the subscription exists.
pub async fn update_webhook(conn: &mut Conn, id: i64, fields: &WebhookFields, now: DateTime<Utc>) -> Result<bool> {
    let sql = "UPDATE webhooks SET name = $1, url = $2, events = $3, filter = $4, active = $5, updated_at = $6 \
               WHERE id = $7";
    let n = on_conn!(conn, |c| sqlx::query(sql)
        .bind(&fields.name)
        .bind(&fields.url)
        .bind(fields.events_column())
        .bind(&fields.filter)
        .bind(fields.active)
        .bind(to_micros(now))
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

pub async fn set_secret(conn: &mut Conn, id: i64, secret: &str, now: DateTime<Utc>) -> Result<bool> {
    let sql = "UPDATE webhooks SET secret = $1, updated_at = $2 WHERE id = $3";
    let n = on_conn!(conn, |c| sqlx::query(sql)
        .bind(secret)
        .bind(to_micros(now))
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

pub async fn delete_webhook(conn: &mut Conn, id: i64) -> Result<bool> {
    let n = on_conn!(conn, |c| sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Pauses a subscription; true only for the call that paused it (its owner
/// is told once).
pub async fn pause_webhook(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<bool> {
    let sql = "UPDATE webhooks SET paused_at = $1 WHERE id = $2 AND paused_at IS NULL";
    let n = on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Ends a pause: the waiting deliveries go out at once, in order, each with
/// a fresh count of tries.
pub async fn resume_webhook(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<bool> {
    let resume = "UPDATE webhooks SET paused_at = NULL, failing_since = NULL WHERE id = $1";
    let n = on_conn!(conn, |c| sqlx::query(resume).bind(id).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    let due = "UPDATE webhook_deliveries SET next_attempt_at = $1, attempts = 0 \
               WHERE webhook_id = $2 AND state = 'pending'";
    on_conn!(conn, |c| sqlx::query(due)
        .bind(to_micros(now))
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// What an event is about, and who caused it.
#[derive(Debug, Clone, Default)]
pub struct EventSubject {
    pub ticket: Option<i64>,
    pub incident: Option<i64>,
    pub actor: Option<i64>,
    /// The history entries of the change, as JSON.
    pub changes: String,
}

/// Queues a delivery of `event` to every active subscription that chose it,
/// in the caller's transaction. One statement, which writes nothing when
/// no subscription wants the event. Its pattern is built in SQL, not bound
/// whole: SQLite prepares a statement again at each run when a `LIKE`'s
/// pattern is a bound value (to use an index, should the column have one),
/// and this one runs in every filing and every change, on SQLite's one
/// writer.
pub async fn queue_deliveries(conn: &mut Conn, event: &str, subject: &EventSubject, now: DateTime<Utc>) -> Result<u64> {
    let sql = "INSERT INTO webhook_deliveries (webhook_id, event, ticket_id, incident_id, actor_id, changes, \
               occurred_at, next_attempt_at, created_at, request_id) \
               SELECT id, $1, $2, $3, $4, $5, $6, $6, $6, $7 FROM webhooks \
               WHERE active AND events LIKE '% ' || $8 || ' %'";
    Ok(on_conn!(conn, |c| sqlx::query(sql)
        .bind(event)
        .bind(subject.ticket)
        .bind(subject.incident)
        .bind(subject.actor)
        .bind(&subject.changes)
        .bind(to_micros(now))
        .bind(crate::context::current_request_id())
        .bind(event)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Queues a `ping` to one subscription (also when switched off: it checks
/// the receiver). Returns the delivery's id.
pub async fn queue_ping(conn: &mut Conn, webhook: i64, actor: i64, now: DateTime<Utc>) -> Result<i64> {
    let sql = "INSERT INTO webhook_deliveries (webhook_id, event, actor_id, changes, occurred_at, next_attempt_at, \
               created_at, request_id) VALUES ($1, 'ping', $2, '[]', $3, $3, $3, $4) RETURNING id";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(webhook)
        .bind(actor)
        .bind(to_micros(now))
        .bind(crate::context::current_request_id())
        .fetch_one(&mut *c)
        .await)?)
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event: String,
    pub ticket_id: Option<i64>,
    pub incident_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub changes: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub done_at: Option<DateTime<Utc>>,
    pub request_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    webhook_id: i64,
    event: String,
    ticket_id: Option<i64>,
    incident_id: Option<i64>,
    actor_id: Option<i64>,
    changes: String,
    occurred_at: i64,
    payload: Option<String>,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    done_at: Option<i64>,
    request_id: Option<String>,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Self {
        Delivery {
            id: r.id,
            webhook_id: r.webhook_id,
            event: r.event,
            ticket_id: r.ticket_id,
            incident_id: r.incident_id,
            actor_id: r.actor_id,
            changes: r.changes,
            occurred_at: from_micros(r.occurred_at),
            payload: r.payload,
            state: r.state,
            attempts: r.attempts,
            next_attempt_at: from_micros(r.next_attempt_at),
            last_status: r.last_status,
            last_error: r.last_error,
            done_at: opt_from_micros(r.done_at),
            request_id: r.request_id,
        }
    }
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event, ticket_id, incident_id, actor_id, changes, occurred_at, \
    payload, state, attempts, next_attempt_at, last_status, last_error, done_at, request_id";

/// Claims up to `limit` deliveries due at `now` for `holder` until
/// `lease_until`, oldest first. A delivery waits while an earlier one of
/// the same subscription and ticket is still pending, so that a receiver
/// reads a ticket's events in the order they happened; a paused
/// subscription's deliveries wait.
pub async fn claim_due_deliveries(
    conn: &mut Conn,
    holder: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Delivery>> {
    let due = "SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
        WHERE d.state = 'pending' AND d.next_attempt_at <= $3 AND w.paused_at IS NULL \
        AND (d.locked_until IS NULL OR d.locked_until < $3) \
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.state = 'pending' \
            AND e.webhook_id = d.webhook_id AND e.ticket_id = d.ticket_id AND e.id < d.id) \
        ORDER BY d.next_attempt_at, d.id LIMIT $4";
    let claim = crate::claims::Claim {
        table: "webhook_deliveries",
        key: "id",
        due,
        lock_of: " OF d",
        columns: DELIVERY_COLUMNS,
    };
    let mut rows: Vec<DeliveryRow> = crate::claims::claim_rows(conn, &claim, holder, now, lease_until, limit).await?;
    rows.sort_by_key(|r| (r.next_attempt_at, r.id));
    Ok(rows.into_iter().map(Delivery::from).collect())
}

/// Fixes the body a delivery sends, once: a retry sends what the first try did.
pub async fn set_payload(conn: &mut Conn, id: i64, payload: &str) -> Result<()> {
    let sql = "UPDATE webhook_deliveries SET payload = $1 WHERE id = $2 AND payload IS NULL";
    on_conn!(conn, |c| sqlx::query(sql).bind(payload).bind(id).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// One try, as the receiver answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub node: String,
    pub status: Option<i64>,
    pub duration_ms: i64,
    pub response: String,
    pub error: Option<String>,
}

/// What becomes of a delivery after a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    RetryAt(DateTime<Utc>),
    GiveUp,
    /// The ticket no longer matches the subscription's filter: not sent.
    Filtered,
}

/// Records a try and its outcome, if `holder`'s claim still holds; false
/// when it does not (another sender took the delivery over). A success
/// clears the subscription's failure streak; a failure starts one.
pub async fn record_attempt(
    conn: &mut Conn,
    delivery: &Delivery,
    holder: &str,
    attempt: Option<&Attempt>,
    outcome: Outcome,
) -> Result<bool> {
    let now = attempt.map(|a| a.at).unwrap_or(delivery.next_attempt_at);
    let (state, next, done) = match outcome {
        Outcome::Delivered => ("delivered", delivery.next_attempt_at, Some(now)),
        Outcome::RetryAt(at) => ("pending", at, None),
        Outcome::GiveUp => ("failed", delivery.next_attempt_at, Some(now)),
        Outcome::Filtered => ("filtered", delivery.next_attempt_at, Some(now)),
    };
    let tried = i64::from(attempt.is_some());
    let sql = "UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, done_at = $3, \
               attempts = attempts + $4, last_status = $5, last_error = $6, locked_by = NULL, locked_until = NULL \
               WHERE id = $7 AND locked_by = $8 AND state = 'pending'";
    let n = on_conn!(conn, |c| sqlx::query(sql)
        .bind(state)
        .bind(to_micros(next))
        .bind(done.map(to_micros))
        .bind(tried)
        .bind(attempt.and_then(|a| a.status))
        .bind(attempt.and_then(|a| a.error.clone()))
        .bind(delivery.id)
        .bind(holder)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Ok(false);
    }
    let Some(a) = attempt else { return Ok(true) };
    let sql = "INSERT INTO webhook_attempts (delivery_id, at, node, status, duration_ms, response, error) \
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(delivery.id)
        .bind(to_micros(a.at))
        .bind(&a.node)
        .bind(a.status)
        .bind(a.duration_ms)
        .bind(&a.response)
        .bind(&a.error)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    let streak = if outcome == Outcome::Delivered {
        "UPDATE webhooks SET failing_since = NULL, last_success_at = $1 WHERE id = $2"
    } else {
        "UPDATE webhooks SET failing_since = COALESCE(failing_since, $1) WHERE id = $2"
    };
    on_conn!(conn, |c| sqlx::query(streak)
        .bind(to_micros(a.at))
        .bind(delivery.webhook_id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(true)
}

/// Gives back claims not used (the receiver is down: the rest waits).
pub async fn release_deliveries(conn: &mut Conn, holder: &str, ids: &[i64]) -> Result<()> {
    for id in ids {
        let sql =
            "UPDATE webhook_deliveries SET locked_by = NULL, locked_until = NULL WHERE id = $1 AND locked_by = $2";
        on_conn!(conn, |c| sqlx::query(sql).bind(id).bind(holder).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// A subscription's deliveries, newest first.
pub async fn list_deliveries(conn: &mut Conn, webhook: i64, limit: i64) -> Result<Vec<Delivery>> {
    let sql =
        format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2");
    let rows: Vec<DeliveryRow> =
        on_conn!(conn, |c| sqlx::query_as(&sql).bind(webhook).bind(limit).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(Delivery::from).collect())
}

pub async fn find_delivery(conn: &mut Conn, webhook: i64, id: i64) -> Result<Option<Delivery>> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2");
    let row: Option<DeliveryRow> =
        on_conn!(conn, |c| sqlx::query_as(&sql).bind(webhook).bind(id).fetch_optional(&mut *c).await)?;
    Ok(row.map(Delivery::from))
}

type AttemptRow = (i64, String, Option<i64>, i64, String, Option<String>);

/// A delivery's tries, oldest first.
pub async fn list_attempts(conn: &mut Conn, delivery: i64) -> Result<Vec<Attempt>> {
    let sql = "SELECT at, node, status, duration_ms, response, error FROM webhook_attempts \
               WHERE delivery_id = $1 ORDER BY id";
    let rows: Vec<AttemptRow> = on_conn!(conn, |c| sqlx::query_as(sql).bind(delivery).fetch_all(&mut *c).await)?;
    Ok(rows
        .into_iter()
        .map(|r| Attempt { at: from_micros(r.0), node: r.1, status: r.2, duration_ms: r.3, response: r.4, error: r.5 })
        .collect())
}

/// Sends a delivery again (delivered, given up or waiting): it goes out at
/// once with its original body, with a fresh count of tries.
pub async fn redeliver(conn: &mut Conn, webhook: i64, id: i64, now: DateTime<Utc>) -> Result<bool> {
    let sql = "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, done_at = NULL, \
               locked_by = NULL, locked_until = NULL WHERE webhook_id = $2 AND id = $3 AND state <> 'filtered'";
    let n = on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(webhook)
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Deletes deliveries finished before `before`, with their tries: their
/// bodies hold the tickets' personal data.
pub async fn purge_done(conn: &mut Conn, before: DateTime<Utc>) -> Result<u64> {
    let tries = "DELETE FROM webhook_attempts WHERE delivery_id IN \
                 (SELECT id FROM webhook_deliveries WHERE done_at IS NOT NULL AND done_at < $1)";
    on_conn!(conn, |c| sqlx::query(tries).bind(to_micros(before)).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    let sql = "DELETE FROM webhook_deliveries WHERE done_at IS NOT NULL AND done_at < $1";
    Ok(on_conn!(conn, |c| sqlx::query(sql).bind(to_micros(before)).execute(&mut *c).await.map(|r| r.rows_affected()))?)
}

/// Forgets what deliveries about a ticket hold (an erasure, a masking):
/// finished ones are deleted with their tries; a waiting one loses its
/// body, made again from the ticket as it is now when it is sent.
pub async fn forget_ticket_payloads(conn: &mut Conn, ticket: i64) -> Result<()> {
    let tries = "DELETE FROM webhook_attempts WHERE delivery_id IN \
                 (SELECT id FROM webhook_deliveries WHERE ticket_id = $1 AND state <> 'pending')";
    on_conn!(conn, |c| sqlx::query(tries).bind(ticket).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    let done = "DELETE FROM webhook_deliveries WHERE ticket_id = $1 AND state <> 'pending'";
    on_conn!(conn, |c| sqlx::query(done).bind(ticket).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    let waiting = "UPDATE webhook_deliveries SET payload = NULL WHERE ticket_id = $1";
    on_conn!(conn, |c| sqlx::query(waiting).bind(ticket).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(())
}
