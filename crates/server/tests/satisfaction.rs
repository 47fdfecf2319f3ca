//! Satisfaction surveys on SQLite and PostgreSQL: the link in the "resolved"
//! mail (single use, expiring, unforgeable), who is asked, the one reminder,
//! the portal's form, and the answers in the reports.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use guichet_testkit::{json, Backend, Fixture, TestApp};

use guichet_testkit::per_backend_test as survey_test;

const PASSWORD: &str = "correct horse battery";

async fn with_mail(backend: Backend) -> TestApp {
    let mut settings = guichet_testkit::mail::settings("support");
    settings.satisfaction.reminder_days = 3;
    TestApp::with_settings(backend, settings).await
}

async fn mails(app: &TestApp, key: &str, kind: &str) -> Vec<guichet_store::mail::Outgoing> {
    let id = guichet_domain::ticket::parse_key("SUP", key).unwrap();
    let mut conn = app.app.db.conn().await.unwrap();
    let all = guichet_store::mail::list_ticket_outgoing(&mut conn, id).await.unwrap();
    all.into_iter().filter(|o| o.mail.kind == kind).collect()
}

/// The survey's path in a mail: `/satisfaction/<token>`.
fn survey_path(mail: &guichet_store::mail::Outgoing) -> String {
    let text = &mail.mail.body_text;
    let start = text.find("https://guichet.test/satisfaction/").unwrap_or_else(|| panic!("no link in {text}"));
    let link: String = text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    link.trim_start_matches("https://guichet.test").to_owned()
}

/// A request of school A resolved by the agent who holds it.
async fn resolved(app: &TestApp, f: &Fixture, title: &str) -> String {
    let body = json!({"title": title, "description": "Bonjour", "establishment": f.uai_a});
    let r = app.post("/api/v1/tickets", &f.requester_a, body).await;
    let key = r.json()["key"].as_str().unwrap().to_owned();
    let change = json!({"assignee": f.agent_id, "status": "resolved", "resolution": "answered"});
    let r = app.patch(&format!("/api/v1/tickets/{key}"), &f.agent, change).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    key
}

async fn submit(app: &TestApp, path: &str, fields: &str) -> guichet_testkit::Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(fields.to_owned()))
        .unwrap();
    app.send(request).await
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = app.send(Request::builder().uri(path).body(Body::empty()).unwrap()).await;
    (r.status, String::from_utf8_lossy(&r.bytes).into_owned())
}

survey_test!(the_resolved_mail_carries_a_single_use_link_that_needs_no_sign_in, |backend| async move {
    let app = with_mail(backend).await;
    let f = app.fixture().await;
    let key = resolved(&app, &f, "Mot de passe").await;
    let sent = mails(&app, &key, "resolved").await;
    assert_eq!(sent.len(), 1);
    let path = survey_path(&sent[0]);
    assert!(sent[0].mail.body_html.contains(&format!("{path}?note=5")));

    // The mail's "5" opens the form with 5 chosen; nothing is recorded by following it.
    let (status, html) = page(&app, &format!("{path}?note=5")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&key) && html.contains("value=\"5\" required checked"), "{html}");
    let t = app.get(&format!("/api/v1/tickets/{key}/history"), &f.agent).await.json();
    assert!(!t.as_array().unwrap().iter().any(|e| e["field"] == "satisfaction"));

    // Out of range, then answered, then never again.
    let r = submit(&app, &path, "rating=9&comment=").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = submit(&app, &path, "rating=4&comment=Rapide+et+clair").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&r.bytes).contains("4/5"));
    let r = submit(&app, &path, "rating=1&comment=Finalement+non").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let history = app.get(&format!("/api/v1/tickets/{key}/history"), &f.requester_a).await.json();
    let rated: Vec<_> = history.as_array().unwrap().iter().filter(|e| e["field"] == "satisfaction").collect();
    assert_eq!(rated.len(), 1);
    assert_eq!(rated[0]["new"], "4/5");
    // The desk sees the answer on the ticket.
    let s = app.sign_in("claire@desk.test", PASSWORD).await;
    let html = String::from_utf8_lossy(&app.page(&s.cookie, &format!("/tickets/{key}")).await.bytes).into_owned();
    assert!(html.contains("4/5 — « Rapide et clair »"), "the desk reads the rating");

    // A forged or altered token opens nothing, and says nothing about tickets.
    for forged in ["/satisfaction/0000", "/satisfaction/'%20OR%201=1", &format!("{path}0")] {
        let (status, html) = page(&app, forged).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{forged}");
        assert!(!html.contains(&key));
        assert_eq!(submit(&app, forged, "rating=5").await.status, StatusCode::NOT_FOUND);
    }
});

