//! Knowledge-base pages: the articles a reader may see (searched), one
//! article, writing and editing (the desk), an article from a resolved
//! ticket, "this answered my question", and the public HELP page's suggestions.

use super::i18n::t;
use super::session::{CsrfForm, Viewer, Visitor};
use super::tickets::{choices, when, Choice};
use super::{back, error_text, render, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use guichet_app::kb::ArticleInput;
use guichet_app::{App, AppError};
use guichet_domain::kb::Audience;
use guichet_domain::user::Language;
use guichet_store::kb::Article;
use serde::Deserialize;

pub struct ArticleRow {
    pub id: i64,
    pub title: String,
    /// The text in the reader's language (the composer inserts it).
    pub body: String,
    pub audience: String,
    pub published: bool,
    pub updated: String,
}

fn audience_label(code: &str, lang: Language) -> &'static str {
    match code {
        "public" => t(lang, "audience_public"),
        "schools" => t(lang, "audience_schools"),
        _ => t(lang, "audience_desk"),
    }
}

/// The article's title and text in the reader's language, when it has it.
fn localized(a: &Article, lang: Language) -> (String, String) {
    match (lang, &a.title_en, &a.body_en) {
        (Language::En, Some(title), Some(body)) => (title.clone(), body.clone()),
        _ => (a.title.clone(), a.body.clone()),
    }
}

pub fn row(a: &Article, lang: Language) -> ArticleRow {
    let (title, body) = localized(a, lang);
    ArticleRow {
        id: a.id,
        title,
        body,
        audience: audience_label(&a.audience, lang).to_owned(),
        published: a.published,
        updated: when(a.updated_at, lang),
    }
}

#[derive(Template)]
#[template(path = "kb_list.html")]
struct ListPage {
    layout: Layout,
    q: String,
    rows: Vec<ArticleRow>,
    staff: bool,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let text = q.q.unwrap_or_default();
    let (rows, error) = match state.app.kb_articles(Some(viewer.principal()), Some(&text), 50).await {
        Ok(list) => (list.iter().map(|a| row(a, lang)).collect(), None),
        Err(e @ AppError::Validation(_)) => (Vec::new(), Some(error_text(&e, lang))),
        Err(e) => return Err(PageError::app(e, lang)),
    };
    let page = ListPage {
        layout: Layout::new(&viewer, t(lang, "knowledge_base")),
        q: text,
        rows,
        staff: viewer.is_staff(),
        error,
    };
    render(&page, lang)
}

#[derive(Template)]
#[template(path = "kb_article.html")]
struct ArticlePage {
    layout: Layout,
    id: i64,
    title: String,
    body_html: String,
    audience: String,
    published: bool,
    updated: String,
    updated_by: String,
    deflections: i64,
    staff: bool,
    source: Option<String>,
    versions: Vec<(i64, String, String)>,
}

pub async fn article(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let app = &state.app;
    let p = viewer.principal();
    let err = |e| PageError::app(e, lang);
    let a = app.kb_article(Some(p), id).await.map_err(err)?;
    let staff = viewer.is_staff();
    let versions = if staff {
        app.article_versions(p, id)
            .await
            .map_err(err)?
            .into_iter()
            .map(|v| (v.version, when(v.edited_at, lang), v.edited_by.unwrap_or_default()))
            .collect()
    } else {
        Vec::new()
    };
    let (title, body) = localized(&a, lang);
    let page = ArticlePage {
        layout: Layout::new(&viewer, title.clone()),
        id: a.id,
        title,
        body_html: guichet_app::render::markdown_to_safe_html(&body),
        audience: audience_label(&a.audience, lang).to_owned(),
        published: a.published,
        updated: when(a.updated_at, lang),
        updated_by: a.updated_by.clone().unwrap_or_default(),
        deflections: a.deflections,
        staff,
        source: a.source_ticket_id.filter(|_| staff).map(|id| app.key(guichet_domain::ids::TicketId(id))),
        versions,
    };
    render(&page, lang)
}

#[derive(Template)]
#[template(path = "kb_edit.html")]
struct EditPage {
    layout: Layout,
    action: String,
    version: i64,
    from_ticket: String,
    title: String,
    body: String,
    title_en: String,
    body_en: String,
    keywords: String,
    published: bool,
    audiences: Vec<Choice>,
    categories: Vec<Choice>,
    error: Option<String>,
}

