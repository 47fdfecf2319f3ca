//! Webhooks: which events a change raises, how a delivery is signed and
//! checked, and when a failing delivery is tried again or its subscription
//! paused. Sending is the delivery job's; this module only decides.

use crate::error::DomainError;
use crate::history::FieldChange;
use crate::ticket::Tier;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

crate::vocabulary!(
    /// What a subscription can be told about.
    WebhookEvent, "event", {
        TicketCreated => "ticket.created",
        TicketUpdated => "ticket.updated",
        StatusChanged => "ticket.status_changed",
        Escalated => "ticket.escalated",
        Resolved => "ticket.resolved",
        PublicComment => "comment.public",
        IncidentDeclared => "incident.declared",
        IncidentResolved => "incident.resolved",
        Ping => "ping",
    }
);

impl WebhookEvent {
    /// Whether the event is about one ticket (and so passes the
    /// subscription's query-language filter, and is ordered per ticket).
    pub fn about_a_ticket(self) -> bool {
        !matches!(self, Self::IncidentDeclared | Self::IncidentResolved | Self::Ping)
    }

    /// The events a subscription may choose (`ping` is sent on request only).
    pub fn subscribable() -> impl Iterator<Item = WebhookEvent> {
        Self::ALL.iter().copied().filter(|e| *e != Self::Ping)
    }
}

/// The events a ticket's history entries raise, in the order a receiver
/// reads them. `resolved_codes` are the workflows' statuses of the
/// "resolved" category. A change of a field raises `ticket.updated`; a
/// status change `ticket.status_changed` (and `ticket.resolved` when the
/// new status is a resolved one), never also `ticket.updated`; a move to a
/// higher level `ticket.escalated`; the desk's or the requester's public
/// reply `comment.public`. Internal notes and the desk's own bookkeeping
/// (service-level marks, automatic mail) raise nothing.
pub fn ticket_events(changes: &[FieldChange], resolved_codes: &[String]) -> Vec<WebhookEvent> {
    let mut events = Vec::new();
    let mut push = |e: WebhookEvent| {
        if !events.contains(&e) {
            events.push(e);
        }
    };
    for change in changes {
        match change.field {
            "created" => push(WebhookEvent::TicketCreated),
            "status" => {
                push(WebhookEvent::StatusChanged);
                if change.new.as_ref().is_some_and(|s| resolved_codes.contains(s)) {
                    push(WebhookEvent::Resolved);
                }
            }
            "tier" => {
                let rank = |v: &Option<String>| v.as_deref().and_then(|t| Tier::parse(t).ok()).map(tier_rank);
                if rank(&change.new) > rank(&change.old) {
                    push(WebhookEvent::Escalated);
                } else {
                    push(WebhookEvent::TicketUpdated);
                }
            }
            "comment" => {
                if !change.internal {
                    push(WebhookEvent::PublicComment);
                }
            }
            // The resolution goes with the status change that sets or clears it.
            "resolution" | "sla" | "automatic_mail" | "unauthenticated_sender" | "reminder" | "satisfaction" => {}
            _ => push(WebhookEvent::TicketUpdated),
        }
    }
    // A new ticket's first entries describe it; they are not updates.
    if events.contains(&WebhookEvent::TicketCreated) {
        events.retain(|e| *e == WebhookEvent::TicketCreated);
    }
    events
}

fn tier_rank(t: Tier) -> u8 {
    match t {
        Tier::Establishment => 0,
        Tier::Support => 1,
        Tier::Technical => 2,
    }
}

/// Parses the space- or comma-separated events a subscription chooses.
pub fn parse_events(text: &str) -> Result<Vec<WebhookEvent>, DomainError> {
    let mut events = Vec::new();
    for word in text.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()) {
        let event = WebhookEvent::parse(word).map_err(|_| {
            let known: Vec<&str> = WebhookEvent::subscribable().map(WebhookEvent::as_str).collect();
            DomainError::field("events", format!("unknown event `{word}`; expected some of: {}", known.join(", ")))
        })?;
        if event == WebhookEvent::Ping {
            return Err(DomainError::field(
                "events",
                "`ping` is sent on request (POST /webhooks/{id}/ping), not subscribed to",
            ));
        }
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        return Err(DomainError::field("events", "choose at least one event"));
    }
    Ok(events)
}

