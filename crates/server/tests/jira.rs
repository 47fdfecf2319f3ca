//! Level 2 in Jira on SQLite and PostgreSQL, against a local stand-in for
//! the few Jira REST endpoints used (written from Jira's REST API v2
//! documentation) and Jira webhook payloads recorded in Jira's format
//! (tests/fixtures/jira): escalate → issue with the summary, the
//! reproduction and the screenshots → Jira comment → internal note → Jira
//! done → hand-back; and an issue created once when Jira's answer was lost.
#![allow(clippy::unwrap_used)]

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use guichet_testkit::{json, Backend, TestApp, PNG};
use guichet_web::jira::JiraClient;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use guichet_testkit::per_backend_test as jira_test;

const SECRET: &str = "le secret du webhook";
const AUTH: &str = "Basic Ym90QGVudC5mcjp0b2tlbi1uMg=="; // bot@ent.fr:token-n2

#[derive(Default)]
struct Jira {
    issues: Vec<Value>,
    attachments: Vec<(String, String)>,
    links: Vec<(String, String)>,
    comments: Vec<(String, String)>,
    /// Create the next issue, then answer 502 as if the answer was lost.
    lose_next_answer: bool,
}

type Shared = Arc<Mutex<Jira>>;

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(AUTH)
}

async fn create_issue(
    State(j): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> (StatusCode, axum::Json<Value>) {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"errorMessages": ["unauthorized"]})));
    }
    let mut j = j.lock().unwrap();
    let key = format!("N2-{}", j.issues.len() + 1);
    let mut issue = body["fields"].clone();
    issue["key"] = json!(key);
    j.issues.push(issue);
    if std::mem::take(&mut j.lose_next_answer) {
        return (StatusCode::BAD_GATEWAY, axum::Json(json!({})));
    }
    (StatusCode::CREATED, axum::Json(json!({"id": "10021", "key": key, "self": format!("/rest/api/2/issue/{key}")})))
}

async fn search(
    State(j): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({})));
    }
    let jql = q.get("jql").cloned().unwrap_or_default();
    let label = jql.split("labels = \"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default().to_owned();
    let j = j.lock().unwrap();
    let found: Vec<Value> = j
        .issues
        .iter()
        .filter(|i| i["labels"].as_array().is_some_and(|l| l.iter().any(|x| x == label.as_str())))
        .map(|i| json!({"key": i["key"]}))
        .collect();
    (StatusCode::OK, axum::Json(json!({"total": found.len(), "issues": found})))
}

async fn attach(
    State(j): State<Shared>,
    Path(key): Path<String>,
    headers: HeaderMap,
    mut form: Multipart,
) -> StatusCode {
    if !authorized(&headers) || headers.get("x-atlassian-token").and_then(|v| v.to_str().ok()) != Some("no-check") {
        return StatusCode::FORBIDDEN;
    }
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.file_name().unwrap_or_default().to_owned();
        assert_eq!(field.name(), Some("file"));
        assert!(!field.bytes().await.unwrap().is_empty());
        j.lock().unwrap().attachments.push((key.clone(), name));
    }
    StatusCode::OK
}

