//! The knowledge base: articles read by their audience only (a school never
//! sees a desk-only article, through any route or suggestion), written and
//! versioned by the desk, suggested while a request is typed, and the
//! requests they spared the desk (deflections).

use crate::auth::Principal;
use crate::{App, AppError};
use chrono::{DateTime, Utc};
use guichet_domain::actor::TicketScope;
use guichet_domain::kb::{ArticleText, Audience};
use guichet_domain::search::SearchQuery;
use guichet_domain::ticket::Ticket;
use guichet_store::kb::{Article, ArticleFields, Readable, Version};
use guichet_store::{Conn, StoreError};

/// An article as a writer sends it.
#[derive(Debug, Clone, Default)]
pub struct ArticleInput {
    pub title: String,
    pub body: String,
    pub title_en: Option<String>,
    pub body_en: Option<String>,
    pub audience: String,
    /// A category code.
    pub category: Option<String>,
    pub keywords: String,
    pub published: bool,
}

/// How many articles a suggestion shows.
pub const SUGGESTIONS: i64 = 3;

fn not_found(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::NotFound("article"),
        other => other.into(),
    }
}

/// What a reader may read: `None` is an anonymous visitor of a HELP page.
pub fn readable(p: Option<&Principal>) -> Readable {
    let role = p.map(|p| p.actor.role);
    Readable {
        audiences: Audience::readable_by(role).iter().map(|a| a.as_str().to_owned()).collect(),
        drafts: role.is_some_and(|r| r.is_staff()),
    }
}

fn may_read(r: &Readable, a: &Article) -> bool {
    r.audiences.contains(&a.audience) && (a.published || r.drafts)
}

impl App {
    fn writer(p: &Principal) -> Result<(), AppError> {
        if p.actor.role.is_staff() {
            Ok(())
        } else {
            Err(AppError::Forbidden("the desk writes the knowledge base".into()))
        }
    }

    /// The articles the reader may see: matching `search` when given, the most recent otherwise.
    pub async fn kb_articles(
        &self,
        p: Option<&Principal>,
        search: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Article>, AppError> {
        let r = readable(p);
        let mut conn = self.db.conn().await?;
        match search.map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => {
                let query = SearchQuery::parse(text)?;
                Ok(guichet_store::kb::search_articles(&mut conn, &query, &r, limit).await?)
            }
            None => Ok(guichet_store::kb::list_articles(&mut conn, &r, limit).await?),
        }
    }

    /// One article the reader may see; any other answers "not found".
    pub async fn kb_article(&self, p: Option<&Principal>, id: i64) -> Result<Article, AppError> {
        let mut conn = self.db.conn().await?;
        let article = guichet_store::kb::find_article(&mut conn, id).await.map_err(not_found)?;
        if may_read(&readable(p), &article) {
            Ok(article)
        } else {
            Err(AppError::NotFound("article"))
        }
    }

