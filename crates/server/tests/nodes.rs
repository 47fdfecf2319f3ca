//! Several nodes on one database, in one process: each node has its own
//! pool, caches and name, as `guichet serve` on another host would. What one
//! node counts, holds or changes, the others must see (the three-process
//! test with a load balancer is `cluster.rs`).
#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use guichet_app::AppError;
use guichet_testkit::{json, per_backend_test, TestApp};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery";

fn help_fields(message: &str) -> Vec<(&str, &str)> {
    vec![("profile", "student"), ("name", "Léa Martin"), ("email", ""), ("message", message), ("website", "")]
}

per_backend_test!(the_help_limit_counts_every_nodes_messages_for_the_whole_hour, |backend| async move {
    let limits = guichet_app::help::HelpLimits { per_client_per_hour: 2, per_establishment_per_hour: 10 };
    let a = TestApp::with_settings(backend, guichet_app::Settings { help_limits: limits, ..Default::default() }).await;
    let b = a.another_node("b").await;
    let f = a.fixture().await;
    let path = format!("/aide/{}", f.uai_a);
    async fn send(node: &TestApp, path: &str) -> StatusCode {
        node.public_form(path, &help_fields("Mot de passe oublié"), None, "10.9.0.1").await.status
    }
    assert_eq!(send(&a, &path).await, StatusCode::OK);
    assert_eq!(send(&b, &path).await, StatusCode::OK);
    // A sign-in sweeps the sign-in windows that ended (15 minutes): not the HELP page's hour.
    a.clock.advance(chrono::Duration::minutes(20));
    a.sign_in("claire@desk.test", PASSWORD).await;
    assert_eq!(send(&b, &path).await, StatusCode::TOO_MANY_REQUESTS, "the third in the hour, on the other node");
    assert_eq!(send(&a, &path).await, StatusCode::TOO_MANY_REQUESTS);
    a.clock.advance(chrono::Duration::minutes(41));
    assert_eq!(send(&b, &path).await, StatusCode::OK, "a new hour");
});

