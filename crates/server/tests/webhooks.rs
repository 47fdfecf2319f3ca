//! Webhooks on SQLite and PostgreSQL, delivered to a real HTTP receiver on
//! loopback: signatures, retries after 500s, order per ticket, the pause
//! after a day of failures, the filter, re-sending, several nodes, and who
//! may manage them.
#![allow(clippy::unwrap_used)]

use axum::http::{HeaderMap, StatusCode};
use guichet_app::Settings;
use guichet_domain::webhook::{verify, REPLAY_WINDOW_SECONDS};
use guichet_testkit::{json, Backend, Fixture, TestApp};
use guichet_web::webhooks::Deliverer;
use serde_json::Value;
use std::sync::{Arc, Mutex};

use guichet_testkit::per_backend_test as hook_test;

/// What the receiver was sent.
#[derive(Debug, Clone)]
struct Received {
    event: String,
    delivery: String,
    signature: String,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A receiver on loopback that records every request and answers the
/// statuses queued in `answers` (200 once they are used up).
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let header =
                        |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                    state.received.lock().unwrap().push(Received {
                        event: header("x-guichet-event"),
                        delivery: header("x-guichet-delivery"),
                        signature: header("x-guichet-signature"),
                        body: body.to_vec(),
                    });
                    let mut answers = state.answers.lock().unwrap();
                    let status = if answers.is_empty() { 200 } else { answers.remove(0) };
                    (StatusCode::from_u16(status).unwrap(), format!("answered {status}"))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn answer(&self, statuses: &[u16]) {
        self.answers.lock().unwrap().extend_from_slice(statuses);
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn events(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.event).collect()
    }
}

fn settings(allow_private: bool) -> Settings {
    let mut settings = guichet_testkit::mail::settings("support");
    settings.webhooks.allow_private_networks = allow_private;
    settings
}

async fn app_allowing_loopback(backend: Backend) -> TestApp {
    TestApp::with_settings(backend, settings(true)).await
}