    async fn article_fields(&self, conn: &mut Conn, input: ArticleInput) -> Result<ArticleFields, AppError> {
        let text = ArticleText::parse(
            &input.title,
            &input.body,
            input.title_en.as_deref(),
            input.body_en.as_deref(),
            &input.keywords,
        )?;
        let audience = Audience::parse(&input.audience).map_err(|e| AppError::field("audience", e.to_string()))?;
        let category_id = match input.category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(code) => Some(
                guichet_store::categories::find_category_by_code(conn, code)
                    .await?
                    .filter(|c| c.active)
                    .ok_or_else(|| AppError::field("category", format!("unknown category `{code}`")))?
                    .id,
            ),
            None => None,
        };
        Ok(ArticleFields {
            title: text.title,
            body: text.body,
            title_en: text.title_en,
            body_en: text.body_en,
            audience: audience.as_str().to_owned(),
            category_id,
            keywords: text.keywords,
            published: input.published,
        })
    }

    /// Writes an article (the desk); `from_ticket` records the request it came from.
    pub async fn create_article(
        &self,
        p: &Principal,
        input: ArticleInput,
        from_ticket: Option<&str>,
    ) -> Result<Article, AppError> {
        Self::writer(p)?;
        let mut tx = self.db.begin().await?;
        let source = match from_ticket.map(str::trim).filter(|k| !k.is_empty()) {
            Some(key) => Some(self.visible_ticket(&mut tx, p, key).await?.ticket.id.0),
            None => None,
        };
        let fields = self.article_fields(&mut tx, input).await?;
        let id = guichet_store::kb::insert_article(&mut tx, &fields, source, p.user.id, self.now()).await?;
        let article = guichet_store::kb::find_article(&mut tx, id).await?;
        tx.commit().await?;
        Ok(article)
    }

    /// Saves a new version of an article, made on `expected_version`: a
    /// change saved meanwhile by someone else refuses this one.
    pub async fn update_article(
        &self,
        p: &Principal,
        id: i64,
        input: ArticleInput,
        expected_version: i64,
    ) -> Result<Article, AppError> {
        Self::writer(p)?;
        let mut tx = self.db.begin().await?;
        let current = guichet_store::kb::find_article(&mut tx, id).await.map_err(not_found)?;
        let fields = self.article_fields(&mut tx, input).await?;
        if !guichet_store::kb::update_article(&mut tx, id, &fields, expected_version, p.user.id, self.now()).await? {
            return Err(AppError::Stale { expected: expected_version, current: current.version });
        }
        let article = guichet_store::kb::find_article(&mut tx, id).await?;
        tx.commit().await?;
        Ok(article)
    }

    pub async fn article_versions(&self, p: &Principal, id: i64) -> Result<Vec<Version>, AppError> {
        Self::writer(p)?;
        self.kb_article(Some(p), id).await?;
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::kb::list_versions(&mut conn, id).await?)
    }

    /// Published articles the reader may see that look like a text being typed.
    pub async fn suggest_articles(&self, p: Option<&Principal>, text: &str) -> Result<Vec<Article>, AppError> {
        let Some(query) = SearchQuery::similar_to(text) else { return Ok(Vec::new()) };
        let mut r = readable(p);
        r.drafts = false;
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::kb::search_articles(&mut conn, &query, &r, SUGGESTIONS).await?)
    }

    /// Articles for the desk answering a ticket already checked visible:
    /// like its title and description.
    pub(crate) async fn articles_like(&self, p: &Principal, ticket: &Ticket) -> Result<Vec<Article>, AppError> {
        Self::writer(p)?;
        let text = format!("{} {} ", ticket.title, ticket.description);
        self.suggest_articles(Some(p), &text).await
    }

    /// A new article's text from a resolved ticket: its title, and the
    /// desk's last public reply.
    pub async fn article_draft_from_ticket(&self, p: &Principal, key: &str) -> Result<ArticleInput, AppError> {
        Self::writer(p)?;
        let mut conn = self.db.conn().await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        let comments = guichet_store::comments::list_comments(&mut conn, record.ticket.id, false).await?;
        let mut answer = None;
        for c in comments.iter().rev() {
            let author = guichet_store::users::find_user(&mut conn, c.author).await?;
            if author.role.is_staff() {
                answer = Some(c.body.clone());
                break;
            }
        }
        Ok(ArticleInput {
            title: record.ticket.title.clone(),
            body: answer.unwrap_or_default(),
            audience: Audience::Schools.as_str().to_owned(),
            category: record.ticket.category.as_ref().map(|c| c.code.clone()),
            ..ArticleInput::default()
        })
    }

    /// Records that an article answered the reader's question and no request
    /// was filed: on the portal (a school's administrator, for one of their
    /// schools) or on a school's HELP page.
    pub async fn article_answered(
        &self,
        p: Option<&Principal>,
        id: i64,
        establishment: Option<&str>,
    ) -> Result<(), AppError> {
        let article = self.kb_article(p, id).await?;
        if !article.published {
            return Err(AppError::NotFound("article"));
        }
        let mut conn = self.db.conn().await?;
        let establishment = match establishment.map(str::trim).filter(|u| !u.is_empty()) {
            Some(uai) => {
                let uai = guichet_domain::establishment::Uai::parse(uai)
                    .map_err(|_| AppError::field("establishment", format!("`{uai}` is not a valid UAI code")))?;
                let found = guichet_store::establishments::find_establishment_by_uai(&mut conn, &uai).await?;
                match (found, p) {
                    (Some(e), Some(p)) if p.actor.can_see_establishment(e.id) => Some(e.id.0),
                    (Some(e), None) => Some(e.id.0),
                    _ => return Err(AppError::field("establishment", format!("no establishment {uai} of yours"))),
                }
            }
            None => match p.map(|p| p.actor.scope()) {
                Some(TicketScope::Establishments(ids)) => ids.first().map(|e| e.0),
                _ => None,
            },
        };
        let source = if p.is_some() { "portal" } else { "help" };
        guichet_store::kb::insert_deflection(&mut conn, id, establishment, source, self.now()).await?;
        metrics::counter!("guichet_kb_deflections_total", "source" => source).increment(1);
        Ok(())
    }

    /// Deflections per article in `[start, end)`; a school's administrator
    /// counts their schools' only.
    pub async fn report_deflections(
        &self,
        p: &Principal,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<(i64, String, i64)>, AppError> {
        let mut conn = self.db.conn().await?;
        let own: Option<Vec<i64>> = match p.actor.scope() {
            TicketScope::All => None,
            TicketScope::Establishments(ids) => Some(ids.iter().map(|e| e.0).collect()),
        };
        let rows = guichet_store::kb::deflections_by_article(&mut conn, own.as_deref(), start, end).await?;
        // A school's report names only the articles it may read.
        let r = readable(Some(p));
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            let article = guichet_store::kb::find_article(&mut conn, row.0).await?;
            if may_read(&r, &article) {
                kept.push(row);
            }
        }
        Ok(kept)
    }
}