per_backend_test!(wrong_passwords_on_one_node_throttle_the_account_on_the_other, |backend| async move {
    let a = TestApp::new(backend).await;
    let b = a.another_node("b").await;
    let _f = a.fixture().await;
    for node in [&a, &b, &a, &b, &a] {
        assert_eq!(node.try_sign_in("admin.a@lycee-a.test", "wrong").await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(b.try_sign_in("admin.a@lycee-a.test", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.try_sign_in("admin.a@lycee-a.test", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
});

per_backend_test!(automatic_mails_to_one_address_stop_at_the_limit_whichever_node_files_them, |backend| async move {
    let mut settings = guichet_testkit::mail::settings("support");
    settings.mail.automatic_per_hour = 3;
    let a = TestApp::with_settings(backend, settings).await;
    let b = a.another_node("b").await;
    let f = a.fixture().await;
    // The fixture's ticket was acknowledged: two more may be, out of eight filed at once on two nodes.
    let statuses = futures_util::future::join_all((0..8).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        let body = json!({"title": format!("Cahier de textes {i}"), "establishment": f.uai_a});
        let token = f.requester_a.clone();
        async move { node.post("/api/v1/tickets", &token, body).await.status }
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
    let mut conn = a.app.db.conn().await.unwrap();
    let since = chrono::DateTime::UNIX_EPOCH;
    let sent = guichet_store::mail::count_automatic_since(&mut conn, "admin.a@lycee-a.test", since).await.unwrap();
    assert_eq!(sent, 3);
});

per_backend_test!(a_lease_has_one_holder_and_changes_hands_with_a_new_term_once_it_lapses, |backend| async move {
    let a = TestApp::new(backend).await;
    let b = a.another_node("b").await;
    let f = a.fixture().await;
    let short = Duration::from_millis(600);
    let held_by_a = a.app.acquire_lease("clock", short).await.unwrap().expect("a free lease");
    assert_eq!((held_by_a.holder.as_str(), held_by_a.term), (a.app.settings.node.as_str(), 1));
    assert_eq!(b.app.acquire_lease("clock", short).await.unwrap(), None, "held by a");
    assert_eq!(a.app.acquire_lease("clock", short).await.unwrap(), Some(held_by_a.clone()), "renewed, same term");

    // A resolved ticket is due to close; a stops renewing (paused, cut off) and b takes over.
    a.patch(
        &format!("/api/v1/tickets/{}", f.ticket_a),
        &f.agent,
        json!({"status": "resolved", "resolution": "answered"}),
    )
    .await;
    a.clock.advance(chrono::Duration::days(10));
    tokio::time::sleep(short + Duration::from_millis(300)).await;
    let held_by_b = b.app.acquire_lease("clock", Duration::from_secs(30)).await.unwrap().expect("a lapsed lease");
    assert_eq!(held_by_b.term, 2);
    assert_eq!(a.app.acquire_lease("clock", short).await.unwrap(), None, "b holds it now");

    // a wakes up and runs the clock job it was in the middle of: nothing is written.
    assert!(matches!(a.app.run_automations_under(Some(&held_by_a)).await, Err(AppError::LeaseLost(_))));
    let now = a.app.now();
    assert!(matches!(a.app.refresh_due_slas_under(now, 10, Some(&held_by_a)).await, Err(AppError::LeaseLost(_))));
    let ticket = a.get(&format!("/api/v1/tickets/{}", f.ticket_a), &f.agent).await.json();
    assert_eq!(ticket["status"], "resolved");
    assert_eq!(b.app.run_automations_under(Some(&held_by_b)).await.unwrap(), 1);
    let ticket = a.get(&format!("/api/v1/tickets/{}", f.ticket_a), &f.agent).await.json();
    assert_eq!(ticket["status"], "closed");

    // A node that stops gives its leases back: the other takes over at once, in a new term.
    assert_eq!(b.app.leases_held().await.unwrap().len(), 1);
    b.app.release_lease(&held_by_b).await.unwrap();
    assert!(b.app.leases_held().await.unwrap().is_empty());
    let again = a.app.acquire_lease("clock", Duration::from_secs(30)).await.unwrap().expect("given back");
    assert_eq!(again.term, 3);
    let listed = a.app.leases().await.unwrap();
    let clock = listed.iter().find(|l| l.name == "clock").unwrap();
    assert_eq!((clock.holder.as_str(), clock.term), (a.app.settings.node.as_str(), 3));
});

per_backend_test!(two_nodes_running_the_clock_at_once_record_and_announce_a_breach_once, |backend| async move {
    let a = TestApp::with_settings(backend, guichet_testkit::mail::settings("support")).await;
    let b = a.another_node("b").await;
    let f = a.fixture().await;
    let body = json!({"title": "ENT inaccessible", "establishment": f.uai_a, "type": "anomaly", "priority": "critical",
        "requester": "admin.a@lycee-a.test"});
    let key = a.post("/api/v1/tickets", &f.agent, body).await.json()["key"].as_str().unwrap().to_owned();
    let held = a.patch(&format!("/api/v1/tickets/{key}"), &f.agent, json!({"assignee": f.agent_id})).await;
    assert_eq!(held.status, StatusCode::OK);
    a.clock.advance(chrono::Duration::days(3));
    let now = a.app.now();
    let (on_a, on_b) = tokio::join!(a.app.refresh_due_slas(now, 100), b.app.refresh_due_slas(now, 100));
    on_a.unwrap();
    on_b.unwrap();
    // And once more, as a node restarted after a crash would.
    b.app.refresh_due_slas(now, 100).await.unwrap();
    let history = a.get(&format!("/api/v1/tickets/{key}/history"), &f.agent).await.json();
    let breaches: Vec<_> = history.as_array().unwrap().iter().filter(|h| h["field"] == "sla").collect();
    assert_eq!(breaches.len(), 1, "{history}");
    let id = guichet_domain::ticket::parse_key("SUP", &key).unwrap();
    let mut conn = a.app.db.conn().await.unwrap();
    let notices = guichet_store::mail::list_ticket_outgoing(&mut conn, id).await.unwrap();
    // From on time straight to late: one notice, to the agent holding it.
    let late: Vec<_> = notices.iter().filter(|n| n.mail.kind == "sla").map(|n| n.mail.recipient.as_str()).collect();
    assert_eq!(late, ["claire@desk.test"], "{notices:?}");
});

per_backend_test!(a_settings_change_on_one_node_is_in_force_on_the_other_after_a_reload, |backend| async move {
    let a = TestApp::new(backend).await;
    let b = a.another_node("b").await;
    let mut policy = a.app.sla_policy();
    policy.close_resolved_after_days = 2;
    a.app.set_sla_policy(&a.app.operator(), policy).await.unwrap();
    assert_eq!(b.app.sla_policy().close_resolved_after_days, 5, "b's copy until it reloads");
    b.app.reload_desk_config().await.unwrap();
    assert_eq!(b.app.sla_policy().close_resolved_after_days, 2);
});

per_backend_test!(every_node_shows_which_node_polls_each_mailbox, |backend| async move {
    let a = TestApp::with_settings(backend, guichet_testkit::mail::settings("support")).await;
    let b = a.another_node("b").await;
    let f = a.fixture().await;
    let listed = b.get("/api/v1/mailboxes", &f.admin).await.json();
    assert_eq!((listed[0]["name"].as_str(), listed[0]["polled_by"].as_str()), (Some("support"), None), "{listed}");
    a.app.acquire_lease("imap:support", Duration::from_secs(30)).await.unwrap().expect("free");
    let listed = b.get("/api/v1/mailboxes", &f.admin).await.json();
    assert_eq!(listed[0]["polled_by"].as_str(), Some(a.app.settings.node.as_str()), "{listed}");
    // Each node's readiness probe says what it holds.
    let on_a = a.request(axum::http::Method::GET, "/readyz", None, None).await.json();
    let on_b = b.request(axum::http::Method::GET, "/readyz", None, None).await.json();
    assert_eq!(on_a["node"].as_str(), Some(a.app.settings.node.as_str()));
    assert_eq!(on_a["leases"][0]["name"], "imap:support", "{on_a}");
    assert_eq!((on_b["node"].as_str(), on_b["leases"].as_array().map(Vec::len)), (Some("b"), Some(0)), "{on_b}");
    let admin = b.sign_in("boss@desk.test", PASSWORD).await;
    let page = b.page(&admin.cookie, "/admin/mail").await;
    let html = String::from_utf8_lossy(&page.bytes);
    assert!(html.contains("Relevée par") && html.contains(&format!("<code>{}</code>", a.app.settings.node)), "{html}");
    // The desk watches its mailboxes; a school does not.
    assert_eq!(b.get("/api/v1/mailboxes", &f.agent).await.status, StatusCode::OK);
    assert_eq!(b.get("/api/v1/mailboxes", &f.requester_a).await.status, StatusCode::FORBIDDEN);
});
