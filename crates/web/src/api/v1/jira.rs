//! `/tickets/{key}/jira`: the level-2 Jira issue of an escalated ticket.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Path};
use crate::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct JiraIssueView {
    /// `N2-7`, once created.
    pub key: Option<String>,
    /// Where it is shown in Jira.
    pub url: Option<String>,
    /// `pending` (to be created or commented on), `created`, `failed` (given up; see `last_error`).
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The ticket's issue in level 2's Jira (the desk only); `null` when it has none.
#[utoipa::path(get, path = "/tickets/{key}/jira", tag = "tickets", params(("key" = String, Path)),
    responses((status = 200, body = Option<JiraIssueView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_jira_issue(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(key): Path<String>,
) -> ApiResult<axum::Json<Option<JiraIssueView>>> {
    let issue = state.app.jira_issue(&p, &key).await?;
    Ok(axum::Json(issue.map(|i| JiraIssueView {
        url: i.issue_key.as_deref().and_then(|k| state.app.jira_issue_url(k)),
        key: i.issue_key,
        state: i.state,
        attempts: i.attempts,
        last_error: i.last_error,
        created_at: i.created_at,
    })))
}
