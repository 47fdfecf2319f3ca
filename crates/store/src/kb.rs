//! Knowledge-base articles, their versions, their full-text search (the
//! tickets' own: FTS5 on SQLite, French stems on PostgreSQL) and the
//! deflections ("this answered my question").

use crate::db::{from_micros, to_micros, Backend, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::UserId;
use guichet_domain::search::SearchQuery;
use sqlx::QueryBuilder;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub title_en: Option<String>,
    pub body_en: Option<String>,
    pub audience: String,
    pub category_id: Option<i64>,
    pub keywords: String,
    pub published: bool,
    pub version: i64,
    pub source_ticket_id: Option<i64>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
    /// "This answered my question", in all.
    pub deflections: i64,
}

/// What is written: everything but the bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleFields {
    pub title: String,
    pub body: String,
    pub title_en: Option<String>,
    pub body_en: Option<String>,
    pub audience: String,
    pub category_id: Option<i64>,
    pub keywords: String,
    pub published: bool,
}

/// One saved version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: i64,
    pub title: String,
    pub audience: String,
    pub published: bool,
    pub edited_by: Option<String>,
    pub edited_at: DateTime<Utc>,
}

type Row = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
    String,
    bool,
    i64,
    Option<i64>,
    i64,
    Option<String>,
    i64,
);

const SELECT: &str = "SELECT a.id, a.title, a.body, a.title_en, a.body_en, a.audience, a.category_id, a.keywords, \
     a.published, a.version, a.source_ticket_id, a.updated_at, u.name, \
     (SELECT COUNT(*) FROM kb_deflections d WHERE d.article_id = a.id) \
     FROM kb_articles a LEFT JOIN users u ON u.id = a.updated_by";

fn from_row(r: Row) -> Article {
    Article {
        id: r.0,
        title: r.1,
        body: r.2,
        title_en: r.3,
        body_en: r.4,
        audience: r.5,
        category_id: r.6,
        keywords: r.7,
        published: r.8,
        version: r.9,
        source_ticket_id: r.10,
        updated_at: from_micros(r.11),
        updated_by: r.12,
        deflections: r.13,
    }
}

/// Which articles a reader may see: their audiences, and drafts or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readable {
    pub audiences: Vec<String>,
    pub drafts: bool,
}

fn push_readable<'a, DB: sqlx::Database>(qb: &mut QueryBuilder<'a, DB>, r: &'a Readable)
where
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" AND a.audience IN (");
    let mut list = qb.separated(", ");
    for a in &r.audiences {
        list.push_bind(a.as_str());
    }
    qb.push(")");
    if !r.drafts {
        qb.push(" AND a.published");
    }
}

pub async fn find_article(conn: &mut Conn, id: i64) -> Result<Article> {
    let sql = format!("{SELECT} WHERE a.id = $1");
    let row: Row = on_conn!(conn, |c| sqlx::query_as(&sql).bind(id).fetch_one(&mut *c).await)?;
    Ok(from_row(row))
}

/// The articles a reader may see, the most recently changed first.
pub async fn list_articles(conn: &mut Conn, readable: &Readable, limit: i64) -> Result<Vec<Article>> {
    let rows: Vec<Row> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(format!("{SELECT} WHERE 1 = 1"));
        push_readable(&mut qb, readable);
        qb.push(" ORDER BY a.updated_at DESC, a.id DESC LIMIT ").push_bind(limit);
        qb.build_query_as().fetch_all(&mut *c).await
    })?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// The best-ranked articles a reader may see that match `query`.
pub async fn search_articles(
    conn: &mut Conn,
    query: &SearchQuery,
    readable: &Readable,
    limit: i64,
) -> Result<Vec<Article>> {
    let sqlite = conn.backend() == Backend::Sqlite;
    let rows: Vec<Row> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(SELECT);
        if sqlite {
            qb.push(" JOIN (SELECT rowid AS id, bm25(search_kb) AS score FROM search_kb WHERE search_kb MATCH ");
            qb.push_bind(query.to_fts5());
            qb.push(") m ON m.id = a.id WHERE 1 = 1");
            push_readable(&mut qb, readable);
            qb.push(" ORDER BY m.score, a.id DESC LIMIT ").push_bind(limit);
        } else {
            qb.push(" JOIN search_kb s ON s.article_id = a.id WHERE s.tsv @@ to_tsquery('french', ");
            qb.push_bind(query.to_tsquery());
            qb.push(")");
            push_readable(&mut qb, readable);
            qb.push(" ORDER BY ts_rank(s.tsv, to_tsquery('french', ");
            qb.push_bind(query.to_tsquery());
            qb.push(")) DESC, a.id DESC LIMIT ").push_bind(limit);
        }
        qb.build_query_as().fetch_all(&mut *c).await
    })?;
    Ok(rows.into_iter().map(from_row).collect())
}

