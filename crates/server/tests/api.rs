//! The REST API against a real database, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use guichet_testkit::{backend_test, json, TestApp, PNG};

backend_test!(a_ticket_goes_through_its_whole_life, |app| async move {
    let f = app.fixture().await;
    let key = &f.ticket_a;
    let path = format!("/api/v1/tickets/{key}");

    let r = app.patch(&path, &f.agent, json!({"type": "anomaly", "priority": "high", "category": "mail",
        "assignee": f.agent_id, "reproduction": {"service": "Messagerie", "profile": "teacher", "browser": "Firefox 128",
        "url": "https://ent.example/mail", "steps": "Ouvrir la messagerie", "outcome": "reproduced"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let t = r.json();
    assert_eq!(
        (t["type"].as_str(), t["priority"].as_str(), t["category"].as_str()),
        (Some("anomaly"), Some("high"), Some("mail"))
    );
    assert_eq!(t["assignee"]["name"], "Claire Oreja");
    assert_eq!(t["reproduction"]["outcome"], "reproduced");

    for status in ["in_progress", "waiting_on_requester"] {
        let r = app.patch(&path, &f.agent, json!({"status": status})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    }
    // The requester's reply takes the ticket back to work.
    let r = app.post(&format!("{path}/comments"), &f.requester_a, json!({"body": "Toujours en panne ce matin."})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.get(&path, &f.agent).await.json()["status"], "in_progress");

    app.clock.advance(chrono::Duration::hours(2));
    let r = app.patch(&path, &f.agent, json!({"status": "resolved", "resolution": "fixed"})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()["resolved_at"].is_string());
    // The requester reopens, then confirms.
    let r = app.patch(&path, &f.requester_a, json!({"status": "in_progress"})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()["resolution"].is_null() && r.json()["resolved_at"].is_null());
    app.patch(&path, &f.agent, json!({"status": "resolved", "resolution": "fixed"})).await;
    let r = app.patch(&path, &f.requester_a, json!({"status": "closed"})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()["closed_at"].is_string());

    let history = app.get(&format!("{path}/history"), &f.agent).await.json();
    let fields: Vec<&str> = history.as_array().unwrap().iter().map(|h| h["field"].as_str().unwrap()).collect();
    for expected in [
        "created",
        "comment",
        "attachment",
        "tier",
        "type",
        "priority",
        "category",
        "assignee",
        "reproduction",
        "status",
        "resolution",
    ] {
        assert!(fields.contains(&expected), "{expected} missing from {fields:?}");
    }
    let closed = history.as_array().unwrap().iter().rev().find(|h| h["field"] == "status").unwrap();
    assert_eq!((closed["old"].as_str(), closed["new"].as_str()), (Some("resolved"), Some("closed")));
    assert_eq!(closed["actor"]["name"], "Nathalie Durand");
});

backend_test!(first_public_reply_of_the_desk_is_stamped_once, |app| async move {
    let f = app.fixture().await;
    let t = app.get(&format!("/api/v1/tickets/{}", f.ticket_a), &f.agent).await.json();
    let first = t["first_response_at"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::Duration::hours(1));
    app.post(&format!("/api/v1/tickets/{}/comments", f.ticket_a), &f.agent, json!({"body": "Encore nous."})).await;
    let t = app.get(&format!("/api/v1/tickets/{}", f.ticket_a), &f.agent).await.json();
    assert_eq!(t["first_response_at"].as_str().unwrap(), first);
    assert_ne!(t["updated_at"], t["created_at"]);
});

backend_test!(classifying_as_evolution_moves_to_its_own_workflow, |app| async move {
    let f = app.fixture().await;
    let path = format!("/api/v1/tickets/{}", f.ticket_a);
    let r = app.patch(&path, &f.agent, json!({"type": "evolution"})).await;
    assert_eq!(r.json()["status"], "submitted");
    let r = app.patch(&path, &f.agent, json!({"status": "planned"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["allowed"], json!(["under_review", "declined"]));
});

backend_test!(bad_inputs_get_precise_errors_and_change_nothing, |app| async move {
    let f = app.fixture().await;
    let path = format!("/api/v1/tickets/{}", f.ticket_a);
    let before = app.get(&path, &f.agent).await.json();
    let history_before = app.get(&format!("{path}/history"), &f.agent).await.json();

    let r = app.patch(&path, &f.agent, json!({"type": "bug"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation".into()));
    assert_eq!(r.json()["error"]["field"], "type");

    let r = app.patch(&path, &f.agent, json!({"priority": "high", "status": "closed"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "invalid_transition".into()));
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("allowed: in_progress"));

    let r = app.patch(&path, &f.agent, json!({"colour": "red"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("colour")));

    let r = app.patch(&path, &f.agent, json!({"status": "resolved"})).await;
    assert_eq!(r.json()["error"]["field"], "resolution");

    let r = app.patch(&path, &f.agent, json!({"assignee": 999_999})).await;
    assert_eq!(r.json()["error"]["field"], "assignee");

    let r = app.patch(&path, &f.agent, json!({"category": "nope"})).await;
    assert_eq!(r.json()["error"]["field"], "category");

    let raw = axum::http::Request::builder()
        .method(Method::PATCH)
        .uri(&path)
        .header("authorization", format!("Bearer {}", f.agent))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"type\": "))
        .unwrap();
    let r = app.send(raw).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "malformed_json".into()));

    let r = app.post("/api/v1/tickets", &f.agent, json!({"title": "x", "establishment": "0750655F"})).await;
    assert_eq!(r.json()["error"]["field"], "establishment");
    let r = app.post("/api/v1/tickets", &f.agent, json!({"title": " ", "establishment": f.uai_a})).await;
    assert_eq!(r.json()["error"]["field"], "title");

    let big = vec![0u8; 64 * 1024 + 1];
    let r = app.upload(&format!("{path}/attachments"), &f.agent, "big.bin", &big, &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into()));
    let r = app.upload(&format!("{path}/attachments"), &f.agent, "empty.txt", b"", &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(app.get(&path, &f.agent).await.json(), before);
    assert_eq!(app.get(&format!("{path}/history"), &f.agent).await.json(), history_before);
    let listed = app.get(&format!("{path}/attachments"), &f.agent).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
});

backend_test!(attachments_are_typed_by_content_and_served_safely, |app| async move {
    let f = app.fixture().await;
    let path = format!("/api/v1/tickets/{}/attachments", f.ticket_a);
    // A PNG sent under a misleading name is still a PNG, shown inline.
    let r = app.upload(&path, &f.requester_a, "../../evil.html", PNG, &[]).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let a = r.json();
    assert_eq!((a["mime"].as_str(), a["filename"].as_str()), (Some("image/png"), Some("evil.html")));
    let r = app.get(a["url"].as_str().unwrap(), &f.requester_a).await;
    assert_eq!(r.bytes, PNG);
    assert_eq!(r.headers["content-type"], "image/png");
    assert!(r.headers["content-disposition"].to_str().unwrap().starts_with("inline"));
    // HTML is never inline and never runs.
    let r = app.upload(&path, &f.requester_a, "page.html", b"<html><script>alert(1)</script></html>", &[]).await;
    let r = app.get(r.json()["url"].as_str().unwrap(), &f.requester_a).await;
    assert!(r.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(r.headers["content-security-policy"], "default-src 'none'; sandbox");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    // The same content twice is stored once but listed twice.
    let again = app.upload(&path, &f.agent, "copie.png", PNG, &[]).await.json();
    assert_eq!(again["sha256"], a["sha256"]);
});

backend_test!(lists_filter_sort_and_page, |app| async move {
    let f = app.fixture().await;
    for i in 0..5 {
        let body = json!({"title": format!("Compte élève {i}"), "establishment": f.uai_a, "type": "assistance",
            "priority": if i == 3 { "critical" } else { "low" }, "channel": "phone", "requester": "admin.a@lycee-a.test"});
        assert_eq!(app.post("/api/v1/tickets", &f.agent, body).await.status, StatusCode::CREATED);
    }
    let r = app.get("/api/v1/tickets?type=assistance&sort=-priority&per_page=2", &f.agent).await.json();
    assert_eq!((r["total"].as_i64(), r["items"].as_array().unwrap().len()), (Some(5), 2));
    assert_eq!(r["items"][0]["priority"], "critical");
    assert_eq!(r["items"][0]["channel"], "phone");
    let r = app.get("/api/v1/tickets?type=assistance&page=3&per_page=2", &f.agent).await.json();
    assert_eq!(r["items"].as_array().unwrap().len(), 1);
    let r = app.get("/api/v1/tickets?text=COMPTE%20%C3%A9l%C3%A8ve%203", &f.agent).await.json();
    assert_eq!(r["total"], 1);
    let r = app.get(&format!("/api/v1/tickets?establishment={}&assignee=none", f.uai_b), &f.agent).await.json();
    assert_eq!(r["total"], 1);
    let r = app.get("/api/v1/tickets?type=bug", &f.agent).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("type")));
    let r = app.get("/api/v1/tickets?sort=colour", &f.agent).await;
    assert_eq!(r.json()["error"]["field"], "sort");
    let r = app.get("/api/v1/tickets?per_page=1000", &f.agent).await;
    assert_eq!(r.json()["error"]["field"], "per_page");
    let r = app.get("/api/v1/tickets?colour=red", &f.agent).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
});

backend_test!(requester_chooses_the_kind_when_filing_but_not_later_nor_by_phone, |app| async move {
    let f = app.fixture().await;
    let body = json!({"title": "x", "establishment": f.uai_a, "type": "anomaly", "channel": "phone"});
    let r = app.post("/api/v1/tickets", &f.requester_a, body).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("channel")));
    let r = app
        .post("/api/v1/tickets", &f.requester_a, json!({"title": "x", "establishment": f.uai_a, "type": "anomaly"}))
        .await;
    assert_eq!((r.status, r.json()["type"].as_str()), (StatusCode::CREATED, Some("anomaly")));
    let r = app.patch(&format!("/api/v1/tickets/{}", f.ticket_a), &f.requester_a, json!({"type": "evolution"})).await;
    assert_eq!(r.json()["error"]["field"], "type");
    let r =
        app.patch(&format!("/api/v1/tickets/{}", f.ticket_a), &f.requester_a, json!({"priority": "critical"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("priority")));
    let r = app
        .post(
            &format!("/api/v1/tickets/{}/comments", f.ticket_a),
            &f.requester_a,
            json!({"body": "x", "internal": true}),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "internal");
    let r = app
        .patch(
            &format!("/api/v1/tickets/{}", f.ticket_a),
            &f.requester_a,
            json!({"status": "resolved", "resolution": "answered"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
});

backend_test!(directory_is_managed_by_admins_with_validated_input, |app| async move {
    let f = app.fixture().await;
    let body = json!({"uai": "0781234S", "name": "Lycée Jules Ferry", "town": "Versailles"});
    let valid = guichet_domain::establishment::Uai::from_number(781_234).to_string();
    let body_valid = json!({"uai": valid, "name": "Lycée Jules Ferry", "town": "Versailles", "parent_uai": f.uai_a});
    let r = app.post("/api/v1/establishments", &f.admin, body.clone()).await;
    if valid != "0781234S" {
        assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("uai")));
    }
    let r = app.post("/api/v1/establishments", &f.admin, body_valid.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["parent_uai"], f.uai_a.as_str());
    let r = app.post("/api/v1/establishments", &f.admin, body_valid).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict".into()));
    let orphan = json!({"uai": guichet_domain::establishment::Uai::from_number(781_235).to_string(), "name": "x", "town": "y", "parent_uai": "0910001A"});
    assert_eq!(app.post("/api/v1/establishments", &f.admin, orphan).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    let user = json!({"email": "Nouvel.Admin@Lycee-A.test", "name": "Nouvel Admin", "role": "requester",
        "establishments": [f.uai_a], "phones": ["01.44.32.12.01"], "password": "long enough password"});
    let r = app.post("/api/v1/users", &f.admin, user.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(
        (r.json()["email"].as_str(), r.json()["phones"][0].as_str()),
        (Some("nouvel.admin@lycee-a.test"), Some("0144321201"))
    );
    assert_eq!(app.post("/api/v1/users", &f.admin, user).await.status, StatusCode::CONFLICT);
    let r = app.post("/api/v1/users", &f.admin, json!({"email": "not-an-address", "name": "x", "role": "agent"})).await;
    assert_eq!(r.json()["error"]["field"], "email");
    let r = app.post("/api/v1/users", &f.admin, json!({"email": "a@b.fr", "name": "x", "role": "boss"})).await;
    assert_eq!(r.json()["error"]["field"], "role");
    // Caller look-up by phone, whatever the punctuation.
    let r = app.get("/api/v1/users?q=01%2044%2032%2012%2001", &f.agent).await.json();
    assert_eq!(r["total"], 1);
    let r = app.get(&format!("/api/v1/users?establishment={}", f.uai_b), &f.agent).await.json();
    assert_eq!(r["items"][0]["name"], "Karim Benali");
});

backend_test!(health_and_openapi_are_served, |app| async move {
    let r = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = app.request(Method::GET, "/api/v1/openapi.json", None, None).await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/tickets",
        "/tickets/{key}",
        "/tickets/{key}/comments",
        "/tickets/{key}/attachments",
        "/tickets/{key}/history",
        "/attachments/{id}",
        "/establishments",
        "/users",
        "/me",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    let r = app.request(Method::GET, "/api/v1/nothing-here", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found".into()));
});

// The search indexes differ by design (FTS5 tables on SQLite, a tsvector
// table and a trigram index on PostgreSQL): the search tests compare them.
// Indexes named `…_pg_idx` exist for PostgreSQL's planner alone, `…_sqlite_idx`
// for SQLite's.
#[tokio::test]
async fn both_migration_trees_produce_the_same_schema() {
    async fn schema(app: &TestApp) -> Vec<String> {
        let mut conn = app.db.db.conn().await.unwrap();
        let sql = match app.backend {
            guichet_testkit::Backend::Sqlite => "SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                WHERE m.type = 'table' AND m.name NOT LIKE '\\_%' ESCAPE '\\' AND m.name NOT LIKE 'sqlite%' \
                AND m.name NOT LIKE 'search%' \
                UNION ALL SELECT 'index ' || name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite%' \
                AND name NOT LIKE '%\\_sqlite\\_idx' ESCAPE '\\'",
            guichet_testkit::Backend::Postgres => "SELECT table_name || '.' || column_name FROM information_schema.columns \
                WHERE table_schema = 'public' AND table_name NOT LIKE '\\_%' AND table_name NOT LIKE 'search%' \
                UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%pkey' \
                AND indexname NOT LIKE '%\\_key' AND tablename NOT LIKE '\\_%' AND tablename NOT LIKE 'search%' \
                AND indexname NOT LIKE 'search%' AND indexname NOT LIKE '%\\_pg\\_idx'",
        };
        let mut names: Vec<String> = match conn.raw() {
            guichet_store::db::Raw::Sqlite(c) => sqlx::query_scalar(sql).fetch_all(&mut *c).await.unwrap(),
            guichet_store::db::Raw::Postgres(c) => sqlx::query_scalar(sql).fetch_all(&mut *c).await.unwrap(),
        };
        names.sort();
        names
    }
    let sqlite = TestApp::new(guichet_testkit::Backend::Sqlite).await;
    let postgres = TestApp::new(guichet_testkit::Backend::Postgres).await;
    assert_eq!(schema(&sqlite).await, schema(&postgres).await);
}

fn q(text: &str) -> String {
    let encoded: String = text
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("/api/v1/tickets?per_page=100&q={encoded}")
}

backend_test!(the_query_language_filters_and_sorts_on_both_backends, |app| async move {
    let f = app.fixture().await;
    for (i, (ty, prio)) in [("anomaly", "high"), ("assistance", "low"), ("anomaly", "critical")].iter().enumerate() {
        let body = json!({"title": format!("Panne messagerie {i}"), "establishment": f.uai_a, "type": ty, "priority": prio,
            "requester": "admin.a@lycee-a.test", "category": "mail"});
        app.post("/api/v1/tickets", &f.agent, body).await;
    }
    let keys = |r: &serde_json::Value| -> Vec<String> {
        r["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap().to_owned()).collect()
    };
    let r =
        app.get(&q("type = anomalie AND priorité IN (haute, critique) ORDER BY priority DESC"), &f.agent).await.json();
    assert_eq!(r["total"], 2);
    assert_eq!(r["items"][0]["priority"], "critical");
    let r = app
        .get(&q(r#"statut != "résolue" AND catégorie = messagerie AND text ~ "PANNE" ORDER BY key"#), &f.agent)
        .await
        .json();
    assert_eq!(r["total"], 3);
    let all = keys(&r);
    assert!(all.windows(2).all(|w| w[0] < w[1] || w[0].len() < w[1].len()));
    let r = app.get(&q(&format!("key IN ({}, {}) OR assignee = currentUser()", all[0], all[1])), &f.agent).await.json();
    assert_eq!(r["total"], 2);
    let r = app.get(&q(&format!("establishment = {} AND tier = technique", f.uai_b)), &f.agent).await.json();
    assert_eq!(keys(&r), vec![f.ticket_b.clone()]);
    let r = app
        .get(&q("created >= startOfDay() AND updated <= now() AND resolved IS EMPTY AND assignee IS EMPTY"), &f.agent)
        .await
        .json();
    assert_eq!(r["total"], 5);
    let r = app.get(&q("NOT (type = anomaly) AND requester = \"admin.a@lycee-a.test\""), &f.agent).await.json();
    assert_eq!(r["total"], 2);
    // Values are bound, never spliced: this is only text that matches nothing.
    let r = app.get(&q(r#"title ~ "'; DROP TABLE tickets; --""#), &f.agent).await.json();
    assert_eq!(r["total"], 0);
    assert_eq!(app.get("/api/v1/tickets", &f.agent).await.json()["total"], 5);
});

// The page of a list by last update with a lower bound on creation also
// bounds `updated` (a ticket is updated at or after its creation, see
// `updated_since_creation`): a ticket created at the bound and never changed
// since is listed, one created before and changed since is not.
backend_test!(
    a_list_by_last_update_since_a_creation_date_keeps_the_tickets_created_at_that_instant,
    |app| async move {
        use chrono::TimeZone;
        let f = app.fixture().await;
        let at =
            |day: u32, hour: u32| chrono::Utc.with_ymd_and_hms(2025, 3, day, hour, 0, 0).unwrap().timestamp_micros();
        let mut ids = Vec::new();
        // 2025-03-02 10:00 in Paris is 09:00 UTC.
        for (created, updated) in [(at(2, 9), at(2, 9)), (at(3, 9), at(10, 9)), (at(1, 9), at(11, 9))] {
            let body = json!({"title": "Horodatage", "establishment": f.uai_a, "type": "assistance",
            "requester": "admin.a@lycee-a.test"});
            let ticket = app.post("/api/v1/tickets", &f.agent, body).await.json();
            let newest = "(SELECT MAX(id) FROM tickets)";
            app.execute(&format!(
                "UPDATE tickets SET created_at = {created}, updated_at = {updated} WHERE id = {newest}"
            ))
            .await;
            ids.push(ticket["key"].as_str().unwrap().to_owned());
        }
        let keys = |r: serde_json::Value| -> Vec<String> {
            r["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap().to_owned()).collect()
        };
        for (query, expected) in [
            ("title ~ horodatage AND created >= \"2025-03-02 10:00\" ORDER BY updated DESC", vec![&ids[1], &ids[0]]),
            ("title ~ horodatage AND created >= \"2025-03-02 10:00\" ORDER BY updated", vec![&ids[0], &ids[1]]),
            (
                "title ~ horodatage AND created > \"2025-03-02 10:00\" AND type = assistance ORDER BY updated DESC",
                vec![&ids[1]],
            ),
            (
                "created >= \"2025-03-01\" AND created < \"2025-04-01\" ORDER BY updated DESC",
                vec![&ids[2], &ids[1], &ids[0]],
            ),
        ] {
            let r = app.get(&q(query), &f.agent).await.json();
            let expected: Vec<String> = expected.into_iter().cloned().collect();
            assert_eq!(keys(r.clone()), expected, "{query}");
            assert_eq!(r["total"], expected.len(), "{query}");
        }
    }
);

backend_test!(people_named_in_a_query_are_found_by_address_or_name_and_nobody_matches_nothing, |app| async move {
    let f = app.fixture().await;
    let total = |r: serde_json::Value| r["total"].as_i64().unwrap();
    let theirs = total(app.get(&q("requester = \"admin.a@lycee-a.test\""), &f.agent).await.json());
    assert!(theirs > 0);
    let either = q("requester IN (\"admin.a@lycee-a.test\", \"personne@nulle.part\")");
    assert_eq!(total(app.get(&either, &f.agent).await.json()), theirs);
    assert_eq!(total(app.get(&q("assignee = \"personne@nulle.part\""), &f.agent).await.json()), 0);
    let assigned = total(app.get(&q("assignee IS NOT EMPTY"), &f.agent).await.json());
    let not_nobody = q("assignee != \"personne@nulle.part\"");
    assert_eq!(total(app.get(&not_nobody, &f.agent).await.json()), assigned);
    let mine = total(app.get(&q("assignee = currentUser()"), &f.agent).await.json());
    let by_name_too = q("assignee IN (currentUser(), \"personne@nulle.part\")");
    assert_eq!(total(app.get(&by_name_too, &f.agent).await.json()), mine);
});

backend_test!(title_contains_finds_a_piece_of_a_title_anywhere_and_follows_its_changes, |app| async move {
    let f = app.fixture().await;
    let body = json!({"title": "Imprimante du CDI hors service", "establishment": f.uai_a, "type": "anomaly",
        "requester": "admin.a@lycee-a.test"});
    let key = app.post("/api/v1/tickets", &f.agent, body).await.json()["key"].as_str().unwrap().to_owned();
    let found = |r: serde_json::Value| -> Vec<String> {
        r["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap().to_owned()).collect()
    };
    // Inside a word, across words, in capitals, two letters, a quote: as the LIKE alone would.
    for needle in ["primant", "cdi hors", "IMPRIMANTE", "du", "CDI h"] {
        let r = app.get(&q(&format!("title ~ \"{needle}\"")), &f.agent).await.json();
        assert_eq!(found(r), vec![key.clone()], "{needle}");
    }
    for needle in ["imprimantes", "cdi  hors", "hors-service", "%"] {
        let r = app.get(&q(&format!("title ~ \"{needle}\"")), &f.agent).await.json();
        assert!(!found(r).contains(&key), "{needle}");
    }
    let others = app.get(&q("NOT (title ~ primant)"), &f.agent).await.json();
    assert!(!found(others.clone()).contains(&key));
    assert_eq!(
        others["total"].as_i64().unwrap() + 1,
        app.get("/api/v1/tickets", &f.agent).await.json()["total"].as_i64().unwrap()
    );
    // A new title is found at once, the old one no longer.
    app.patch(&format!("/api/v1/tickets/{key}"), &f.agent, json!({"title": "Vidéoprojecteur en panne"})).await;
    assert!(found(app.get(&q("title ~ primant"), &f.agent).await.json()).is_empty());
    assert_eq!(found(app.get(&q("title ~ projecteur"), &f.agent).await.json()), vec![key.clone()]);
});

backend_test!(title_contains_ignores_the_case_of_accented_letters_too, |app| async move {
    let f = app.fixture().await;
    let body = json!({"title": "Élèves de l'École sans ŒUVRES ni accès", "establishment": f.uai_a,
        "type": "anomaly", "requester": "admin.a@lycee-a.test"});
    let key = app.post("/api/v1/tickets", &f.agent, body).await.json()["key"].as_str().unwrap().to_owned();
    let found = |r: serde_json::Value| -> Vec<String> {
        r["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap().to_owned()).collect()
    };
    for needle in ["école", "ÉCOLE", "élèves", "ÉLÈVES", "œuvres", "accès", "ACCÈS", "él", "ÉL", "l'é"] {
        let r = app.get(&q(&format!("title ~ \"{needle}\"")), &f.agent).await.json();
        assert_eq!(found(r), vec![key.clone()], "{needle}");
    }
    // Accents are letters of their own here (the full-text `text ~` folds them).
    for needle in ["ecole", "eleves", "acces"] {
        let r = app.get(&q(&format!("title ~ \"{needle}\"")), &f.agent).await.json();
        assert!(!found(r).contains(&key), "{needle}");
    }
    let r = app.get(&q("NOT (title ~ \"ÉCOLE\")"), &f.agent).await.json();
    assert!(!found(r).contains(&key));
});

backend_test!(a_wrong_query_is_answered_with_its_position_and_a_hint, |app| async move {
    let f = app.fixture().await;
    let r = app.get(&q("stauts = new"), &f.agent).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("q")));
    assert_eq!(r.json()["error"]["message"], "unknown field `stauts` at column 1, did you mean `status`?");
    let r = app.get(&q("status = new AND"), &f.agent).await;
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("at column 17"));
    let r = app.get(&q("priority < high"), &f.agent).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
});

backend_test!(a_requesters_query_never_reaches_another_school, |app| async move {
    let f = app.fixture().await;
    for text in [
        format!("establishment = {}", f.uai_b),
        format!("key = {}", f.ticket_b),
        "text ~ \"Messagerie\" OR type != anomaly OR assignee IS EMPTY".to_owned(),
        "NOT (establishment = nothing)".to_owned(),
        "requester = \"admin.b@lycee-b.test\"".to_owned(),
    ] {
        let r = app.get(&q(&text), &f.requester_a).await.json();
        let keys: Vec<&str> = r["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
        assert!(!keys.contains(&f.ticket_b.as_str()), "{text}: {keys:?}");
        assert!(r["total"].as_i64().unwrap() <= 1, "{text}");
    }
});

backend_test!(service_levels_run_in_business_time_pause_and_record_breaches, |app| async move {
    let f = app.fixture().await;
    // The test clock starts on Monday 2026-03-02 at 14:00 in Paris (13:00 UTC).
    let body = json!({"title": "ENT inaccessible", "establishment": f.uai_a, "type": "anomaly", "priority": "critical",
        "requester": "admin.a@lycee-a.test"});
    let t = app.post("/api/v1/tickets", &f.agent, body).await.json();
    let key = t["key"].as_str().unwrap().to_owned();
    // First response within 2 business hours: 16:00 Paris. Resolution within
    // 7: five on Monday afternoon, two on Tuesday from noon: 14:00 Paris.
    assert_eq!(t["sla"]["first_response_due"], "2026-03-02T15:00:00Z");
    assert_eq!(t["sla"]["resolution_due"], "2026-03-03T13:00:00Z");
    assert_eq!(t["sla"]["state"], "ok");

    app.clock.advance(chrono::Duration::minutes(105));
    app.app.refresh_due_slas(app.app.now(), 100).await.unwrap();
    let t = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json();
    assert_eq!(t["sla"]["state"], "at_risk");
    let r = app.get(&q("sla = \"bientôt en retard\" OR sla = at_risk"), &f.agent).await.json();
    assert!(r["items"].as_array().unwrap().iter().any(|i| i["key"] == key.as_str()));

    app.clock.advance(chrono::Duration::minutes(20));
    app.app.refresh_due_slas(app.app.now(), 100).await.unwrap();
    let r = app.get(&q("sla = \"en retard\" ORDER BY due"), &f.agent).await.json();
    assert_eq!(r["items"][0]["key"], key.as_str());
    let history = app.get(&format!("/api/v1/tickets/{key}/history"), &f.agent).await.json();
    let breach = history.as_array().unwrap().iter().find(|h| h["field"] == "sla").unwrap();
    assert_eq!((breach["new"].as_str(), breach["internal"].as_bool()), (Some("breached"), Some(true)));
    let seen_by_requester = app.get(&format!("/api/v1/tickets/{key}/history"), &f.requester_a).await.json();
    assert!(seen_by_requester.as_array().unwrap().iter().all(|h| h["field"] != "sla"));

    // Another request answered at once, then waiting on the requester over
    // the night: the resolution clock stops and its due date moves.
    let body = json!({"title": "Mot de passe", "establishment": f.uai_a, "type": "assistance", "priority": "critical",
        "requester": "admin.a@lycee-a.test"});
    let t = app.post("/api/v1/tickets", &f.agent, body).await.json();
    let key = t["key"].as_str().unwrap().to_owned();
    let due_before = t["sla"]["resolution_due"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/tickets/{key}/comments"), &f.agent, json!({"body": "Pouvez-vous préciser ?"})).await;
    app.patch(&format!("/api/v1/tickets/{key}"), &f.agent, json!({"status": "waiting_on_requester"})).await;
    // Waiting from Monday 16:05 to Tuesday 14:05 in Paris: 2h55 of Monday's
    // afternoon and 2h05 of Tuesday's are paused, five business hours.
    app.clock.advance(chrono::Duration::hours(22));
    app.post(&format!("/api/v1/tickets/{key}/comments"), &f.requester_a, json!({"body": "C'est un élève de seconde."}))
        .await;
    let t = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json();
    assert_eq!(t["status"], "in_progress");
    assert_eq!(t["sla"]["state"], "ok");
    let before: chrono::DateTime<chrono::Utc> = due_before.parse().unwrap();
    let after: chrono::DateTime<chrono::Utc> = t["sla"]["resolution_due"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.app.calendar().business_between(before, after), chrono::Duration::hours(5));
});

backend_test!(the_clock_job_looks_only_at_tickets_whose_clocks_turn, |app| async move {
    let f = app.fixture().await;
    let due = |minutes: i64| {
        let app = &app;
        async move {
            app.clock.advance(chrono::Duration::minutes(minutes));
            app.app.refresh_due_slas(app.app.now(), 100).await.unwrap()
        }
    };
    // The fixture's tickets are checked once, then wait for their instants.
    due(0).await;
    assert_eq!(due(0).await, 0, "nothing turns by itself right now");
    let body = json!({"title": "ENT inaccessible", "establishment": f.uai_a, "type": "anomaly", "priority": "critical",
        "requester": "admin.a@lycee-a.test"});
    let t = app.post("/api/v1/tickets", &f.agent, body.clone()).await.json();
    let key = t["key"].as_str().unwrap().to_owned();
    let waiting = app.post("/api/v1/tickets", &f.agent, body).await.json();
    let waiting = waiting["key"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/tickets/{waiting}/comments"), &f.agent, json!({"body": "Quel navigateur ?"})).await;
    app.patch(&format!("/api/v1/tickets/{waiting}"), &f.agent, json!({"status": "waiting_on_requester"})).await;
    assert_eq!(due(0).await, 0);
    // 2 business hours to answer: at risk after 96 minutes, late after 120.
    assert_eq!(due(95).await, 0);
    assert_eq!(due(2).await, 1, "turns at risk");
    let sla = |key: String| {
        let app = &app;
        let agent = f.agent.clone();
        async move { app.get(&format!("/api/v1/tickets/{key}"), &agent).await.json()["sla"]["state"].clone() }
    };
    assert_eq!(sla(key.clone()).await, "at_risk");
    assert_eq!(due(10).await, 0);
    assert_eq!(due(15).await, 1, "turns late");
    assert_eq!(sla(key.clone()).await, "breached");
    // Late on its response, the ticket waits for its resolution clock (7 h).
    assert_eq!(due(60).await, 0);
    // The paused ticket was never looked at and still reads "paused".
    assert_eq!(sla(waiting.clone()).await, "paused");
    // A new calendar moves every clock: each open ticket is looked at again.
    let calendar = app.get("/api/v1/calendar", &f.agent).await.json();
    let r = app.request(axum::http::Method::PUT, "/api/v1/calendar", Some(&f.admin), Some(calendar)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(due(0).await >= 2);
    assert_eq!(due(0).await, 0);
});

backend_test!(the_rota_is_managed_by_admins_and_read_by_the_desk, |app| async move {
    let f = app.fixture().await;
    let slot = json!({"day": "2026-03-02", "part": "day", "user": f.agent_id});
    assert_eq!(app.post("/api/v1/rota", &f.agent, slot.clone()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.post("/api/v1/rota", &f.admin, slot.clone()).await.status, StatusCode::NO_CONTENT);
    for (bad, field) in [
        (json!({"day": "02/03/2026", "part": "day", "user": f.agent_id}), "day"),
        (json!({"day": "2026-03-02", "part": "night", "user": f.agent_id}), "part"),
        (json!({"day": "2026-03-02", "part": "day", "user": 999_999}), "user"),
    ] {
        let r = app.post("/api/v1/rota", &f.admin, bad).await;
        assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)));
    }
    let rota = app.get("/api/v1/rota?from=2026-03-01&days=7", &f.technician).await.json();
    assert_eq!(rota[0]["user"]["name"], "Claire Oreja");
    assert_eq!(app.get("/api/v1/rota", &f.requester_a).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.app.on_duty_now().await.unwrap()[0].name, "Claire Oreja");
    let path = format!("/api/v1/rota/2026-03-02/day/{}", f.agent_id);
    assert_eq!(
        app.request(axum::http::Method::DELETE, &path, Some(&f.requester_a), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.request(axum::http::Method::DELETE, &path, Some(&f.admin), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.request(axum::http::Method::DELETE, &path, Some(&f.admin), None).await.status,
        StatusCode::NOT_FOUND
    );
});

async fn round_robin_assigns_level_one_tickets_to_agents_on_duty_in_turn(backend: guichet_testkit::Backend) {
    let settings = guichet_app::Settings {
        assignment: guichet_app::rota::AssignmentRule::RoundRobin,
        ..guichet_app::Settings::default()
    };
    let app = TestApp::with_settings(backend, settings).await;
    let f = app.fixture().await;
    let second = app
        .post("/api/v1/users", &f.admin, json!({"email": "freddy@desk.test", "name": "Freddy Calif", "role": "agent"}))
        .await;
    let second_id = second.json()["id"].as_i64().unwrap();
    for user in [f.agent_id, second_id] {
        let slot = json!({"day": "2026-03-02", "part": "afternoon", "user": user});
        assert_eq!(app.post("/api/v1/rota", &f.admin, slot).await.status, StatusCode::NO_CONTENT);
    }
    let mut assignees = Vec::new();
    for i in 0..4 {
        app.clock.advance(chrono::Duration::minutes(1));
        let t = app
            .post("/api/v1/tickets", &f.requester_a, json!({"title": format!("Demande {i}"), "establishment": f.uai_a}))
            .await
            .json();
        assignees.push(t["assignee"]["name"].as_str().unwrap_or("nobody").to_owned());
    }
    assert_eq!(assignees[0], assignees[2]);
    assert_eq!(assignees[1], assignees[3]);
    assert_ne!(assignees[0], assignees[1]);
    // Nobody on duty in the morning: tickets wait unassigned.
    app.clock.advance(chrono::Duration::hours(20));
    let t = app
        .post("/api/v1/tickets", &f.requester_a, json!({"title": "Le matin", "establishment": f.uai_a}))
        .await
        .json();
    assert!(t["assignee"].is_null());
}

#[tokio::test]
async fn round_robin_assigns_level_one_tickets_to_agents_on_duty_in_turn_on_sqlite() {
    round_robin_assigns_level_one_tickets_to_agents_on_duty_in_turn(guichet_testkit::Backend::Sqlite).await;
}

#[tokio::test]
async fn round_robin_assigns_level_one_tickets_to_agents_on_duty_in_turn_on_postgres() {
    round_robin_assigns_level_one_tickets_to_agents_on_duty_in_turn(guichet_testkit::Backend::Postgres).await;
}

backend_test!(saved_filters_are_personal_or_shared_and_count_what_each_reader_may_see, |app| async move {
    let f = app.fixture().await;
    let desk = app.get("/api/v1/filters", &f.agent).await.json();
    let names: Vec<&str> = desk.as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 8, "{names:?}");
    assert!(names.contains(&"En retard") && names.contains(&"Transmises au niveau 2"));
    let escalated = desk.as_array().unwrap().iter().find(|x| x["name"] == "Transmises au niveau 2").unwrap();
    assert_eq!(escalated["count"], 2);
    let owed = desk.as_array().unwrap().iter().find(|x| x["name"] == "En attente de notre réponse").unwrap();
    assert_eq!(owed["count"], 0, "the desk replied to both fixture tickets");

    // A school administrator sees only their own filters, counted within their schools.
    assert_eq!(app.get("/api/v1/filters", &f.requester_a).await.json().as_array().unwrap().len(), 0);
    let mine = app.post("/api/v1/filters", &f.requester_a, json!({"name": "Tout", "query": "created <= now()"})).await;
    assert_eq!(mine.status, StatusCode::CREATED);
    let id = mine.json()["id"].as_i64().unwrap();
    let list = app.get("/api/v1/filters", &f.requester_a).await.json();
    assert_eq!(list[0]["count"], 1);
    let r = app
        .post("/api/v1/filters", &f.requester_a, json!({"name": "x", "query": "created <= now()", "shared": true}))
        .await;
    assert_eq!(r.json()["error"]["field"], "shared");
    let r = app.post("/api/v1/filters", &f.agent, json!({"name": "x", "query": "stauts = new"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("query")));
    let r = app.post("/api/v1/filters", &f.agent, json!({"name": " ", "query": "status = new"})).await;
    assert_eq!(r.json()["error"]["field"], "name");

    // Others cannot see, change or delete a personal filter.
    let path = format!("/api/v1/filters/{id}");
    assert_eq!(app.patch(&path, &f.agent, json!({"name": "volé"})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.request(axum::http::Method::DELETE, &path, Some(&f.requester_b), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.patch(&path, &f.requester_a, json!({"name": "Toutes mes demandes"})).await.status, StatusCode::OK);
    assert_eq!(
        app.request(axum::http::Method::DELETE, &path, Some(&f.requester_a), None).await.status,
        StatusCode::NO_CONTENT
    );

    // The desk's shared filters are changed by administrators only.
    let builtin = format!("/api/v1/filters/{}", escalated["id"]);
    assert_eq!(app.patch(&builtin, &f.agent, json!({"name": "N2"})).await.status, StatusCode::FORBIDDEN);
    let r =
        app.patch(&builtin, &f.admin, json!({"name": "Niveau 2", "query": "tier = technical ORDER BY created"})).await;
    assert_eq!((r.status, r.json()["name"].as_str()), (StatusCode::OK, Some("Niveau 2")));
    let tiles = app.app.dashboard(&app.app.authenticate_token(&f.agent).await.unwrap()).await.unwrap();
    assert!(tiles.iter().any(|t| t.title == "Niveau 2" && t.count == 2 && t.items.len() == 2));
});

backend_test!(the_calendar_and_service_levels_are_configured_by_admins_and_used_at_once, |app| async move {
    let f = app.fixture().await;
    let calendar = app.get("/api/v1/calendar", &f.agent).await.json();
    assert_eq!((calendar["tz"].as_str(), calendar["week"][0][0].as_str()), (Some("Europe/Paris"), Some("12:00-19:00")));
    assert_eq!(app.get("/api/v1/calendar", &f.requester_a).await.status, StatusCode::FORBIDDEN);
    let mut changed = calendar.clone();
    changed["week"][0] = json!(["09:00-12:00", "14:00-18:00"]);
    changed["closures"] = json!(["2026-03-03"]);
    assert_eq!(
        app.request(axum::http::Method::PUT, "/api/v1/calendar", Some(&f.agent), Some(changed.clone())).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.request(axum::http::Method::PUT, "/api/v1/calendar", Some(&f.admin), Some(changed.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let mut bad = changed.clone();
    bad["week"][1] = json!(["19:00-12:00"]);
    let r = app.request(axum::http::Method::PUT, "/api/v1/calendar", Some(&f.admin), Some(bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut never = changed.clone();
    never["week"] = json!([[], [], [], [], [], [], []]);
    let r = app.request(axum::http::Method::PUT, "/api/v1/calendar", Some(&f.admin), Some(never)).await;
    assert_eq!(r.json()["error"]["field"], "week");
    let mut zone = changed.clone();
    zone["tz"] = json!("Mars/Olympus");
    assert_eq!(
        app.request(axum::http::Method::PUT, "/api/v1/calendar", Some(&f.admin), Some(zone)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Monday 14:00 Paris, open 14:00-18:00; Tuesday closed; Wednesday 12:00-19:00.
    let mut policy = app.get("/api/v1/sla-policy", &f.agent).await.json();
    for target in policy["targets"].as_array_mut().unwrap() {
        target["first_response_minutes"] = json!(300);
    }
    let r = app.request(axum::http::Method::PUT, "/api/v1/sla-policy", Some(&f.admin), Some(policy.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let t = app
        .post(
            "/api/v1/tickets",
            &f.agent,
            json!({"title": "x", "establishment": f.uai_a, "type": "assistance", "requester": "admin.a@lycee-a.test"}),
        )
        .await
        .json();
    // Five hours: four on Monday afternoon, Tuesday closed, one on Wednesday from noon (11:00 UTC).
    assert_eq!(t["sla"]["first_response_due"], "2026-03-04T12:00:00Z");
    policy["at_risk_ratio"] = json!(1.5);
    let r = app.request(axum::http::Method::PUT, "/api/v1/sla-policy", Some(&f.admin), Some(policy)).await;
    assert_eq!(r.json()["error"]["field"], "at_risk_ratio");
    // A new start reads the stored settings.
    let again =
        guichet_app::App::new(app.app.db.clone(), guichet_app::Settings::default(), app.clock.clone()).await.unwrap();
    assert_eq!(again.calendar().closures.len(), 1);
    assert_eq!(again.sla_policy().targets[0].2.first_response_minutes, Some(300));
});

backend_test!(resolved_tickets_close_by_themselves_and_unanswered_ones_can_be_resolved, |app| async move {
    let f = app.fixture().await;
    let path = format!("/api/v1/tickets/{}", f.ticket_a);
    app.patch(&path, &f.agent, json!({"status": "resolved", "resolution": "answered"})).await;
    let waiting = format!("/api/v1/tickets/{}", f.ticket_b);
    app.patch(&waiting, &f.agent, json!({"status": "waiting_on_requester"})).await;
    // Monday 14:00 Paris; four open days later (Friday) nothing moves yet.
    app.clock.advance(chrono::Duration::days(4));
    assert_eq!(app.app.run_automations().await.unwrap(), 0);
    // The next Tuesday, five open days have passed: the resolved ticket closes.
    app.clock.advance(chrono::Duration::days(4));
    assert_eq!(app.app.run_automations().await.unwrap(), 1);
    let t = app.get(&path, &f.agent).await.json();
    assert_eq!(t["status"], "closed");
    let history = app.get(&format!("{path}/history"), &f.requester_a).await.json();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["field"].as_str(), last["actor"].is_null()), (Some("status"), true));
    assert_eq!(app.get(&waiting, &f.agent).await.json()["status"], "waiting_on_requester", "off by default");
    // With the rule on, the unanswered ticket is resolved as such.
    let mut policy = app.get("/api/v1/sla-policy", &f.agent).await.json();
    policy["resolve_unanswered_after_days"] = json!(3);
    app.request(axum::http::Method::PUT, "/api/v1/sla-policy", Some(&f.admin), Some(policy)).await;
    assert_eq!(app.app.run_automations().await.unwrap(), 1);
    let t = app.get(&waiting, &f.agent).await.json();
    assert_eq!((t["status"].as_str(), t["resolution"].as_str()), (Some("resolved"), Some("no_answer")));
});

backend_test!(a_request_and_its_screenshots_are_filed_together_or_not_at_all, |app| async move {
    let f = app.fixture().await;
    let p = app.app.authenticate_token(&f.requester_a).await.unwrap();
    let request = || guichet_app::tickets::CreateTicket {
        title: "Capture de l'erreur".into(),
        establishment: f.uai_a.clone(),
        ..Default::default()
    };
    let before = app.get("/api/v1/tickets", &f.agent).await.json()["total"].clone();
    let too_big = vec![7u8; 64 * 1024 + 1];
    let files = vec![("capture.png".to_owned(), PNG.to_vec()), ("enorme.bin".to_owned(), too_big)];
    let err = app.app.create_ticket_with_files(&p, request(), &files).await.unwrap_err();
    assert!(matches!(err, guichet_app::AppError::TooLarge { .. }), "{err:?}");
    assert_eq!(app.get("/api/v1/tickets", &f.agent).await.json()["total"], before, "no ticket left behind");
    let files = vec![("capture.png".to_owned(), PNG.to_vec()), ("journal.txt".to_owned(), b"erreur 500".to_vec())];
    let details = app.app.create_ticket_with_files(&p, request(), &files).await.unwrap();
    let key = app.app.key(details.record.ticket.id);
    let listed = app.get(&format!("/api/v1/tickets/{key}/attachments"), &f.requester_a).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
});

#[path = "api/hardening.rs"]
mod hardening;

backend_test!(counts_stop_at_ten_thousand_and_say_more_than_that_and_a_tile_at_a_thousand, |app| async move {
    let options = guichet_app::demo::DemoOptions { establishments: 2, tickets: 10_050, ..Default::default() };
    let report = app.app.load_demo(&options).await.unwrap();
    let agent = report.logins.iter().find(|l| l.role == guichet_domain::user::Role::Agent).unwrap();
    let all = app.get("/api/v1/tickets?per_page=1", &agent.token).await.json();
    assert_eq!((all["total"].as_i64(), all["more_than_total"].as_bool()), (Some(10_000), Some(true)));
    // Pages past the counting limit still come: a full page has a next one.
    let far = app.get("/api/v1/tickets?per_page=100&page=101", &agent.token).await.json();
    assert!(far["items"].as_array().is_some_and(|items| !items.is_empty()), "{far}");
    // A small set is counted exactly.
    let prefix = &app.app.settings.key_prefix;
    let keys = format!("key IN ({prefix}-1, {prefix}-2, {prefix}-3)");
    let two = app.get(&q(&keys), &agent.token).await.json();
    assert_eq!(two["more_than_total"], false);
    assert_eq!(two["total"], 3);
    // The dashboard's tiles and the filters' counts stop at a thousand, and
    // a tile's list, opened, counts on.
    let tiles = app.get("/api/v1/dashboard", &agent.token).await.json();
    let tiles = tiles.as_array().unwrap();
    assert!(tiles.iter().all(|t| t["count"].as_i64().unwrap() <= 1_000), "{tiles:?}");
    assert!(tiles.iter().all(|t| t["more_than_count"] == (t["count"] == 1_000)), "{tiles:?}");
    let big = tiles.iter().find(|t| t["more_than_count"] == true).expect("a tile of more than a thousand");
    let opened = app.get(&q(big["query"].as_str().unwrap()), &agent.token).await.json();
    assert!(opened["total"].as_i64().is_some_and(|n| n > 1_000), "{big} {opened}");
    let filters = app.get("/api/v1/filters", &agent.token).await.json();
    let filters = filters.as_array().unwrap();
    assert!(filters.iter().any(|f| f["count"] == 1_000 && f["more_than_count"] == true), "{filters:?}");
    assert!(filters.iter().all(|f| f["count"].as_i64().unwrap() <= 1_000), "{filters:?}");
    let desk = app.sign_in(&agent.email, guichet_app::demo::DEMO_PASSWORD).await;
    let tiles_page = String::from_utf8(app.page(&desk.cookie, "/desk/tiles").await.bytes).unwrap();
    assert!(tiles_page.contains("plus de 1\u{202f}000"), "{tiles_page}");
    // The queue page says so in words, and offers the next page without a last one.
    let session = app.sign_in(&agent.email, guichet_app::demo::DEMO_PASSWORD).await;
    let page = String::from_utf8(app.page(&session.cookie, "/tickets").await.bytes).unwrap();
    assert!(page.contains("plus de 10\u{202f}000"), "{page}");
    assert!(page.contains("rel=\"next\""), "{page}");
    assert!(!page.contains("1 / "), "no last page is claimed: {page}");
});

backend_test!(names_with_accented_capitals_are_found_however_they_are_typed, |app| async move {
    names_with_accented_capitals_are_found(app).await;
});

/// PostgreSQL in the `C` locale folds A to Z only, as SQLite does.
#[tokio::test]
async fn names_with_accented_capitals_are_found_on_a_postgresql_database_in_the_c_locale() {
    names_with_accented_capitals_are_found(TestApp::on_postgres_in("C").await).await;
}

async fn names_with_accented_capitals_are_found(app: TestApp) {
    // SQLite's LOWER folds A to Z only, and PostgreSQL's follows the
    // database's locale: "Émilie" lower-cased by the database stayed
    // "Émilie", so `assignee = "émilie lefèvre"` and a search for "émilie"
    // found nobody, however it was typed.
    let f = app.fixture().await;
    let (_, id) = app.user("emilie@desk.test", "Émilie LEFÈVRE", guichet_domain::user::Role::Agent, None).await;
    let ticket = f.ticket_a.rsplit('-').next().unwrap();
    app.execute(&format!("UPDATE tickets SET assignee_id = {id} WHERE id = {ticket}")).await;
    let keys = |v: serde_json::Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap().to_owned()).collect()
    };
    for typed in ["émilie lefèvre", "Émilie LEFÈVRE", "ÉMILIE LEFÈVRE", "emilie@desk.test"] {
        let found = app.get(&q(&format!("assignee = \"{typed}\"")), &f.agent).await.json();
        assert_eq!(keys(found), vec![f.ticket_a.clone()], "{typed}");
    }
    for typed in ["lycée paul éluard", "LYCÉE PAUL ÉLUARD", "Lycée Paul Éluard"] {
        let found = app.get(&q(&format!("establishment = \"{typed}\"")), &f.agent).await.json();
        assert_eq!(keys(found), vec![f.ticket_b.clone()], "{typed}");
        // A school never learns another's tickets by naming it.
        let other = app.get(&q(&format!("establishment = \"{typed}\"")), &f.requester_a).await.json();
        assert_eq!(keys(other), Vec::<String>::new(), "{typed}");
    }
    // The directory's searches, as an administrator types them.
    for typed in ["émilie", "Émilie", "lefèvre", "LEFÈVRE", "milie le"] {
        let path = format!("/api/v1/users?q={}", urlencoding(typed));
        let found = app.get(&path, &f.admin).await.json();
        let names: Vec<&str> = found["items"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["Émilie LEFÈVRE"], "{typed}");
    }
    for typed in ["éluard", "ÉLUARD", "paul éluard"] {
        let path = format!("/api/v1/establishments?q={}", urlencoding(typed));
        let found = app.get(&path, &f.admin).await.json();
        let names: Vec<&str> = found["items"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["Lycée Paul Éluard"], "{typed}");
    }
    // A piece of a title, in any case.
    app.execute(&format!("UPDATE tickets SET title = 'ÉCRAN NOIR à l''École' WHERE id = {ticket}")).await;
    for typed in ["écran noir", "ÉCRAN", "l'école", "À L'ÉCOLE"] {
        let found = app.get(&q(&format!("title ~ \"{typed}\"")), &f.agent).await.json();
        assert_eq!(keys(found), vec![f.ticket_a.clone()], "{typed}");
    }
}

/// The numbers of a list's tickets, in its order.
fn numbers(list: &serde_json::Value) -> Vec<i64> {
    let items = list["items"].as_array().unwrap();
    items.iter().map(|t| t["key"].as_str().unwrap().rsplit('-').next().unwrap().parse().unwrap()).collect()
}

fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

backend_test!(open_tickets_of_a_category_or_of_a_type_and_priority_are_read_from_their_own_indexes, |app| async move {
    // The latest open tickets are all of one category and of low priority:
    // walking every open ticket by last update finds the others only far
    // down. PostgreSQL read them that way, filtering, for the page and for
    // the count (migration 0043).
    let options = guichet_app::demo::DemoOptions { establishments: 3, tickets: 2_500, ..Default::default() };
    app.app.load_demo(&options).await.unwrap();
    let agent = app.fixture().await.agent;
    app.execute(
        "UPDATE tickets SET category_id = (SELECT id FROM categories WHERE code = 'accounts'), priority = 'low' \
         WHERE resolved_at IS NULL AND id IN (SELECT id FROM tickets ORDER BY updated_at DESC LIMIT 400)",
    )
    .await;
    if app.backend == guichet_testkit::Backend::Postgres {
        app.execute("ANALYZE tickets").await;
    }
    let ids = |sql: &'static str| {
        let app = &app;
        async move {
            let mut conn = app.app.db.conn().await.unwrap();
            guichet_store::on_conn!(conn, |c| sqlx::query_scalar::<_, i64>(sql).fetch_all(&mut *c).await).unwrap()
        }
    };
    let open = "FROM tickets t WHERE t.resolved_at IS NULL";
    let latest = "ORDER BY t.updated_at DESC, t.id DESC";
    for (query, index, expected) in [
        (
            "category = messagerie AND resolved IS EMPTY ORDER BY updated DESC",
            "tickets_open_category_pg_idx",
            format!("SELECT t.id {open} AND t.category_id = (SELECT id FROM categories WHERE code = 'mail') {latest}"),
        ),
        (
            "category != messagerie AND resolved IS EMPTY ORDER BY updated DESC",
            "",
            format!("SELECT t.id {open} AND t.category_id <> (SELECT id FROM categories WHERE code = 'mail') {latest}"),
        ),
        (
            "resolved IS EMPTY AND priority = high AND type = anomalie ORDER BY updated DESC",
            "tickets_open_kind_pg_idx",
            format!("SELECT t.id {open} AND t.priority = 'high' AND t.ticket_type = 'anomaly' {latest}"),
        ),
    ] {
        let expected = ids(Box::leak(expected.into_boxed_str())).await;
        assert!(expected.len() > 10, "{query}: {} tickets", expected.len());
        let v = app.get(&q(query), &agent).await.json();
        let keys = numbers(&v);
        assert_eq!((keys.as_slice(), v["total"].as_i64()), (&expected[..keys.len()], Some(expected.len() as i64)));
        assert_eq!(keys.len(), expected.len().min(100), "{query}");
        if app.backend == guichet_testkit::Backend::Postgres && !index.is_empty() {
            let mut conn = app.app.db.conn().await.unwrap();
            let (filter, sort) = app.desk_query(&mut conn, query).await;
            let plans = guichet_store::tickets::explain_list(&mut conn, &filter, &sort, 10_000).await.unwrap();
            for plan in [&plans.0, &plans.1] {
                assert!(plan.iter().any(|l| l.contains(index)), "{query}: {plan:#?}");
            }
        }
    }
});

backend_test!(overdue_tickets_due_at_the_same_instant_are_listed_from_the_index_in_order, |app| async move {
    // Deadlines fall on the service calendar's hours, so many tickets share
    // one: PostgreSQL read and sorted every ticket of the first due date for
    // a page (49,000 rows at 1,000,000 tickets) until the number was in the
    // index (migration 0045).
    let options = guichet_app::demo::DemoOptions { establishments: 3, tickets: 2_500, ..Default::default() };
    app.app.load_demo(&options).await.unwrap();
    let agent = app.fixture().await.agent;
    app.execute(
        "UPDATE tickets SET sla_state = 'breached', resolution_due = 1789146000000000 \
         WHERE id IN (SELECT id FROM tickets ORDER BY id LIMIT 1500)",
    )
    .await;
    if app.backend == guichet_testkit::Backend::Postgres {
        app.execute("ANALYZE tickets").await;
    }
    let mut conn = app.app.db.conn().await.unwrap();
    let sql = "SELECT id FROM tickets WHERE sla_state = 'breached' ORDER BY resolution_due, id";
    let expected =
        guichet_store::on_conn!(conn, |c| sqlx::query_scalar::<_, i64>(sql).fetch_all(&mut *c).await).unwrap();
    assert!(expected.len() >= 1_500);
    let query = "sla = \"en retard\" ORDER BY due";
    for page in [1, 2] {
        let v = app.get(&format!("{}&page={page}", q(query)), &agent).await.json();
        let keys = numbers(&v);
        let start = (page - 1) * 100;
        assert_eq!(keys, expected[start..start + 100], "{query}, page {page}");
    }
    if app.backend == guichet_testkit::Backend::Postgres {
        let (filter, sort) = app.desk_query(&mut conn, query).await;
        let (page, _) = guichet_store::tickets::explain_list(&mut conn, &filter, &sort, 10_000).await.unwrap();
        assert!(page.iter().any(|l| l.contains("tickets_sla_due_pg_idx")), "{query}: {page:#?}");
        assert!(!page.iter().any(|l| l.contains("Presorted Key")), "{query}: {page:#?}");
    }
});

/// A list's statements are planned for their values on PostgreSQL: after
/// five runs of a prepared statement PostgreSQL may keep one generic plan
/// for any values, and generic plans of the query language's statements
/// took 0.3 s (`assignee = …`, `resolved > -30d`, `sla = "en retard"`…)
/// and 4.2 s (`text ~ "mot de passe"`) at 1,000,000 tickets, against 3 and
/// 28 ms for plans made for the values (docs/performance.md).
#[tokio::test]
async fn postgresql_plans_each_query_language_statement_for_its_values() {
    let app = TestApp::new(guichet_testkit::Backend::Postgres).await;
    let options = guichet_app::demo::DemoOptions { establishments: 3, tickets: 600, ..Default::default() };
    app.app.load_demo(&options).await.unwrap();
    let f = app.fixture().await;
    let school = app.establishment_id(&f.uai_a).await;
    let mut conn = app.app.db.conn().await.unwrap();
    // The connection ran the fixture's statements before: only those the
    // lists add count, and only those over tickets (a name's lookup is
    // planned alike for any name).
    let over_tickets = "%FROM tickets t%";
    let before = TestApp::generic_plans(&mut conn, over_tickets).await;
    let shapes = [
        "establishment = {uai} AND resolved IS EMPTY ORDER BY updated DESC",
        "assignee IS EMPTY ORDER BY created DESC",
        "text ~ \"mot de passe\" ORDER BY updated DESC",
        "statut = nouveau ORDER BY created",
        "priority = critical ORDER BY created DESC",
        "assignee = {agent} AND resolved IS EMPTY ORDER BY due",
        "assignee = {agent} ORDER BY updated DESC",
        "channel = email AND created > -7d ORDER BY created DESC",
        "type = evolution ORDER BY priority DESC, updated DESC",
        "sla = \"en retard\" ORDER BY due",
        "due < now() AND resolved IS EMPTY ORDER BY due",
        "resolved > -30d ORDER BY resolved DESC",
        "created >= startOfWeek() AND tier = support ORDER BY updated DESC",
        "title ~ imprimante ORDER BY updated DESC",
    ];
    for _ in 0..8 {
        for shape in shapes {
            let q = shape.replace("{uai}", &f.uai_a).replace("{agent}", "claire@desk.test");
            let (desk, sort) = app.desk_query(&mut conn, &q).await;
            let scope =
                guichet_domain::actor::TicketScope::Establishments(vec![guichet_domain::ids::EstablishmentId(school)]);
            let school = guichet_store::tickets::TicketFilter { scope, ..desk.clone() };
            for filter in [&desk, &school] {
                let counting = guichet_store::tickets::Counting::UpTo(10_000);
                guichet_store::tickets::list_tickets(&mut conn, filter, &sort, 25, 0, counting).await.unwrap();
            }
        }
    }
    let generic = TestApp::generic_plans(&mut conn, over_tickets).await;
    let lists: Vec<String> = generic.into_iter().filter(|sql| !before.contains(sql)).collect();
    assert!(lists.is_empty(), "statements planned once for any values: {lists:#?}");
}

/// A ticket read by its number (every ticket page reads it nine times, and
/// every change once) has one plan whatever the number, the primary key's:
/// planned each time at 1,000,000 tickets it cost 3.3 ms of planning for
/// 0.3 of execution, and the ticket page went from 5 to 20 ms.
#[tokio::test]
async fn postgresql_keeps_the_read_of_a_ticket_by_its_number_prepared() {
    let app = TestApp::new(guichet_testkit::Backend::Postgres).await;
    let f = app.fixture().await;
    let mut keys = Vec::new();
    for title in ["Imprimante", "Messagerie", "Cahier de textes"] {
        let body = json!({"title": title, "establishment": f.uai_a, "requester": "admin.a@lycee-a.test"});
        keys.push(app.post("/api/v1/tickets", &f.agent, body).await.json()["key"].as_str().unwrap().to_owned());
    }
    let school = app.establishment_id(&f.uai_a).await;
    let school = guichet_domain::actor::TicketScope::Establishments(vec![guichet_domain::ids::EstablishmentId(school)]);
    let mut conn = app.app.db.conn().await.unwrap();
    let before = guichet_testkit::TestApp::ticket_reads_prepared(&mut conn).await;
    for scope in [guichet_domain::actor::TicketScope::All, school] {
        for key in &keys {
            let id = guichet_domain::ids::TicketId(key.rsplit('-').next().unwrap().parse().unwrap());
            let ticket = guichet_store::tickets::find_ticket(&mut conn, id, &scope).await.unwrap();
            assert_eq!(ticket.ticket.id, id);
        }
    }
    assert_eq!(
        guichet_testkit::TestApp::ticket_reads_prepared(&mut conn).await - before,
        6,
        "the reads by number, kept prepared"
    );
}

/// A user comes with their phones and establishments in one statement:
/// every authenticated request reads its user, and a list of users read
/// two more statements per user.
#[tokio::test]
async fn postgresql_reads_a_user_with_their_phones_and_establishments_in_one_statement() {
    let app = TestApp::new(guichet_testkit::Backend::Postgres).await;
    let f = app.fixture().await;
    let op = app.app.operator();
    let school = app.establishment_id(&f.uai_a).await;
    let new = guichet_domain::user::NewUser::parse(
        "deux.lycees@ac-test.test",
        "Proviseure de deux lycées",
        guichet_domain::user::Role::Requester,
        None,
        &["06 12 34 56 78".into(), "+33 1 44 55 66 77".into()],
        &[f.uai_b.clone(), f.uai_a.clone()],
    )
    .unwrap();
    let id = app.app.create_user(&op, new, None).await.unwrap().id;
    let school_b = app.establishment_id(&f.uai_b).await;
    let mut conn = app.app.db.conn().await.unwrap();
    let user = guichet_store::users::find_user(&mut conn, id).await.unwrap();
    assert_eq!(user.phones, ["0144556677", "0612345678"]);
    let mut both = vec![school, school_b];
    both.sort();
    assert_eq!(user.establishments.iter().map(|e| e.0).collect::<Vec<_>>(), both);
    let filter = guichet_store::users::UserFilter::default();
    let (users, total) = guichet_store::users::list_users(&mut conn, &filter, 50, 0).await.unwrap();
    assert_eq!(users.len() as i64, total);
    let agent = users.iter().find(|u| u.email.as_str() == "claire@desk.test").unwrap();
    assert!(agent.establishments.is_empty());
    let requester = users.iter().find(|u| u.email.as_str() == "admin.a@lycee-a.test").unwrap();
    assert_eq!(requester.establishments.iter().map(|e| e.0).collect::<Vec<_>>(), [school]);
    assert_eq!(users.iter().find(|u| u.id == id).unwrap(), &user);
    let guichet_store::db::Raw::Postgres(c) = conn.raw() else { panic!("a PostgreSQL connection") };
    let sql = "SELECT statement FROM pg_prepared_statements \
               WHERE (statement LIKE '%FROM user_phones WHERE user_id = $1%' \
               OR statement LIKE '%FROM user_establishments WHERE user_id = $1%') \
               AND statement NOT LIKE '%pg_prepared_statements%'";
    let apart: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *c).await.unwrap();
    assert!(apart.is_empty(), "phones or establishments read apart: {apart:#?}");
}