/// Whether a receiver at `ip` is on the public internet. Deliveries to the
/// machine itself, private and link-local networks (a cloud's metadata
/// service) are refused unless the configuration allows them: an
/// administrator's URL must not reach what only the server can.
pub fn is_public_address(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // Shared address space (carrier NAT), 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_address(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// The name of the header that carries a delivery's signature.
pub const SIGNATURE_HEADER: &str = "X-Guichet-Signature";

/// How old a signed timestamp a receiver should still accept: deliveries
/// are signed when sent (each retry anew), so a delivery older than this
/// is a replay.
pub const REPLAY_WINDOW_SECONDS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // An HMAC key may have any length: `new_from_slice` cannot fail for HMAC.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">`. The timestamp is inside the signed text, so a receiver
/// that checks it refuses a delivery replayed later.
pub fn sign(secret: &str, at: DateTime<Utc>, body: &[u8]) -> String {
    let t = at.timestamp();
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).finalize().into_bytes()))
}

/// Why a receiver refuses a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    Malformed,
    Mismatch,
    TooOld { age_seconds: i64 },
}

/// What a receiver does with the header: checks the signature in constant
/// time against every `v1` (two during a secret's change) and the age of
/// the timestamp against `window_seconds`.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    window_seconds: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(hex::decode(s).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let age = now.timestamp() - t;
    if age.abs() > window_seconds {
        return Err(SignatureError::TooOld { age_seconds: age });
    }
    if signatures.iter().any(|s| mac(secret, t, body).verify_slice(s).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// When and how often a failing delivery is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure; it doubles at each one after.
    pub first_wait: Duration,
    /// The longest wait between two tries.
    pub max_wait: Duration,
    /// Tries of one delivery before it is given up (kept, re-sendable): by
    /// default more than a day's worth, so that a receiver that is down
    /// pauses its subscription (nothing lost) before a delivery is given up.
    pub max_attempts: u32,
    /// A subscription whose deliveries all failed for this long is paused
    /// (its events wait) and its owner told.
    pub pause_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_wait: Duration::seconds(30),
            max_wait: Duration::hours(1),
            max_attempts: 40,
            pause_after: Duration::hours(24),
        }
    }
}

/// What to do after a delivery's try failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

impl RetryPolicy {
    /// After the `attempts`-th failed try (1 for the first) at `now`.
    pub fn after_failure(&self, attempts: u32, now: DateTime<Utc>) -> AfterFailure {
        if attempts >= self.max_attempts {
            return AfterFailure::GiveUp;
        }
        let doublings = attempts.saturating_sub(1).min(20);
        let wait = self.first_wait.checked_mul(1 << doublings).unwrap_or(self.max_wait).min(self.max_wait);
        AfterFailure::RetryAt(now + wait)
    }

