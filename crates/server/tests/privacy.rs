//! Privacy on both backends with a clock moved by hand: each retention rule
//! forgets its kind at its age and nothing else, reports count the same
//! before and after, and search no longer finds what was forgotten.
#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use chrono::Duration;
use guichet_app::help::HelpRequest;
use guichet_domain::privacy::DataKind;
use guichet_testkit::{backend_test, json, per_backend_test, TestApp, PNG};

async fn keys(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let path = format!("/api/v1/search?q={}", url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>());
    let r = app.get(&path, token).await;
    assert_eq!(r.status, StatusCode::OK, "{q}: {}", String::from_utf8_lossy(&r.bytes));
    r.json().as_array().unwrap().iter().map(|h| h["key"].as_str().unwrap().to_owned()).collect()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut conn = app.app.db.conn().await.unwrap();
    guichet_store::on_conn!(conn, |c| sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut *c).await).unwrap()
}

async fn reports(app: &TestApp, token: &str) -> Vec<serde_json::Value> {
    let q = "from=2026-03-01&to=2026-04-30";
    let mut out = Vec::new();
    for path in [
        format!("/api/v1/reports/volume?{q}&granularity=month"),
        format!("/api/v1/reports/breakdown?{q}&dimension=establishment"),
        format!("/api/v1/reports/breakdown?{q}&dimension=category"),
        format!("/api/v1/reports/times?{q}"),
        format!("/api/v1/reports/sla?{q}"),
        format!("/api/v1/reports/agents?{q}"),
        format!("/api/v1/reports/escalations?{q}"),
    ] {
        let r = app.get(&path, token).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", String::from_utf8_lossy(&r.bytes));
        out.push(r.json());
    }
    out
}

/// One retention pass, checking that every report counts the same after it
/// as just before (at the same instant: an open ticket's times grow with the clock).
async fn retention(app: &TestApp, token: &str) -> std::collections::BTreeMap<DataKind, u64> {
    let before = reports(app, token).await;
    let counts = app.app.run_retention_under(None).await.unwrap().counts;
    assert_eq!(reports(app, token).await, before, "every report counts the same after {counts:?}");
    counts
}

/// An app that queues notifications, as with an SMTP server configured.
/// A teacher who can no longer sign in writes through the HELP page.
async fn teacher_without_access_writes(app: &TestApp, uai: &str, name: &str, email: &str) {
    let request = HelpRequest {
        uai: uai.to_owned(),
        profile: "teacher".into(),
        name: name.into(),
        email: email.into(),
        message: "Je n'ai plus accès".into(),
        client: "10.0.0.2".into(),
        ..HelpRequest::default()
    };
    app.app.submit_help(request).await.unwrap();
}

async fn app_with_mail(backend: guichet_testkit::Backend) -> TestApp {
    let mail = guichet_app::notify::MailSettings { notifications: true, ..Default::default() };
    let settings = guichet_app::Settings { mail, attachment_max_bytes: 64 * 1024, ..Default::default() };
    TestApp::with_settings(backend, settings).await
}