survey_test!(a_link_expires_and_one_reminder_comes_with_its_own_link, |backend| async move {
    let app = with_mail(backend).await;
    let f = app.fixture().await;
    let key = resolved(&app, &f, "Cahier de textes").await;
    let first = survey_path(&mails(&app, &key, "resolved").await[0]);
    // Not before the configured days, then once.
    app.clock.advance(chrono::Duration::days(2));
    app.app.send_survey_reminders(None).await.unwrap();
    assert!(mails(&app, &key, "satisfaction_reminder").await.is_empty());
    app.clock.advance(chrono::Duration::days(2));
    assert_eq!(app.app.send_survey_reminders(None).await.unwrap(), 1);
    assert_eq!(app.app.send_survey_reminders(None).await.unwrap(), 0);
    let reminders = mails(&app, &key, "satisfaction_reminder").await;
    assert_eq!(reminders.len(), 1);
    let second = survey_path(&reminders[0]);
    assert_ne!(first, second);
    // Both links open the same survey until it expires (30 days).
    assert_eq!(page(&app, &first).await.0, StatusCode::OK);
    app.clock.advance(chrono::Duration::days(27));
    let (status, html) = page(&app, &second).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("expiré"));
    assert_eq!(submit(&app, &second, "rating=5").await.status, StatusCode::GONE);
    let history = app.get(&format!("/api/v1/tickets/{key}/history"), &f.agent).await.json();
    assert!(!history.as_array().unwrap().iter().any(|e| e["field"] == "satisfaction"));
});

survey_test!(nobody_rates_their_own_request_and_a_ticket_is_asked_once, |backend| async move {
    let app = with_mail(backend).await;
    let f = app.fixture().await;
    // Filed by the desk for itself: not asked.
    let body = json!({"title": "Pour nous", "description": "x", "establishment": f.uai_a});
    let key = app.post("/api/v1/tickets", &f.agent, body).await.json()["key"].as_str().unwrap().to_owned();
    let requester = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json()["requester"]["name"].clone();
    assert_eq!(requester, "Claire Oreja");
    app.patch(&format!("/api/v1/tickets/{key}"), &f.agent, json!({"status": "resolved", "resolution": "answered"}))
        .await;
    let sent = mails(&app, &key, "resolved").await;
    assert!(sent.iter().all(|m| !m.mail.body_text.contains("/satisfaction/")));
    // Filed by the desk on a school's behalf: the school's administrator is asked, once,
    // even when the request is reopened and resolved again.
    let body = json!({"title": "Au téléphone", "description": "x", "establishment": f.uai_a,
        "requester": "admin.a@lycee-a.test", "channel": "phone"});
    let key = app.post("/api/v1/tickets", &f.agent, body).await.json()["key"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/tickets/{key}");
    app.patch(&path, &f.agent, json!({"status": "resolved", "resolution": "answered"})).await;
    app.patch(&path, &f.requester_a, json!({"status": "in_progress"})).await;
    app.patch(&path, &f.agent, json!({"status": "resolved", "resolution": "fixed"})).await;
    let sent = mails(&app, &key, "resolved").await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent.iter().filter(|m| m.mail.body_text.contains("/satisfaction/")).count(), 1);
    assert_eq!(sent[0].mail.recipient, "admin.a@lycee-a.test");
});

