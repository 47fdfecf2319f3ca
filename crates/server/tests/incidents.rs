//! The chain of support: hand-overs between tiers, links and merges, major
//! incidents (proposed, declared, joined, resolved) and the public HELP page,
//! each with the permission edges a school or an anonymous visitor could try.
#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use guichet_domain::establishment::NewEstablishment;
use guichet_domain::user::{Language, Role};
use guichet_testkit::{backend_test, json, Backend, TestApp, PNG};

use guichet_testkit::per_backend_test as mail_test;

async fn with_mail(backend: Backend) -> TestApp {
    TestApp::with_settings(backend, guichet_testkit::mail::settings("support")).await
}

async fn outbox(app: &TestApp, key: &str) -> Vec<guichet_store::mail::Outgoing> {
    let id = guichet_domain::ticket::parse_key("SUP", key).unwrap();
    let mut conn = app.app.db.conn().await.unwrap();
    guichet_store::mail::list_ticket_outgoing(&mut conn, id).await.unwrap()
}

fn key_of(r: &guichet_testkit::Reply) -> String {
    assert!(r.status.is_success(), "{}: {}", r.status, String::from_utf8_lossy(&r.bytes));
    r.json()["key"].as_str().unwrap().to_owned()
}

async fn file(app: &TestApp, token: &str, uai: &str, title: &str) -> String {
    let body = json!({"title": title, "description": "Depuis ce matin.", "establishment": uai});
    key_of(&app.post("/api/v1/tickets", token, body).await)
}

backend_test!(escalating_needs_a_summary_that_level_two_reads_in_the_history, |app| async move {
    let f = app.fixture().await;
    let key = file(&app, &f.requester_a, &f.uai_a, "Export des notes impossible").await;
    let path = format!("/api/v1/tickets/{key}");
    let empty = app.post(&format!("{path}/escalate"), &f.agent, json!({"summary": "  "})).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.json()["error"]["field"], "summary");
    let by_requester =
        app.post(&format!("{path}/escalate"), &f.requester_a, json!({"summary": "Essayé deux fois"})).await;
    assert_eq!(by_requester.status, StatusCode::FORBIDDEN);
    let summary = "Reproduit sur Firefox et Chrome, export CSV vide pour la classe 4B";
    let escalated = app.post(&format!("{path}/escalate"), &f.agent, json!({"summary": summary})).await;
    assert_eq!(escalated.status, StatusCode::OK, "{}", String::from_utf8_lossy(&escalated.bytes));
    assert_eq!(escalated.json()["tier"], "technical");
    let again = app.post(&format!("{path}/escalate"), &f.agent, json!({"summary": summary})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "already at level 2");
    assert_eq!(again.json()["error"]["field"], "tier");

    let history = app.get(&format!("{path}/history"), &f.technician).await.json();
    let text = history.to_string();
    assert!(text.contains(summary) && text.contains("technical"), "{text}");
    let seen_by_school = app.get(&format!("{path}/history"), &f.requester_a).await.json().to_string();
    assert!(!seen_by_school.contains(summary), "the hand-over summary is internal");
    let comments = app.get(&format!("{path}/comments"), &f.requester_a).await.json().to_string();
    assert!(!comments.contains(summary), "nor is its note shown to the school");

    let back =
        app.post(&format!("{path}/hand-back"), &f.technician, json!({"summary": "Corrigé en 4.2, à confirmer"})).await;
    assert_eq!(back.json()["tier"], "support");
    let elsewhere =
        app.post(&format!("/api/v1/tickets/{}/escalate", f.ticket_b), &f.requester_a, json!({"summary": "x"})).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
});

backend_test!(each_level_has_its_own_dashboard, |app| async move {
    let f = app.fixture().await;
    let level_one = file(&app, &f.requester_a, &f.uai_a, "Mot de passe parent oublié").await;
    let tiles = |token: String| {
        let app = &app;
        async move {
            let r = app.get("/api/v1/dashboard", &token).await;
            assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
            r.json().to_string()
        }
    };
    // The fixture's two tickets were escalated; the new one stays at level 1.
    let technician = tiles(f.technician.clone()).await;
    assert!(!technician.contains(&level_one), "level 2 does not get the level-1 flood");
    assert!(technician.contains(&f.ticket_a));
    let agent = tiles(f.agent.clone()).await;
    assert!(agent.contains(&level_one));
});

