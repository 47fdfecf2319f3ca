//! Level 2 in Jira, over Jira's REST API (v2 or v3) and its webhooks: the
//! sync job that creates the issues escalations queue, and the receiver of
//! Jira's webhook (`POST /hooks/jira`).

use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use guichet_app::jira::{JiraEvent, JiraOutcome};
use guichet_app::{App, AppError};
use guichet_domain::ids::TicketId;
use guichet_store::jira::JiraIssue;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::watch;

/// How to reach Jira's REST API.
#[derive(Debug, Clone)]
pub struct JiraClient {
    base: String,
    /// `Basic base64(email:token)` (Jira Cloud) or `Bearer token` (Data Center).
    authorization: String,
    project: String,
    issue_type: String,
    /// 2: text fields; 3: Atlassian Document Format.
    api_version: u8,
    http: reqwest::Client,
}

impl JiraClient {
    pub fn new(
        base: &str,
        user: Option<&str>,
        token: &str,
        project: &str,
        issue_type: &str,
        api_version: u8,
    ) -> Result<Self, String> {
        use base64::Engine;
        let authorization = match user {
            Some(user) => {
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}")))
            }
            None => format!("Bearer {token}"),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Guichet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            authorization,
            project: project.to_owned(),
            issue_type: issue_type.to_owned(),
            api_version: if api_version == 3 { 3 } else { 2 },
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/rest/api/{}/{path}", self.base, self.api_version)
    }

    /// A text as the API version wants it: itself (v2), or a document of
    /// one paragraph per line (v3).
    fn text(&self, text: &str) -> Value {
        if self.api_version == 2 {
            return json!(text);
        }
        let paragraphs: Vec<Value> = text
            .lines()
            .map(|l| {
                if l.is_empty() {
                    json!({"type": "paragraph", "content": []})
                } else {
                    json!({"type": "paragraph", "content": [{"type": "text", "text": l}]})
                }
            })
            .collect();
        json!({"type": "doc", "version": 1, "content": paragraphs})
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let response = request
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("Jira does not answer: {e}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let excerpt: String = body.chars().take(300).collect();
            return Err(format!("Jira answered {status}: {excerpt}"));
        }
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// The issue an earlier try created, if its answer was lost.
    async fn find(&self, label: &str) -> Result<Option<String>, String> {
        let jql = format!("project = \"{}\" AND labels = \"{label}\"", self.project);
        let found =
            self.send(self.http.get(self.url("search")).query(&[("jql", jql.as_str()), ("fields", "key")])).await?;
        Ok(found["issues"][0]["key"].as_str().map(str::to_owned))
    }

    async fn create(&self, summary: &str, description: &str, label: &str) -> Result<String, String> {
        let body = json!({"fields": {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": summary,
            "description": self.text(description),
            "labels": ["guichet", label],
        }});
        let created = self.send(self.http.post(self.url("issue")).json(&body)).await?;
        created["key"].as_str().map(str::to_owned).ok_or_else(|| "Jira's answer has no issue key".into())
    }

    async fn comment(&self, key: &str, text: &str) -> Result<(), String> {
        let body = json!({"body": self.text(text)});
        self.send(self.http.post(self.url(&format!("issue/{key}/comment"))).json(&body)).await.map(|_| ())
    }

    async fn attach(&self, key: &str, filename: &str, mime: &str, content: Vec<u8>) -> Result<(), String> {
        let part = reqwest::multipart::Part::bytes(content)
            .file_name(filename.to_owned())
            .mime_str(mime)
            .map_err(|e| e.to_string())?;
        let form = reqwest::multipart::Form::new().part("file", part);
        // Jira refuses uploads without this header (its XSRF check).
        let request =
            self.http.post(self.url(&format!("issue/{key}/attachments"))).header("X-Atlassian-Token", "no-check");
        self.send(request.multipart(form)).await.map(|_| ())
    }

    async fn link_back(&self, key: &str, url: &str, title: &str) -> Result<(), String> {
        let body = json!({"globalId": url, "object": {"url": url, "title": title}});
        self.send(self.http.post(self.url(&format!("issue/{key}/remotelink"))).json(&body)).await.map(|_| ())
    }

    /// Creates (or, escalated again, comments on) every issue due; returns
    /// how many were done.
    pub async fn sync_due(&self, app: &App) -> Result<usize, AppError> {
        let mut done = 0;
        loop {
            let due = app.claim_jira_due(10, chrono::Duration::minutes(5)).await?;
            if due.is_empty() {
                return Ok(done);
            }
            for issue in due {
                match self.sync(app, &issue).await {
                    Ok((key, new)) => {
                        app.jira_created(&issue, &key, new).await?;
                        done += 1;
                    }
                    Err(e) => app.jira_failed(&issue, &e).await?,
                }
            }
        }
    }

    async fn sync(&self, app: &App, issue: &JiraIssue) -> Result<(String, bool), String> {
        let jira = app.jira_principal().await.map_err(|e| e.to_string())?;
        let key = app.key(TicketId(issue.ticket_id));
        if let Some(existing) = &issue.issue_key {
            let text = format!("Transmis de nouveau par le niveau 1 ({key}) :\n\n{}", issue.summary);
            self.comment(existing, &text).await?;
            return Ok((existing.clone(), false));
        }
        let label = format!("guichet-{key}");
        // A try whose answer was lost may have created it: never twice.
        if issue.attempts > 0 {
            if let Some(found) = self.find(&label).await? {
                return Ok((found, true));
            }
        }
        let details = app.get_ticket(&jira, &key).await.map_err(|e| e.to_string())?;
        let t = &details.record.ticket;
        let url = app.ticket_url(&key);
        let mut text = format!(
            "Demande {key} ({}, {}) transmise par le niveau 1.\n{url}\n\nRésumé de la transmission :\n{}\n\nDemande :\n{}",
            details.record.establishment_name, details.record.establishment_uai, issue.summary, t.description
        );
        let r = &t.reproduction;
        let lines = [
            ("Service", r.service.clone()),
            ("Profil", r.profile.map(|p| p.to_string())),
            ("Navigateur", r.browser.clone()),
            ("Adresse", r.url.clone()),
            ("Étapes", r.steps.clone()),
            ("Résultat", r.outcome.map(|o| o.to_string())),
        ];
        let repro: Vec<String> = lines.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} : {v}"))).collect();
        if !repro.is_empty() {
            text.push_str(&format!("\n\nReproduction :\n{}", repro.join("\n")));
        }
        let created = self.create(&format!("[{key}] {}", t.title), &text, &label).await?;
        for attachment in app.list_attachments(&jira, &key).await.map_err(|e| e.to_string())? {
            if !attachment.mime.starts_with("image/") {
                continue;
            }
            let (a, content) = app.get_attachment(&jira, attachment.id).await.map_err(|e| e.to_string())?;
            self.attach(&created, &a.filename, &a.mime, content).await?;
        }
        self.link_back(&created, &url, &format!("Guichet {key}")).await?;
        Ok((created, true))
    }
}

