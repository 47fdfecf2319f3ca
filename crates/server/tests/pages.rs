//! The pages' permission edges, driven in-process on both backends: a school
//! administrator signed in to the web interface cannot reach another school's
//! ticket, file or conversation through any page, nor the desk's or the
//! administrators' pages; forms without the session's CSRF token change nothing.
#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use guichet_testkit::{backend_test, PNG};

const PASSWORD: &str = "correct horse battery";

backend_test!(requester_pages_never_cross_into_another_school, |app| async move {
    let f = app.fixture().await;
    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let other = &f.ticket_b;
    let before = app.get(&format!("/api/v1/tickets/{other}"), &f.agent).await.json();
    let comments_before = app.get(&format!("/api/v1/tickets/{other}/comments"), &f.agent).await.json();

    assert_eq!(app.page(&s.cookie, &format!("/tickets/{other}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.page(&s.cookie, &format!("/attachments/{}", f.public_attachment_b)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.page(&s.cookie, &format!("/attachments/{}", f.internal_attachment_a)).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app.form(&s, &format!("/tickets/{other}/comments"), &[("body", "Intrusion")], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.form(&s, &format!("/tickets/{other}/update"), &[("action", "reopen")], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.page_upload(&s, &format!("/tickets/{other}/attachments"), "x.png", PNG).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Lists and filters show only the own school.
    let list =
        String::from_utf8_lossy(&app.page(&s.cookie, &format!("/tickets?establishment={}", f.uai_b)).await.bytes)
            .into_owned();
    assert!(!list.contains(other.as_str()));
    let list = String::from_utf8_lossy(&app.page(&s.cookie, "/tickets").await.bytes).into_owned();
    assert!(list.contains(f.ticket_a.as_str()) && !list.contains(other.as_str()));
    // The own ticket's page hides internal notes and files.
    let own =
        String::from_utf8_lossy(&app.page(&s.cookie, &format!("/tickets/{}", f.ticket_a)).await.bytes).into_owned();
    assert!(own.contains("Bonjour, nous regardons.") && !own.contains("SECRET-NOTE") && !own.contains("logs.txt"));
    // Desk and admin pages are not theirs.
    for path in ["/desk", "/phone"] {
        assert_eq!(app.page(&s.cookie, path).await.status, StatusCode::SEE_OTHER, "{path}");
    }
    for path in [
        "/admin/establishments",
        "/admin/users",
        "/admin/categories",
        "/admin/rota",
        "/admin/calendar",
        "/admin/mail",
        "/admin/webhooks",
        "/admin/webhooks/1",
    ] {
        assert_eq!(app.page(&s.cookie, path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let r = app.form(&s, "/admin/users", &[("email", "x@y.fr"), ("name", "X"), ("role", "admin")], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Nothing of the other school changed.
    assert_eq!(app.get(&format!("/api/v1/tickets/{other}"), &f.agent).await.json(), before);
    assert_eq!(app.get(&format!("/api/v1/tickets/{other}/comments"), &f.agent).await.json(), comments_before);
});

backend_test!(forms_without_the_sessions_csrf_token_are_refused_and_change_nothing, |app| async move {
    let f = app.fixture().await;
    let s = app.sign_in("claire@desk.test", PASSWORD).await;
    let path = format!("/tickets/{}", f.ticket_a);
    let before = app.get(&format!("/api/v1/tickets/{}/comments", f.ticket_a), &f.agent).await.json();
    for token in ["", "forged-token"] {
        let r = app.form(&s, &format!("{path}/comments"), &[("body", "x"), ("kind", "reply")], Some(token)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let other = app.sign_in("tech@desk.test", PASSWORD).await;
    let r = app.form(&s, &format!("{path}/comments"), &[("body", "x"), ("kind", "reply")], Some(&other.csrf)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another session's token is not this one's");
    assert_eq!(app.get(&format!("/api/v1/tickets/{}/comments", f.ticket_a), &f.agent).await.json(), before);
    // With the token, it works.
    let r = app.form(&s, &format!("{path}/comments"), &[("body", "Réponse"), ("kind", "reply")], None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Signing out ends the session.
    let r = app.form(&s, "/logout", &[], None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = app.page(&s.cookie, &path).await;
    assert_eq!(
        (r.status, r.headers["location"].to_str().unwrap().starts_with("/login")),
        (StatusCode::SEE_OTHER, true)
    );
});

backend_test!(sign_in_refuses_wrong_passwords_and_foreign_forms, |app| async move {
    let _ = app.fixture().await;
    let login = app.request(axum::http::Method::GET, "/login", None, None).await;
    let html = String::from_utf8_lossy(&login.bytes).into_owned();
    assert!(html.contains("lang=\"fr\"") && html.contains("Connexion"));
    // Without the sign-in form's cookie, a posted form is refused.
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("_csrf=x&email=claire@desk.test&password=correct+horse+battery"))
        .unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::FORBIDDEN);
    let cookie = login.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let token = guichet_testkit::csrf_of(&html).unwrap();
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/login")
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!("_csrf={token}&email=claire@desk.test&password=wrong")))
        .unwrap();
    let r = app.send(request).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(String::from_utf8_lossy(&r.bytes).contains("Adresse ou mot de passe incorrect."));
    // Cookies are HttpOnly and SameSite.
    let s = login.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax"), "{s}");
});

backend_test!(admin_pages_manage_users_establishments_and_categories, |app| async move {
    let f = app.fixture().await;
    let s = app.sign_in("boss@desk.test", PASSWORD).await;
    let uai = guichet_domain::establishment::Uai::from_number(781_111).to_string();
    let r = app
        .form(&s, "/admin/establishments", &[("uai", &uai), ("name", "Lycée Hoche"), ("town", "Versailles")], None)
        .await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    let r = app.form(&s, "/admin/establishments", &[("uai", "0781111Z"), ("name", "x"), ("town", "y")], None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("error="), "a bad UAI is reported");
    let r = app
        .form(
            &s,
            "/admin/users",
            &[("email", "new@lycee.test"), ("name", "Nouvel Admin"), ("role", "requester"), ("establishments", &uai)],
            None,
        )
        .await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    let users = app.get("/api/v1/users?q=new%40lycee.test", &f.admin).await.json();
    let id = users["items"][0]["id"].as_i64().unwrap();
    let r = app
        .form(
            &s,
            &format!("/admin/users/{id}/role"),
            &[("role", "requester"), ("establishments", &format!("{uai}, {}", f.uai_a))],
            None,
        )
        .await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    let user = app.get("/api/v1/users?q=new%40lycee.test", &f.admin).await.json();
    assert_eq!(user["items"][0]["establishments"].as_array().unwrap().len(), 2);
    let r = app.form(&s, &format!("/admin/users/{id}/password"), &[("password", "un nouveau secret")], None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    app.sign_in("new@lycee.test", "un nouveau secret").await;
    let r = app.form(&s, &format!("/admin/users/{id}/disabled"), &[("disabled", "true")], None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    assert_eq!(app.get("/api/v1/users?q=new%40lycee.test", &f.admin).await.json()["items"][0]["disabled"], true);
    let r = app
        .form(
            &s,
            "/admin/categories",
            &[("code", "ent_mobile"), ("label_fr", "Application mobile"), ("label_en", "Mobile app")],
            None,
        )
        .await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    let page = String::from_utf8_lossy(&app.page(&s.cookie, "/admin/categories").await.bytes).into_owned();
    assert!(page.contains("Application mobile"));
});

backend_test!(admins_set_hours_and_service_levels_from_the_calendar_page, |app| async move {
    let f = app.fixture().await;
    let s = app.sign_in("boss@desk.test", PASSWORD).await;
    let page = String::from_utf8_lossy(&app.page(&s.cookie, "/admin/calendar").await.bytes).into_owned();
    assert!(page.contains("12:00-19:00") && page.contains("Europe/Paris"));
    let mut fields = vec![
        ("tz", "Europe/Paris"),
        ("holidays", "1"),
        ("closures", "2026-12-24\n2026-12-31"),
        ("openings", "2026-06-06 09:00-12:00"),
    ];
    let days = ["08:30-12:00, 13:30-17:00", "12:00-19:00", "12:00-19:00", "12:00-19:00", "12:00-19:00", "", ""];
    let names: Vec<String> = (0..7).map(|i| format!("day{i}")).collect();
    for (name, hours) in names.iter().zip(days) {
        fields.push((name.as_str(), hours));
    }
    let fields: Vec<(&str, String)> = fields.into_iter().map(|(k, v)| (k, v.replace("\\n", "\n"))).collect();
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = app.form(&s, "/admin/calendar", &refs, None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="), "{:?}", r.headers["location"]);
    let calendar = app.get("/api/v1/calendar", &f.agent).await.json();
    assert_eq!(calendar["week"][0], serde_json::json!(["08:30-12:00", "13:30-17:00"]));
    assert_eq!(calendar["closures"].as_array().unwrap().len(), 2);
    assert_eq!(calendar["openings"]["2026-06-06"], serde_json::json!(["09:00-12:00"]));
    let mut wrong = refs.clone();
    wrong[4] = ("day0", "19:00-12:00");
    let r = app.form(&s, "/admin/calendar", &wrong, None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("error="));
    let r = app
        .form(
            &s,
            "/admin/sla",
            &[("fr.anomaly.critical", "1,5"), ("res.anomaly.critical", ""), ("at_risk", "75")],
            None,
        )
        .await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    let policy = app.get("/api/v1/sla-policy", &f.agent).await.json();
    let critical = policy["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "anomaly" && t["priority"] == "critical")
        .unwrap();
    assert_eq!(
        (critical["first_response_minutes"].as_i64(), critical["resolution_minutes"].is_null()),
        (Some(90), true)
    );
    assert_eq!(policy["at_risk_ratio"], 0.75);
});

backend_test!(admins_see_the_mail_channel_and_release_quarantined_messages_from_its_page, |app| async move {
    let _f = app.fixture().await;
    let raw = b"Subject: sans expediteur\r\n\r\ncorps du message\r\n";
    let outcome = app.app.ingest_mail(raw, Some("support")).await.unwrap();
    assert!(matches!(outcome, guichet_app::mail::IngestOutcome::Quarantined { .. }));
    let agent = app.sign_in("claire@desk.test", PASSWORD).await;
    assert_eq!(app.page(&agent.cookie, "/admin/mail").await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.form(&agent, "/admin/mail/quarantine/1/dismiss", &[], None).await.status, StatusCode::FORBIDDEN);
    let s = app.sign_in("boss@desk.test", PASSWORD).await;
    let page = String::from_utf8_lossy(&app.page(&s.cookie, "/admin/mail").await.bytes).into_owned();
    assert!(page.contains("Quarantaine") && page.contains("sans expediteur"), "{page}");
    assert!(page.contains("the message has no From address"));
    let id = page.split("/admin/mail/quarantine/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let raw_page = app.page(&s.cookie, &format!("/admin/mail/quarantine/{id}/raw")).await;
    assert_eq!(raw_page.bytes.as_slice(), raw);
    let r = app.form(&s, &format!("/admin/mail/quarantine/{id}/reprocess"), &[], None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("error="), "still broken: said so");
    let r = app.form(&s, &format!("/admin/mail/quarantine/{id}/dismiss"), &[], None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    let page = String::from_utf8_lossy(&app.page(&s.cookie, "/admin/mail").await.bytes).into_owned();
    assert!(page.contains("Aucun message en quarantaine."));
});

fn html(r: &guichet_testkit::Reply) -> String {
    String::from_utf8_lossy(&r.bytes).into_owned()
}

backend_test!(the_chain_of_support_pages_keep_each_school_to_itself, |app| async move {
    let f = app.fixture().await;
    let school = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let agent = app.sign_in("claire@desk.test", PASSWORD).await;
    let tech = app.sign_in("tech@desk.test", PASSWORD).await;

    // Level 2's queue starts with what was escalated to it.
    let r = app.page(&tech.cookie, "/tickets").await;
    assert_eq!(r.headers["location"], "/tickets?tier=technical");

    // A hand-over without its summary is refused on the page, with the reason.
    let mine = app
        .post(
            "/api/v1/tickets",
            &f.requester_a,
            guichet_testkit::json!({"title": "Cahier de textes vide", "establishment": f.uai_a}),
        )
        .await;
    let key = mine.json()["key"].as_str().unwrap().to_owned();
    let r =
        app.form(&agent, &format!("/tickets/{key}/handover"), &[("action", "escalate"), ("summary", "")], None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("error="), "{:?}", r.headers);
    let r = app
        .form(
            &school,
            &format!("/tickets/{key}/handover"),
            &[("action", "escalate"), ("summary", "Essayé deux fois, sans succès")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.form(&school, &format!("/tickets/{}/handover", f.ticket_b), &[("action", "forward")], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.form(&school, &format!("/tickets/{}/merge", f.ticket_a), &[("into", key.as_str())], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .form(
            &school,
            &format!("/tickets/{}/links", f.ticket_a),
            &[("kind", "relates_to"), ("other", key.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The desk declares an incident from its page, with a start time; the school sees only its share.
    let fields = [
        ("title", "Messagerie indisponible"),
        ("service", "Messagerie"),
        ("public_message", "Nous rétablissons la messagerie."),
        ("started_at", "2026-03-02T13:30"),
    ];
    let tickets = format!("{} {}", f.ticket_a, f.ticket_b);
    let mut with_tickets = fields.to_vec();
    with_tickets.push(("tickets", tickets.as_str()));
    assert_eq!(app.form(&school, "/incidents", &with_tickets, None).await.status, StatusCode::FORBIDDEN);
    let r = app.form(&agent, "/incidents", &with_tickets, None).await;
    let location = r.headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/incidents/1"), "{location}");
    let page = html(&app.page(&agent.cookie, "/incidents/1").await);
    assert!(page.contains("02/03/2026 13:30") && page.contains("Lycée Paul Éluard"), "{page}");
    let seen = html(&app.page(&school.cookie, "/incidents/1").await);
    assert!(seen.contains("Lycée Henri Wallon") && !seen.contains("Lycée Paul Éluard"), "{seen}");
    assert!(!seen.contains(&f.ticket_b) && seen.contains("id=\"join\""), "{seen}");
    let bad = [("title", "x"), ("service", "x"), ("public_message", "x"), ("started_at", "demain")];
    let r = app.form(&agent, "/incidents", &bad, None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("error="));

    // The banner on the school's portal, and the similar requests fragment.
    let portal = html(&app.page(&school.cookie, "/tickets/new").await);
    assert!(portal.contains("incident-banner") && portal.contains("Nous rétablissons la messagerie."));
    let similar = html(&app.page(&school.cookie, "/similar?text=messagerie%20en%20panne").await);
    assert!(similar.contains("Messagerie indisponible") && !similar.contains(&f.ticket_b), "{similar}");
    let r = app.page(&school.cookie, &format!("/similar?text=messagerie&establishment={}", f.uai_b)).await;
    assert_eq!(r.status, StatusCode::OK, "an establishment not theirs shows nothing, not an error page");
    assert!(!html(&r).contains(&f.ticket_b));

    // The school joins from the incident page; only for its own establishment.
    let r = app.form(&school, "/incidents/1/join", &[("establishment", f.uai_b.as_str())], None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("error="));
    let r = app.form(&school, "/incidents/1/join", &[("establishment", f.uai_a.as_str())], None).await;
    assert!(r.headers["location"].to_str().unwrap().starts_with("/tickets/SUP-"), "{:?}", r.headers);
    // Resolving is the desk's.
    assert_eq!(
        app.form(&school, "/incidents/1/resolve", &[("message", "Fini")], None).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.form(&agent, "/incidents/1/resolve", &[("message", "La messagerie est rétablie.")], None).await;
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    assert_eq!(app.request(axum::http::Method::GET, "/incidents", None, None).await.status, StatusCode::SEE_OTHER);
});

#[tokio::test]
async fn the_forms_asking_for_ticket_keys_show_the_desks_own_prefix() {
    let settings = guichet_app::Settings { key_prefix: "ENT".into(), ..guichet_app::Settings::default() };
    let app = guichet_testkit::TestApp::with_settings(guichet_testkit::Backend::Sqlite, settings).await;
    let f = app.fixture().await;
    assert!(f.ticket_a.starts_with("ENT-"), "{}", f.ticket_a);
    let agent = app.sign_in("claire@desk.test", PASSWORD).await;
    let page = app.page(&agent.cookie, &format!("/tickets/{}", f.ticket_a)).await;
    let html = String::from_utf8_lossy(&page.bytes).into_owned();
    for field in ["id=\"l-other\" name=\"other\"", "id=\"m-into\" name=\"into\""] {
        assert!(html.contains(field), "{field}");
    }
    assert!(html.contains("placeholder=\"ENT-123\"") && !html.contains("SUP-"), "examples follow the desk's prefix");
    let declare = guichet_testkit::json!({"title": "Messagerie indisponible", "service": "messagerie",
        "public_message": "La messagerie est indisponible.", "tickets": [f.ticket_a]});
    let incident = app.post("/api/v1/incidents", &f.agent, declare).await.json();
    let page = app.page(&agent.cookie, &format!("/incidents/{}", incident["id"])).await;
    let html = String::from_utf8_lossy(&page.bytes).into_owned();
    assert!(html.contains("<label for=\"a-tickets\">"), "the field keeps its label");
    assert!(html.contains("placeholder=\"ENT-12, ENT-15\"") && !html.contains("SUP-"), "{html}");
}

#[path = "pages/hardening.rs"]
mod hardening;

backend_test!(an_administrators_changes_to_an_account_are_in_its_history_and_only_admins_read_it, |app| async move {
    let f = app.fixture().await;
    let admin = app.sign_in("boss@desk.test", PASSWORD).await;
    let me = app.get("/api/v1/me", &f.requester_a).await.json();
    let id = me["id"].as_i64().unwrap();
    let role = app
        .form(
            &admin,
            &format!("/admin/users/{id}/role"),
            &[("role", "requester"), ("establishments", &format!("{} {}", f.uai_a, f.uai_b))],
            None,
        )
        .await;
    assert!(role.headers["location"].to_str().unwrap().contains("ok="), "{:?}", role.headers);
    app.form(&admin, &format!("/admin/users/{id}/disabled"), &[("disabled", "true")], None).await;
    app.form(&admin, &format!("/admin/users/{id}/disabled"), &[("disabled", "false")], None).await;
    let page = app.page(&admin.cookie, &format!("/admin/users/{id}/tokens")).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.bytes).into_owned();
    assert!(html.contains("Historique du compte") && html.contains("Responsable"), "{html}");
    assert!(
        html.contains(&format!("requester {}", f.uai_a))
            && html.contains(&format!("requester {} {}", f.uai_a, f.uai_b)),
        "{html}"
    );
    assert!(html.contains("disabled") && html.contains("enabled"), "{html}");
    assert!(
        html.contains("ce compte ne s&#39;est jamais connecté par l&#39;ENT") || html.contains("jamais connecté"),
        "{html}"
    );
    // The desk reads no one's account history; nor does the person.
    let agent = app.sign_in("claire@desk.test", PASSWORD).await;
    assert_eq!(app.page(&agent.cookie, &format!("/admin/users/{id}/tokens")).await.status, StatusCode::FORBIDDEN);
});

/// Every API request and every page reads its credential (token, session)
/// with its owner in one statement: reading the owner again by number was
/// one more round trip to the database per request.
#[tokio::test]
async fn a_request_reads_its_credential_and_its_owner_in_one_statement() {
    use guichet_testkit::TestApp;
    let app = TestApp::new(guichet_testkit::Backend::Postgres).await;
    let f = app.fixture().await;
    let node = app.one_connection_node().await;
    let s = node.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let (owner_by_number, with_owner) =
        ("%FROM users WHERE id = $1%", "%FROM users WHERE users.id = (SELECT user_id FROM %");
    let runs = || async {
        let mut conn = node.app.db.conn().await.unwrap();
        (TestApp::prepared_runs(&mut conn, owner_by_number).await, TestApp::prepared_runs(&mut conn, with_owner).await)
    };
    let before = runs().await;
    for _ in 0..3 {
        let me = node.get("/api/v1/me", &f.requester_a).await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.json()["email"], "admin.a@lycee-a.test");
        let page = node.page(&s.cookie, "/account").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&page.bytes).contains("admin.a@lycee-a.test"));
    }
    let after = runs().await;
    assert_eq!(after.0 - before.0, 0, "the owner read again by number");
    assert_eq!(after.1 - before.1, 6, "three tokens and three sessions read with their owner");
}

/// The ticket page checks once that its reader may see the ticket, then
/// reads each of its parts (replies, history, files, links…) on the same
/// connection: it read the ticket once per part, nine times, 0.3 ms each at
/// 1,000,000 tickets on PostgreSQL. A node with a pool of one connection
/// shows every read of the page on that connection.
#[tokio::test]
async fn the_ticket_page_reads_its_ticket_once_for_the_desk_and_for_a_school() {
    use guichet_testkit::TestApp;
    let app = TestApp::new(guichet_testkit::Backend::Postgres).await;
    let f = app.fixture().await;
    let node = app.one_connection_node().await;
    for (email, shown, hidden) in [
        ("claire@desk.test", "SECRET-NOTE", "\u{1}"),
        ("admin.a@lycee-a.test", "Bonjour, nous regardons.", "SECRET-NOTE"),
    ] {
        let s = node.sign_in(email, PASSWORD).await;
        let mut conn = node.app.db.conn().await.unwrap();
        let before = TestApp::ticket_reads_prepared(&mut conn).await;
        drop(conn);
        let page = node.page(&s.cookie, &format!("/tickets/{}", f.ticket_a)).await;
        assert_eq!(page.status, StatusCode::OK, "{email}");
        let html = String::from_utf8_lossy(&page.bytes);
        assert!(html.contains(shown) && !html.contains(hidden), "{email}");
        let mut conn = node.app.db.conn().await.unwrap();
        let reads = TestApp::ticket_reads_prepared(&mut conn).await - before;
        assert_eq!(reads, 1, "{email}: the ticket read once");
    }
    let s = node.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    assert_eq!(node.page(&s.cookie, &format!("/tickets/{}", f.ticket_b)).await.status, StatusCode::NOT_FOUND);
}