async fn edit_page(
    app: &App,
    viewer: &Viewer,
    action: String,
    version: i64,
    from_ticket: String,
    input: ArticleInput,
    error: Option<String>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let err = |e| PageError::app(e, lang);
    let audiences = choices(
        Audience::ALL.iter().map(|a| (a.as_str().to_owned(), audience_label(a.as_str(), lang).to_owned())),
        &input.audience,
    );
    let mut categories = vec![(String::new(), "—".to_owned())];
    categories.extend(
        app.categories()
            .await
            .map_err(err)?
            .into_iter()
            .filter(|c| c.active)
            .map(|c| (c.code.clone(), if lang == Language::En { c.label_en } else { c.label_fr })),
    );
    let title = if version == 0 { t(lang, "new_article") } else { t(lang, "edit_article") };
    let page = EditPage {
        layout: Layout::new(viewer, title),
        action,
        version,
        from_ticket,
        title: input.title,
        body: input.body,
        title_en: input.title_en.unwrap_or_default(),
        body_en: input.body_en.unwrap_or_default(),
        keywords: input.keywords,
        published: input.published,
        audiences,
        categories: choices(categories, input.category.as_deref().unwrap_or_default()),
        error,
    };
    let refused = page.error.is_some();
    let mut response = render(&page, lang)?;
    if refused {
        *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct NewQuery {
    /// A resolved ticket to write the article from.
    from: Option<String>,
}

pub async fn new_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<NewQuery>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let p = viewer.principal();
    if !viewer.is_staff() {
        return Err(PageError::app(AppError::Forbidden("the desk writes the knowledge base".into()), lang));
    }
    let from = q.from.unwrap_or_default();
    let input = if from.trim().is_empty() {
        ArticleInput { audience: Audience::Schools.as_str().to_owned(), ..ArticleInput::default() }
    } else {
        state.app.article_draft_from_ticket(p, &from).await.map_err(|e| PageError::app(e, lang))?
    };
    edit_page(&state.app, &viewer, "/kb/new".into(), 0, from, input, None).await
}

pub async fn edit(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> Result<Response, PageError> {
    let lang = viewer.lang;
    if !viewer.is_staff() {
        return Err(PageError::app(AppError::Forbidden("the desk writes the knowledge base".into()), lang));
    }
    let a = state.app.kb_article(Some(viewer.principal()), id).await.map_err(|e| PageError::app(e, lang))?;
    let categories = state.app.categories().await.map_err(|e| PageError::app(e, lang))?;
    let category = a.category_id.and_then(|c| categories.iter().find(|k| k.id == c)).map(|k| k.code.clone());
    let input = ArticleInput {
        title: a.title,
        body: a.body,
        title_en: a.title_en,
        body_en: a.body_en,
        audience: a.audience,
        category,
        keywords: a.keywords,
        published: a.published,
    };
    edit_page(&state.app, &viewer, format!("/kb/{id}/edit"), a.version, String::new(), input, None).await
}

#[derive(Debug, Deserialize)]
pub struct ArticleForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    title_en: String,
    #[serde(default)]
    body_en: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    keywords: String,
    published: Option<String>,
    #[serde(default)]
    from_ticket: String,
    version: Option<i64>,
}

impl ArticleForm {
    fn input(&self) -> ArticleInput {
        ArticleInput {
            title: self.title.clone(),
            body: self.body.clone(),
            title_en: Some(self.title_en.clone()),
            body_en: Some(self.body_en.clone()),
            audience: self.audience.clone(),
            category: Some(self.category.clone()),
            keywords: self.keywords.clone(),
            published: self.published.is_some(),
        }
    }
}

fn saved(lang: Language) -> &'static str {
    if lang == Language::En {
        "Saved."
    } else {
        "Enregistré."
    }
}