/// Syncs every few seconds until `stop` turns true.
pub async fn run(app: App, client: JiraClient, period: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        match client.sync_due(&app).await {
            Ok(_) => app.tasks.succeeded("jira", app.now()),
            Err(e) => {
                app.tasks.failed("jira", &e.to_string(), app.now());
                tracing::warn!(error = %e, "Jira sync failed; retrying");
            }
        }
    }
}

/// Reads Jira's webhook: a comment added (`comment_created`) or an issue
/// moved to a status of the "done" category (`jira:issue_updated`).
pub fn parse_event(body: &Value) -> Option<JiraEvent> {
    let issue = body["issue"]["key"].as_str()?.to_owned();
    match body["webhookEvent"].as_str()? {
        "comment_created" => {
            let comment = &body["comment"];
            let text = match &comment["body"] {
                Value::String(s) => s.clone(),
                // v3: a document; its text nodes, a line per paragraph.
                doc => doc["content"]
                    .as_array()
                    .map(|paragraphs| {
                        paragraphs
                            .iter()
                            .map(|p| {
                                p["content"].as_array().map_or(String::new(), |nodes| {
                                    nodes.iter().filter_map(|n| n["text"].as_str()).collect::<String>()
                                })
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default(),
            };
            Some(JiraEvent::Comment {
                issue,
                id: comment["id"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| comment["id"].as_i64().map(|i| i.to_string()))?,
                author: comment["author"]["displayName"].as_str().unwrap_or("Jira").to_owned(),
                body: text,
            })
        }
        "jira:issue_updated" => {
            let status = &body["issue"]["fields"]["status"];
            let items = body["changelog"]["items"].as_array()?;
            let change = items.iter().find(|i| i["field"] == "status")?;
            if status["statusCategory"]["key"] == "done" {
                return Some(JiraEvent::Done {
                    issue,
                    status: status["name"].as_str().unwrap_or("Done").to_owned(),
                    resolution: body["issue"]["fields"]["resolution"]["name"].as_str().map(str::to_owned),
                });
            }
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            Some(JiraEvent::Moved {
                issue,
                id: body["changelog"]["id"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| body["timestamp"].to_string()),
                author: body["user"]["displayName"].as_str().unwrap_or("Jira").to_owned(),
                from: text(&change["fromString"]),
                to: text(&change["toString"]),
            })
        }
        _ => None,
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct HookQuery {
    secret: Option<String>,
}

/// `POST /hooks/jira`: checks the secret (Jira Cloud's `X-Hub-Signature:
/// sha256=<HMAC of the body>`, or `?secret=` for Jira Data Center), then
/// copies the comment or hands the ticket back.
pub async fn receive(
    State(state): State<AppState>,
    Query(query): Query<HookQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(settings) = state.app.settings.jira.clone() else {
        return error(StatusCode::NOT_FOUND, "not_found", "no Jira is configured");
    };
    let signed = headers
        .get("x-hub-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
        .is_some_and(|sig| {
            use hmac::Mac;
            hmac::Hmac::<sha2::Sha256>::new_from_slice(settings.webhook_secret.as_bytes())
                .map(|mut mac| {
                    mac.update(&body);
                    mac.verify_slice(&sig).is_ok()
                })
                .unwrap_or(false)
        });
    let in_url = query.secret.as_deref().is_some_and(|s| guichet_app::auth::same_secret(s, &settings.webhook_secret));
    if !signed && !in_url {
        return error(StatusCode::UNAUTHORIZED, "unauthenticated", "the webhook's signature or secret does not match");
    }
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "malformed_json", "the body is not JSON");
    };
    let Some(event) = parse_event(&json) else {
        return (
            StatusCode::ACCEPTED,
            axum::Json(json!({"outcome": "ignored", "why": "not an event Guichet follows"})),
        )
            .into_response();
    };
    match state.app.jira_event(event).await {
        Ok(JiraOutcome::Noted { ticket }) => {
            (StatusCode::OK, axum::Json(json!({"outcome": "noted", "ticket": ticket}))).into_response()
        }
        Ok(JiraOutcome::HandedBack { ticket }) => {
            (StatusCode::OK, axum::Json(json!({"outcome": "handed_back", "ticket": ticket}))).into_response()
        }
        Ok(JiraOutcome::Ignored(why)) => {
            (StatusCode::ACCEPTED, axum::Json(json!({"outcome": "ignored", "why": why}))).into_response()
        }
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message, "field": null}}))).into_response()
}
