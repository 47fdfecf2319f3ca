//! `/tokens`: API tokens — one's own, or anyone's for an administrator.
//! A token's secret is shown once, when it is made; only its hash is kept.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{Auth, Json, Query};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use guichet_domain::ids::{TokenId, UserId};
use guichet_store::tokens::TokenRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    /// The user the token acts as.
    pub user_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// To the hour.
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        Self {
            id: t.id.0,
            user_id: t.user.0,
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewTokenView {
    #[serde(flatten)]
    pub record: TokenView,
    /// The secret, shown this once: `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// What the token is for (a script, an integration).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Days it lasts (default: the configured `token_days`, one year).
    #[schema(minimum = 1, maximum = 1830)]
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    /// Another user's tokens (administrators); without it, one's own.
    pub user: Option<i64>,
    /// Every user's tokens (administrators).
    #[serde(default)]
    pub all: bool,
}

/// API tokens: the caller's own, or (administrators) a user's or everyone's.
#[utoipa::path(get, path = "/tokens", tag = "directory", params(TokenQuery),
    responses((status = 200, body = Vec<TokenView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<TokenQuery>,
) -> ApiResult<axum::Json<Vec<TokenView>>> {
    let whose = match (q.user, q.all) {
        (Some(id), _) => Some(UserId(id)),
        (None, true) => None,
        (None, false) => Some(p.user.id),
    };
    let list = state.app.list_tokens(&p, whose).await?;
    Ok(axum::Json(list.into_iter().map(TokenView::from).collect()))
}

/// Makes a token for the caller; its secret is in this answer only.
#[utoipa::path(post, path = "/tokens", tag = "directory", request_body = CreateTokenRequest,
    responses((status = 201, body = NewTokenView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(body): Json<CreateTokenRequest>,
) -> ApiResult<(StatusCode, axum::Json<NewTokenView>)> {
    let (record, token) = state.app.create_own_token(&p, &body.name, body.expires_in_days).await?;
    Ok((StatusCode::CREATED, axum::Json(NewTokenView { record: record.into(), token })))
}

/// Revokes a token at once: one's own, or anyone's for an administrator.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "directory", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(State(state): State<AppState>, Auth(p): Auth, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    state.app.revoke_token(&p, TokenId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
