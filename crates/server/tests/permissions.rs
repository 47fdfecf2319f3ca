//! Tenant isolation: every route, tried by every role on its own and on
//! another school's data. A requester learns nothing about other schools:
//! their tickets and files answer 404, exactly like ones that do not exist.
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use guichet_testkit::{backend_test, json, Fixture, TestApp, PNG};

/// A route to try: method, path and JSON body.
type Route = (Method, String, Option<serde_json::Value>);

/// Every ticket route, on one ticket.
fn ticket_routes(key: &str) -> Vec<Route> {
    vec![
        (Method::GET, format!("/api/v1/tickets/{key}"), None),
        (Method::PATCH, format!("/api/v1/tickets/{key}"), Some(json!({"title": "Changé"}))),
        (Method::GET, format!("/api/v1/tickets/{key}/comments"), None),
        (Method::POST, format!("/api/v1/tickets/{key}/comments"), Some(json!({"body": "Bonjour"}))),
        (Method::GET, format!("/api/v1/tickets/{key}/history"), None),
        (Method::GET, format!("/api/v1/tickets/{key}/attachments"), None),
        (Method::GET, format!("/api/v1/tickets/{key}/links"), None),
    ]
}

/// The desk's actions on a ticket: a school may never perform them.
fn desk_routes(key: &str, other: &str) -> Vec<Route> {
    let summary = json!({"summary": "Essayé sur deux navigateurs"});
    vec![
        (Method::POST, format!("/api/v1/tickets/{key}/escalate"), Some(summary.clone())),
        (Method::POST, format!("/api/v1/tickets/{key}/hand-back"), Some(summary)),
        (Method::POST, format!("/api/v1/tickets/{key}/links"), Some(json!({"kind": "relates_to", "other": other}))),
        (Method::DELETE, format!("/api/v1/tickets/{key}/links/relates_to/{other}"), None),
        (Method::POST, format!("/api/v1/tickets/{key}/merge"), Some(json!({"into": other}))),
    ]
}

async fn status(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: Option<&str>,
    body: &Option<serde_json::Value>,
) -> StatusCode {
    app.request(method.clone(), path, token, body.clone()).await.status
}