async fn insert_version(conn: &mut Conn, id: i64, by: UserId, now: DateTime<Utc>) -> Result<()> {
    let sql = "INSERT INTO kb_versions (article_id, version, title, body, title_en, body_en, audience, category_id, \
               keywords, published, edited_by, edited_at) \
               SELECT id, version, title, body, title_en, body_en, audience, category_id, keywords, published, $1, $2 \
               FROM kb_articles WHERE id = $3";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(by.0)
        .bind(to_micros(now))
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn insert_article(
    conn: &mut Conn,
    f: &ArticleFields,
    source_ticket: Option<i64>,
    by: UserId,
    now: DateTime<Utc>,
) -> Result<i64> {
    let sql = "INSERT INTO kb_articles (title, body, title_en, body_en, audience, category_id, keywords, published, \
               version, source_ticket_id, created_at, updated_at, updated_by) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $10, $11) RETURNING id";
    let id: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(&f.title)
        .bind(&f.body)
        .bind(&f.title_en)
        .bind(&f.body_en)
        .bind(&f.audience)
        .bind(f.category_id)
        .bind(&f.keywords)
        .bind(f.published)
        .bind(source_ticket)
        .bind(to_micros(now))
        .bind(by.0)
        .fetch_one(&mut *c)
        .await)?;
    insert_version(conn, id, by, now).await?;
    Ok(id)
}

/// Saves a new version, unless the article changed since `expected_version`.
pub async fn update_article(
    conn: &mut Conn,
    id: i64,
    f: &ArticleFields,
    expected_version: i64,
    by: UserId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let sql = "UPDATE kb_articles SET title = $1, body = $2, title_en = $3, body_en = $4, audience = $5, \
               category_id = $6, keywords = $7, published = $8, version = version + 1, updated_at = $9, \
               updated_by = $10 WHERE id = $11 AND version = $12";
    let affected = on_conn!(conn, |c| sqlx::query(sql)
        .bind(&f.title)
        .bind(&f.body)
        .bind(&f.title_en)
        .bind(&f.body_en)
        .bind(&f.audience)
        .bind(f.category_id)
        .bind(&f.keywords)
        .bind(f.published)
        .bind(to_micros(now))
        .bind(by.0)
        .bind(id)
        .bind(expected_version)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    if affected == 0 {
        return Ok(false);
    }
    insert_version(conn, id, by, now).await?;
    Ok(true)
}

pub async fn list_versions(conn: &mut Conn, id: i64) -> Result<Vec<Version>> {
    let sql = "SELECT v.version, v.title, v.audience, v.published, u.name, v.edited_at FROM kb_versions v \
               LEFT JOIN users u ON u.id = v.edited_by WHERE v.article_id = $1 ORDER BY v.version DESC";
    let rows: Vec<(i64, String, String, bool, Option<String>, i64)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(id).fetch_all(&mut *c).await)?;
    Ok(rows
        .into_iter()
        .map(|r| Version {
            version: r.0,
            title: r.1,
            audience: r.2,
            published: r.3,
            edited_by: r.4,
            edited_at: from_micros(r.5),
        })
        .collect())
}

/// Records one "this answered my question".
pub async fn insert_deflection(
    conn: &mut Conn,
    article: i64,
    establishment: Option<i64>,
    source: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = "INSERT INTO kb_deflections (article_id, at, establishment_id, source) VALUES ($1, $2, $3, $4)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(article)
        .bind(to_micros(now))
        .bind(establishment)
        .bind(source)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deflections in `[start, end)` per article (id, title, count), the most first;
/// within `establishments` when given (a school's report).
pub async fn deflections_by_article(
    conn: &mut Conn,
    establishments: Option<&[i64]>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(i64, String, i64)>> {
    Ok(on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(
            "SELECT a.id, a.title, COUNT(*) FROM kb_deflections d JOIN kb_articles a ON a.id = d.article_id WHERE d.at >= ",
        );
        qb.push_bind(to_micros(start)).push(" AND d.at < ").push_bind(to_micros(end));
        if let Some(ids) = establishments {
            qb.push(" AND d.establishment_id IN (");
            let mut list = qb.separated(", ");
            list.push("NULL");
            for id in ids {
                list.push_bind(*id);
            }
            qb.push(")");
        }
        qb.push(" GROUP BY a.id, a.title ORDER BY COUNT(*) DESC, a.id");
        qb.build_query_as().fetch_all(&mut *c).await
    })?)
}
