//! Canned responses and macros, through the API and the pages, on SQLite and
//! on PostgreSQL: variables filled from the ticket, the macro applied with
//! the reply or not at all, and who may use, share and change them.
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use guichet_testkit::{backend_test, json, TestApp};

const PASSWORD: &str = "correct horse battery";

/// A new request from school A's administrator.
async fn new_ticket(app: &TestApp, token: &str, uai: &str, title: &str) -> String {
    let r = app
        .post("/api/v1/tickets", token, json!({"title": title, "description": "Bonjour", "establishment": uai}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    r.json()["key"].as_str().unwrap().to_owned()
}

/// The id of a canned response the caller sees, by name.
async fn canned_id(app: &TestApp, token: &str, name: &str) -> i64 {
    let list = app.get("/api/v1/canned-responses", token).await.json();
    list.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name} in {list}"))["id"]
        .as_i64()
        .unwrap()
}

backend_test!(a_macro_answers_classifies_and_resolves_in_one_change, |app| async move {
    let f = app.fixture().await;
    let key = new_ticket(&app, &f.requester_a, &f.uai_a, "Mot de passe perdu pour un élève").await;
    let id = canned_id(&app, &f.agent, "Mot de passe réinitialisé").await;

    let filled = app.get(&format!("/api/v1/tickets/{key}/canned-responses/{id}"), &f.agent).await;
    assert_eq!(filled.status, StatusCode::OK);
    let body = filled.json()["body"].as_str().unwrap().to_owned();
    assert!(body.starts_with("Bonjour Nathalie,"), "{body}");
    assert!(body.contains(&format!("la demande {key} sera rouverte")) && body.contains("Claire, pour l'assistance"));
    assert_eq!(
        filled.json()["sets"],
        json!({"status": "resolved", "type": "assistance", "category": "accounts",
        "resolution": "answered"})
    );

    let r = app.post(&format!("/api/v1/tickets/{key}/comments"), &f.agent, json!({"canned_response": id})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["body"].as_str().unwrap(), body);
    assert_eq!(r.json()["internal"], false);
    let t = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json();
    assert_eq!(
        (t["status"].as_str(), t["type"].as_str(), t["category"].as_str(), t["resolution"].as_str()),
        (Some("resolved"), Some("assistance"), Some("accounts"), Some("answered"))
    );
    assert!(t["first_response_at"].is_string());
    // The requester sees the answer and the change; the use is counted.
    let comments = app.get(&format!("/api/v1/tickets/{key}/comments"), &f.requester_a).await.json();
    assert!(comments.as_array().unwrap().iter().any(|c| c["body"] == body.as_str()));
    let used = app.get(&format!("/api/v1/canned-responses/{id}"), &f.agent).await.json();
    assert_eq!(used["use_count"], 1);
    assert!(used["last_used_at"].is_string());
});

backend_test!(an_edited_text_is_sent_as_edited_with_the_macro_applied, |app| async move {
    let f = app.fixture().await;
    let key = new_ticket(&app, &f.requester_a, &f.uai_a, "Compte sans adresse").await;
    let id = canned_id(&app, &f.agent, "Compte sans adresse e-mail valide").await;
    let r = app
        .post(
            &format!("/api/v1/tickets/{key}/comments"),
            &f.agent,
            json!({"canned_response": id, "body": "Texte revu."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["body"], "Texte revu.");
    let t = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json();
    assert_eq!(t["status"], "waiting_on_requester");
    // An empty edited text is refused like any empty reply, and writes nothing.
    let before = app.get(&format!("/api/v1/tickets/{key}/comments"), &f.agent).await.json();
    let r = app
        .post(&format!("/api/v1/tickets/{key}/comments"), &f.agent, json!({"canned_response": id, "body": "  "}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get(&format!("/api/v1/tickets/{key}/comments"), &f.agent).await.json(), before);
    let r = app.post(&format!("/api/v1/tickets/{key}/comments"), &f.agent, json!({})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("body")));
});

backend_test!(a_macro_that_cannot_apply_writes_neither_reply_nor_change, |app| async move {
    let f = app.fixture().await;
    let key = new_ticket(&app, &f.requester_a, &f.uai_a, "Demande close trop tôt").await;
    // Closing is the requester's confirmation: the desk cannot close a new request.
    let r = app
        .post(
            "/api/v1/canned-responses",
            &f.agent,
            json!({"name": "Clore", "body": "Je clos {{ticket.clé}}.",
            "sets": {"status": "closed", "category": "mail"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let id = r.json()["id"].as_i64().unwrap();
    let before = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json();
    let comments = app.get(&format!("/api/v1/tickets/{key}/comments"), &f.agent).await.json();
    let r = app.post(&format!("/api/v1/tickets/{key}/comments"), &f.agent, json!({"canned_response": id})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json());
    assert_eq!(r.code(), "invalid_transition");
    assert_eq!(app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json(), before);
    assert_eq!(app.get(&format!("/api/v1/tickets/{key}/comments"), &f.agent).await.json(), comments);
    assert_eq!(app.get(&format!("/api/v1/canned-responses/{id}"), &f.agent).await.json()["use_count"], 0);
});

backend_test!(variables_fill_from_the_ticket_and_a_requesters_text_stays_plain_text, |app| async move {
    let f = app.fixture().await;
    let (token, _) = app
        .user(
            "piege@lycee-a.test",
            "[Cliquez](https://evil.example) <b>x</b>",
            guichet_domain::user::Role::Requester,
            Some(&f.uai_a),
        )
        .await;
    let key = new_ticket(&app, &token, &f.uai_a, "Titre *en gras* `code`").await;
    let r = app
        .post("/api/v1/canned-responses", &f.agent, json!({"name": "Tout",
            "body": "{{demandeur.nom}} / {{requester.email}} / {{ticket.titre}} / {{établissement.nom}} ({{etablissement.uai}}) / {{ticket.lien}} / {{agent.nom}}"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let id = r.json()["id"].as_i64().unwrap();
    let filled = app.get(&format!("/api/v1/tickets/{key}/canned-responses/{id}"), &f.agent).await.json();
    let body = filled["body"].as_str().unwrap();
    assert_eq!(
        body,
        format!(
            "\\[Cliquez\\](https://evil.example) \\<b\\>x\\</b\\> / piege@lycee-a.test / Titre \\*en gras\\* \\`code\\` / \
             Lycée Henri Wallon ({}) / http://127.0.0.1:8080/tickets/{key} / Claire Oreja",
            f.uai_a
        )
    );
    let r = app.post(&format!("/api/v1/tickets/{key}/comments"), &f.agent, json!({"canned_response": id})).await;
    let html = r.json()["body_html"].as_str().unwrap().to_owned();
    assert!(
        !html.contains("href=\"https://evil.example\"") && !html.contains("<b>") && !html.contains("<em>"),
        "{html}"
    );
    assert!(html.contains("[Cliquez]"), "{html}");
});

backend_test!(unknown_variables_and_values_are_refused_when_saved, |app| async move {
    let f = app.fixture().await;
    let cases = [
        (
            json!({"name": "x", "body": "Bonjour {{demandeur.prenon}}"}),
            "body",
            "`{{demandeur.prenon}}` is not a variable",
        ),
        (json!({"name": "x", "body": "Bonjour {{demandeur.nom"}), "body", "never closed"),
        (json!({"name": "x", "body": "ok", "sets": {"status": "fini"}}), "sets.status", "unknown status `fini`"),
        (json!({"name": "x", "body": "ok", "sets": {"category": "nope"}}), "sets.category", "unknown category"),
        (json!({"name": "x", "body": "ok", "sets": {"type": "bug"}}), "sets.type", "bug"),
        (json!({"name": "x", "body": "ok", "sets": {"resolution": "done"}}), "sets.resolution", "done"),
        (json!({"name": " ", "body": "ok"}), "name", "1 to 80"),
    ];
    for (body, field, message) in cases {
        let r = app.post("/api/v1/canned-responses", &f.agent, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.json()["error"]["field"], field, "{body}");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains(message), "{body}: {:?}", r.json());
    }
    let r =
        app.post("/api/v1/canned-responses", &f.agent, json!({"name": "x", "body": "ok", "scope": "everyone"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mine = app.get("/api/v1/canned-responses", &f.agent).await.json();
    assert!(mine.as_array().unwrap().iter().all(|c| c["name"] != "x"));
});

backend_test!(only_admins_share_and_each_level_uses_its_own, |app| async move {
    let f = app.fixture().await;
    let key = new_ticket(&app, &f.requester_a, &f.uai_a, "Question").await;
    // An agent writes personal responses only.
    for scope in ["desk", "support", "technical"] {
        let r = app
            .post("/api/v1/canned-responses", &f.agent, json!({"name": "Partagée", "body": "ok", "scope": scope}))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{scope}");
    }
    let r = app.post("/api/v1/canned-responses", &f.agent, json!({"name": "La mienne", "body": "ok"})).await;
    assert_eq!((r.status, r.json()["scope"].as_str()), (StatusCode::CREATED, Some("personal")));
    let personal = r.json()["id"].as_i64().unwrap();
    let r = app
        .post("/api/v1/canned-responses", &f.admin, json!({"name": "Niveau 2", "body": "ok", "scope": "technical"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let level2 = r.json()["id"].as_i64().unwrap();

    let names = |list: serde_json::Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
    };
    let agent = names(app.get("/api/v1/canned-responses", &f.agent).await.json());
    let technician = names(app.get("/api/v1/canned-responses", &f.technician).await.json());
    let admin = names(app.get("/api/v1/canned-responses", &f.admin).await.json());
    assert!(agent.contains(&"La mienne".into()) && !agent.contains(&"Niveau 2".into()));
    assert!(technician.contains(&"Niveau 2".into()) && !technician.contains(&"La mienne".into()));
    assert!(admin.contains(&"Niveau 2".into()) && !admin.contains(&"La mienne".into()));
    assert!(
        agent.contains(&"Mot de passe réinitialisé".into()) && technician.contains(&"Mot de passe réinitialisé".into())
    );

    // What is not one's own answers 404 on every route, and is left unchanged.
    let foreign = [(&f.agent, level2), (&f.technician, personal), (&f.admin, personal)];
    for (token, id) in foreign {
        let routes = [
            (Method::GET, format!("/api/v1/canned-responses/{id}"), None),
            (Method::PATCH, format!("/api/v1/canned-responses/{id}"), Some(json!({"name": "Volée"}))),
            (Method::DELETE, format!("/api/v1/canned-responses/{id}"), None),
            (Method::GET, format!("/api/v1/tickets/{key}/canned-responses/{id}"), None),
            (Method::POST, format!("/api/v1/tickets/{key}/comments"), Some(json!({"canned_response": id}))),
        ];
        for (method, path, body) in routes {
            let r = app.request(method.clone(), &path, Some(token), body).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        }
    }
    // The desk's shared responses are changed by administrators only.
    let shared = canned_id(&app, &f.agent, "Demande de précisions").await;
    let r = app.patch(&format!("/api/v1/canned-responses/{shared}"), &f.agent, json!({"name": "Renommée"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.request(Method::DELETE, &format!("/api/v1/canned-responses/{shared}"), Some(&f.agent), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.patch(&format!("/api/v1/canned-responses/{personal}"), &f.agent, json!({"scope": "desk"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .patch(&format!("/api/v1/canned-responses/{shared}"), &f.admin, json!({"name": "Renommée", "sets": null}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["sets"], json!({"status": null, "type": null, "category": null, "resolution": null}));
    assert_eq!(r.json()["updated_by"], "Responsable");
    // The author changes and deletes their own.
    let r = app.patch(&format!("/api/v1/canned-responses/{personal}"), &f.agent, json!({"body": "Nouveau"})).await;
    assert_eq!((r.status, r.json()["body"].as_str()), (StatusCode::OK, Some("Nouveau")));
    let r = app.request(Method::DELETE, &format!("/api/v1/canned-responses/{personal}"), Some(&f.agent), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/api/v1/canned-responses/{personal}"), &f.agent).await.status, StatusCode::NOT_FOUND);
});

backend_test!(a_school_can_neither_read_nor_use_the_desks_canned_responses, |app| async move {
    let f = app.fixture().await;
    let key = new_ticket(&app, &f.requester_a, &f.uai_a, "Question").await;
    let id = canned_id(&app, &f.agent, "Mot de passe réinitialisé").await;
    let comments = app.get(&format!("/api/v1/tickets/{key}/comments"), &f.agent).await.json();
    let routes = [
        (Method::GET, "/api/v1/canned-responses".to_owned(), None),
        (Method::POST, "/api/v1/canned-responses".to_owned(), Some(json!({"name": "x", "body": "y"}))),
        (Method::GET, format!("/api/v1/canned-responses/{id}"), None),
        (Method::PATCH, format!("/api/v1/canned-responses/{id}"), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/api/v1/canned-responses/{id}"), None),
        (Method::GET, format!("/api/v1/tickets/{key}/canned-responses/{id}"), None),
        (Method::POST, format!("/api/v1/tickets/{key}/comments"), Some(json!({"canned_response": id}))),
    ];
    for (method, path, body) in routes {
        let r = app.request(method.clone(), &path, Some(&f.requester_a), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(r.code(), "forbidden");
    }
    assert_eq!(app.get(&format!("/api/v1/tickets/{key}/comments"), &f.agent).await.json(), comments);
    // The pages too: no picker on the ticket, no management page.
    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let page =
        String::from_utf8_lossy(&app.page(&s.cookie, &format!("/tickets/{key}?canned={id}")).await.bytes).into_owned();
    assert!(!page.contains("canned-picker") && !page.contains("Le mot de passe du compte"));
    assert_eq!(app.page(&s.cookie, "/canned").await.status, StatusCode::FORBIDDEN);
    let r = app.form(&s, "/canned", &[("name", "x"), ("body", "y")], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .form(&s, &format!("/tickets/{key}/comments"), &[("body", "Merci"), ("canned", &id.to_string())], None)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let t = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json();
    assert_eq!(t["status"], "new");
    assert_eq!(app.get(&format!("/api/v1/tickets/{key}/comments"), &f.agent).await.json(), comments);
});

backend_test!(without_script_the_picker_fills_the_composer_and_the_form_applies_the_macro, |app| async move {
    let f = app.fixture().await;
    let key = new_ticket(&app, &f.requester_a, &f.uai_a, "Mot de passe").await;
    let id = canned_id(&app, &f.agent, "Mot de passe réinitialisé").await;
    let s = app.sign_in("claire@desk.test", PASSWORD).await;
    let page = String::from_utf8_lossy(&app.page(&s.cookie, &format!("/tickets/{key}")).await.bytes).into_owned();
    assert!(page.contains("id=\"canned-picker\"") && page.contains("Mot de passe réinitialisé"));
    let page =
        String::from_utf8_lossy(&app.page(&s.cookie, &format!("/tickets/{key}?canned={id}")).await.bytes).into_owned();
    let textarea = page.split("<textarea id=\"body\" name=\"body\" rows=\"6\" required>").nth(1).unwrap();
    assert!(textarea.starts_with("Bonjour Nathalie,"), "{}", &textarea[..80]);
    assert!(page.contains(&format!("name=\"canned\" value=\"{id}\"")));
    assert!(page.contains("value=\"reply\" required checked"));
    // A wrong parameter shows the page as usual.
    assert_eq!(app.page(&s.cookie, &format!("/tickets/{key}?canned=abc")).await.status, StatusCode::OK);

    let body = "Bonjour Nathalie, c'est fait.";
    let r = app
        .form(
            &s,
            &format!("/tickets/{key}/comments"),
            &[("body", body), ("kind", "reply"), ("canned", &id.to_string())],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let t = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json();
    assert_eq!((t["status"].as_str(), t["resolution"].as_str()), (Some("resolved"), Some("answered")));
    let comments = app.get(&format!("/api/v1/tickets/{key}/comments"), &f.agent).await.json();
    assert_eq!(comments.as_array().unwrap().last().unwrap()["body"], body);

    // Refused (a resolved request cannot be resolved again by "waiting"): the composer comes back filled.
    let waiting = canned_id(&app, &f.agent, "Compte sans adresse e-mail valide").await;
    let r = app
        .form(
            &s,
            &format!("/tickets/{key}/comments"),
            &[("body", "x"), ("kind", "reply"), ("canned", &waiting.to_string())],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let location = r.headers["location"].to_str().unwrap();
    assert!(location.starts_with(&format!("/tickets/{key}?canned={waiting}&error=")), "{location}");
});

backend_test!(the_canned_page_writes_edits_and_deletes_responses, |app| async move {
    let f = app.fixture().await;
    let s = app.sign_in("claire@desk.test", PASSWORD).await;
    let page = String::from_utf8_lossy(&app.page(&s.cookie, "/canned").await.bytes).into_owned();
    assert!(page.contains("{{demandeur.prénom}}") && page.contains("{{requester.first_name}}"));
    assert!(page.contains("Mot de passe réinitialisé") && !page.contains("value=\"desk\""));
    let r = app
        .form(
            &s,
            "/canned",
            &[
                ("name", "Relance"),
                ("body", "Bonjour {{demandeur.prénom}}"),
                ("scope", "personal"),
                ("set_status", "waiting_on_requester"),
                ("set_type", ""),
                ("set_category", ""),
                ("set_resolution", ""),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.headers["location"].to_str().unwrap().contains("ok="));
    let id = canned_id(&app, &f.agent, "Relance").await;
    let c = app.get(&format!("/api/v1/canned-responses/{id}"), &f.agent).await.json();
    assert_eq!((c["scope"].as_str(), c["sets"]["status"].as_str()), (Some("personal"), Some("waiting_on_requester")));
    // A typo is refused with its name, and nothing is saved.
    let r =
        app.form(&s, &format!("/canned/{id}"), &[("name", "Relance"), ("body", "{{demandeur.prenon}}")], None).await;
    let location = r.headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("/canned/{id}?error=")), "{location}");
    assert_eq!(
        app.get(&format!("/api/v1/canned-responses/{id}"), &f.agent).await.json()["body"],
        "Bonjour {{demandeur.prénom}}"
    );
    // Sharing needs an administrator.
    let r = app.form(&s, "/canned", &[("name", "Partagée"), ("body", "x"), ("scope", "desk")], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.form(&s, &format!("/canned/{id}/delete"), &[], None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&format!("/api/v1/canned-responses/{id}"), &f.agent).await.status, StatusCode::NOT_FOUND);
    let admin = app.sign_in("boss@desk.test", PASSWORD).await;
    let page = String::from_utf8_lossy(&app.page(&admin.cookie, "/canned").await.bytes).into_owned();
    assert!(page.contains("value=\"desk\"") && page.contains("value=\"technical\""));
});

backend_test!(a_help_request_fills_the_end_users_name_and_leaves_a_missing_address_empty, |app| async move {
    let f = app.fixture().await;
    let outcome = app
        .app
        .submit_help(guichet_app::help::HelpRequest {
            uai: f.uai_a.clone(),
            profile: "student".into(),
            name: "Léa Martin".into(),
            email: String::new(),
            message: "Je ne vois pas mes devoirs depuis ce matin.".into(),
            honeypot: String::new(),
            screenshot: None,
            language: guichet_domain::user::Language::Fr,
            client: "192.0.2.1".into(),
        })
        .await
        .unwrap();
    let guichet_app::help::HelpOutcome::Filed(id) = outcome else { panic!("not filed") };
    let key = app.app.key(id);
    let r = app
        .post(
            "/api/v1/canned-responses",
            &f.agent,
            json!({"name": "Aide",
            "body": "Bonjour {{demandeur.prénom}} ({{demandeur.email}}), {{établissement.nom}}"}),
        )
        .await;
    let id = r.json()["id"].as_i64().unwrap();
    let filled = app.get(&format!("/api/v1/tickets/{key}/canned-responses/{id}"), &f.agent).await.json();
    assert_eq!(filled["body"], "Bonjour Léa (), Lycée Henri Wallon");
});
