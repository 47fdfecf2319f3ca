//! Running Guichet for years, on both backends: a request's id follows it
//! into the mail it queues, and what an operator's commands rely on.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use guichet_testkit::{per_backend_test, TestApp};

async fn app_with_mail(backend: guichet_testkit::Backend) -> TestApp {
    let mail = guichet_app::notify::MailSettings { notifications: true, ..Default::default() };
    let settings = guichet_app::Settings { mail, attachment_max_bytes: 64 * 1024, ..Default::default() };
    TestApp::with_settings(backend, settings).await
}

/// Files a ticket as `token` with the header `X-Request-Id: id` (when given);
/// returns the answer's request id and the ticket's key.
async fn file_with_request_id(app: &TestApp, token: &str, id: Option<&str>, uai: &str) -> (String, String) {
    let body = serde_json::json!({"title": "Cahier de textes vide", "establishment": uai});
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/tickets")
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json");
    if let Some(id) = id {
        request = request.header("X-Request-Id", id);
    }
    let r = app.send(request.body(Body::from(body.to_string())).unwrap()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
    let answered = r.headers.get("x-request-id").unwrap().to_str().unwrap().to_owned();
    (answered, r.json()["key"].as_str().unwrap().to_owned())
}

async fn queued_request_ids(app: &TestApp, key: &str) -> Vec<Option<String>> {
    let number: i64 = key.rsplit_once('-').unwrap().1.parse().unwrap();
    let mut conn = app.app.db.conn().await.unwrap();
    let sql = "SELECT request_id FROM outbox WHERE ticket_id = $1 ORDER BY id";
    guichet_store::on_conn!(conn, |c| sqlx::query_scalar::<_, Option<String>>(sql)
        .bind(number)
        .fetch_all(&mut *c)
        .await)
    .unwrap()
}

per_backend_test!(a_request_id_follows_the_request_into_the_mail_it_queues, |backend| async move {
    let app = app_with_mail(backend).await;
    let f = app.fixture().await;
    let (answered, key) = file_with_request_id(&app, &f.requester_a, Some("desk-42.a_b"), &f.uai_a).await;
    assert_eq!(answered, "desk-42.a_b", "a proxy's plain id is kept and answered");
    let queued = queued_request_ids(&app, &key).await;
    assert!(!queued.is_empty(), "the acknowledgment is queued");
    assert!(queued.iter().all(|id| id.as_deref() == Some("desk-42.a_b")), "{queued:?}");
});

per_backend_test!(a_request_without_a_plain_id_gets_a_new_one, |backend| async move {
    let app = app_with_mail(backend).await;
    let f = app.fixture().await;
    let (first, _) = file_with_request_id(&app, &f.requester_a, None, &f.uai_a).await;
    let (second, _) = file_with_request_id(&app, &f.requester_a, None, &f.uai_a).await;
    assert_eq!(first.len(), 32);
    assert_ne!(first, second, "each request has its own id");
    // What could forge or garble a log line is not taken: spaces, quotes,
    // control characters, braces, non-ASCII, overlong.
    let long = "a".repeat(65);
    for forged in ["two words", "x\"}{\"level\":\"ERROR", "tab\there", "é-accent", long.as_str()] {
        let (answered, key) = file_with_request_id(&app, &f.requester_a, Some(forged), &f.uai_a).await;
        assert_ne!(answered, forged);
        assert_eq!(answered.len(), 32, "{forged:?} gave {answered:?}");
        let queued = queued_request_ids(&app, &key).await;
        assert!(queued.iter().all(|id| id.as_deref() == Some(answered.as_str())), "{queued:?}");
    }
});

async fn keys_for(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let r = app.get(&format!("/api/v1/tickets?q={q}&per_page=100"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    let mut keys: Vec<String> =
        r.json()["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap().to_owned()).collect();
    keys.sort();
    keys
}

per_backend_test!(a_schools_open_tickets_are_found_whichever_index_drives_the_query, |backend| async move {
    let app = TestApp::new(backend).await;
    let f = app.fixture().await;
    let open_a = format!("establishment = {} AND resolved IS EMPTY ORDER BY updated DESC", f.uai_a);
    assert_eq!(keys_for(&app, &f.agent, &open_a).await, vec![f.ticket_a.clone()]);
    // By name, by a list, negated, or beside another condition: the same tickets as before pinning.
    assert_eq!(
        keys_for(&app, &f.agent, "école = \"Lycée Henri Wallon\" AND resolved IS EMPTY").await,
        vec![f.ticket_a.clone()]
    );
    let both = format!("establishment IN ({}, {}) AND resolved IS EMPTY", f.uai_a, f.uai_b);
    assert_eq!(keys_for(&app, &f.agent, &both).await.len(), 2);
    let not_a = format!("establishment != {} AND resolved IS EMPTY", f.uai_a);
    assert_eq!(keys_for(&app, &f.agent, &not_a).await, vec![f.ticket_b.clone()]);
    let either = format!("establishment = {} OR resolved IS EMPTY", f.uai_a);
    assert_eq!(keys_for(&app, &f.agent, &either).await.len(), 2);
    assert!(keys_for(&app, &f.agent, "establishment = 0999999Z AND resolved IS EMPTY").await.is_empty());
    // Resolved, it leaves the school's open tickets.
    let r = app
        .patch(
            &format!("/api/v1/tickets/{}", f.ticket_a),
            &f.agent,
            serde_json::json!({"status": "resolved", "resolution": "fixed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    assert!(keys_for(&app, &f.agent, &open_a).await.is_empty());
    let resolved_a = format!("establishment = {} AND resolved IS NOT EMPTY", f.uai_a);
    assert_eq!(keys_for(&app, &f.agent, &resolved_a).await, vec![f.ticket_a.clone()]);
    // A school asking the same sees its own only.
    let open_b = format!("establishment = {} AND resolved IS EMPTY", f.uai_b);
    assert!(keys_for(&app, &f.requester_a, &open_b).await.is_empty());
});

per_backend_test!(
    a_request_that_waits_too_long_for_a_database_connection_is_told_busy_not_internal_error,
    |backend| async move {
        let migrated = guichet_testkit::TestDb::new(backend).await;
        let options = guichet_store::DbOptions {
            pool_size: 1,
            acquire_timeout: std::time::Duration::from_millis(200),
            ..guichet_store::DbOptions::default()
        };
        let db = guichet_store::Db::connect_with(&migrated.url, &options).await.unwrap();
        // Every connection a request may take (SQLite: its eight readers).
        let mut held = Vec::new();
        let err = loop {
            match db.conn().await {
                Ok(conn) => held.push(conn),
                Err(e) => break e,
            }
            assert!(held.len() <= 8, "the pool never ran out");
        };
        assert!(matches!(err, guichet_store::StoreError::Busy), "{err:?}");
        let answered = guichet_app::AppError::from(err);
        assert!(matches!(answered, guichet_app::AppError::Busy { retry_after: 1 }), "{answered:?}");
        // Once a connection is back, the next request gets it.
        held.pop();
        assert!(db.conn().await.is_ok());
    }
);
