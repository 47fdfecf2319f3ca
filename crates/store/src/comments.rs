//! Comments: public replies and internal notes.

use crate::db::{decode, from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::comment::Comment;
use guichet_domain::ids::{CommentId, TicketId, UserId};
use guichet_domain::ticket::Channel;

#[derive(sqlx::FromRow)]
struct CommentRow {
    id: i64,
    ticket_id: i64,
    author_id: i64,
    author_name: String,
    body: String,
    internal: bool,
    channel: String,
    created_at: i64,
}

/// The fields of a comment about to be stored.
pub struct NewComment<'a> {
    pub ticket: TicketId,
    pub author: UserId,
    pub body: &'a str,
    pub internal: bool,
    pub channel: Channel,
}

pub async fn insert_comment(conn: &mut Conn, new: &NewComment<'_>, now: DateTime<Utc>) -> Result<CommentId> {
    let sql = "INSERT INTO comments (ticket_id, author_id, body, internal, channel, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
    let id: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(new.ticket.0)
        .bind(new.author.0)
        .bind(new.body)
        .bind(new.internal)
        .bind(new.channel.as_str())
        .bind(to_micros(now))
        .fetch_one(&mut *c)
        .await)?;
    if !new.internal {
        let sql = "UPDATE tickets SET awaiting_desk = (requester_id = $1) WHERE id = $2";
        on_conn!(conn, |c| sqlx::query(sql)
            .bind(new.author.0)
            .bind(new.ticket.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(CommentId(id))
}

/// A ticket's comments in order; internal notes only when asked.
pub async fn list_comments(conn: &mut Conn, ticket: TicketId, include_internal: bool) -> Result<Vec<Comment>> {
    let sql =
        "SELECT c.id, c.ticket_id, c.author_id, u.name AS author_name, c.body, c.internal, c.channel, c.created_at \
               FROM comments c JOIN users u ON u.id = c.author_id \
               WHERE c.ticket_id = $1 AND ($2 OR NOT c.internal) ORDER BY c.created_at, c.id";
    let rows: Vec<CommentRow> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(ticket.0).bind(include_internal).fetch_all(&mut *c).await)?;
    rows.into_iter()
        .map(|r| {
            Ok(Comment {
                id: CommentId(r.id),
                ticket: TicketId(r.ticket_id),
                author: UserId(r.author_id),
                author_name: r.author_name,
                body: r.body,
                internal: r.internal,
                channel: decode(&r.channel, Channel::parse)?,
                created_at: from_micros(r.created_at),
            })
        })
        .collect()
}

/// Whether a comment belongs to a ticket and, if so, whether it is internal.
pub async fn find_comment_visibility(conn: &mut Conn, ticket: TicketId, comment: CommentId) -> Result<Option<bool>> {
    let sql = "SELECT internal FROM comments WHERE id = $1 AND ticket_id = $2";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql).bind(comment.0).bind(ticket.0).fetch_optional(&mut *c).await)?)
}