    /// Whether a subscription failing since `failing_since` is paused at `now`.
    pub fn pauses(&self, failing_since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - failing_since >= self.pause_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(field: &'static str, old: Option<&str>, new: Option<&str>) -> FieldChange {
        FieldChange::public(field, old.map(Into::into), new.map(Into::into))
    }

    fn resolved() -> Vec<String> {
        vec!["resolved".into()]
    }

    #[test]
    fn a_new_ticket_raises_only_created() {
        let changes = [change("created", None, Some("SUP-1")), change("assignee", None, Some("Claire"))];
        assert_eq!(ticket_events(&changes, &resolved()), [WebhookEvent::TicketCreated]);
    }

    #[test]
    fn a_resolution_raises_status_changed_and_resolved_but_not_updated() {
        let changes =
            [change("status", Some("in_progress"), Some("resolved")), change("resolution", None, Some("fixed"))];
        assert_eq!(ticket_events(&changes, &resolved()), [WebhookEvent::StatusChanged, WebhookEvent::Resolved]);
        let waiting = [change("status", Some("new"), Some("waiting_on_requester"))];
        assert_eq!(ticket_events(&waiting, &resolved()), [WebhookEvent::StatusChanged]);
    }

    #[test]
    fn only_a_move_up_a_level_is_an_escalation() {
        let up = [FieldChange::internal("tier", Some("support".into()), Some("technical".into()))];
        assert_eq!(ticket_events(&up, &resolved()), [WebhookEvent::Escalated]);
        let forward = [FieldChange::internal("tier", Some("establishment".into()), Some("support".into()))];
        assert_eq!(ticket_events(&forward, &resolved()), [WebhookEvent::Escalated]);
        let back = [FieldChange::internal("tier", Some("technical".into()), Some("support".into()))];
        assert_eq!(ticket_events(&back, &resolved()), [WebhookEvent::TicketUpdated]);
    }

    #[test]
    fn public_replies_raise_an_event_and_internal_notes_none() {
        let reply = [change("comment", None, Some("reply"))];
        assert_eq!(ticket_events(&reply, &resolved()), [WebhookEvent::PublicComment]);
        let note = [FieldChange::internal("comment", None, Some("internal_note".into()))];
        assert!(ticket_events(&note, &resolved()).is_empty());
        let bookkeeping = [FieldChange::internal("sla", None, Some("breached".into()))];
        assert!(ticket_events(&bookkeeping, &resolved()).is_empty());
    }

    #[test]
    fn events_are_parsed_from_a_list_and_unknown_ones_are_named() {
        let events = parse_events("ticket.created, ticket.resolved ticket.created").unwrap();
        assert_eq!(events, [WebhookEvent::TicketCreated, WebhookEvent::Resolved]);
        let err = parse_events("ticket.created ticket.deleted").unwrap_err();
        assert!(err.to_string().contains("`ticket.deleted`"), "{err}");
        assert!(parse_events(" ").is_err());
        assert!(parse_events("ping").is_err());
    }

    #[test]
    fn a_signature_verifies_and_any_change_of_body_time_or_secret_fails() {
        let at: DateTime<Utc> = "2026-03-02T13:00:00Z".parse().unwrap();
        let header = sign("s3cret", at, b"{\"a\":1}");
        assert!(header.starts_with(&format!("t={},v1=", at.timestamp())));
        assert_eq!(verify("s3cret", &header, b"{\"a\":1}", at + Duration::seconds(10), 300), Ok(()));
        assert_eq!(verify("s3cret", &header, b"{\"a\":2}", at, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify("other", &header, b"{\"a\":1}", at, 300), Err(SignatureError::Mismatch));
        let replayed = verify("s3cret", &header, b"{\"a\":1}", at + Duration::minutes(6), 300);
        assert_eq!(replayed, Err(SignatureError::TooOld { age_seconds: 360 }));
        // Moving the timestamp forward breaks the signature: it is signed too.
        let moved = header.replace(&at.timestamp().to_string(), &(at.timestamp() + 360).to_string());
        assert_eq!(
            verify("s3cret", &moved, b"{\"a\":1}", at + Duration::minutes(6), 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify("s3cret", "v1=00", b"", at, 300), Err(SignatureError::Malformed));
        assert_eq!(verify("s3cret", "t=1,v1=zz", b"", at, 300), Err(SignatureError::Malformed));
    }

    #[test]
    fn private_loopback_and_link_local_addresses_are_not_public() {
        for private in
            ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1"]
        {
            assert!(!is_public_address(private.parse().unwrap()), "{private}");
        }
        for private in ["::1", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"] {
            assert!(!is_public_address(private.parse().unwrap()), "{private}");
        }
        for public in ["193.51.24.1", "8.8.8.8", "2001:4860:4860::8888", "::ffff:193.51.24.1"] {
            assert!(is_public_address(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_a_cap_then_give_up() {
        let now: DateTime<Utc> = "2026-03-02T13:00:00Z".parse().unwrap();
        let policy = RetryPolicy::default();
        assert_eq!(policy.after_failure(1, now), AfterFailure::RetryAt(now + Duration::seconds(30)));
        assert_eq!(policy.after_failure(2, now), AfterFailure::RetryAt(now + Duration::seconds(60)));
        assert_eq!(policy.after_failure(9, now), AfterFailure::RetryAt(now + Duration::hours(1)));
        assert_eq!(policy.after_failure(39, now), AfterFailure::RetryAt(now + Duration::hours(1)));
        assert_eq!(policy.after_failure(40, now), AfterFailure::GiveUp);
        assert!(!policy.pauses(now, now + Duration::hours(23)));
        assert!(policy.pauses(now, now + Duration::hours(24)));
    }
}
