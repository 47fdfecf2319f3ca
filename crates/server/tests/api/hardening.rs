//! The API against hostile input: every query, date and number gives a
//! result or a 4xx naming what is wrong, never a panic or a 5xx.

use super::*;

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

backend_test!(queries_that_once_dropped_the_connection_get_a_position_and_a_4xx, |app| async move {
    let f = app.fixture().await;
    let deep = format!("{}status = new", "NOT ".repeat(600));
    for q in [
        "created = é",
        "created > 99999999999d",
        "created > startOfDay(9223372036854775807)",
        "created > startOfMonth(-9223372036854775808)",
        "updated < -9223372036854775808m",
        deep.as_str(),
    ] {
        for token in [&f.requester_a, &f.agent] {
            let r = app.get(&format!("/api/v1/tickets?q={}", encode(q)), token).await;
            assert!(r.status.is_client_error(), "{q}: {}", r.status);
            assert_eq!(r.json()["error"]["field"], "q", "{q}: {:?}", r.json());
            let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(message.contains("column"), "{q}: {message}");
        }
        let search = app.get(&format!("/api/v1/reports/volume?q={}", encode(q)), &f.agent).await;
        assert!(search.status.is_client_error(), "{q}: {}", search.status);
    }
});

backend_test!(report_dates_at_the_limits_of_the_calendar_are_refused, |app| async move {
    let f = app.fixture().await;
    for (from, to) in [("262143-12-31", "262143-12-31"), ("0001-01-01", "0001-01-02"), ("2026-01-01", "99999-01-01")] {
        for report in ["volume", "breakdown?dimension=type", "times", "sla", "escalations"] {
            let sep = if report.contains('?') { '&' } else { '?' };
            let r = app.get(&format!("/api/v1/reports/{report}{sep}from={from}&to={to}"), &f.agent).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{report} {from}..{to}: {:?}", r.json());
        }
    }
});

backend_test!(service_level_targets_too_large_to_count_are_refused, |app| async move {
    let f = app.fixture().await;
    let mut policy = app.get("/api/v1/sla-policy", &f.agent).await.json();
    policy["targets"][0]["resolution_minutes"] = json!(150_000_000_000_000_i64);
    let r = app.request(Method::PUT, "/api/v1/sla-policy", Some(&f.admin), Some(policy.clone())).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("targets")));
    policy["targets"][0]["resolution_minutes"] = json!(600);
    policy["close_resolved_after_days"] = json!(4_000_000_000_u32);
    let r = app.request(Method::PUT, "/api/v1/sla-policy", Some(&f.admin), Some(policy)).await;
    assert_eq!(r.json()["error"]["field"], "close_resolved_after_days");
    // Tickets are still written and the clock job still runs.
    let path = format!("/api/v1/tickets/{}", f.ticket_a);
    assert_eq!(app.patch(&path, &f.agent, json!({"priority": "high"})).await.status, StatusCode::OK);
    app.app.refresh_due_slas(app.app.now(), 100).await.unwrap();
});