pub async fn create(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<ArticleForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    match state.app.create_article(viewer.principal(), form.input(), Some(&form.from_ticket)).await {
        Ok(a) => Ok(back(&viewer, &format!("/kb/{}", a.id), Some(saved(lang)), None)),
        Err(e @ (AppError::Validation(_) | AppError::Conflict { .. })) => {
            // The text typed is shown again with the reason, not lost.
            let message = Some(error_text(&e, lang));
            edit_page(&state.app, &viewer, "/kb/new".into(), 0, form.from_ticket.clone(), form.input(), message).await
        }
        Err(e) => Err(PageError::app(e, lang)),
    }
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<ArticleForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let version = form.version.unwrap_or_default();
    match state.app.update_article(viewer.principal(), id, form.input(), version).await {
        Ok(a) => Ok(back(&viewer, &format!("/kb/{}", a.id), Some(saved(lang)), None)),
        Err(e @ (AppError::Validation(_) | AppError::Stale { .. })) => {
            let message = Some(error_text(&e, lang));
            edit_page(&state.app, &viewer, format!("/kb/{id}/edit"), version, String::new(), form.input(), message)
                .await
        }
        Err(e) => Err(PageError::app(e, lang)),
    }
}

#[derive(Debug, Deserialize)]
pub struct AnsweredForm {
    #[serde(default)]
    establishment: String,
}

/// "This answered my question" on the portal: counted, nothing filed.
pub async fn answered(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<AnsweredForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    match state.app.article_answered(Some(viewer.principal()), id, Some(&form.establishment)).await {
        Ok(()) => Ok(back(&viewer, "/tickets", Some(t(lang, "deflected")), None)),
        Err(e @ AppError::Validation(_)) => Ok(back(&viewer, "/tickets/new", None, Some(&error_text(&e, lang)))),
        Err(e) => Err(PageError::app(e, lang)),
    }
}

#[derive(Template)]
#[template(path = "kb_suggestions.html")]
pub struct Suggestions {
    pub layout: Layout,
    pub articles: Vec<ArticleRow>,
    /// Where "this answered my question" posts: the portal's or the HELP page's.
    pub answered_base: String,
}

#[derive(Debug, Deserialize)]
pub struct HelpArticlesQuery {
    #[serde(default)]
    text: String,
    lang: Option<String>,
}

/// The HELP page's suggestions: public articles like the message being typed.
pub async fn help_suggestions(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(uai): Path<String>,
    Query(q): Query<HelpArticlesQuery>,
) -> Result<Response, PageError> {
    let lang = q.lang.as_deref().and_then(|l| Language::parse(l).ok()).unwrap_or(visitor.lang);
    let articles = match state.app.suggest_articles(None, &q.text).await {
        Ok(list) => list,
        Err(AppError::Validation(_)) => Vec::new(),
        Err(e) => return Err(PageError::app(e, lang)),
    };
    let page = Suggestions {
        layout: Layout::anonymous(lang, "", &visitor.path),
        articles: articles.iter().map(|a| row(a, lang)).collect(),
        answered_base: format!("/aide/{}/articles", uai.trim()),
    };
    render(&page, lang)
}

/// A public article read from a HELP page.
pub async fn help_article(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((uai, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let a = state.app.kb_article(None, id).await.map_err(|e| PageError::app(e, lang))?;
    let (title, body) = localized(&a, lang);
    let page = HelpArticlePage {
        layout: Layout::anonymous(lang, title.clone(), &visitor.path),
        title,
        body_html: guichet_app::render::markdown_to_safe_html(&body),
        back: format!("/aide/{}", uai.trim()),
        answered: format!("/aide/{}/articles/{id}/answered", uai.trim()),
    };
    render(&page, lang)
}

#[derive(Template)]
#[template(path = "kb_help_article.html")]
struct HelpArticlePage {
    layout: Layout,
    title: String,
    body_html: String,
    back: String,
    answered: String,
}

#[derive(Template)]
#[template(path = "kb_answered.html")]
struct AnsweredPage {
    layout: Layout,
    back: String,
}

/// "This answered my question" on a HELP page: counted, nothing sent.
pub async fn help_answered(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((uai, id)): Path<(String, i64)>,
    Form(_): Form<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    state.app.article_answered(None, id, Some(&uai)).await.map_err(|e| PageError::app(e, lang))?;
    let page = AnsweredPage {
        layout: Layout::anonymous(lang, t(lang, "deflected"), &visitor.path),
        back: format!("/aide/{}", uai.trim()),
    };
    render(&page, lang)
}