async fn subscribe(app: &TestApp, f: &Fixture, url: &str, events: Value, filter: Option<&str>) -> (i64, String) {
    let body = json!({"name": "Supervision", "url": url, "events": events, "filter": filter});
    let r = app.post("/api/v1/webhooks", &f.admin, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let created = r.json();
    (created["id"].as_i64().unwrap(), created["secret"].as_str().unwrap().to_owned())
}

async fn deliver(app: &TestApp) -> usize {
    Deliverer::new(&app.app.settings.webhooks).deliver_due(&app.app).await.unwrap()
}

async fn new_ticket(app: &TestApp, f: &Fixture, token: &str, uai: &str, title: &str) -> String {
    let body = json!({"title": title, "description": "Bonjour", "establishment": uai});
    let r = app.post("/api/v1/tickets", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let _ = f;
    r.json()["key"].as_str().unwrap().to_owned()
}

hook_test!(a_tickets_life_reaches_the_receiver_signed_and_in_order, |backend| async move {
    let app = app_allowing_loopback(backend).await;
    let f = app.fixture().await;
    let (receiver, url) = Receiver::start().await;
    let events =
        json!(["ticket.created", "comment.public", "ticket.status_changed", "ticket.resolved", "ticket.updated"]);
    let (id, secret) = subscribe(&app, &f, &url, events, None).await;
    // The secret is shown once: never read back.
    let read = app.get(&format!("/api/v1/webhooks/{id}"), &f.admin).await.json();
    assert!(read.get("secret").is_none(), "{read}");

    let key = new_ticket(&app, &f, &f.requester_a, &f.uai_a, "Cahier de textes vide").await;
    let path = format!("/api/v1/tickets/{key}");
    app.post(&format!("{path}/comments"), &f.agent, json!({"body": "Nous regardons."})).await;
    app.post(&format!("{path}/comments"), &f.agent, json!({"body": "Note", "internal": true})).await;
    let change = json!({"priority": "high"});
    assert_eq!(app.patch(&path, &f.agent, change).await.status, StatusCode::OK);
    let change = json!({"status": "resolved", "resolution": "answered"});
    assert_eq!(app.patch(&path, &f.agent, change).await.status, StatusCode::OK);

    assert_eq!(deliver(&app).await, 5);
    assert_eq!(
        receiver.events(),
        ["ticket.created", "comment.public", "ticket.updated", "ticket.status_changed", "ticket.resolved"],
        "the internal note raised nothing; the rest in the order it happened"
    );
    let now = app.app.now();
    for r in receiver.received() {
        verify(&secret, &r.signature, &r.body, now, REPLAY_WINDOW_SECONDS)
            .unwrap_or_else(|e| panic!("{}: {e:?}", r.event));
        let body = r.json();
        assert_eq!(body["event"], r.event);
        assert_eq!(body["delivery"].to_string(), r.delivery);
        assert_eq!(body["ticket"]["key"], key.as_str());
    }
    let received = receiver.received();
    assert_eq!(received[1].json()["comment"]["body"], "Nous regardons.");
    assert_eq!(received[1].json()["actor"]["name"], "Claire Oreja");
    let changes = received[3].json()["changes"].as_array().unwrap().clone();
    assert!(
        changes.contains(&json!({"field": "status", "old": "new", "new": "resolved", "internal": false})),
        "{changes:?}"
    );
    // A body altered in transit, or signed with another secret, fails the check.
    let mut forged = received[0].body.clone();
    forged.push(b' ');
    assert!(verify(&secret, &received[0].signature, &forged, now, REPLAY_WINDOW_SECONDS).is_err());
    assert!(verify("another secret", &received[0].signature, &received[0].body, now, REPLAY_WINDOW_SECONDS).is_err());

    // The log shows each delivery and its try; nothing is left to send.
    let log = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &f.admin).await.json();
    assert_eq!(log.as_array().unwrap().len(), 5);
    assert!(log.as_array().unwrap().iter().all(|d| d["state"] == "delivered" && d["last_status"] == 200), "{log}");
    let first = log[4]["id"].as_i64().unwrap();
    let one = app.get(&format!("/api/v1/webhooks/{id}/deliveries/{first}"), &f.admin).await.json();
    assert_eq!(one["tries"][0]["status"], 200);
    assert_eq!(one["tries"][0]["response"], "answered 200");
    assert_eq!(one["payload"].as_str().unwrap().as_bytes(), received[0].body.as_slice());
    assert_eq!(deliver(&app).await, 0);
});

hook_test!(
    a_receiver_answering_500_is_retried_later_and_the_tickets_next_events_wait_their_turn,
    |backend| async move {
        let app = app_allowing_loopback(backend).await;
        let f = app.fixture().await;
        let (receiver, url) = Receiver::start().await;
        let (id, _) = subscribe(&app, &f, &url, json!(["ticket.created", "ticket.updated"]), None).await;
        receiver.answer(&[500]);
        let key = new_ticket(&app, &f, &f.requester_a, &f.uai_a, "Messagerie en panne").await;
        app.patch(&format!("/api/v1/tickets/{key}"), &f.agent, json!({"priority": "high"})).await;
        let other = new_ticket(&app, &f, &f.requester_b, &f.uai_b, "Autre école").await;

        assert_eq!(deliver(&app).await, 1, "the other ticket's event is not held up");
        assert_eq!(receiver.events(), ["ticket.created", "ticket.created"]);
        assert_eq!(receiver.received()[1].json()["ticket"]["key"], other.as_str());
        // Not yet time for the retry: nothing is sent, and the update waits behind the failed creation.
        app.clock.advance(chrono::Duration::seconds(10));
        assert_eq!(deliver(&app).await, 0);
        app.clock.advance(chrono::Duration::seconds(25));
        assert_eq!(deliver(&app).await, 2);
        let events: Vec<(String, Value)> =
            receiver.received().into_iter().map(|r| (r.event.clone(), r.json()["ticket"]["key"].clone())).collect();
        assert_eq!(events[2..], [("ticket.created".into(), json!(key)), ("ticket.updated".into(), json!(key))]);
        // The same body both times, with the same delivery id: the receiver can tell a retry.
        let received = receiver.received();
        assert_eq!(
            (received[0].body.clone(), received[0].delivery.clone()),
            (received[2].body.clone(), received[2].delivery.clone())
        );
        let log = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &f.admin).await.json();
        let created = log
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["ticket"] == key.as_str() && d["event"] == "ticket.created")
            .unwrap();
        assert_eq!(created["attempts"], 2);
        let one = app.get(&format!("/api/v1/webhooks/{id}/deliveries/{}", created["id"]), &f.admin).await.json();
        assert_eq!(one["tries"][0]["status"], 500);
        assert_eq!(one["tries"][0]["response"], "answered 500");
        assert_eq!(one["tries"][1]["status"], 200);
    }
);