survey_test!(on_the_portal_only_the_requester_asked_rates_and_only_once, |backend| async move {
    let app = with_mail(backend).await;
    let f = app.fixture().await;
    let key = resolved(&app, &f, "Emploi du temps").await;
    let agent = app.sign_in("claire@desk.test", PASSWORD).await;
    let html = String::from_utf8_lossy(&app.page(&agent.cookie, &format!("/tickets/{key}")).await.bytes).into_owned();
    assert!(!html.contains("id=\"survey\"") && html.contains("demandée, sans réponse"));
    let r = app.form(&agent, &format!("/tickets/{key}/satisfaction"), &[("rating", "1")], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the desk does not rate itself");

    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let html = String::from_utf8_lossy(&app.page(&s.cookie, &format!("/tickets/{key}")).await.bytes).into_owned();
    assert!(html.contains("id=\"survey\""));
    let r =
        app.form(&s, &format!("/tickets/{key}/satisfaction"), &[("rating", "5"), ("comment", "Parfait")], None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let html = String::from_utf8_lossy(&app.page(&s.cookie, &format!("/tickets/{key}")).await.bytes).into_owned();
    assert!(!html.contains("id=\"survey\"") && html.contains("5/5"));
    let r = app.form(&s, &format!("/tickets/{key}/satisfaction"), &[("rating", "1")], None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("error="));
    // Another school reaches neither the ticket nor its survey.
    let other = app.sign_in("admin.b@lycee-b.test", PASSWORD).await;
    let r = app.form(&other, &format!("/tickets/{key}/satisfaction"), &[("rating", "1")], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let sent = mails(&app, &key, "resolved").await;
    assert_eq!(submit(&app, &survey_path(&sent[0]), "rating=1").await.status, StatusCode::CONFLICT);
});

survey_test!(reports_count_answers_per_group_and_only_admins_see_agents, |backend| async move {
    let app = with_mail(backend).await;
    let f = app.fixture().await;
    for (title, rating) in [("Un", 5), ("Deux", 4), ("Trois", 1)] {
        let key = resolved(&app, &f, title).await;
        let path = survey_path(&mails(&app, &key, "resolved").await[0]);
        assert_eq!(submit(&app, &path, &format!("rating={rating}")).await.status, StatusCode::OK);
    }
    let today = app.app.now().date_naive();
    let q = format!("/api/v1/reports/satisfaction?from={today}&to={today}");
    let r = app.get(&q, &f.admin).await.json();
    assert_eq!(r["surveys_sent"], 3);
    assert_eq!(r["total"]["answers"], 3);
    assert_eq!(r["total"]["average_rating"], 3.3);
    assert_eq!(r["total"]["satisfied_percent"], 67);
    assert_eq!(r["by_type"][0]["key"], "unclassified");
    assert_eq!(r["by_agent"][0]["label"], "Claire Oreja");
    assert_eq!(r["by_agent"][0]["answers"], 3);
    // The desk's agents and the schools read the totals, not who was rated.
    let r = app.get(&q, &f.agent).await.json();
    assert!(r.get("by_agent").is_none() && r["total"]["answers"] == 3);
    let r = app.get(&q, &f.requester_b).await.json();
    assert_eq!(r["total"]["answers"], 0, "school B's report covers school B only");
    let r = app.get(&q, &f.requester_a).await.json();
    assert_eq!(r["total"]["answers"], 3);
    // The CSV export says the same.
    let csv = app.get(&format!("{q}&format=csv"), &f.admin).await;
    let text = String::from_utf8_lossy(&csv.bytes).into_owned();
    assert!(text.contains("total;total;3;3;3,3;67") || text.contains("total;total;3;3;3.3;67"), "{text}");
    assert!(text.contains("agent;Claire Oreja;;3;"), "{text}");
    let csv = app.get(&format!("{q}&format=csv"), &f.agent).await;
    assert!(!String::from_utf8_lossy(&csv.bytes).contains("agent;"));
});

survey_test!(a_macro_that_resolves_sends_one_mail_with_the_reply_and_the_survey, |backend| async move {
    let app = with_mail(backend).await;
    let f = app.fixture().await;
    let body = json!({"title": "Mot de passe", "description": "Bonjour", "establishment": f.uai_a});
    let key = app.post("/api/v1/tickets", &f.requester_a, body).await.json()["key"].as_str().unwrap().to_owned();
    let list = app.get("/api/v1/canned-responses", &f.agent).await.json();
    let id = list.as_array().unwrap().iter().find(|c| c["name"] == "Mot de passe réinitialisé").unwrap()["id"].clone();
    let r = app.post(&format!("/api/v1/tickets/{key}/comments"), &f.agent, json!({"canned_response": id})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(mails(&app, &key, "reply").await.is_empty(), "no separate reply mail");
    let resolved = mails(&app, &key, "resolved").await;
    assert_eq!(resolved.len(), 1);
    let text = &resolved[0].mail.body_text;
    assert!(text.contains("Votre demande est résolue") && text.contains("vient d'être réinitialisé"), "{text}");
    assert!(text.contains("/satisfaction/"));
    // An internal note with a macro mails nothing; a macro without a status change mails the reply.
    let r = app
        .post(
            "/api/v1/canned-responses",
            &f.agent,
            json!({"name": "Simple", "body": "Nous regardons, {{demandeur.prénom}}."}),
        )
        .await;
    let simple = r.json()["id"].clone();
    let body = json!({"title": "Autre", "description": "Bonjour", "establishment": f.uai_a});
    let other = app.post("/api/v1/tickets", &f.requester_a, body).await.json()["key"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/tickets/{other}/comments"),
            &f.agent,
            json!({"canned_response": simple, "internal": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(mails(&app, &other, "reply").await.is_empty());
    app.post(&format!("/api/v1/tickets/{other}/comments"), &f.agent, json!({"canned_response": simple})).await;
    let replies = mails(&app, &other, "reply").await;
    assert_eq!(replies.len(), 1);
    assert!(replies[0].mail.body_text.contains("Nous regardons, Nathalie."));
});

survey_test!(a_survey_comment_is_part_of_the_persons_export_and_is_erased_with_them, |backend| async move {
    let app = with_mail(backend).await;
    let f = app.fixture().await;
    let key = resolved(&app, &f, "Notes").await;
    let path = survey_path(&mails(&app, &key, "resolved").await[0]);
    let r = submit(&app, &path, "rating=2&comment=Nathalie+Durand+attend+encore").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.post("/api/v1/privacy/people/export", &f.admin, json!({"email": "admin.a@lycee-a.test"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.bytes.to_vec())).unwrap();
    let mut person = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("person.json").unwrap(), &mut person).unwrap();
    let person: serde_json::Value = serde_json::from_str(&person).unwrap();
    let ticket = person["tickets"].as_array().unwrap().iter().find(|t| t["key"] == key.as_str()).unwrap();
    assert_eq!(ticket["satisfaction"]["rating"], 2);
    assert_eq!(ticket["satisfaction"]["comment"], "Nathalie Durand attend encore");

    let r = app
        .post("/api/v1/privacy/people/erase", &f.admin, json!({"email": "admin.a@lycee-a.test", "confirm": true}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    let id = guichet_domain::ticket::parse_key("SUP", &key).unwrap();
    let mut conn = app.app.db.conn().await.unwrap();
    let survey = guichet_store::satisfaction::find_for_ticket(&mut conn, id).await.unwrap().unwrap();
    let comment = survey.comment.unwrap();
    assert!(!comment.contains("Durand") && comment.contains("attend encore"), "{comment}");
    assert_eq!(survey.rating, Some(2), "the rating stays for the statistics");
});