per_backend_test!(each_retention_rule_forgets_its_kind_at_its_age_and_reports_count_the_same, |backend| async move {
    let app = app_with_mail(backend).await;
    let f = app.fixture().await;
    // A pupil writes through the HELP page, with a screenshot.
    let help = app
        .app
        .submit_help(HelpRequest {
            uai: f.uai_a.clone(),
            profile: "student".into(),
            name: "Léa Martin".into(),
            email: "lea.martin@eleve.test".into(),
            message: "Je suis Léa Martin, rappelez-moi au 06 12 34 56 78, je ne peux plus me connecter".into(),
            screenshot: Some(("ecran.png".into(), PNG.to_vec())),
            client: "10.0.0.1".into(),
            ..HelpRequest::default()
        })
        .await
        .unwrap();
    let guichet_app::help::HelpOutcome::Filed(help_id) = help else { panic!("not filed") };
    let help_key = format!("SUP-{}", help_id.0);
    // The school's administrator gives her number in a reply; a mail comes in; one is quarantined.
    let path_a = format!("/api/v1/tickets/{}", f.ticket_a);
    let r = app
        .post(
            &format!("{path_a}/comments"),
            &f.requester_a,
            json!({"body": "Joignable au 07 98 76 54 32, Nathalie Durand"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let raw = "From: admin.a@lycee-a.test\r\nTo: support@guichet.test\r\nSubject: Cahier de textes\r\n\
        Message-ID: <privacy-1@client.test>\r\nDate: Mon, 2 Mar 2026 14:00:00 +0100\r\n\r\nBonjour, Nathalie Durand\r\n";
    let mailed = match app.app.ingest_mail(raw.as_bytes(), None).await.unwrap() {
        guichet_app::mail::IngestOutcome::Ticket { key, .. } => key,
        other => panic!("{other:?}"),
    };
    let durand = |mut keys: Vec<String>| {
        keys.sort();
        keys
    };
    let forged = raw.replace("admin.a@lycee-a.test", "claire@desk.test").replace("privacy-1", "privacy-2");
    app.app.ingest_mail(forged.as_bytes(), None).await.unwrap();
    assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_quarantine").await, 1);
    assert!(count(&app, "SELECT COUNT(*) FROM mail_messages WHERE raw IS NOT NULL").await >= 1);
    // Ticket A and the HELP request are resolved, then closed; ticket B stays open.
    for key in [&f.ticket_a, &help_key] {
        let path = format!("/api/v1/tickets/{key}");
        let r = app.patch(&path, &f.admin, json!({"status": "resolved", "resolution": "fixed"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
        let r = app.patch(&path, &f.admin, json!({"status": "closed"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    }
    // A school administrator who left: disabled today.
    let (_, gone) = app
        .user("ancien@lycee-a.test", "Ancien Proviseur", guichet_domain::user::Role::Requester, Some(&f.uai_a))
        .await;
    let op = app.app.operator();
    app.app.set_user_disabled(&op, guichet_domain::ids::UserId(gone), true).await.unwrap();

    // Everything queued was sent.
    app.execute("UPDATE outbox SET sent_at = created_at").await;
    assert!(count(&app, "SELECT COUNT(*) FROM outbox WHERE body_text <> ''").await > 0);
    assert_eq!(keys(&app, &f.agent, "Léa").await, vec![help_key.clone()]);
    assert_eq!(durand(keys(&app, &f.agent, "Durand").await), durand(vec![f.ticket_a.clone(), mailed.clone()]));
    let files = "SELECT COUNT(*) FROM attachments";
    let files_at_start = count(&app, files).await;

    // Day 89: nothing is due yet.
    app.clock.advance(Duration::days(89));
    assert_eq!(retention(&app, &f.agent).await, Default::default());

    // Day 91: HELP identity, raw and quarantined mail, sent bodies, the disabled account.
    app.clock.advance(Duration::days(2));
    let counts = retention(&app, &f.agent).await;
    assert_eq!(counts.get(&DataKind::HelpIdentity), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&DataKind::DisabledAccounts), Some(&1), "{counts:?}");
    assert!(counts.get(&DataKind::RawMail).is_some_and(|n| *n >= 2), "{counts:?}");
    assert!(counts.get(&DataKind::SentMail).is_some_and(|n| *n > 0), "{counts:?}");
    assert!(!counts.contains_key(&DataKind::Attachments) && !counts.contains_key(&DataKind::Requesters), "{counts:?}");
    let contact = app.app.ticket_view(&op, &help_key).await.unwrap().contact.unwrap();
    assert_eq!(
        (contact.name.as_str(), contact.email, contact.profile.as_str()),
        (format!("Personne anonymisée #{}", help_id.0).as_str(), None, "")
    );
    assert!(keys(&app, &f.agent, "Léa").await.is_empty() && keys(&app, &f.agent, "0612345678").await.is_empty());
    let help_ticket = app.get(&format!("/api/v1/tickets/{help_key}"), &f.agent).await.json();
    let text = help_ticket.to_string();
    assert!(!text.contains("Léa") && !text.contains("56 78") && text.contains("[téléphone masqué]"), "{text}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_quarantine").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_messages WHERE raw IS NOT NULL").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox WHERE body_text <> ''").await, 0);
    let account = {
        let mut conn = app.app.db.conn().await.unwrap();
        guichet_store::users::find_user(&mut conn, guichet_domain::ids::UserId(gone)).await.unwrap()
    };
    assert_eq!(account.name, format!("Personne anonymisée #{gone}"));
    assert!(account.email.as_str().ends_with("@guichet.invalid") && account.phones.is_empty() && account.disabled);
    // Not yet: files, and the requester's own words on ticket A.
    assert_eq!(count(&app, files).await, files_at_start);
    assert_eq!(durand(keys(&app, &f.agent, "Durand").await), durand(vec![f.ticket_a.clone(), mailed.clone()]));
    // An anonymised account cannot come back.
    let back = app.app.set_user_disabled(&op, guichet_domain::ids::UserId(gone), false).await;
    assert!(back.is_err());

    // Day 366: the files of closed tickets go; ticket B's stay.
    app.clock.advance(Duration::days(275));
    // Tokens last a year: new ones.
    let agent = app.app.create_token("claire@desk.test", "next year").await.unwrap();
    let requester = app.app.create_token("admin.a@lycee-a.test", "next year").await.unwrap();
    let counts = retention(&app, &agent).await;
    assert_eq!(counts.get(&DataKind::Attachments), Some(&3), "two on ticket A, the screenshot: {counts:?}");
    let b_id = f.ticket_b.trim_start_matches("SUP-");
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) FROM attachments WHERE ticket_id = {b_id}")).await,
        2,
        "ticket B's"
    );
    let gone_file = app.get(&format!("/api/v1/attachments/{}", f.public_attachment_a), &requester).await;
    assert_eq!(gone_file.status, StatusCode::NOT_FOUND);
    assert_eq!(count(&app, files).await, files_at_start - 3);

    // Day 721: names, addresses and numbers leave closed tickets' text; ticket B is as it was.
    app.clock.advance(Duration::days(355));
    let counts = retention(&app, &agent).await;
    assert_eq!(counts.get(&DataKind::Requesters), Some(&2), "{counts:?}");
    assert!(
        counts.get(&DataKind::Audit).is_some_and(|n| *n > 0),
        "the first runs' entries are over a year old: {counts:?}"
    );
    assert_eq!(keys(&app, &agent, "Durand").await, vec![mailed.clone()], "the open ticket keeps its words");
    // What people wrote; the author stays the account, which is still active.
    let comments = app.get(&format!("{path_a}/comments"), &agent).await.json();
    let a: String =
        comments.as_array().unwrap().iter().map(|c| c["body"].as_str().unwrap().to_owned() + "\n").collect();
    assert!(!a.contains("Durand") && !a.contains("54 32") && a.contains("Personne anonymisée"), "{a}");
    let b = app.get(&format!("/api/v1/tickets/{}", f.ticket_b), &agent).await.json();
    assert_eq!(b["description"], "Page blanche");

    // The audit log kept counts, never a name or an address.
    let audit = app.app.privacy_audit(&op, None, 100).await.unwrap();
    let retention_entry = audit.iter().find(|e| e.action == "retention").unwrap();
    assert!(retention_entry.details.contains("requesters"), "{retention_entry:?}");
    for e in &audit {
        assert!(!e.details.contains('@') && !e.details.contains("Durand") && !e.subject.contains('@'), "{e:?}");
    }
    // A second pass finds nothing more to do.
    assert_eq!(retention(&app, &agent).await, Default::default());
});

/// The archive's files by name.
fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        out.insert(file.name().to_owned(), content);
    }
    out
}

backend_test!(a_persons_export_holds_all_of_their_data_and_nobody_elses, |app| async move {
    let f = app.fixture().await;
    // Nathalie (school A) writes; a look-alike in school B writes too.
    let (look_alike, _) = app
        .user("nathalie.durand@lycee-b.test", "Nathalie Durand", guichet_domain::user::Role::Requester, Some(&f.uai_b))
        .await;
    let r = app
        .post(
            "/api/v1/tickets",
            &look_alike,
            json!({"title": "Nathalie Durand: ENT", "description": "Nathalie Durand ici", "establishment": f.uai_b}),
        )
        .await;
    let other_key = r.json()["key"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/tickets/{}/comments", f.ticket_a),
        &f.requester_a,
        json!({"body": "Merci, c'est réglé"}),
    )
    .await;
    // She also wrote in school B's ticket? No: she commented on her own only. A HELP request names her address.
    teacher_without_access_writes(&app, &f.uai_a, "N. Durand", "admin.a@lycee-a.test").await;

    // Only administrators.
    for token in [&f.requester_a, &f.agent, &f.technician] {
        let r = app.post("/api/v1/privacy/people/export", token, json!({"email": "admin.a@lycee-a.test"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&r.bytes));
    }
    let bad = app.post("/api/v1/privacy/people/export", &f.admin, json!({"email": "pas une adresse"})).await;
    assert_eq!(
        (bad.status, bad.code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
        "{}",
        String::from_utf8_lossy(&bad.bytes)
    );

    let preview =
        app.post("/api/v1/privacy/people/lookup", &f.admin, json!({"email": "Admin.A@lycee-a.test"})).await.json();
    assert_eq!((preview["tickets_filed"].as_i64(), preview["help_requests"].as_i64()), (Some(1), Some(1)), "{preview}");
    assert_eq!(preview["account"]["name"], "Nathalie Durand");

    let r = app.post("/api/v1/privacy/people/export", &f.admin, json!({"email": "admin.a@lycee-a.test"})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/zip");
    let files = unzip(&r.bytes);
    let person: serde_json::Value = serde_json::from_slice(&files["person.json"]).unwrap();
    let keys: Vec<&str> = person["tickets"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert!(keys.contains(&f.ticket_a.as_str()) && keys.len() == 2, "her ticket and her HELP request: {keys:?}");
    assert!(!keys.contains(&other_key.as_str()) && !keys.contains(&f.ticket_b.as_str()), "nobody else's: {keys:?}");
    assert_eq!(person["account"]["email"], "admin.a@lycee-a.test");
    assert_eq!(person["account"]["phones"], json!(["0144321200"]));
    let text = String::from_utf8_lossy(&files["comments.csv"]).into_owned();
    assert!(text.contains("Merci, c'est réglé") && !text.contains("Nathalie Durand ici"), "{text}");
    assert!(String::from_utf8_lossy(&files["tickets.csv"]).contains(&f.ticket_a));
    assert!(
        files.keys().any(|k| k.starts_with(&format!("files/{}/", f.ticket_a))),
        "her ticket's files: {:?}",
        files.keys()
    );
    // The export is in the audit log, without the address.
    let audit = app.get("/api/v1/privacy/audit", &f.admin).await.json();
    let entry = audit.as_array().unwrap().iter().find(|e| e["action"] == "export").unwrap();
    assert!(
        entry["subject"].as_str().unwrap().starts_with("user:") && !entry.to_string().contains("lycee-a"),
        "{entry}"
    );
    assert_eq!(app.get("/api/v1/privacy/audit", &f.agent).await.status, StatusCode::FORBIDDEN);
});

backend_test!(an_erasure_anonymises_the_person_everywhere_and_keeps_the_statistics, |app| async move {
    let f = app.fixture().await;
    app.post(
        &format!("/api/v1/tickets/{}/comments", f.ticket_a),
        &f.requester_a,
        json!({"body": "Signé Nathalie Durand, 06 11 22 33 44"}),
    )
    .await;
    // A colleague's ticket in her school, where she wrote too (her number as people write it).
    let (colleague, _) =
        app.user("cpe@lycee-a.test", "Paul Roux", guichet_domain::user::Role::Requester, Some(&f.uai_a)).await;
    let r = app
        .post(
            "/api/v1/tickets",
            &colleague,
            json!({"title": "Notes", "description": "Appeler le standard au 01 02 03 04 05", "establishment": f.uai_a}),
        )
        .await;
    let colleague_key = r.json()["key"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/tickets/{colleague_key}/comments"),
        &f.requester_a,
        json!({"body": "Vu aussi, Nathalie Durand (01 44 32 12 00)"}),
    )
    .await;
    // Someone else with the same name, in school B: not her.
    let (homonym, _) = app
        .user("n.durand@lycee-b.test", "Nathalie Durand", guichet_domain::user::Role::Requester, Some(&f.uai_b))
        .await;
    let r = app
        .post(
            "/api/v1/tickets",
            &homonym,
            json!({"title": "ENT", "description": "De la part de Nathalie Durand", "establishment": f.uai_b}),
        )
        .await;
    let homonym_key = r.json()["key"].as_str().unwrap().to_owned();
    let volume = "/api/v1/reports/volume?from=2026-03-01&to=2026-03-31&granularity=month";
    let before = app.get(volume, &f.agent).await.json();
    // Confirmation required; not oneself; administrators only.
    let r = app
        .post("/api/v1/privacy/people/erase", &f.admin, json!({"email": "admin.a@lycee-a.test", "confirm": false}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r =
        app.post("/api/v1/privacy/people/erase", &f.admin, json!({"email": "boss@desk.test", "confirm": true})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "not one's own account");
    let r = app
        .post("/api/v1/privacy/people/erase", &f.agent, json!({"email": "admin.a@lycee-a.test", "confirm": true}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = app
        .post("/api/v1/privacy/people/erase", &f.admin, json!({"email": "admin.a@lycee-a.test", "confirm": true}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    // She can no longer sign in, her token is gone, her name is nowhere.
    assert_eq!(app.get("/api/v1/me", &f.requester_a).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(keys(&app, &f.agent, "Durand").await, vec![homonym_key.clone()], "only the homonym's ticket");
    let a = app.get(&format!("/api/v1/tickets/{}/comments", f.ticket_a), &f.agent).await.json().to_string();
    assert!(!a.contains("Durand") && !a.contains("33 44") && a.contains("Personne anonymisée"), "{a}");
    // In her colleague's ticket only her own values went: the school's number stays.
    let c = app.get(&format!("/api/v1/tickets/{colleague_key}/comments"), &f.agent).await.json().to_string();
    assert!(!c.contains("Durand") && !c.contains("44 32") && c.contains("Personne anonymisée"), "{c}");
    let c = app.get(&format!("/api/v1/tickets/{colleague_key}"), &f.agent).await.json();
    assert_eq!(c["description"], "Appeler le standard au 01 02 03 04 05");
    let ticket = app.get(&format!("/api/v1/tickets/{}", f.ticket_a), &f.agent).await.json();
    assert!(ticket["requester"]["name"].as_str().unwrap().starts_with("Personne anonymisée"), "{ticket}");
    assert_eq!(app.get(volume, &f.agent).await.json(), before, "the statistics are the same");
    let preview =
        app.post("/api/v1/privacy/people/lookup", &f.admin, json!({"email": "admin.a@lycee-a.test"})).await.json();
    assert!(preview["account"].is_null(), "the address is no longer known: {preview}");
    let audit = app.get("/api/v1/privacy/audit", &f.admin).await.json();
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "erasure"));
});

backend_test!(a_redaction_removes_the_secret_everywhere_and_says_who_masked_it, |app| async move {
    let f = app.fixture().await;
    let path = format!("/api/v1/tickets/{}", f.ticket_a);
    let r = app
        .post(&format!("{path}/comments"), &f.requester_a, json!({"body": "Mon mot de passe est Zorglub-42, merci"}))
        .await;
    let comment = r.json()["id"].as_i64().unwrap();
    assert_eq!(keys(&app, &f.agent, "Zorglub").await, vec![f.ticket_a.clone()]);
    let request = json!({"target": "comment", "id": comment, "text": "Zorglub-42", "reason": "mot de passe collé"});
    // Not the school, not a ticket the desk cannot find, not a text that is not there.
    assert_eq!(
        app.post(&format!("{path}/redactions"), &f.requester_a, request.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let elsewhere = app.post(&format!("/api/v1/tickets/{}/redactions", f.ticket_b), &f.agent, request.clone()).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND, "the comment is not on that ticket");
    let absent = json!({"target": "comment", "id": comment, "text": "absent", "reason": "x"});
    assert_eq!(
        app.post(&format!("{path}/redactions"), &f.agent, absent).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let no_reason = json!({"target": "comment", "id": comment, "text": "Zorglub-42", "reason": " "});
    assert_eq!(
        app.post(&format!("{path}/redactions"), &f.agent, no_reason).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let r = app.post(&format!("{path}/redactions"), &f.agent, request).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
    let list = r.json();
    assert_eq!(
        (list[0]["by"].as_str(), list[0]["reason"].as_str()),
        (Some("Claire Oreja"), Some("mot de passe collé"))
    );
    assert!(keys(&app, &f.agent, "Zorglub").await.is_empty(), "gone from search");
    let comments = app.get(&format!("{path}/comments"), &f.requester_a).await.json().to_string();
    assert!(
        !comments.contains("Zorglub") && comments.contains("Mon mot de passe est [contenu masqué], merci"),
        "{comments}"
    );
    let outbox =
        count(&app, "SELECT COUNT(*) FROM outbox WHERE body_text LIKE '%Zorglub%' OR subject LIKE '%Zorglub%'").await;
    assert_eq!(outbox, 0);
    // The school sees that something was masked, and why.
    let seen = app.get(&format!("{path}/redactions"), &f.requester_a).await.json();
    assert_eq!(seen[0]["target"], "comment");
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{}/redactions", f.ticket_a), &f.requester_b).await.status,
        StatusCode::NOT_FOUND
    );
    // A file: removed, content included.
    let file = json!({"target": "attachment", "id": f.public_attachment_a, "reason": "capture avec des noms d'élèves"});
    assert_eq!(app.post(&format!("{path}/redactions"), &f.agent, file).await.status, StatusCode::CREATED);
    assert_eq!(
        app.get(&format!("/api/v1/attachments/{}", f.public_attachment_a), &f.agent).await.status,
        StatusCode::NOT_FOUND
    );
    // The whole description.
    let whole = json!({"target": "description", "reason": "données d'un élève"});
    assert_eq!(app.post(&format!("{path}/redactions"), &f.agent, whole).await.status, StatusCode::CREATED);
    assert_eq!(app.get(&path, &f.agent).await.json()["description"], "[contenu masqué]");
    let audit = app.get("/api/v1/privacy/audit", &f.admin).await.json();
    assert_eq!(audit.as_array().unwrap().iter().filter(|e| e["action"] == "redaction").count(), 3);
});

const PASSWORD: &str = "correct horse battery";

backend_test!(the_privacy_page_looks_up_exports_and_erases_for_administrators_only, |app| async move {
    let f = app.fixture().await;
    for email in ["admin.a@lycee-a.test", "claire@desk.test"] {
        let s = app.sign_in(email, PASSWORD).await;
        assert_eq!(app.page(&s.cookie, "/admin/privacy").await.status, StatusCode::FORBIDDEN, "{email}");
        let r = app.form(&s, "/admin/privacy/export", &[("email", "admin.b@lycee-b.test")], None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{email}");
        let r =
            app.form(&s, "/admin/privacy/erase", &[("email", "admin.b@lycee-b.test"), ("confirm", "yes")], None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{email}");
    }
    let admin = app.sign_in("boss@desk.test", PASSWORD).await;
    let page = app.page(&admin.cookie, "/admin/privacy").await;
    let html = String::from_utf8_lossy(&page.bytes).into_owned();
    assert!(
        html.contains("Durées de conservation")
            && html.contains("90 jours")
            && html.contains("href=\"/admin/privacy\""),
        "{html}"
    );
    // Without the session's token, nothing.
    let r = app
        .form(&admin, "/admin/privacy/erase", &[("email", "admin.b@lycee-b.test"), ("confirm", "yes")], Some("forged"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let found = app.form(&admin, "/admin/privacy/person", &[("email", "admin.b@lycee-b.test")], None).await;
    let html = String::from_utf8_lossy(&found.bytes).into_owned();
    assert!(html.contains("Karim Benali") && html.contains("Demandes déposées : 1"), "{html}");
    let zip = app.form(&admin, "/admin/privacy/export", &[("email", "admin.b@lycee-b.test")], None).await;
    assert_eq!(zip.headers["content-type"], "application/zip");
    assert!(unzip(&zip.bytes).contains_key("person.json"));
    // Unticked confirmation: nothing erased.
    let r = app.form(&admin, "/admin/privacy/erase", &[("email", "admin.b@lycee-b.test")], None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/api/v1/me", &f.requester_b).await.status, StatusCode::OK);
    let r =
        app.form(&admin, "/admin/privacy/erase", &[("email", "admin.b@lycee-b.test"), ("confirm", "yes")], None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/api/v1/me", &f.requester_b).await.status, StatusCode::UNAUTHORIZED);
    let csv = app.page(&admin.cookie, "/admin/privacy/audit.csv").await;
    let csv = String::from_utf8_lossy(&csv.bytes).into_owned();
    assert!(csv.contains(";export;user:") && csv.contains(";erasure;user:") && !csv.contains("lycee-b"), "{csv}");
});

backend_test!(the_desk_masks_a_pasted_password_from_the_ticket_page, |app| async move {
    let f = app.fixture().await;
    let r = app
        .post(&format!("/api/v1/tickets/{}/comments", f.ticket_a), &f.requester_a, json!({"body": "mdp Hunter-77"}))
        .await;
    let id = r.json()["id"].as_i64().unwrap().to_string();
    let fields = [("target", "comment"), ("id", id.as_str()), ("text", "Hunter-77"), ("reason", "mot de passe")];
    let school = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let page = String::from_utf8_lossy(&app.page(&school.cookie, &format!("/tickets/{}", f.ticket_a)).await.bytes)
        .into_owned();
    assert!(!page.contains("/redact"), "no mask form for the school");
    let r = app.form(&school, &format!("/tickets/{}/redact", f.ticket_a), &fields, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let desk = app.sign_in("claire@desk.test", PASSWORD).await;
    let r = app.form(&desk, &format!("/tickets/{}/redact", f.ticket_a), &fields, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = String::from_utf8_lossy(&app.page(&school.cookie, &format!("/tickets/{}", f.ticket_a)).await.bytes)
        .into_owned();
    assert!(!page.contains("Hunter-77") && page.contains("mdp [contenu masqué]"), "{page}");
    assert!(page.contains("Contenu masqué par Claire Oreja") && page.contains("motif : mot de passe"), "{page}");
});

/// What a person's lookup finds of an address written with an accented
/// capital, in a HELP request and in a mail that was set aside.
async fn traces_of_an_address_with_an_accented_capital_are_found_in_lower_case(app: TestApp) {
    let f = app.fixture().await;
    teacher_without_access_writes(&app, &f.uai_a, "Élodie Roux", "Élodie.Roux@lycee-a.test").await;
    let raw = "From: =?utf-8?q?=C3=89lodie?= <\u{c9}lodie.Roux@lycee-a.test>\r\nTo: support@guichet.test\r\n\
        Subject: Test\r\nMessage-ID: <accent-1@client.test>\r\nDate: Mon, 2 Mar 2026 14:00:00 +0100\r\n\r\nBonjour\r\n";
    app.app.ingest_mail(raw.as_bytes(), None).await.unwrap();
    // A second one, too large: set aside with its header as written.
    let header = raw.replace("accent-1", "accent-2");
    app.app.quarantine_oversized(header.as_bytes(), 50_000_000, None).await.unwrap();
    for asked in ["élodie.roux@lycee-a.test", "ÉLODIE.ROUX@lycee-a.test"] {
        let found = app.post("/api/v1/privacy/people/lookup", &f.admin, json!({"email": asked})).await.json();
        assert_eq!(found["help_requests"].as_i64(), Some(1), "{asked}: {found}");
        assert_eq!(found["mails_sent"].as_i64(), Some(1), "{asked}: {found}");
        assert_eq!(found["mails_quarantined"].as_i64(), Some(1), "{asked}: {found}");
    }
    // Erased with the rest of her data.
    let body = json!({"email": "élodie.roux@lycee-a.test", "confirm": true});
    let r = app.post("/api/v1/privacy/people/erase", &f.admin, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_quarantine WHERE raw IS NOT NULL").await, 0);
}

per_backend_test!(an_address_with_an_accented_capital_is_found_in_any_case, |backend| async move {
    traces_of_an_address_with_an_accented_capital_are_found_in_lower_case(TestApp::new(backend).await).await;
});

#[tokio::test]
async fn an_address_with_an_accented_capital_is_found_in_any_case_on_postgresql_in_the_c_locale() {
    traces_of_an_address_with_an_accented_capital_are_found_in_lower_case(TestApp::on_postgres_in("C").await).await;
}

backend_test!(a_help_senders_address_seen_on_the_ticket_page_is_audited_once_a_day_per_reader, |app| async move {
    let f = app.fixture().await;
    let request = HelpRequest {
        uai: f.uai_a.clone(),
        profile: "teacher".into(),
        name: "Paul Lefort".into(),
        email: "paul.lefort@lycee-a.test".into(),
        message: "Je n'ai plus accès à l'ENT".into(),
        client: "10.0.0.3".into(),
        ..HelpRequest::default()
    };
    let guichet_app::help::HelpOutcome::Filed(id) = app.app.submit_help(request).await.unwrap() else {
        panic!("not filed")
    };
    let key = format!("SUP-{}", id.0);
    let op = app.app.operator();
    let seen = || async {
        let audit = app.app.privacy_audit(&op, None, 100).await.unwrap();
        audit.iter().filter(|e| e.action == "help_contact_viewed").count()
    };
    assert_eq!(seen().await, 0);
    let desk = app.sign_in("claire@desk.test", "correct horse battery").await;
    for _ in 0..2 {
        let page = app.page(&desk.cookie, &format!("/tickets/{key}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&page.bytes).contains("paul.lefort@lycee-a.test"));
    }
    assert_eq!(seen().await, 1, "once for the reader that day");
    app.clock.advance(Duration::hours(25));
    let desk = app.sign_in("claire@desk.test", "correct horse battery").await;
    assert_eq!(app.page(&desk.cookie, &format!("/tickets/{key}")).await.status, StatusCode::OK);
    assert_eq!(seen().await, 2, "again a day later");
    // Another school's administrator reads neither the ticket nor the address.
    let other = app.sign_in("admin.b@lycee-b.test", "correct horse battery").await;
    let page = app.page(&other.cookie, &format!("/tickets/{key}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!String::from_utf8_lossy(&page.bytes).contains("lefort"));
    assert_eq!(seen().await, 2);
});