backend_test!(api_tokens_expire_and_are_listed_and_revoked_by_their_owner_or_an_administrator, |app| async move {
    let f = app.fixture().await;
    let made =
        app.post("/api/v1/tokens", &f.requester_a, json!({"name": "export nocturne", "expires_in_days": 2})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.json());
    let secret = made.json()["token"].as_str().unwrap().to_owned();
    let id = made.json()["id"].as_i64().unwrap();
    assert_eq!(app.get("/api/v1/me", &secret).await.status, StatusCode::OK);
    // Listed with its dates, never with its secret.
    let list = app.get("/api/v1/tokens", &f.requester_a).await;
    assert!(!String::from_utf8_lossy(&list.bytes).contains(&secret));
    let mine = list.json().as_array().unwrap().iter().find(|t| t["id"] == id).unwrap().clone();
    assert_eq!(mine["name"], "export nocturne");
    assert!(mine["last_used_at"].is_string(), "{mine}");
    // Bad input.
    for body in
        [json!({"name": ""}), json!({"name": "x", "expires_in_days": 0}), json!({"name": "x", "expires_in_days": 4000})]
    {
        assert_eq!(app.post("/api/v1/tokens", &f.requester_a, body).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Other people's tokens: hidden from non-administrators, revocable by administrators.
    assert_eq!(
        app.get(&format!("/api/v1/tokens?user={}", f.agent_id), &f.requester_a).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get("/api/v1/tokens?all=true", &f.requester_b).await.status, StatusCode::FORBIDDEN);
    let r = app.request(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&f.requester_b), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/me", &secret).await.status, StatusCode::OK);
    let all = app.get("/api/v1/tokens?all=true", &f.admin).await.json();
    assert!(all.as_array().unwrap().len() >= 6);
    // Expired after its days.
    app.clock.advance(chrono::Duration::days(3));
    assert_eq!(app.get("/api/v1/me", &secret).await.status, StatusCode::UNAUTHORIZED);
    // Revoked: at once.
    let other = app.post("/api/v1/tokens", &f.requester_a, json!({"name": "autre"})).await.json();
    let (other_secret, other_id) = (other["token"].as_str().unwrap().to_owned(), other["id"].as_i64().unwrap());
    let expires: chrono::DateTime<chrono::Utc> = other["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((expires - app.app.now()).num_days() >= 364, "a year by default");
    let r = app.request(Method::DELETE, &format!("/api/v1/tokens/{other_id}"), Some(&f.admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", &other_secret).await.status, StatusCode::UNAUTHORIZED);
});

backend_test!(tickets_of_two_schools_are_never_merged_and_their_keys_never_shown_across, |app| async move {
    let f = app.fixture().await;
    let (a, b) = (&f.ticket_a, &f.ticket_b);
    let before_a = app.get(&format!("/api/v1/tickets/{a}/comments"), &f.agent).await.json();
    let status_b = app.get(&format!("/api/v1/tickets/{b}"), &f.agent).await.json()["status"].clone();
    let refused = app.post(&format!("/api/v1/tickets/{b}/merge"), &f.agent, json!({"into": a})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json()["error"]["field"], "into");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("link them instead"), "{:?}", refused.json());
    assert_eq!(app.get(&format!("/api/v1/tickets/{a}/comments"), &f.agent).await.json(), before_a, "nothing moved");
    assert_eq!(app.get(&format!("/api/v1/tickets/{b}"), &f.agent).await.json()["status"], status_b);
    // A link across schools stays, but neither school reads the other's key in its history.
    let r = app.post(&format!("/api/v1/tickets/{a}/links"), &f.agent, json!({"kind": "relates_to", "other": b})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let r = app.post(&format!("/api/v1/tickets/{b}/links"), &f.agent, json!({"kind": "blocks", "other": a})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    for (token, own, other) in [(&f.requester_a, a, b), (&f.requester_b, b, a)] {
        let history = app.get(&format!("/api/v1/tickets/{own}/history"), token).await;
        assert!(!String::from_utf8_lossy(&history.bytes).contains(other.as_str()), "{own} shows {other}");
        let page = app
            .sign_in(if own == a { "admin.a@lycee-a.test" } else { "admin.b@lycee-b.test" }, "correct horse battery")
            .await;
        let html =
            String::from_utf8_lossy(&app.page(&page.cookie, &format!("/tickets/{own}")).await.bytes).into_owned();
        assert!(!html.contains(other.as_str()), "{own}'s page shows {other}");
    }
    let desk = app.get(&format!("/api/v1/tickets/{a}/history"), &f.agent).await;
    assert!(String::from_utf8_lossy(&desk.bytes).contains(b.as_str()), "the desk sees the link");
});

backend_test!(
    concurrent_changes_of_different_fields_are_all_kept_and_the_clock_job_overwrites_none,
    |app| async move {
        let f = app.fixture().await;
        let mut keys = Vec::new();
        for i in 0..10 {
            let r = app
                .post(
                    "/api/v1/tickets",
                    &f.requester_a,
                    json!({"title": format!("Demande {i}"), "establishment": f.uai_a}),
                )
                .await;
            keys.push(r.json()["key"].as_str().unwrap().to_owned());
        }
        let patches: Vec<(String, serde_json::Value)> = keys
            .iter()
            .flat_map(|key| {
                [
                    json!({"title": format!("{key} renommée")}),
                    json!({"priority": "high"}),
                    json!({"category": "mail"}),
                    json!({"assignee": f.agent_id}),
                    json!({"reproduction": {"browser": "Firefox 128"}}),
                ]
                .into_iter()
                .map(move |body| (key.clone(), body))
            })
            .collect();
        assert_eq!(patches.len(), 50);
        let clock = async {
            for _ in 0..5 {
                app.app.refresh_due_slas(app.app.now(), 100).await.unwrap();
            }
        };
        let all = futures_util::future::join_all(patches.iter().map(|(key, body)| {
            let app = &app;
            let agent = f.agent.clone();
            async move { app.patch(&format!("/api/v1/tickets/{key}"), &agent, body.clone()).await.status }
        }));
        let (statuses, ()) = tokio::join!(all, clock);
        assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
        for key in &keys {
            let t = app.get(&format!("/api/v1/tickets/{key}"), &f.agent).await.json();
            assert_eq!(t["title"], format!("{key} renommée"));
            assert_eq!(t["priority"], "high", "{key}");
            assert_eq!(t["category"], "mail", "{key}");
            assert_eq!(t["assignee"]["id"], f.agent_id, "{key}");
            assert_eq!(t["reproduction"]["browser"], "Firefox 128", "{key}");
            assert_eq!(t["version"], 6, "{key}: five changes, each counted once");
        }
    }
);

backend_test!(a_change_based_on_an_old_version_is_refused_with_412, |app| async move {
    let f = app.fixture().await;
    let path = format!("/api/v1/tickets/{}", f.ticket_a);
    let read = app.get(&path, &f.agent).await;
    let etag = read.headers.get("etag").unwrap().to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"v{}\"", read.json()["version"]));
    let with = |tag: &str, body: serde_json::Value| {
        let (app, path, agent, tag) = (&app, path.clone(), f.agent.clone(), tag.to_owned());
        async move {
            let request = axum::http::Request::builder()
                .method(Method::PATCH)
                .uri(&path)
                .header("authorization", format!("Bearer {agent}"))
                .header("content-type", "application/json")
                .header("if-match", tag)
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            app.send(request).await
        }
    };
    let first = with(&etag, json!({"priority": "high"})).await;
    assert_eq!(first.status, StatusCode::OK);
    let newer = first.headers.get("etag").unwrap().to_str().unwrap().to_owned();
    assert_ne!(newer, etag);
    // A second agent, still on the old version, would undo the first change.
    let stale = with(&etag, json!({"priority": "low"})).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.json()["error"]["code"], "precondition_failed");
    assert_eq!(app.get(&path, &f.agent).await.json()["priority"], "high");
    assert_eq!(with("W/\"v0\"", json!({"priority": "low"})).await.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(with("yesterday", json!({"priority": "low"})).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(with("*", json!({"priority": "normal"})).await.status, StatusCode::OK);
    // The page's form carries its version too, and says what happened.
    let s = app.sign_in("claire@desk.test", "correct horse battery").await;
    let html =
        String::from_utf8_lossy(&app.page(&s.cookie, &format!("/tickets/{}", f.ticket_a)).await.bytes).into_owned();
    let version = html.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    app.patch(&path, &f.agent, json!({"priority": "critical"})).await;
    let r = app
        .form(
            &s,
            &format!("/tickets/{}/update", f.ticket_a),
            &[("action", "fields"), ("priority", "low"), ("version", &version)],
            None,
        )
        .await;
    let location = r.headers.get("location").unwrap().to_str().unwrap().to_owned();
    assert!(location.contains("error="), "{location}");
    assert_eq!(app.get(&path, &f.agent).await.json()["priority"], "critical", "the other change stands");
});

/// A request whose body never ends: it holds its place in the server.
fn endless_upload(
    path: &str,
    token: &str,
) -> (axum::http::Request<axum::body::Body>, tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>) {
    let (send, receive) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let stream = futures_util::stream::unfold(receive, |mut r| async move { r.recv().await.map(|chunk| (chunk, r)) });
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body(axum::body::Body::from_stream(stream))
        .unwrap();
    (request, send)
}

backend_test!(a_server_at_its_limits_answers_503_or_408_instead_of_queueing, |app| async move {
    use tower::ServiceExt;
    let f = app.fixture().await;
    let web = guichet_web::WebConfig {
        max_in_flight: 1,
        request_timeout: std::time::Duration::from_millis(500),
        ..guichet_web::WebConfig::default()
    };
    let router = guichet_web::router(app.app.clone(), web);
    let (slow, sender) = endless_upload(&format!("/api/v1/tickets/{}/attachments", f.ticket_a), &f.requester_a);
    sender
        .send(Ok(b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n".to_vec()))
        .await
        .unwrap();
    let held = tokio::spawn(router.clone().oneshot(slow));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let request = axum::http::Request::builder()
        .uri("/api/v1/me")
        .header("authorization", format!("Bearer {}", f.agent))
        .body(axum::body::Body::empty())
        .unwrap();
    let busy = router.clone().oneshot(request).await.unwrap();
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.headers().get("retry-after").unwrap(), "1");
    // The slow upload is cut at the request timeout, and frees its place.
    let timed_out = held.await.unwrap().unwrap();
    assert_eq!(timed_out.status(), StatusCode::REQUEST_TIMEOUT);
    drop(sender);
    let request = axum::http::Request::builder().uri("/healthz").body(axum::body::Body::empty()).unwrap();
    assert_eq!(router.clone().oneshot(request).await.unwrap().status(), StatusCode::OK);
    let files = app.get(&format!("/api/v1/tickets/{}/attachments", f.ticket_a), &f.agent).await.json();
    assert!(files.as_array().unwrap().iter().all(|f| f["filename"] != "a.png"), "nothing half-written");
});

backend_test!(the_public_help_form_buffers_no_more_than_one_screenshot, |app| async move {
    let _f = app.fixture().await;
    let limit = app.app.settings.attachment_max_bytes;
    let big = vec![b'x'; limit + 128 * 1024];
    let r = app
        .public_form(
            "/aide/0750655E",
            &[("profile", "pupil"), ("name", "Léa"), ("message", "Je n'arrive plus à me connecter")],
            Some(("screenshot", "capture.png", &big)),
            "203.0.113.5",
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A huge text field is cut at the same bound, before it is all in memory.
    let long = "é".repeat(limit);
    let r = app
        .public_form(
            "/aide/0750655E",
            &[("profile", "pupil"), ("name", "Léa"), ("message", &long)],
            None,
            "203.0.113.5",
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let tickets = app.get("/api/v1/tickets?per_page=100", &_f.agent).await.json();
    assert!(tickets["items"].as_array().unwrap().iter().all(|t| t["channel"] != "help_form"));
});

backend_test!(saved_filters_per_user_are_bounded, |app| async move {
    let f = app.fixture().await;
    let limit = app.app.settings.saved_filters_per_user;
    for i in 0..limit {
        let r = app
            .post("/api/v1/filters", &f.requester_a, json!({"name": format!("filtre {i}"), "query": "status = new"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{i}: {:?}", r.json());
    }
    let r = app.post("/api/v1/filters", &f.requester_a, json!({"name": "un de trop", "query": "status = new"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("delete one"));
    // Another user is not held back.
    let r = app.post("/api/v1/filters", &f.requester_b, json!({"name": "le mien", "query": "status = new"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
});

/// A value bound to a statement that [`rows_read`] explains.
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

/// The rows a statement reads from each table, from the database's own
/// account: PostgreSQL's `EXPLAIN ANALYZE` (rows returned and removed by
/// filters, times loops, per table), and for SQLite, whose plan gives no
/// counts, every table it scans whole, as `usize::MAX` rows.
async fn rows_read(app: &TestApp, sql: &str, binds: &[Bind<'_>]) -> std::collections::BTreeMap<String, usize> {
    fn walk(node: &serde_json::Value, out: &mut std::collections::BTreeMap<String, usize>) {
        if let Some(table) = node["Relation Name"].as_str() {
            let count = |key: &str| node[key].as_f64().unwrap_or(0.0);
            let rows =
                (count("Actual Rows") + count("Rows Removed by Filter") + count("Rows Removed by Index Recheck"))
                    * count("Actual Loops");
            *out.entry(table.to_owned()).or_default() += rows as usize;
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            walk(child, out);
        }
    }
    let mut out = std::collections::BTreeMap::new();
    let mut conn = app.db.db.conn().await.unwrap();
    match conn.raw() {
        guichet_store::db::Raw::Postgres(c) => {
            let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}");
            let mut q = sqlx::query_scalar::<_, serde_json::Value>(&explain);
            for b in binds {
                q = match b {
                    Bind::Text(t) => q.bind(*t),
                    Bind::Int(i) => q.bind(*i),
                };
            }
            let plan = q.fetch_one(&mut *c).await.unwrap();
            walk(&plan[0]["Plan"], &mut out);
        }
        guichet_store::db::Raw::Sqlite(c) => {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
            for b in binds {
                q = match b {
                    Bind::Text(t) => q.bind(*t),
                    Bind::Int(i) => q.bind(*i),
                };
            }
            for (_, _, _, detail) in q.fetch_all(&mut *c).await.unwrap() {
                if let Some(scanned) = detail.strip_prefix("SCAN ") {
                    let table = scanned.split_whitespace().next().unwrap_or_default();
                    out.insert(table.to_owned(), usize::MAX);
                }
            }
        }
    }
    out
}

backend_test!(a_token_or_a_name_is_looked_up_without_reading_every_person_or_school, |app| async move {
    let f = app.fixture().await;
    // A region's directory: thousands of people, and schools under thirty
    // départements of a hundred schools each.
    let uai = |i: &str| format!("'9' || SUBSTR(CAST(1000000 + {i} AS TEXT), 2) || 'X'");
    app.execute(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30) \
         INSERT INTO establishments (uai, name, town, parent_id, created_at) \
         SELECT {}, 'Collège numéro ' || i, 'Ville', NULL, 0 FROM n",
        uai("i")
    ))
    .await;
    app.execute(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 31 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
         INSERT INTO establishments (uai, name, town, parent_id, created_at) \
         SELECT {}, 'Collège numéro ' || i, 'Ville', (SELECT id FROM establishments WHERE uai = {}), 0 FROM n",
        uai("i"),
        uai("(i % 30) + 1")
    ))
    .await;
    app.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
         INSERT INTO users (email, name, role, language, disabled, created_at) \
         SELECT 'parent' || i || '@ecole.test', 'Parent ' || i, 'requester', 'fr', FALSE, 0 FROM n",
    )
    .await;
    if app.backend == guichet_testkit::Backend::Postgres {
        app.execute("ANALYZE").await;
    }
    let secret = app.app.create_token("parent3000@ecole.test", "dernier").await.unwrap();
    assert_eq!(app.get("/api/v1/me", &secret).await.status, StatusCode::OK);
    let q = "/api/v1/tickets?q=establishment%20%3D%20%22coll%C3%A8ge%20num%C3%A9ro%202999%22%20OR%20requester%20%3D%20%22parent%202999%22";
    assert_eq!(app.get(q, &f.agent).await.status, StatusCode::OK);

    let hash = guichet_app::auth::hash_token(&secret);
    let now = app.app.now().timestamp_micros();
    app.execute(&format!(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at) \
         SELECT 'session-of-the-last', id, 'csrf', {now}, {now} + 3600000000, {now} FROM users \
         WHERE email = 'parent3000@ecole.test'"
    ))
    .await;
    // A school's name in each form the database's LOWER may leave it in.
    let school_forms = guichet_store::fold::lower_forms("collège numéro 2999");
    let school = [Bind::Text("COLLÈGE NUMÉRO 2999")].into_iter().chain(school_forms.iter().map(|f| Bind::Text(f)));
    let lookups = [
        (
            "the token behind an API request",
            guichet_store::tokens::live_token(app.app.db.backend()),
            vec![Bind::Text(&hash), Bind::Int(now)],
        ),
        (
            "the session behind a page",
            guichet_store::sessions::live_session(app.app.db.backend()),
            vec![Bind::Text("session-of-the-last"), Bind::Int(now), Bind::Int(now - 60_000_000)],
        ),
        (
            "a person named in a query",
            guichet_store::users::users_named(1),
            vec![Bind::Text("parent 2999"), Bind::Text("parent 2999")],
        ),
        (
            "a school named in a query",
            guichet_store::tickets::establishments_named(school_forms.len()),
            school.collect(),
        ),
    ];
    for (what, sql, binds) in lookups {
        let read = rows_read(&app, &sql, &binds).await;
        // A few rows of the small tables (a credential is sought once per
        // part of it the request needs), never the directory's thousands.
        assert!(read.values().all(|rows| *rows <= 20), "{what} reads {read:?}");
    }
    // A parent still stands for its schools, by UAI or by name.
    let mut conn = app.db.db.conn().await.unwrap();
    for name in ["9000001X", "Collège numéro 1"] {
        let ids = guichet_store::tickets::establishment_ids_named(&mut conn, &[name.to_owned()]).await.unwrap();
        assert_eq!(ids.len(), 100, "{name}: the département and its 99 schools");
    }
    drop(conn);

    // Still refused once its owner is disabled.
    app.execute("UPDATE users SET disabled = TRUE WHERE email = 'parent3000@ecole.test'").await;
    assert_eq!(app.get("/api/v1/me", &secret).await.status, StatusCode::UNAUTHORIZED);
});
