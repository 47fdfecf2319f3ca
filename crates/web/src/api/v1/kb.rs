//! `/kb`: the knowledge base. Every route answers within the caller's
//! audiences: a school's administrator never reads a desk-only article, nor
//! learns that one exists (404, as for an article that does not).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{Auth, Json, Query};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use guichet_app::kb::ArticleInput;
use guichet_domain::kb::Audience;
use guichet_store::kb::Article;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleView {
    pub id: i64,
    pub title: String,
    /// Markdown.
    pub body: String,
    pub title_en: Option<String>,
    pub body_en: Option<String>,
    pub audience: Audience,
    pub category_id: Option<i64>,
    /// Comma-separated.
    pub keywords: String,
    pub published: bool,
    /// Increases with each saved change; send it back to change the article.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
    /// Times it answered a question and no request was filed.
    pub deflections: i64,
    /// The request it was written from (the desk only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ticket: Option<String>,
}

fn view(state: &AppState, a: Article, staff: bool) -> ArticleView {
    ArticleView {
        id: a.id,
        audience: Audience::parse(&a.audience).unwrap_or(Audience::Desk),
        source_ticket: a.source_ticket_id.filter(|_| staff).map(|id| state.app.key(guichet_domain::ids::TicketId(id))),
        title: a.title,
        body: a.body,
        title_en: a.title_en,
        body_en: a.body_en,
        category_id: a.category_id,
        keywords: a.keywords,
        published: a.published,
        version: a.version,
        updated_at: a.updated_at,
        updated_by: a.updated_by,
        deflections: a.deflections,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ArticlesQuery {
    /// Words to search for (the tickets' search syntax); the most recent articles without.
    #[param(max_length = 500)]
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// The articles the caller may read: searched, or the most recently changed.
#[utoipa::path(get, path = "/kb/articles", tag = "knowledge base", params(ArticlesQuery),
    responses((status = 200, body = Vec<ArticleView>), (status = 422, body = ErrorBody)))]
pub async fn list_articles(
    State(state): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ArticlesQuery>,
) -> ApiResult<axum::Json<Vec<ArticleView>>> {
    let limit = q.limit.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return Err(guichet_app::AppError::field("limit", "`limit` is between 1 and 100").into());
    }
    let list = state.app.kb_articles(Some(&p), q.q.as_deref(), limit).await?;
    let staff = p.actor.role.is_staff();
    Ok(axum::Json(list.into_iter().map(|a| view(&state, a, staff)).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleRequest {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    /// Markdown.
    #[schema(min_length = 1, max_length = 100000, pattern = "\\S")]
    pub body: String,
    #[schema(max_length = 200)]
    pub title_en: Option<String>,
    #[schema(max_length = 100000)]
    pub body_en: Option<String>,
    pub audience: Audience,
    /// A category code.
    pub category: Option<String>,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub keywords: String,
    #[serde(default)]
    pub published: bool,
    /// Creating: the request it is written from. Changing: the version it was made on (required).
    pub from_ticket: Option<String>,
    pub version: Option<i64>,
}

impl ArticleRequest {
    fn input(self) -> ArticleInput {
        ArticleInput {
            title: self.title,
            body: self.body,
            title_en: self.title_en,
            body_en: self.body_en,
            audience: self.audience.as_str().to_owned(),
            category: self.category,
            keywords: self.keywords,
            published: self.published,
        }
    }
}

/// Write an article (the desk).
#[utoipa::path(post, path = "/kb/articles", tag = "knowledge base", request_body = ArticleRequest,
    responses((status = 201, body = ArticleView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_article(
    State(state): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<ArticleRequest>,
) -> ApiResult<(StatusCode, axum::Json<ArticleView>)> {
    let from = req.from_ticket.clone();
    let article = state.app.create_article(&p, req.input(), from.as_deref()).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, article, true))))
}

/// One article the caller may read.
#[utoipa::path(get, path = "/kb/articles/{id}", tag = "knowledge base", params(("id" = i64, Path)),
    responses((status = 200, body = ArticleView), (status = 404, body = ErrorBody)))]
pub async fn get_article(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ArticleView>> {
    let article = state.app.kb_article(Some(&p), id).await?;
    Ok(axum::Json(view(&state, article, p.actor.role.is_staff())))
}

/// Save a new version of an article (the desk), made on `version`.
#[utoipa::path(put, path = "/kb/articles/{id}", tag = "knowledge base", request_body = ArticleRequest,
    params(("id" = i64, Path)),
    responses((status = 200, body = ArticleView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_article(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<ArticleRequest>,
) -> ApiResult<axum::Json<ArticleView>> {
    let Some(version) = req.version else {
        return Err(guichet_app::AppError::field("version", "send the version the change was made on").into());
    };
    let article = state.app.update_article(&p, id, req.input(), version).await?;
    Ok(axum::Json(view(&state, article, true)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: i64,
    pub title: String,
    pub audience: String,
    pub published: bool,
    pub edited_by: Option<String>,
    pub edited_at: DateTime<Utc>,
}

/// Every saved version of an article, newest first (the desk).
#[utoipa::path(get, path = "/kb/articles/{id}/versions", tag = "knowledge base", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<VersionView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Vec<VersionView>>> {
    let versions = state.app.article_versions(&p, id).await?;
    Ok(axum::Json(
        versions
            .into_iter()
            .map(|v| VersionView {
                version: v.version,
                title: v.title,
                audience: v.audience,
                published: v.published,
                edited_by: v.edited_by,
                edited_at: v.edited_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnsweredRequest {
    /// The school the question was about (one of the caller's).
    #[schema(pattern = "^$|^[0-9]{7}[A-Za-z]$")]
    pub establishment: Option<String>,
}

/// "This answered my question": counted for the article, no request filed.
#[utoipa::path(post, path = "/kb/articles/{id}/answered", tag = "knowledge base", request_body = AnsweredRequest,
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn answered(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
    Json(req): Json<AnsweredRequest>,
) -> ApiResult<StatusCode> {
    state.app.article_answered(Some(&p), id, req.establishment.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