backend_test!(requester_gets_404_on_every_route_of_another_schools_ticket, |app| async move {
    let f = app.fixture().await;
    let before = app.get(&format!("/api/v1/tickets/{}", f.ticket_b), &f.agent).await.json();
    for (method, path, body) in ticket_routes(&f.ticket_b) {
        let r = app.request(method.clone(), &path, Some(&f.requester_a), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(r.json()["error"]["message"], "ticket not found", "{method} {path}: leaks nothing");
    }
    let r = app.upload(&format!("/api/v1/tickets/{}/attachments", f.ticket_b), &f.requester_a, "x.png", PNG, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.get(&format!("/api/v1/attachments/{}", f.public_attachment_b), &f.requester_a).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Nothing was changed by the attempts.
    assert_eq!(app.get(&format!("/api/v1/tickets/{}", f.ticket_b), &f.agent).await.json(), before);
    // A ticket that does not exist answers the same.
    let r = app.get("/api/v1/tickets/SUP-999999", &f.requester_a).await;
    assert_eq!((r.status, r.json()["error"]["message"].as_str()), (StatusCode::NOT_FOUND, Some("ticket not found")));
});

backend_test!(requester_succeeds_on_every_route_of_their_own_ticket, |app| async move {
    let f = app.fixture().await;
    for (method, path, body) in ticket_routes(&f.ticket_a) {
        let s = status(&app, &method, &path, Some(&f.requester_a), &body).await;
        assert!(s.is_success(), "{method} {path}: {s}");
    }
    let r = app.upload(&format!("/api/v1/tickets/{}/attachments", f.ticket_a), &f.requester_a, "x.png", PNG, &[]).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app.get(&format!("/api/v1/attachments/{}", f.public_attachment_a), &f.requester_a).await;
    assert_eq!(r.status, StatusCode::OK);
});

backend_test!(requester_never_sees_internal_notes_files_or_history, |app| async move {
    let f = app.fixture().await;
    let key = &f.ticket_a;
    let comments = app.get(&format!("/api/v1/tickets/{key}/comments"), &f.requester_a).await;
    assert!(!String::from_utf8_lossy(&comments.bytes).contains("SECRET-NOTE"));
    assert_eq!(comments.json().as_array().unwrap().len(), 1);
    let attachments = app.get(&format!("/api/v1/tickets/{key}/attachments"), &f.requester_a).await.json();
    assert_eq!(attachments.as_array().unwrap().len(), 1);
    assert_eq!(attachments[0]["filename"], "capture.png");
    let r = app.get(&format!("/api/v1/attachments/{}", f.internal_attachment_a), &f.requester_a).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let history = app.get(&format!("/api/v1/tickets/{key}/history"), &f.requester_a).await.json();
    for entry in history.as_array().unwrap() {
        assert_eq!(entry["internal"], false, "{entry}");
        assert_ne!(entry["field"], "tier", "hand-overs are internal");
    }
    // A file cannot be hung on an internal note by someone who cannot see it.
    let agent_comments = app.get(&format!("/api/v1/tickets/{key}/comments"), &f.agent).await.json();
    let note = agent_comments.as_array().unwrap().iter().find(|c| c["internal"] == true).unwrap()["id"].to_string();
    let r = app
        .upload(&format!("/api/v1/tickets/{key}/attachments"), &f.requester_a, "x.png", PNG, &[("comment", &note)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "an internal note is not theirs to attach to");
    // The desk sees all of it: the reply, the note and the escalation summary.
    let comments = app.get(&format!("/api/v1/tickets/{key}/comments"), &f.technician).await.json();
    assert_eq!(comments.as_array().unwrap().len(), 3);
    let r = app.get(&format!("/api/v1/attachments/{}", f.internal_attachment_a), &f.technician).await;
    assert_eq!(r.status, StatusCode::OK);
});

backend_test!(requester_lists_and_searches_only_their_establishments, |app| async move {
    let f = app.fixture().await;
    let all = app.get("/api/v1/tickets?per_page=100", &f.requester_a).await.json();
    assert_eq!(all["total"], 1);
    assert_eq!(all["items"][0]["key"], f.ticket_a.as_str());
    // Asking for the other school, or searching its words, finds nothing and says nothing.
    let other = app.get(&format!("/api/v1/tickets?establishment={}", f.uai_b), &f.requester_a).await.json();
    assert_eq!(other["total"], 0);
    let words = app.get(&format!("/api/v1/tickets?text={}", f.uai_b), &f.requester_a).await.json();
    assert_eq!(words["total"], 0);
    let establishments = app.get("/api/v1/establishments", &f.requester_a).await.json();
    assert_eq!(establishments["total"], 1);
    assert_eq!(establishments["items"][0]["uai"], f.uai_a.as_str());
    let searched = app.get(&format!("/api/v1/establishments?q={}", f.uai_b), &f.requester_a).await.json();
    assert_eq!(searched["total"], 0);
    // The desk sees both schools.
    assert_eq!(app.get("/api/v1/tickets", &f.agent).await.json()["total"], 2);
    assert_eq!(app.get("/api/v1/establishments", &f.technician).await.json()["total"], 2);
});

backend_test!(requester_cannot_file_for_another_school_nor_on_behalf_of_someone, |app| async move {
    let f = app.fixture().await;
    let r = app.post("/api/v1/tickets", &f.requester_a, json!({"title": "x", "establishment": f.uai_b})).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("establishment"))
    );
    // The same message as for a school that does not exist.
    let unknown = app.post("/api/v1/tickets", &f.requester_a, json!({"title": "x", "establishment": "0010001W"})).await;
    let strip = |m: &str| m.replace(&f.uai_b, "").replace("0010001W", "");
    assert_eq!(
        strip(r.json()["error"]["message"].as_str().unwrap()),
        strip(unknown.json()["error"]["message"].as_str().unwrap())
    );
    let r = app
        .post(
            "/api/v1/tickets",
            &f.requester_a,
            json!({"title": "x", "establishment": f.uai_a, "requester": "admin.b@lycee-b.test"}),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "requester");
    // The desk cannot attach a requester to a school they do not belong to.
    let r = app
        .post(
            "/api/v1/tickets",
            &f.agent,
            json!({"title": "x", "establishment": f.uai_a, "requester": "admin.b@lycee-b.test"}),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "requester");
    assert_eq!(app.get("/api/v1/tickets", &f.agent).await.json()["total"], 2);
});

/// Directory routes: who may read and who may write.
async fn directory_matrix(app: &TestApp, f: &Fixture) {
    let cases: [(&str, &String, Method, &str, StatusCode); 6] = [
        ("requester", &f.requester_a, Method::GET, "/api/v1/users", StatusCode::FORBIDDEN),
        ("agent", &f.agent, Method::GET, "/api/v1/users", StatusCode::OK),
        ("technician", &f.technician, Method::GET, "/api/v1/users", StatusCode::OK),
        ("admin", &f.admin, Method::GET, "/api/v1/users", StatusCode::OK),
        ("requester", &f.requester_a, Method::GET, "/api/v1/me", StatusCode::OK),
        ("agent", &f.agent, Method::GET, "/api/v1/me", StatusCode::OK),
    ];
    for (who, token, method, path, expected) in cases {
        assert_eq!(status(app, &method, path, Some(token), &None).await, expected, "{who} {method} {path}");
    }
    let mut n = 100;
    for (who, token, allowed) in [
        ("requester", &f.requester_a, false),
        ("agent", &f.agent, false),
        ("technician", &f.technician, false),
        ("admin", &f.admin, true),
    ] {
        n += 1;
        let uai = guichet_domain::establishment::Uai::from_number(780_000 + n).to_string();
        let establishment = json!({"uai": uai, "name": "Lycée", "town": "Poissy"});
        let user = json!({"email": format!("u{n}@x.test"), "name": "U", "role": "agent"});
        let expected = if allowed { StatusCode::CREATED } else { StatusCode::FORBIDDEN };
        let r = app.post("/api/v1/establishments", token, establishment).await;
        assert_eq!(r.status, expected, "{who} creates an establishment");
        if !allowed {
            assert_eq!(r.code(), "forbidden");
        }
        assert_eq!(app.post("/api/v1/users", token, user).await.status, expected, "{who} creates a user");
    }
}

backend_test!(only_admins_manage_the_directory_and_requesters_cannot_list_people, |app| async move {
    let f = app.fixture().await;
    directory_matrix(&app, &f).await;
    let me = app.get("/api/v1/me", &f.requester_a).await.json();
    assert_eq!(me["establishments"], json!([f.uai_a]));
});

backend_test!(every_route_refuses_a_missing_or_bad_token, |app| async move {
    let f = app.fixture().await;
    let mut routes = ticket_routes(&f.ticket_a);
    routes.extend([
        (Method::GET, "/api/v1/tickets".to_owned(), None),
        (Method::POST, "/api/v1/tickets".to_owned(), Some(json!({"title": "x", "establishment": f.uai_a}))),
        (Method::GET, format!("/api/v1/attachments/{}", f.public_attachment_a), None),
        (Method::POST, format!("/api/v1/tickets/{}/attachments", f.ticket_a), None),
        (Method::GET, "/api/v1/establishments".to_owned(), None),
        (Method::POST, "/api/v1/establishments".to_owned(), Some(json!({}))),
        (Method::GET, "/api/v1/users".to_owned(), None),
        (Method::POST, "/api/v1/users".to_owned(), Some(json!({}))),
        (Method::GET, "/api/v1/me".to_owned(), None),
        (Method::GET, "/api/v1/rota".to_owned(), None),
        (Method::GET, "/api/v1/filters".to_owned(), None),
        (Method::GET, "/api/v1/calendar".to_owned(), None),
        (Method::PUT, "/api/v1/calendar".to_owned(), Some(json!({}))),
        (Method::GET, "/api/v1/sla-policy".to_owned(), None),
        (Method::PUT, "/api/v1/sla-policy".to_owned(), Some(json!({}))),
        (Method::POST, "/api/v1/filters".to_owned(), Some(json!({"name": "x", "query": "type = anomaly"}))),
        (Method::PATCH, "/api/v1/filters/1".to_owned(), Some(json!({"name": "x"}))),
        (Method::DELETE, "/api/v1/filters/1".to_owned(), None),
        (Method::POST, "/api/v1/rota".to_owned(), Some(json!({"day": "2026-03-02", "part": "day", "user": 1}))),
        (Method::DELETE, "/api/v1/rota/2026-03-02/day/1".to_owned(), None),
        (Method::GET, "/api/v1/canned-responses".to_owned(), None),
        (Method::POST, "/api/v1/canned-responses".to_owned(), Some(json!({"name": "x", "body": "y"}))),
        (Method::GET, "/api/v1/canned-responses/1".to_owned(), None),
        (Method::PATCH, "/api/v1/canned-responses/1".to_owned(), Some(json!({"name": "x"}))),
        (Method::DELETE, "/api/v1/canned-responses/1".to_owned(), None),
        (Method::GET, format!("/api/v1/tickets/{}/canned-responses/1", f.ticket_a), None),
        (Method::GET, "/api/v1/kb/articles".to_owned(), None),
        (
            Method::POST,
            "/api/v1/kb/articles".to_owned(),
            Some(json!({"title": "x", "body": "y", "audience": "public"})),
        ),
        (Method::GET, "/api/v1/kb/articles/1".to_owned(), None),
        (
            Method::PUT,
            "/api/v1/kb/articles/1".to_owned(),
            Some(json!({"title": "x", "body": "y", "audience": "public"})),
        ),
        (Method::GET, "/api/v1/kb/articles/1/versions".to_owned(), None),
        (Method::POST, "/api/v1/kb/articles/1/answered".to_owned(), Some(json!({}))),
        (Method::GET, "/api/v1/reports/satisfaction".to_owned(), None),
        (Method::GET, "/api/v1/reports/deflections".to_owned(), None),
        (Method::GET, format!("/api/v1/tickets/{}/jira", f.ticket_a), None),
        (Method::GET, "/api/v1/webhooks".to_owned(), None),
        (
            Method::POST,
            "/api/v1/webhooks".to_owned(),
            Some(json!({"name": "x", "url": "https://example.org/", "events": ["ticket.created"]})),
        ),
        (Method::GET, "/api/v1/webhooks/1".to_owned(), None),
        (Method::PATCH, "/api/v1/webhooks/1".to_owned(), Some(json!({"name": "x"}))),
        (Method::DELETE, "/api/v1/webhooks/1".to_owned(), None),
        (Method::POST, "/api/v1/webhooks/1/secret".to_owned(), None),
        (Method::POST, "/api/v1/webhooks/1/resume".to_owned(), None),
        (Method::POST, "/api/v1/webhooks/1/ping".to_owned(), None),
        (Method::GET, "/api/v1/webhooks/1/deliveries".to_owned(), None),
        (Method::GET, "/api/v1/webhooks/1/deliveries/1".to_owned(), None),
        (Method::POST, "/api/v1/webhooks/1/deliveries/1/redeliver".to_owned(), None),
    ]);
    for (method, path, body) in routes {
        for token in [None, Some("gch_not-a-real-token"), Some("something else")] {
            let r = app.request(method.clone(), &path, token, body.clone()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}");
            assert_eq!(r.code(), "unauthenticated");
            assert_eq!(r.headers["www-authenticate"], "Bearer");
        }
    }
});

backend_test!(a_disabled_users_token_stops_working, |app| async move {
    let f = app.fixture().await;
    assert_eq!(app.get("/api/v1/me", &f.requester_b).await.status, StatusCode::OK);
    app.execute("UPDATE users SET disabled = TRUE WHERE email = 'admin.b@lycee-b.test'").await;
    assert_eq!(app.get("/api/v1/me", &f.requester_b).await.status, StatusCode::UNAUTHORIZED);
});

backend_test!(a_school_can_neither_hand_over_nor_link_nor_merge_any_ticket, |app| async move {
    let f = app.fixture().await;
    let before = app.get(&format!("/api/v1/tickets/{}", f.ticket_b), &f.agent).await.json();
    for (key, other) in [(&f.ticket_b, &f.ticket_a), (&f.ticket_a, &f.ticket_b), (&f.ticket_a, &f.ticket_a)] {
        for (method, path, body) in desk_routes(key, other) {
            let r = app.request(method.clone(), &path, Some(&f.requester_a), body).await;
            assert!(matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{method} {path}: {}", r.status);
            assert!(!String::from_utf8_lossy(&r.bytes).contains("Saint-Denis"), "{method} {path} leaks nothing");
        }
    }
    let forward = app.post(&format!("/api/v1/tickets/{}/forward", f.ticket_b), &f.requester_a, json!({})).await;
    assert_eq!(forward.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/tickets/{}", f.ticket_b), &f.agent).await.json(), before);
    for (method, path, _) in desk_routes(&f.ticket_a, &f.ticket_b) {
        assert_eq!(
            app.request(method.clone(), &path, None, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
});