hook_test!(a_subscription_failing_for_a_day_is_paused_its_owner_told_and_resumed_in_order, |backend| async move {
    let app = app_allowing_loopback(backend).await;
    let f = app.fixture().await;
    // Nothing listens there: every try fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let (id, _) = subscribe(&app, &f, &dead, json!(["ticket.created"]), None).await;
    new_ticket(&app, &f, &f.requester_a, &f.uai_a, "Premier").await;
    for _ in 0..30 {
        deliver(&app).await;
        app.clock.advance(chrono::Duration::hours(1));
    }
    let hook = app.get(&format!("/api/v1/webhooks/{id}"), &f.admin).await.json();
    assert!(hook["paused_at"].is_string(), "{hook}");
    let log = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &f.admin).await.json();
    assert!(log[0]["last_error"].as_str().unwrap().contains("onnect"), "{log}");
    // Its owner was told, once.
    let mut conn = app.app.db.conn().await.unwrap();
    let mails = guichet_store::mail::list_unsent_outgoing(&mut conn, 100).await.unwrap();
    let told: Vec<_> = mails.iter().filter(|m| m.mail.kind == "webhook_paused").collect();
    assert_eq!(told.len(), 1);
    assert!(told[0].mail.subject.contains("Supervision"), "{}", told[0].mail.subject);
    drop(conn);
    // Paused, events are still recorded but not sent.
    new_ticket(&app, &f, &f.requester_a, &f.uai_a, "Second").await;
    let (receiver, url) = Receiver::start().await;
    let r = app.patch(&format!("/api/v1/webhooks/{id}"), &f.admin, json!({"url": url})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(deliver(&app).await, 0);
    assert_eq!(r.json()["pending"], 2);
    let r = app.post(&format!("/api/v1/webhooks/{id}/resume"), &f.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(deliver(&app).await, 2);
    let titles: Vec<Value> = receiver.received().iter().map(|r| r.json()["ticket"]["title"].clone()).collect();
    assert_eq!(titles, [json!("Premier"), json!("Second")]);
});

hook_test!(the_filter_chooses_the_tickets_sent_and_a_wrong_one_is_refused_with_its_reason, |backend| async move {
    let app = app_allowing_loopback(backend).await;
    let f = app.fixture().await;
    let (receiver, url) = Receiver::start().await;
    let filter = format!("establishment = {}", f.uai_a);
    let (id, _) = subscribe(&app, &f, &url, json!(["ticket.created"]), Some(&filter)).await;
    let a = new_ticket(&app, &f, &f.requester_a, &f.uai_a, "École A").await;
    new_ticket(&app, &f, &f.requester_b, &f.uai_b, "École B").await;
    assert_eq!(deliver(&app).await, 1);
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(receiver.received()[0].json()["ticket"]["key"], a.as_str());
    let log = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &f.admin).await.json();
    assert_eq!(log[0]["state"], "filtered");

    for (filter, says) in [
        ("priorité = urgentissime", "urgentissime"),
        ("type = anomalie ORDER BY created", "ORDER BY"),
        ("(statut = nouveau", ")"),
    ] {
        let body = json!({"name": "x", "url": url, "events": ["ticket.created"], "filter": filter});
        let r = app.post("/api/v1/webhooks", &f.admin, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{filter}");
        let error = r.json()["error"].clone();
        assert_eq!(error["field"], "filter", "{error}");
        assert!(error["message"].as_str().unwrap().contains(says), "{filter}: {error}");
    }
});

hook_test!(bad_subscriptions_are_refused_naming_the_field, |backend| async move {
    let app = TestApp::with_settings(backend, settings(false)).await;
    let f = app.fixture().await;
    for (url, events, field, says) in [
        ("http://127.0.0.1:9/hook", json!(["ticket.created"]), "url", "allow_private_networks"),
        ("http://localhost/hook", json!(["ticket.created"]), "url", "allow_private_networks"),
        ("http://169.254.169.254/latest/meta-data", json!(["ticket.created"]), "url", "allow_private_networks"),
        ("http://[::1]/hook", json!(["ticket.created"]), "url", "allow_private_networks"),
        ("file:///etc/passwd", json!(["ticket.created"]), "url", "https://"),
        ("https://user:pw@hooks.example.org/", json!(["ticket.created"]), "url", "password"),
        ("https://hooks.example.org/", json!([]), "events", "at least one"),
        ("https://hooks.example.org/", json!(["ping"]), "events", "ping"),
    ] {
        let r = app.post("/api/v1/webhooks", &f.admin, json!({"name": "x", "url": url, "events": events})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{url} {events}");
        let error = r.json()["error"].clone();
        assert_eq!(error["field"], field, "{url}: {error}");
        assert!(error["message"].as_str().unwrap().contains(says), "{url}: {error}");
    }
    let r = app
        .post(
            "/api/v1/webhooks",
            &f.admin,
            json!({"name": "x", "url": "https://h.example/", "events": ["ticket.deleted"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/webhooks", &f.admin).await.json(), json!([]), "nothing half-written");
});

hook_test!(a_name_that_resolves_to_this_machine_is_refused_at_delivery_when_not_allowed, |backend| async move {
    let app = app_allowing_loopback(backend).await;
    let f = app.fixture().await;
    let (receiver, url) = Receiver::start().await;
    // Stored as an allowing configuration would have; delivered by a strict one.
    let url = url.replace("127.0.0.1", "localhost");
    let mut conn = app.app.db.conn().await.unwrap();
    let fields = guichet_store::webhooks::WebhookFields {
        name: "x".into(),
        url,
        events: vec!["ticket.created".into()],
        filter: None,
        active: true,
    };
    let admin_id = app.get("/api/v1/me", &f.admin).await.json()["id"].as_i64().unwrap();
    let id = guichet_store::webhooks::insert_webhook(&mut conn, &fields, "s", admin_id, app.app.now()).await.unwrap();
    drop(conn);
    new_ticket(&app, &f, &f.requester_a, &f.uai_a, "Rebinding").await;
    let strict = guichet_app::webhooks::WebhookSettings { allow_private_networks: false, ..Default::default() };
    assert_eq!(Deliverer::new(&strict).deliver_due(&app.app).await.unwrap(), 0);
    assert!(receiver.received().is_empty());
    let log = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &f.admin).await.json();
    assert!(log[0]["last_error"].as_str().unwrap().contains("private network"), "{log}");
});

hook_test!(a_delivery_is_sent_again_on_request_with_its_first_body, |backend| async move {
    let app = app_allowing_loopback(backend).await;
    let f = app.fixture().await;
    let (receiver, url) = Receiver::start().await;
    let (id, _) = subscribe(&app, &f, &url, json!(["ticket.created"]), None).await;
    let key = new_ticket(&app, &f, &f.requester_a, &f.uai_a, "Avant").await;
    deliver(&app).await;
    app.patch(&format!("/api/v1/tickets/{key}"), &f.agent, json!({"title": "Après"})).await;
    let delivery = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &f.admin).await.json()[0]["id"].clone();
    let r = app.post(&format!("/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver"), &f.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.json()["state"], "pending");
    assert_eq!(deliver(&app).await, 1);
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].body, received[1].body, "what happened then, not the ticket now");
    assert_eq!(received[1].json()["ticket"]["title"], "Avant");
    let r = app.post(&format!("/api/v1/webhooks/{id}/deliveries/999999/redeliver"), &f.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
});

hook_test!(incidents_and_pings_are_delivered_too, |backend| async move {
    let app = app_allowing_loopback(backend).await;
    let f = app.fixture().await;
    let (receiver, url) = Receiver::start().await;
    let (id, secret) = subscribe(&app, &f, &url, json!(["incident.declared", "incident.resolved"]), None).await;
    let r = app.post(&format!("/api/v1/webhooks/{id}/ping"), &f.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let body = json!({"title": "ENT indisponible", "service": "ENT", "public_message": "Nous savons.", "tickets": [f.ticket_a]});
    let r = app.post("/api/v1/incidents", &f.agent, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let incident = r.json()["id"].as_i64().unwrap();
    let r = app.post(&format!("/api/v1/incidents/{incident}/resolve"), &f.agent, json!({"message": "Rétabli."})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(deliver(&app).await, 3);
    assert_eq!(receiver.events(), ["ping", "incident.declared", "incident.resolved"]);
    let received = receiver.received();
    assert_eq!(received[0].json()["webhook"]["events"], json!(["incident.declared", "incident.resolved"]));
    assert_eq!(received[1].json()["incident"]["key"], format!("INC-{incident}"));
    assert!(received[2].json()["incident"]["resolved_at"].is_string());
    verify(&secret, &received[2].signature, &received[2].body, app.app.now(), REPLAY_WINDOW_SECONDS).unwrap();
    // A new secret signs from now on; the old one no longer verifies.
    let rotated = app.post(&format!("/api/v1/webhooks/{id}/secret"), &f.admin, json!({})).await.json();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    app.post(&format!("/api/v1/webhooks/{id}/ping"), &f.admin, json!({})).await;
    deliver(&app).await;
    let last = receiver.received().pop().unwrap();
    verify(&new_secret, &last.signature, &last.body, app.app.now(), REPLAY_WINDOW_SECONDS).unwrap();
    assert!(verify(&secret, &last.signature, &last.body, app.app.now(), REPLAY_WINDOW_SECONDS).is_err());
});

hook_test!(two_nodes_delivering_at_once_send_each_event_once, |backend| async move {
    let app = app_allowing_loopback(backend).await;
    let f = app.fixture().await;
    let (receiver, url) = Receiver::start().await;
    subscribe(&app, &f, &url, json!(["ticket.created"]), None).await;
    for n in 0..12 {
        new_ticket(&app, &f, &f.requester_a, &f.uai_a, &format!("Demande {n}")).await;
    }
    let other = app.another_node("node-b").await;
    let (a, b) = tokio::join!(deliver(&app), deliver(&other));
    assert_eq!(a + b, 12);
    let mut deliveries: Vec<String> = receiver.received().into_iter().map(|r| r.delivery).collect();
    deliveries.sort();
    deliveries.dedup();
    assert_eq!(deliveries.len(), 12, "each delivery once");
    assert_eq!(receiver.received().len(), 12);
});

hook_test!(only_administrators_manage_webhooks_and_a_switched_off_one_queues_nothing, |backend| async move {
    let app = app_allowing_loopback(backend).await;
    let f = app.fixture().await;
    let (receiver, url) = Receiver::start().await;
    let (id, _) = subscribe(&app, &f, &url, json!(["ticket.created"]), None).await;
    let create = json!({"name": "x", "url": url, "events": ["ticket.created"]});
    for token in [&f.requester_a, &f.agent, &f.technician] {
        for (method, path, body) in [
            ("GET", "/api/v1/webhooks".to_owned(), None),
            ("POST", "/api/v1/webhooks".to_owned(), Some(create.clone())),
            ("GET", format!("/api/v1/webhooks/{id}"), None),
            ("PATCH", format!("/api/v1/webhooks/{id}"), Some(json!({"url": "https://evil.example/"}))),
            ("DELETE", format!("/api/v1/webhooks/{id}"), None),
            ("POST", format!("/api/v1/webhooks/{id}/secret"), None),
            ("POST", format!("/api/v1/webhooks/{id}/resume"), None),
            ("POST", format!("/api/v1/webhooks/{id}/ping"), None),
            ("GET", format!("/api/v1/webhooks/{id}/deliveries"), None),
            ("GET", format!("/api/v1/webhooks/{id}/deliveries/1"), None),
            ("POST", format!("/api/v1/webhooks/{id}/deliveries/1/redeliver"), None),
        ] {
            let r = app.request(method.parse().unwrap(), &path, Some(token), body).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert!(!String::from_utf8_lossy(&r.bytes).contains("/hook"), "{method} {path} leaks nothing");
        }
    }
    assert_eq!(app.get("/api/v1/webhooks/999999", &f.admin).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/webhooks/{id}"), &f.admin).await.json()["url"], url.as_str());
    // Switched off: a change queues nothing.
    let r = app.patch(&format!("/api/v1/webhooks/{id}"), &f.admin, json!({"active": false})).await;
    assert_eq!(r.json()["active"], false);
    new_ticket(&app, &f, &f.requester_a, &f.uai_a, "Rien").await;
    assert_eq!(deliver(&app).await, 0);
    assert!(receiver.received().is_empty());
    let r = app.request("DELETE".parse().unwrap(), &format!("/api/v1/webhooks/{id}"), Some(&f.admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/api/v1/webhooks/{id}"), &f.admin).await.status, StatusCode::NOT_FOUND);
});

const PASSWORD: &str = "correct horse battery";

hook_test!(an_administrator_subscribes_from_the_page_sees_the_secret_once_and_others_cannot, |backend| async move {
    let app = TestApp::new(backend).await;
    let f = app.fixture().await;
    let s = app.sign_in("boss@desk.test", PASSWORD).await;
    let list = String::from_utf8_lossy(&app.page(&s.cookie, "/admin/webhooks").await.bytes).into_owned();
    assert!(list.contains("Nouveau webhook") && list.contains("href=\"/admin/webhooks\""), "menu and form");
    // A refused form comes back filled, with the reason.
    let fields = [("name", "Supervision"), ("url", "http://10.0.0.5/hook"), ("events", "ticket.created")];
    let r = app.form(&s, "/admin/webhooks", &fields, None).await;
    let page = String::from_utf8_lossy(&r.bytes).into_owned();
    assert!(page.contains("allow_private_networks") && page.contains("value=\"Supervision\""), "{page}");
    assert_eq!(app.get("/api/v1/webhooks", &f.admin).await.json(), json!([]));
    let fields = [
        ("name", "Supervision"),
        ("url", "https://hooks.example.org/guichet"),
        ("events", "ticket.created"),
        ("events", "ticket.escalated"),
        ("filter", "priorité = haute"),
        ("active", "on"),
    ];
    let r = app.form(&s, "/admin/webhooks", &fields, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let page = String::from_utf8_lossy(&r.bytes).into_owned();
    let hooks = app.get("/api/v1/webhooks", &f.admin).await.json();
    assert_eq!(hooks[0]["events"], json!(["ticket.created", "ticket.escalated"]));
    assert_eq!(hooks[0]["filter"], "priorité = haute");
    let id = hooks[0]["id"].as_i64().unwrap();
    let start = page.find("id=\"hook-secret\">").unwrap() + "id=\"hook-secret\">".len();
    let secret: String = page[start..].chars().take_while(|c| *c != '<').collect();
    assert!(secret.len() >= 40, "{secret}");
    let again =
        String::from_utf8_lossy(&app.page(&s.cookie, &format!("/admin/webhooks/{id}")).await.bytes).into_owned();
    assert!(!again.contains(&secret), "the secret is shown once");
    assert!(again.contains("Journal des envois"));
    // A test from the page is queued and logged.
    let r = app.form(&s, &format!("/admin/webhooks/{id}/ping"), &[], None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    assert_eq!(app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &f.admin).await.json()[0]["event"], "ping");
    // Without the session's token nothing changes.
    let r = app.form(&s, &format!("/admin/webhooks/{id}/delete"), &[], Some("forged")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The desk's agents and the schools see none of it.
    for email in ["claire@desk.test", "admin.a@lycee-a.test"] {
        let other = app.sign_in(email, PASSWORD).await;
        for path in [
            "/admin/webhooks".to_owned(),
            format!("/admin/webhooks/{id}"),
            format!("/admin/webhooks/{id}/deliveries/1"),
        ] {
            let r = app.page(&other.cookie, &path).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{email} {path}");
            assert!(!String::from_utf8_lossy(&r.bytes).contains("hooks.example.org"));
        }
        let r = app.form(&other, "/admin/webhooks", &fields, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{email}");
        let r = app.form(&other, &format!("/admin/webhooks/{id}/secret"), &[], None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{email}");
    }
    assert_eq!(app.get("/api/v1/webhooks", &f.admin).await.json().as_array().unwrap().len(), 1);
    let r = app.form(&s, &format!("/admin/webhooks/{id}/delete"), &[], None).await;
    assert!(r.headers["location"].to_str().unwrap().starts_with("/admin/webhooks?"));
    assert_eq!(app.get("/api/v1/webhooks", &f.admin).await.json(), json!([]));
});

hook_test!(erasing_a_person_deletes_the_copies_sent_about_their_requests, |backend| async move {
    let app = app_allowing_loopback(backend).await;
    let f = app.fixture().await;
    let (receiver, url) = Receiver::start().await;
    let (id, _) = subscribe(&app, &f, &url, json!(["ticket.created", "ticket.updated"]), None).await;
    let key = new_ticket(&app, &f, &f.requester_a, &f.uai_a, "Compte de Responsable bloqué").await;
    deliver(&app).await;
    // One delivered, one waiting (the receiver is down).
    receiver.answer(&[503]);
    app.patch(&format!("/api/v1/tickets/{key}"), &f.agent, json!({"priority": "high"})).await;
    deliver(&app).await;
    let log = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &f.admin).await.json();
    assert_eq!(log.as_array().unwrap().len(), 2);
    let erase = json!({"email": "admin.a@lycee-a.test", "confirm": true});
    assert_eq!(app.post("/api/v1/privacy/people/erase", &f.admin, erase).await.status, StatusCode::OK);
    let log = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &f.admin).await.json();
    let left: Vec<(&str, &str)> =
        log.as_array().unwrap().iter().map(|d| (d["event"].as_str().unwrap(), d["state"].as_str().unwrap())).collect();
    assert_eq!(left, [("ticket.updated", "pending")], "the delivered copy is gone, the waiting one stays");
    let waiting = log[0]["id"].as_i64().unwrap();
    let one = app.get(&format!("/api/v1/webhooks/{id}/deliveries/{waiting}"), &f.admin).await.json();
    assert!(one["payload"].is_null(), "its body will be made from the erased ticket");
    app.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(deliver(&app).await, 1);
    let received = receiver.received();
    let before = String::from_utf8_lossy(&received[0].body).into_owned();
    assert!(before.contains("Nathalie Durand"), "{before}");
    let after = String::from_utf8_lossy(&received.last().unwrap().body).into_owned();
    assert!(!after.contains("Nathalie Durand"), "no trace of the erased person: {after}");
});
