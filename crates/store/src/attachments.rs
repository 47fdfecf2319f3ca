//! Attachments: metadata rows over content-addressed blobs.

use crate::db::{from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::{AttachmentId, CommentId, TicketId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: AttachmentId,
    pub ticket: TicketId,
    pub comment: Option<CommentId>,
    pub sha256: String,
    pub filename: String,
    pub mime: String,
    pub size: i64,
    pub internal: bool,
    pub uploaded_by: UserId,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct AttachmentRow {
    id: i64,
    ticket_id: i64,
    comment_id: Option<i64>,
    sha256: String,
    filename: String,
    mime: String,
    size: i64,
    internal: bool,
    uploaded_by: i64,
    created_at: i64,
}

impl From<AttachmentRow> for Attachment {
    fn from(r: AttachmentRow) -> Self {
        Attachment {
            id: AttachmentId(r.id),
            ticket: TicketId(r.ticket_id),
            comment: r.comment_id.map(CommentId),
            sha256: r.sha256,
            filename: r.filename,
            mime: r.mime,
            size: r.size,
            internal: r.internal,
            uploaded_by: UserId(r.uploaded_by),
            created_at: from_micros(r.created_at),
        }
    }
}

const SELECT: &str =
    "SELECT id, ticket_id, comment_id, sha256, filename, mime, size, internal, uploaded_by, created_at FROM attachments";

/// Stores content once per SHA-256, whoever sends it again.
pub async fn insert_blob(conn: &mut Conn, sha256: &str, content: &[u8]) -> Result<()> {
    let sql = "INSERT INTO blobs (sha256, size, content) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING";
    let size = i64::try_from(content.len()).unwrap_or(i64::MAX);
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(sha256)
        .bind(size)
        .bind(content)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn read_blob(conn: &mut Conn, sha256: &str) -> Result<Vec<u8>> {
    let sql = "SELECT content FROM blobs WHERE sha256 = $1";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql).bind(sha256).fetch_one(&mut *c).await)?)
}

pub struct NewAttachment<'a> {
    pub ticket: TicketId,
    pub comment: Option<CommentId>,
    pub sha256: &'a str,
    pub filename: &'a str,
    pub mime: &'a str,
    pub size: i64,
    pub internal: bool,
    pub uploaded_by: UserId,
}

pub async fn insert_attachment(conn: &mut Conn, new: &NewAttachment<'_>, now: DateTime<Utc>) -> Result<Attachment> {
    let sql = "INSERT INTO attachments (ticket_id, comment_id, sha256, filename, mime, size, internal, uploaded_by, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
    let id: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(new.ticket.0)
        .bind(new.comment.map(|c| c.0))
        .bind(new.sha256)
        .bind(new.filename)
        .bind(new.mime)
        .bind(new.size)
        .bind(new.internal)
        .bind(new.uploaded_by.0)
        .bind(to_micros(now))
        .fetch_one(&mut *c)
        .await)?;
    find_attachment(conn, AttachmentId(id)).await
}

pub async fn find_attachment(conn: &mut Conn, id: AttachmentId) -> Result<Attachment> {
    let sql = format!("{SELECT} WHERE id = $1");
    let row: AttachmentRow = on_conn!(conn, |c| sqlx::query_as(&sql).bind(id.0).fetch_one(&mut *c).await)?;
    Ok(row.into())
}

pub async fn list_attachments(conn: &mut Conn, ticket: TicketId, include_internal: bool) -> Result<Vec<Attachment>> {
    let sql = format!("{SELECT} WHERE ticket_id = $1 AND ($2 OR NOT internal) ORDER BY created_at, id");
    let rows: Vec<AttachmentRow> =
        on_conn!(conn, |c| sqlx::query_as(&sql).bind(ticket.0).bind(include_internal).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(Attachment::from).collect())
}