backend_test!(links_show_on_both_tickets_and_never_across_schools, |app| async move {
    let f = app.fixture().await;
    let original = file(&app, &f.requester_a, &f.uai_a, "Cahier de textes vide").await;
    let link = app
        .post(
            &format!("/api/v1/tickets/{}/links", f.ticket_a),
            &f.agent,
            json!({"kind": "relates_to", "other": original}),
        )
        .await;
    assert_eq!(link.status, StatusCode::CREATED);
    let cross = app
        .post(
            &format!("/api/v1/tickets/{}/links", f.ticket_b),
            &f.agent,
            json!({"kind": "blocks", "other": f.ticket_a}),
        )
        .await;
    assert_eq!(cross.status, StatusCode::CREATED);

    let from_original = app.get(&format!("/api/v1/tickets/{original}/links"), &f.requester_a).await.json();
    assert_eq!(from_original[0]["other"], f.ticket_a.as_str());
    assert_eq!(from_original[0]["outgoing"], false);
    let from_a = app.get(&format!("/api/v1/tickets/{}/links", f.ticket_a), &f.requester_a).await.json();
    assert_eq!(from_a.as_array().unwrap().len(), 1, "school A does not see its link to school B's ticket: {from_a}");
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{}/links", f.ticket_a), &f.agent).await.json().as_array().unwrap().len(),
        2
    );
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{}/links", f.ticket_b), &f.requester_a).await.status,
        StatusCode::NOT_FOUND
    );

    let by_school = app
        .post(
            &format!("/api/v1/tickets/{original}/links"),
            &f.requester_a,
            json!({"kind": "relates_to", "other": f.ticket_a}),
        )
        .await;
    assert_eq!(by_school.status, StatusCode::FORBIDDEN);
    let itself = app
        .post(&format!("/api/v1/tickets/{original}/links"), &f.agent, json!({"kind": "relates_to", "other": original}))
        .await;
    assert_eq!(itself.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = app
        .post(&format!("/api/v1/tickets/{original}/links"), &f.agent, json!({"kind": "relates_to", "other": "SUP-999"}))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "the other ticket does not exist");
    let bad_kind = app
        .post(&format!("/api/v1/tickets/{original}/links"), &f.agent, json!({"kind": "friend_of", "other": f.ticket_a}))
        .await;
    assert_eq!(bad_kind.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Queryable: from the desk, and from the school without the cross-school link.
    let linked = |token: String, q: &'static str| {
        let app = &app;
        async move {
            let r = app.get(&format!("/api/v1/tickets?q={q}"), &token).await;
            assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
            let mut keys: Vec<String> =
                r.json()["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap().to_owned()).collect();
            keys.sort();
            keys
        }
    };
    let mut both = vec![f.ticket_a.clone(), f.ticket_b.clone(), original.clone()];
    both.sort();
    assert_eq!(linked(f.agent.clone(), "linked%20IS%20NOT%20EMPTY").await, both);
    let mut school = vec![f.ticket_a.clone(), original.clone()];
    school.sort();
    assert_eq!(linked(f.requester_a.clone(), "linked%20IS%20NOT%20EMPTY").await, school);
    assert_eq!(
        linked(f.requester_a.clone(), "linked%20%3D%20SUP-2").await,
        Vec::<String>::new(),
        "no cross-school link"
    );
    assert!(linked(f.agent.clone(), "linked%20%3D%20SUP-2").await.contains(&f.ticket_a));

    let path = format!("/api/v1/tickets/{}/links/relates_to/{original}", f.ticket_a);
    assert_eq!(
        app.request(axum::http::Method::DELETE, &path, Some(&f.agent), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.request(axum::http::Method::DELETE, &path, Some(&f.agent), None).await.status,
        StatusCode::NOT_FOUND
    );
});

