//! The knowledge base on SQLite and PostgreSQL: audiences on every route,
//! search, versions, articles from a ticket, and deflections.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use guichet_testkit::{backend_test, json, TestApp};

const PASSWORD: &str = "correct horse battery";

async fn article(app: &TestApp, token: &str, title: &str, audience: &str, published: bool) -> i64 {
    let body = json!({"title": title, "body": format!("Pour le cartable numérique : {title}. L'élève se reconnecte."),
        "audience": audience, "published": published, "keywords": "cartable, connexion", "category": "accounts"});
    let r = app.post("/api/v1/kb/articles", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    r.json()["id"].as_i64().unwrap()
}

fn titles(v: &serde_json::Value) -> Vec<String> {
    let mut t: Vec<String> = v.as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap().to_owned()).collect();
    t.sort();
    t
}

backend_test!(a_school_never_reads_desk_articles_or_drafts_through_any_route, |app| async move {
    let f = app.fixture().await;
    let public = article(&app, &f.agent, "Public", "public", true).await;
    let schools = article(&app, &f.agent, "Écoles", "schools", true).await;
    let desk = article(&app, &f.agent, "Guichet seulement", "desk", true).await;
    let draft = article(&app, &f.agent, "Brouillon", "schools", false).await;

    let all = ["Brouillon", "Guichet seulement", "Public", "Écoles"];
    assert_eq!(titles(&app.get("/api/v1/kb/articles", &f.technician).await.json()), all);
    assert_eq!(titles(&app.get("/api/v1/kb/articles?q=cartable", &f.agent).await.json()), all);
    let school = ["Public", "Écoles"];
    assert_eq!(titles(&app.get("/api/v1/kb/articles", &f.requester_a).await.json()), school);
    assert_eq!(titles(&app.get("/api/v1/kb/articles?q=cartable", &f.requester_a).await.json()), school);
    assert_eq!(titles(&app.get("/api/v1/kb/articles?q=seulement", &f.requester_a).await.json()), Vec::<String>::new());
    for id in [public, schools] {
        assert_eq!(app.get(&format!("/api/v1/kb/articles/{id}"), &f.requester_b).await.status, StatusCode::OK);
    }
    let change = json!({"title": "x", "body": "y", "audience": "public", "published": true, "version": 1});
    for id in [desk, draft] {
        let routes = [
            (Method::GET, format!("/api/v1/kb/articles/{id}"), None, StatusCode::NOT_FOUND),
            (Method::POST, format!("/api/v1/kb/articles/{id}/answered"), Some(json!({})), StatusCode::NOT_FOUND),
            (Method::GET, format!("/api/v1/kb/articles/{id}/versions"), None, StatusCode::FORBIDDEN),
            (Method::PUT, format!("/api/v1/kb/articles/{id}"), Some(change.clone()), StatusCode::FORBIDDEN),
        ];
        for (method, path, body, expected) in routes {
            let r = app.request(method.clone(), &path, Some(&f.requester_a), body).await;
            assert_eq!(r.status, expected, "{method} {path}");
            assert!(!String::from_utf8_lossy(&r.bytes).contains("Guichet seulement"));
        }
    }
    let r =
        app.post("/api/v1/kb/articles", &f.requester_a, json!({"title": "x", "body": "y", "audience": "public"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The pages and suggestions alike.
    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let list = String::from_utf8_lossy(&app.page(&s.cookie, "/kb?q=cartable").await.bytes).into_owned();
    assert!(list.contains("Écoles") && !list.contains("Guichet seulement") && !list.contains("Brouillon"));
    assert_eq!(app.page(&s.cookie, &format!("/kb/{desk}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.page(&s.cookie, &format!("/kb/{draft}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.page(&s.cookie, "/kb/new").await.status, StatusCode::FORBIDDEN);
    let similar =
        String::from_utf8_lossy(&app.page(&s.cookie, "/similar?text=cartable%20connexion").await.bytes).into_owned();
    assert!(similar.contains("Écoles") && !similar.contains("Guichet seulement"), "{similar}");
    // An anonymous visitor of a HELP page reads public articles only.
    let r = app
        .send(
            Request::builder()
                .uri(format!("/aide/{}/articles?text=cartable%20connexion", f.uai_a))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let html = String::from_utf8_lossy(&r.bytes).into_owned();
    assert!(html.contains("Public") && !html.contains("Écoles") && !html.contains("Guichet seulement"), "{html}");
});

backend_test!(articles_are_found_by_their_words_accents_folded_and_by_prefix, |app| async move {
    let f = app.fixture().await;
    let body = json!({"title": "Réinitialiser le mot de passe d'un élève", "body": "Depuis la console d'administration.",
        "audience": "schools", "published": true});
    assert_eq!(app.post("/api/v1/kb/articles", &f.agent, body).await.status, StatusCode::CREATED);
    for q in ["eleve", "Élève mot", "reinitial*", "\"mot de passe\""] {
        let found = app.get(&format!("/api/v1/kb/articles?q={}", urlencode(q)), &f.requester_a).await.json();
        assert_eq!(found.as_array().unwrap().len(), 1, "{q}");
    }
    let r = app.get("/api/v1/kb/articles?q=%22", &f.agent).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get("/api/v1/kb/articles?limit=0", &f.agent).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
});

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

backend_test!(each_save_keeps_a_version_and_a_stale_one_is_refused, |app| async move {
    let f = app.fixture().await;
    let id = article(&app, &f.agent, "Première", "schools", false).await;
    let path = format!("/api/v1/kb/articles/{id}");
    let change = json!({"title": "Deuxième", "body": "Texte revu", "title_en": "Second", "body_en": "Reviewed",
        "audience": "schools", "published": true, "version": 1});
    let r = app.request(Method::PUT, &path, Some(&f.technician), Some(change.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!((r.json()["version"].as_i64(), r.json()["updated_by"].as_str()), (Some(2), Some("Julie Marchand")));
    let r = app.request(Method::PUT, &path, Some(&f.agent), Some(change)).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let bad = json!({"title": "x", "body": "y", "title_en": "Only a title", "audience": "schools", "version": 2});
    let r = app.request(Method::PUT, &path, Some(&f.agent), Some(bad)).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("title_en")));
    let versions = app.get(&format!("{path}/versions"), &f.agent).await.json();
    let list: Vec<(i64, String, String)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["title"].as_str().unwrap().into(),
                v["edited_by"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(list, [(2, "Deuxième".into(), "Julie Marchand".into()), (1, "Première".into(), "Claire Oreja".into())]);
});

backend_test!(this_answered_my_question_is_counted_per_article_and_files_nothing, |app| async move {
    let f = app.fixture().await;
    let id = article(&app, &f.agent, "Cartable", "schools", true).await;
    let before = app.get("/api/v1/tickets", &f.agent).await.json()["total"].clone();
    let r = app
        .post(&format!("/api/v1/kb/articles/{id}/answered"), &f.requester_a, json!({"establishment": f.uai_a}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .post(&format!("/api/v1/kb/articles/{id}/answered"), &f.requester_a, json!({"establishment": f.uai_b}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "not one of their schools");
    assert_eq!(app.get("/api/v1/tickets", &f.agent).await.json()["total"], before);
    assert_eq!(app.get(&format!("/api/v1/kb/articles/{id}"), &f.agent).await.json()["deflections"], 1);
    let today = app.app.now().date_naive();
    let q = format!("/api/v1/reports/deflections?from={today}&to={today}");
    let r = app.get(&q, &f.agent).await.json();
    assert_eq!(r[0]["title"], "Cartable");
    assert_eq!(r[0]["deflections"], 1);
    assert_eq!(app.get(&q, &f.requester_a).await.json()[0]["deflections"], 1);
    assert_eq!(app.get(&q, &f.requester_b).await.json(), json!([]), "school B counts its own");
});

backend_test!(an_article_from_a_resolved_ticket_starts_from_the_desks_public_reply, |app| async move {
    let f = app.fixture().await;
    let key = &f.ticket_a;
    let s = app.sign_in("claire@desk.test", PASSWORD).await;
    let html = String::from_utf8_lossy(&app.page(&s.cookie, &format!("/kb/new?from={key}")).await.bytes).into_owned();
    assert!(html.contains("Messagerie en panne") && html.contains("Bonjour, nous regardons."), "{html}");
    assert!(!html.contains("SECRET-NOTE"), "internal notes never seed an article");
    let r = app
        .form(
            &s,
            "/kb/new",
            &[
                ("title", "Messagerie en panne"),
                ("body", "Videz le cache."),
                ("audience", "schools"),
                ("published", "on"),
                ("from_ticket", key),
                ("keywords", ""),
                ("category", ""),
                ("title_en", ""),
                ("body_en", ""),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", String::from_utf8_lossy(&r.bytes));
    let id: i64 =
        r.headers["location"].to_str().unwrap().trim_start_matches("/kb/").split('?').next().unwrap().parse().unwrap();
    let a = app.get(&format!("/api/v1/kb/articles/{id}"), &f.agent).await.json();
    assert_eq!((a["source_ticket"].as_str(), a["published"].as_bool()), (Some(key.as_str()), Some(true)));
    assert!(app.get(&format!("/api/v1/kb/articles/{id}"), &f.requester_a).await.json().get("source_ticket").is_none());
});

backend_test!(a_help_page_visitor_reads_public_articles_and_says_one_answered, |app| async move {
    let f = app.fixture().await;
    let public = article(&app, &f.agent, "Public", "public", true).await;
    let schools = article(&app, &f.agent, "Écoles", "schools", true).await;
    let anonymous = |method: Method, path: String| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::empty())
            .unwrap()
    };
    let r = app.send(anonymous(Method::GET, format!("/aide/{}/articles/{public}", f.uai_a))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&r.bytes).contains("Cela a répondu à ma question"));
    let r = app.send(anonymous(Method::GET, format!("/aide/{}/articles/{schools}", f.uai_a))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a schools' article is not public");
    let r = app.send(anonymous(Method::POST, format!("/aide/{}/articles/{schools}/answered", f.uai_a))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.send(anonymous(Method::POST, format!("/aide/{}/articles/{public}/answered", f.uai_a))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&r.bytes).contains("Aucune demande"));
    let r = app.send(anonymous(Method::POST, format!("/aide/0000000A/articles/{public}/answered"))).await;
    assert_ne!(r.status, StatusCode::OK, "an unknown school counts nothing");
    assert_eq!(app.get(&format!("/api/v1/kb/articles/{public}"), &f.agent).await.json()["deflections"], 1);
    assert_eq!(app.get(&format!("/api/v1/kb/articles/{schools}"), &f.agent).await.json()["deflections"], 0);
});