async fn remote_link(
    State(j): State<Shared>,
    Path(key): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> StatusCode {
    j.lock().unwrap().links.push((key, body["object"]["url"].as_str().unwrap_or_default().to_owned()));
    StatusCode::CREATED
}

async fn comment(State(j): State<Shared>, Path(key): Path<String>, axum::Json(body): axum::Json<Value>) -> StatusCode {
    j.lock().unwrap().comments.push((key, body["body"].as_str().unwrap_or_default().to_owned()));
    StatusCode::CREATED
}

async fn stand_in() -> (Shared, String) {
    let state: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/rest/api/2/issue", post(create_issue))
        .route("/rest/api/2/search", get(search))
        .route("/rest/api/2/issue/{key}/attachments", post(attach))
        .route("/rest/api/2/issue/{key}/remotelink", post(remote_link))
        .route("/rest/api/2/issue/{key}/comment", post(comment))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (state, url)
}

async fn with_jira(backend: Backend, url: &str) -> TestApp {
    let mut settings = guichet_testkit::mail::settings("support");
    settings.jira = Some(guichet_app::jira::JiraSettings {
        url: url.to_owned(),
        webhook_secret: SECRET.into(),
        retry: guichet_domain::webhook::RetryPolicy::default(),
    });
    TestApp::with_settings(backend, settings).await
}

fn client(url: &str) -> JiraClient {
    JiraClient::new(url, Some("bot@ent.fr"), "token-n2", "N2", "Bug", 2).unwrap()
}

fn payload(name: &str, issue: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jira").join(name);
    std::fs::read_to_string(path).unwrap().replace("ISSUE_KEY", issue).into_bytes()
}

fn signature(body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn hook(app: &TestApp, body: Vec<u8>, signature: Option<String>, query: &str) -> guichet_testkit::Reply {
    let mut request = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/hooks/jira{query}"))
        .header("content-type", "application/json");
    if let Some(s) = signature {
        request = request.header("x-hub-signature", s);
    }
    app.send(request.body(axum::body::Body::from(body)).unwrap()).await
}

async fn new_ticket(app: &TestApp, token: &str, uai: &str) -> String {
    let body = json!({"title": "Cahier de textes vide", "description": "Depuis ce matin", "establishment": uai});
    let r = app.post("/api/v1/tickets", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED);
    r.json()["key"].as_str().unwrap().to_owned()
}

async fn notes(app: &TestApp, key: &str, token: &str) -> Vec<String> {
    let list = app.get(&format!("/api/v1/tickets/{key}/comments"), token).await.json();
    list.as_array().unwrap().iter().map(|c| c["body"].as_str().unwrap().to_owned()).collect()
}

jira_test!(an_escalation_opens_a_jira_issue_whose_comments_and_resolution_come_back, |backend| async move {
    let (jira, url) = stand_in().await;
    let app = with_jira(backend, &url).await;
    let f = app.fixture().await;
    // The fixture's own escalations go first.
    client(&url).sync_due(&app.app).await.unwrap();
    let before = jira.lock().unwrap().issues.len();
    let n2 = format!("N2-{}", before + 1);
    let key = new_ticket(&app, &f.requester_a, &f.uai_a).await;
    let path = format!("/api/v1/tickets/{key}");
    let r = app.upload(&format!("{path}/attachments"), &f.agent, "ecran.png", PNG, &[]).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let repro =
        json!({"reproduction": {"service": "Cahier de textes", "browser": "Firefox 128", "steps": "Ouvrir la 2nde B"}});
    assert_eq!(app.patch(&path, &f.agent, repro).await.status, StatusCode::OK);
    let summary = "Vide pour toutes les classes depuis l'import de la nuit.";
    let r = app.post(&format!("{path}/escalate"), &f.agent, json!({"summary": summary})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    // Queued with the escalation; created by the sync job.
    assert_eq!(app.get(&format!("{path}/jira"), &f.agent).await.json()["state"], "pending");
    assert_eq!(client(&url).sync_due(&app.app).await.unwrap(), 1);
    {
        let j = jira.lock().unwrap();
        assert_eq!(j.issues.len(), before + 1);
        let issue = &j.issues[before];
        assert!(issue["summary"].as_str().unwrap().starts_with(&format!("[{key}] ")), "{issue}");
        assert_eq!(issue["project"]["key"], "N2");
        let description = issue["description"].as_str().unwrap();
        for part in [summary, "Firefox 128", "Ouvrir la 2nde B", &format!("https://guichet.test/tickets/{key}")] {
            assert!(description.contains(part), "{part} in {description}");
        }
        assert!(j.attachments.iter().any(|(k, name)| *k == n2 && name == "ecran.png"), "{:?}", j.attachments);
        assert!(j.links.contains(&(n2.clone(), format!("https://guichet.test/tickets/{key}"))), "{:?}", j.links);
    }
    let link = app.get(&format!("{path}/jira"), &f.agent).await.json();
    assert_eq!((link["key"].as_str(), link["state"].as_str()), (Some(n2.as_str()), Some("created")));
    assert_eq!(link["url"], format!("{url}/browse/{n2}"));
    assert!(notes(&app, &key, &f.agent).await.iter().any(|n| n.contains(&format!("Ticket Jira {n2} créé"))));
    // The school sees neither the link nor the notes.
    assert_eq!(app.get(&format!("{path}/jira"), &f.requester_a).await.status, StatusCode::FORBIDDEN);
    assert!(!notes(&app, &key, &f.requester_a).await.iter().any(|n| n.contains("Jira")));
    assert_eq!(client(&url).sync_due(&app.app).await.unwrap(), 0, "nothing twice");

    // Jira's comment comes back once, as an internal note.
    let body = payload("comment_created.json", &n2);
    let r = hook(&app, body.clone(), Some(signature(&body)), "").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["outcome"], "noted");
    assert_eq!(
        hook(&app, body.clone(), Some(signature(&body)), "").await.status,
        StatusCode::ACCEPTED,
        "sent twice by Jira"
    );
    let copied: Vec<String> =
        notes(&app, &key, &f.agent).await.into_iter().filter(|n| n.contains("Alice Martin")).collect();
    assert_eq!(copied.len(), 1);
    assert!(copied[0].contains("l'import EDT de la nuit a échoué"), "{}", copied[0]);
    assert!(!notes(&app, &key, &f.requester_a).await.iter().any(|n| n.contains("Alice Martin")));

    // A status change in Jira is told on the ticket too, once.
    let moved = payload("issue_updated_in_progress.json", &n2);
    let r = hook(&app, moved.clone(), Some(signature(&moved)), "").await;
    assert_eq!(r.json()["outcome"], "noted", "{:?}", r.json());
    hook(&app, moved.clone(), Some(signature(&moved)), "").await;
    let told: Vec<String> =
        notes(&app, &key, &f.agent).await.into_iter().filter(|n| n.contains("« To Do » → « In Progress »")).collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(app.get(&path, &f.agent).await.json()["tier"], "technical", "still at level 2");

    // Forged, altered or unsigned payloads change nothing.
    let mut altered = body.clone();
    altered.extend_from_slice(b" ");
    for (body, signature, query) in [
        (altered, Some(signature(&body)), ""),
        (body.clone(), Some("sha256=00".to_owned()), ""),
        (body.clone(), None, ""),
        (body.clone(), None, "?secret=devine"),
    ] {
        let r = hook(&app, body, signature, query).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Jira Data Center: the secret in the webhook's URL.
    let other = payload("comment_created.json", "N2-99");
    let r = hook(&app, other, None, &format!("?secret={}", SECRET.replace(' ', "%20"))).await;
    assert_eq!(
        (r.status, r.json()["outcome"].as_str()),
        (StatusCode::ACCEPTED, Some("ignored")),
        "not Guichet's issue"
    );

    // Done in Jira: handed back to level 1 with why.
    let done = payload("issue_updated_done.json", &n2);
    let r = hook(&app, done.clone(), Some(signature(&done)), "").await;
    assert_eq!(r.json()["outcome"], "handed_back", "{:?}", r.json());
    let ticket = app.get(&path, &f.agent).await.json();
    assert_eq!(ticket["tier"], "support");
    assert!(notes(&app, &key, &f.agent)
        .await
        .iter()
        .any(|n| n.contains("Rendue au niveau 1") && n.contains(&format!("Résolu dans Jira {n2}"))));
    assert_eq!(hook(&app, done.clone(), Some(signature(&done)), "").await.status, StatusCode::ACCEPTED, "already back");

    // Escalated again: the same issue gets the new summary as a comment.
    let r = app.post(&format!("{path}/escalate"), &f.agent, json!({"summary": "Revenu après le correctif."})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(client(&url).sync_due(&app.app).await.unwrap(), 1);
    let j = jira.lock().unwrap();
    assert_eq!(j.issues.len(), before + 1);
    assert!(j.comments.iter().any(|(k, c)| *k == n2 && c.contains("Revenu après le correctif.")));
});

jira_test!(an_issue_whose_creation_answer_was_lost_is_found_not_created_twice, |backend| async move {
    let (jira, url) = stand_in().await;
    let app = with_jira(backend, &url).await;
    let f = app.fixture().await;
    client(&url).sync_due(&app.app).await.unwrap();
    let before = jira.lock().unwrap().issues.len();
    jira.lock().unwrap().lose_next_answer = true;
    let path = format!("/api/v1/tickets/{}", new_ticket(&app, &f.requester_b, &f.uai_b).await);
    assert_eq!(
        app.post(&format!("{path}/escalate"), &f.agent, json!({"summary": "Panne de messagerie pour tout le lycée"}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(client(&url).sync_due(&app.app).await.unwrap(), 0);
    let link = app.get(&format!("{path}/jira"), &f.agent).await.json();
    assert_eq!(link["state"], "pending");
    assert!(link["last_error"].as_str().unwrap().contains("502"), "{link}");
    app.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(client(&url).sync_due(&app.app).await.unwrap(), 1);
    assert_eq!(jira.lock().unwrap().issues.len(), before + 1, "found by its label, not created again");
    assert_eq!(app.get(&format!("{path}/jira"), &f.agent).await.json()["key"], format!("N2-{}", before + 1));
    // A wrong token is an error the desk can read, kept for the next try.
    let wrong = JiraClient::new(&url, Some("bot@ent.fr"), "wrong", "N2", "Bug", 2).unwrap();
    let path = format!("/api/v1/tickets/{}", new_ticket(&app, &f.requester_a, &f.uai_a).await);
    assert_eq!(
        app.post(&format!("{path}/escalate"), &f.agent, json!({"summary": "Essayé deux fois sans succès"}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(wrong.sync_due(&app.app).await.unwrap(), 0);
    assert!(app.get(&format!("{path}/jira"), &f.agent).await.json()["last_error"].as_str().unwrap().contains("401"));
});