mail_test!(merging_moves_the_conversation_and_points_the_requester_to_the_original, |backend| async move {
    let app = with_mail(backend).await;
    let f = app.fixture().await;
    let original = file(&app, &f.requester_a, &f.uai_a, "Messagerie inaccessible").await;
    let duplicate = file(&app, &f.requester_a, &f.uai_a, "La messagerie ne marche pas").await;
    app.post(
        &format!("/api/v1/tickets/{duplicate}/comments"),
        &f.requester_a,
        json!({"body": "Capture jointe, merci !"}),
    )
    .await;
    let merged = app.post(&format!("/api/v1/tickets/{duplicate}/merge"), &f.agent, json!({"into": original})).await;
    assert_eq!(merged.status, StatusCode::OK, "{}", String::from_utf8_lossy(&merged.bytes));
    assert_eq!(merged.json()["key"], original.as_str());
    let comments = app.get(&format!("/api/v1/tickets/{original}/comments"), &f.agent).await.json().to_string();
    assert!(comments.contains("Capture jointe"), "{comments}");
    let dup = app.get(&format!("/api/v1/tickets/{duplicate}"), &f.agent).await.json();
    assert_eq!(dup["status"], "resolved");
    assert_eq!(dup["resolution"], "duplicate");
    let links = app.get(&format!("/api/v1/tickets/{duplicate}/links"), &f.requester_a).await.json();
    assert_eq!(links[0]["kind"], "duplicate_of");
    let told = outbox(&app, &duplicate).await;
    let notice = told.iter().find(|o| o.mail.kind == "duplicate").expect("the requester is told");
    assert!(notice.mail.body_text.contains(&original), "{}", notice.mail.body_text);
    assert!(outbox(&app, &original).await.iter().any(|o| o.mail.kind == "merged"));
    // Found by search under the original now.
    let hits = app.get("/api/v1/search?q=capture%20jointe", &f.agent).await.json();
    assert_eq!(hits[0]["key"], original.as_str());

    assert_eq!(
        app.post(&format!("/api/v1/tickets/{original}/merge"), &f.requester_a, json!({"into": duplicate})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&format!("/api/v1/tickets/{original}/merge"), &f.agent, json!({"into": original})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let into_closed =
        app.post(&format!("/api/v1/tickets/{original}/merge"), &f.agent, json!({"into": duplicate})).await;
    assert_eq!(into_closed.status, StatusCode::UNPROCESSABLE_ENTITY, "not into a resolved ticket");
});

/// Six schools with one administrator each; the third and fifth read English.
async fn six_schools(app: &TestApp) -> Vec<(String, String, String)> {
    let op = app.app.operator();
    let mut schools = Vec::new();
    for i in 1..=6 {
        let uai = format!("07500{i:02}A");
        let uai = guichet_domain::establishment::Uai::parse(&uai).map_or_else(|_| valid_uai(i), |u| u.to_string());
        let new = NewEstablishment::parse(&uai, &format!("Collège numéro {i}"), "Paris", None).unwrap();
        app.app.create_establishment(&op, new).await.unwrap();
        let language = if i == 3 || i == 5 { Some(Language::En) } else { None };
        let email = format!("admin{i}@college-{i}.test");
        let (token, _) = app.user_speaking(&email, &format!("Admin {i}"), Role::Requester, Some(&uai), language).await;
        schools.push((uai, token, email));
    }
    schools
}

/// A UAI with its check letter, for school number `i`.
fn valid_uai(i: usize) -> String {
    ('A'..='Z')
        .map(|c| format!("07500{i:02}{c}"))
        .find(|u| guichet_domain::establishment::Uai::parse(u).is_ok())
        .unwrap()
}

mail_test!(five_schools_reporting_one_outage_become_an_incident_that_answers_all_six, |backend| async move {
    let app = with_mail(backend).await;
    let f = app.fixture().await;
    let schools = six_schools(&app).await;
    let texts = [
        "La messagerie ne fonctionne plus",
        "Messagerie en panne : la messagerie ne fonctionne plus depuis ce matin",
        "Plus d'accès à la messagerie, elle ne fonctionne plus",
        "messagerie ENT ne fonctionne plus pour les élèves",
        "Problème de messagerie : ne fonctionne plus",
    ];
    let mut keys = Vec::new();
    for ((uai, token, _), text) in schools.iter().zip(texts) {
        keys.push(file(&app, token, uai, text).await);
    }
    file(&app, &f.requester_a, &f.uai_a, "Emploi du temps décalé d'une heure").await;

    assert_eq!(app.get("/api/v1/incidents/proposals", &schools[0].1).await.status, StatusCode::FORBIDDEN);
    let proposals = app.get("/api/v1/incidents/proposals", &f.agent).await.json();
    assert_eq!(proposals.as_array().unwrap().len(), 1, "{proposals}");
    let proposed: Vec<String> =
        proposals[0]["tickets"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap().to_owned()).collect();
    // The fixture's two "Messagerie en panne" tickets belong with them.
    let mut expected = vec![f.ticket_a.clone(), f.ticket_b.clone()];
    expected.extend(keys.iter().cloned());
    assert_eq!(proposed, expected);

    let declare = json!({
        "title": "Messagerie indisponible",
        "service": "messagerie",
        "public_message": "La messagerie est indisponible pour tous les établissements. Nos équipes y travaillent.",
        "tickets": proposed,
    });
    assert_eq!(app.post("/api/v1/incidents", &schools[0].1, declare.clone()).await.status, StatusCode::FORBIDDEN);
    let declared = app.post("/api/v1/incidents", &f.agent, declare).await;
    assert_eq!(declared.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&declared.bytes));
    let id = declared.json()["id"].as_i64().unwrap();
    assert!(app.get("/api/v1/incidents/proposals", &f.agent).await.json().as_array().unwrap().is_empty());

    // The sixth school types its request: the incident is offered; it joins.
    let (uai6, token6, _) = &schools[5];
    let similar = app
        .get(&format!("/api/v1/similar?text=la%20messagerie%20ne%20marche%20plus&establishment={uai6}"), token6)
        .await;
    assert_eq!(similar.status, StatusCode::OK);
    assert_eq!(similar.json()["incidents"][0]["id"], id);
    assert!(similar.json()["tickets"].as_array().unwrap().is_empty(), "other schools' tickets are not suggested");
    let joined = app.post(&format!("/api/v1/incidents/{id}/join"), token6, json!({"establishment": uai6})).await;
    assert_eq!(joined.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&joined.bytes));
    let sixth = joined.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(joined.json()["incident"], format!("INC-{id}"));
    let elsewhere = app.post(&format!("/api/v1/incidents/{id}/join"), token6, json!({"establishment": f.uai_a})).await;
    assert_eq!(elsewhere.status, StatusCode::UNPROCESSABLE_ENTITY, "not for another school");

    let q = app.get(&format!("/api/v1/tickets?q=incident%20%3D%20INC-{id}&per_page=50"), &f.agent).await.json();
    assert_eq!(q["total"], 8, "the query language finds an incident's tickets");
    let q = app.get(&format!("/api/v1/tickets?q=incident%20%3D%20INC-{id}"), token6).await.json();
    assert_eq!(q["total"], 1, "a school finds only its own");

    // A school sees the incident, but only its own ticket and establishment in it.
    let seen = app.get(&format!("/api/v1/incidents/{id}"), token6).await.json();
    assert_eq!(seen["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(seen["establishments"].as_array().unwrap().len(), 1);
    let desk = app.get(&format!("/api/v1/incidents/{id}"), &f.agent).await.json();
    assert_eq!(desk["establishments"].as_array().unwrap().len(), 8);

    let resolve = json!({"message": "La messagerie est rétablie.", "message_en": "Mail is back."});
    assert_eq!(
        app.post(&format!("/api/v1/incidents/{id}/resolve"), token6, resolve.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let resolved = app.post(&format!("/api/v1/incidents/{id}/resolve"), &f.agent, resolve.clone()).await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", String::from_utf8_lossy(&resolved.bytes));
    assert_eq!(
        app.post(&format!("/api/v1/incidents/{id}/resolve"), &f.agent, resolve).await.status,
        StatusCode::CONFLICT
    );

    let mut all = keys.clone();
    all.push(sixth);
    for (i, key) in all.iter().enumerate() {
        let ticket = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json();
        assert_eq!(ticket["status"], "resolved", "{key}");
        // One mail: the incident's message, the request resolved, and the
        // satisfaction survey every resolved request offers.
        let mails = outbox(&app, key).await;
        let kinds: Vec<_> = mails.iter().map(|o| o.mail.kind.as_str()).collect();
        assert!(!kinds.contains(&"reply"), "{key}: {kinds:?}");
        let replies: Vec<_> = mails.iter().filter(|o| o.mail.kind == "resolved").collect();
        assert_eq!(replies.len(), 1, "{key} gets exactly one answer: {kinds:?}");
        assert!(replies[0].mail.body_text.contains("/satisfaction/"), "{}", replies[0].mail.body_text);
        let english = i == 2 || i == 4;
        let text = &replies[0].mail.body_text;
        if english {
            assert!(text.contains("Mail is back.") && text.starts_with("Hello"), "{text}");
        } else {
            assert!(text.contains("La messagerie est rétablie.") && text.starts_with("Bonjour"), "{text}");
        }
        assert_eq!(replies[0].mail.recipient, schools[i].2);
    }
    assert!(
        app.get("/api/v1/incidents", &f.agent).await.json().as_array().unwrap().is_empty(),
        "no open incident left"
    );
    assert_eq!(app.get("/api/v1/incidents?open=false", &token6.clone()).await.json().as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/incidents/999", &f.agent).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.request(axum::http::Method::GET, "/api/v1/incidents", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
});

backend_test!(similar_requests_come_from_the_readers_own_schools_only, |app| async move {
    let f = app.fixture().await;
    let mine = file(&app, &f.requester_a, &f.uai_a, "Bulletins trimestriels introuvables").await;
    file(&app, &f.requester_b, &f.uai_b, "Bulletins trimestriels absents").await;
    let found = app.get("/api/v1/similar?text=bulletins%20introuvables", &f.requester_a).await.json();
    let keys: Vec<&str> = found["tickets"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert_eq!(keys, [mine.as_str()]);
    let other = app.get(&format!("/api/v1/similar?text=bulletins&establishment={}", f.uai_b), &f.requester_a).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    let nothing = app.get("/api/v1/similar?text=le%20la%20les", &f.requester_a).await.json();
    assert!(nothing["tickets"].as_array().unwrap().is_empty());
});

fn help_fields<'a>(message: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("profile", "student"), ("name", "Léa Martin"), ("email", email), ("message", message), ("website", "")]
}

mail_test!(a_help_message_reaches_only_its_schools_administrators, |backend| async move {
    let app = with_mail(backend).await;
    let f = app.fixture().await;
    let page = app.request(axum::http::Method::GET, &format!("/aide/{}", f.uai_a), None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.bytes);
    assert!(html.contains("Lycée Henri Wallon") && html.contains("help-page"), "{html}");
    assert!(page.headers[axum::http::header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("frame-ancestors"));
    let english = app.request(axum::http::Method::GET, &format!("/aide/{}?lang=en", f.uai_a), None, None).await;
    assert!(String::from_utf8_lossy(&english.bytes).contains("Ask for help"));

    let unassigned = |token: String| {
        let app = &app;
        async move {
            let tiles = app.get("/api/v1/dashboard", &token).await.json();
            tiles.as_array().unwrap().iter().find(|t| t["title"] == "Non attribuées").unwrap()["count"]
                .as_i64()
                .unwrap()
        }
    };
    let desk_before = unassigned(f.agent.clone()).await;
    let path = format!("/aide/{}", f.uai_a);
    let sent = app
        .public_form(
            &path,
            &help_fields("Je n'arrive plus à me connecter à l'ENT", "lea.martin@eleve.test"),
            Some(("screenshot", "ecran.png", PNG)),
            "10.0.0.1",
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", String::from_utf8_lossy(&sent.bytes));
    assert!(String::from_utf8_lossy(&sent.bytes).contains("help-sent"));

    let mine = app.get("/api/v1/tickets?channel=help_form", &f.requester_a).await.json();
    assert_eq!(mine["total"], 1);
    let ticket = &mine["items"][0];
    assert_eq!(ticket["tier"], "establishment");
    let key = ticket["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/v1/tickets/{key}"), &f.requester_b).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/tickets?channel=help_form", &f.requester_b).await.json()["total"], 0);
    let attachments = app.get(&format!("/api/v1/tickets/{key}/attachments"), &f.requester_a).await.json();
    assert_eq!(attachments[0]["filename"], "ecran.png");
    let agent_tiles = app.get("/api/v1/dashboard", &f.agent).await.json().to_string();
    assert!(!agent_tiles.contains(&key), "level 1 does not get the schools' own HELP requests");
    assert_eq!(unassigned(f.agent.clone()).await, desk_before, "nor counts them");

    let mails = outbox(&app, &key).await;
    let kinds: Vec<(&str, &str)> = mails.iter().map(|o| (o.mail.kind.as_str(), o.mail.recipient.as_str())).collect();
    assert!(kinds.contains(&("acknowledgment", "lea.martin@eleve.test")), "{kinds:?}");
    assert!(kinds.contains(&("help_request", "admin.a@lycee-a.test")), "{kinds:?}");
    assert!(!kinds.iter().any(|(_, to)| to.contains("lycee-b")), "{kinds:?}");

    // The school's administrator answers; the pupil gets it by mail.
    let answer = app
        .post(
            &format!("/api/v1/tickets/{key}/comments"),
            &f.requester_a,
            json!({"body": "Ton mot de passe est réinitialisé."}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let reply = outbox(&app, &key).await.into_iter().find(|o| o.mail.kind == "reply").expect("a reply to the pupil");
    assert_eq!(reply.mail.recipient, "lea.martin@eleve.test");
    assert!(reply.mail.body_text.starts_with("Bonjour Léa Martin"));

    // Then forwards it to level 1 and becomes its requester.
    assert_eq!(
        app.post(&format!("/api/v1/tickets/{key}/forward"), &f.requester_b, json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let forwarded = app
        .post(
            &format!("/api/v1/tickets/{key}/forward"),
            &f.requester_a,
            json!({"summary": "Réinitialisation sans effet"}),
        )
        .await;
    assert_eq!(forwarded.status, StatusCode::OK, "{}", String::from_utf8_lossy(&forwarded.bytes));
    assert_eq!(forwarded.json()["tier"], "support");
    assert_eq!(forwarded.json()["requester"]["name"], "Nathalie Durand");
    let comments = app.get(&format!("/api/v1/tickets/{key}/comments"), &f.agent).await.json().to_string();
    assert!(comments.contains("Ton mot de passe est réinitialisé") && comments.contains("Réinitialisation sans effet"));
    assert!(app.get("/api/v1/dashboard", &f.agent).await.json().to_string().contains(&key));
    let twice = app.post(&format!("/api/v1/tickets/{key}/forward"), &f.requester_a, json!({})).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "already with the desk");
});

backend_test!(the_help_page_refuses_bad_input_robots_floods_and_unknown_schools, |app| async move {
    let f = app.fixture().await;
    let path = format!("/aide/{}", f.uai_a);
    let unknown = app.request(axum::http::Method::GET, "/aide/0000001Z", None, None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.request(axum::http::Method::GET, "/aide/pas-un-uai", None, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.public_form("/aide/0000001Z", &help_fields("Bonjour, aide", ""), None, "10.0.0.2").await.status,
        StatusCode::NOT_FOUND
    );

    let html = app.public_form(&path, &help_fields("<script>alert(1)</script>", ""), None, "10.0.0.2").await;
    assert_eq!(html.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = String::from_utf8_lossy(&html.bytes);
    assert!(page.contains("help-error") && page.contains("sans HTML"), "{page}");
    assert!(page.contains("Léa Martin"), "what was typed is kept");
    let bad_mail =
        app.public_form(&path, &help_fields("Impossible de me connecter", "pas-une-adresse"), None, "10.0.0.2").await;
    assert_eq!(bad_mail.status, StatusCode::UNPROCESSABLE_ENTITY);
    let not_image = app
        .public_form(
            &path,
            &help_fields("Impossible de me connecter", ""),
            Some(("screenshot", "x.png", b"MZ not an image")),
            "10.0.0.2",
        )
        .await;
    assert_eq!(not_image.status, StatusCode::UNPROCESSABLE_ENTITY);
    let huge = vec![0u8; 70 * 1024];
    let too_big = app
        .public_form(
            &path,
            &help_fields("Impossible de me connecter", ""),
            Some(("screenshot", "x.png", &huge)),
            "10.0.0.2",
        )
        .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);

    let mut robot = help_fields("Buy cheap watches", "");
    robot.push(("website", "http://spam.test"));
    robot.retain(|(k, v)| *k != "website" || !v.is_empty());
    assert_eq!(app.public_form(&path, &robot, None, "10.0.0.3").await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/tickets?channel=help_form", &f.requester_a).await.json()["total"], 0, "nothing filed");

    for i in 0..10 {
        let r = app.public_form(&path, &help_fields(&format!("Problème numéro {i}"), ""), None, "10.0.0.4").await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let flooded = app.public_form(&path, &help_fields("Encore un problème", ""), None, "10.0.0.4").await;
    assert_eq!(flooded.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(String::from_utf8_lossy(&flooded.bytes).contains("Réessayez dans une heure"));
    assert_eq!(
        app.public_form(&path, &help_fields("Un autre élève", ""), None, "10.0.0.5").await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/api/v1/tickets?channel=help_form", &f.requester_a).await.json()["total"], 11);

    let widget = app.request(axum::http::Method::GET, &format!("/aide/{}/widget.js", f.uai_a), None, None).await;
    assert_eq!(widget.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&widget.bytes).contains(&format!("/aide/{}", f.uai_a)));
    assert_eq!(
        app.request(axum::http::Method::GET, "/aide/0000001Z/widget.js", None, None).await.status,
        StatusCode::NOT_FOUND
    );
});

backend_test!(a_school_administrator_resolves_a_help_request_without_the_desk, |app| async move {
    let f = app.fixture().await;
    let path = format!("/aide/{}", f.uai_a);
    app.public_form(&path, &help_fields("Je ne vois pas mes notes", ""), None, "10.0.0.9").await;
    let key = app.get("/api/v1/tickets?channel=help_form", &f.requester_a).await.json()["items"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = app
        .patch(
            &format!("/api/v1/tickets/{key}"),
            &f.requester_a,
            json!({"status": "resolved", "resolution": "answered"}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", String::from_utf8_lossy(&done.bytes));
    let to_desk = app.patch(&format!("/api/v1/tickets/{key}"), &f.requester_a, json!({"tier": "support"})).await;
    assert_eq!(to_desk.status, StatusCode::UNPROCESSABLE_ENTITY, "forwarding is its own action");
    // On a level-1 ticket the same administrator is a requester again.
    let own =
        app.patch(&format!("/api/v1/tickets/{}", f.ticket_a), &f.requester_a, json!({"resolution": "answered"})).await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);
});

mail_test!(the_help_limits_follow_the_configuration, |backend| async move {
    let limits = guichet_app::help::HelpLimits { per_client_per_hour: 2, per_establishment_per_hour: 3 };
    let app =
        TestApp::with_settings(backend, guichet_app::Settings { help_limits: limits, ..Default::default() }).await;
    let f = app.fixture().await;
    let path = format!("/aide/{}", f.uai_a);
    for _ in 0..2 {
        assert_eq!(
            app.public_form(&path, &help_fields("Mot de passe oublié", ""), None, "10.1.0.1").await.status,
            StatusCode::OK
        );
    }
    let third = app.public_form(&path, &help_fields("Mot de passe oublié", ""), None, "10.1.0.1").await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "per address");
    assert_eq!(
        app.public_form(&path, &help_fields("Mot de passe oublié", ""), None, "10.1.0.2").await.status,
        StatusCode::OK
    );
    let school = app.public_form(&path, &help_fields("Mot de passe oublié", ""), None, "10.1.0.3").await;
    assert_eq!(school.status, StatusCode::TOO_MANY_REQUESTS, "per school, whatever the address");
    let other =
        app.public_form(&format!("/aide/{}", f.uai_b), &help_fields("Mot de passe oublié", ""), None, "10.1.0.3").await;
    assert_eq!(other.status, StatusCode::OK, "another school is not limited by the first");
});

backend_test!(a_help_request_forwarded_days_later_starts_level_ones_clocks_at_the_forward, |app| async move {
    let f = app.fixture().await;
    app.public_form(&format!("/aide/{}", f.uai_a), &help_fields("Je ne vois plus mes notes", ""), None, "10.2.0.1")
        .await;
    let key = app.get("/api/v1/tickets?channel=help_form", &f.requester_a).await.json()["items"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let at_school = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json();
    assert!(at_school["sla"]["first_response_due"].is_null(), "no level-1 clock at the school: {at_school}");
    // A week with the school, then forwarded: level 1 has its whole time to answer.
    app.clock.advance(chrono::Duration::days(7));
    let forwarded = app.post(&format!("/api/v1/tickets/{key}/forward"), &f.requester_a, json!({})).await.json();
    assert_eq!(forwarded["sla"]["state"], "ok", "{forwarded}");
    let due: chrono::DateTime<chrono::Utc> = forwarded["sla"]["first_response_due"].as_str().unwrap().parse().unwrap();
    assert!(due > app.app.now(), "due {due} after the forward");
    // Forwarding is not an escalation.
    let report = app.get("/api/v1/reports/escalations?from=2026-03-01&to=2026-03-31", &f.agent).await.json();
    assert_eq!(report["escalated"], 2, "the fixture's two escalations only: {report}");
});
