//! The e-mail channel's records: messages by Message-ID, the quarantine, the
//! outbox and each mailbox's health.

use crate::db::{from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::{CommentId, TicketId};
use sqlx::QueryBuilder;

/// A mail received or sent, as recorded.
pub struct NewMailMessage<'a> {
    pub message_id: &'a str,
    pub inbound: bool,
    pub mailbox: Option<&'a str>,
    pub outcome: &'a str,
    pub ticket: Option<TicketId>,
    pub comment: Option<CommentId>,
    pub sender: &'a str,
    pub subject: &'a str,
    pub raw: Option<&'a [u8]>,
}

pub async fn insert_message(conn: &mut Conn, m: &NewMailMessage<'_>, now: DateTime<Utc>) -> Result<()> {
    let sql = "INSERT INTO mail_messages (message_id, direction, mailbox, outcome, ticket_id, comment_id, sender, \
        subject, raw, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(m.message_id)
        .bind(if m.inbound { "in" } else { "out" })
        .bind(m.mailbox)
        .bind(m.outcome)
        .bind(m.ticket.map(|t| t.0))
        .bind(m.comment.map(|c| c.0))
        .bind(m.sender)
        .bind(m.subject)
        .bind(m.raw)
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Links a recorded message to its ticket (and the reply it became).
pub async fn set_message_ticket(
    conn: &mut Conn,
    message_id: &str,
    ticket: TicketId,
    comment: Option<CommentId>,
) -> Result<()> {
    let sql = "UPDATE mail_messages SET ticket_id = $1, comment_id = $2 WHERE message_id = $3";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(ticket.0)
        .bind(comment.map(|c| c.0))
        .bind(message_id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Whether a Message-ID was already received or sent.
pub async fn message_known(conn: &mut Conn, message_id: &str) -> Result<bool> {
    let sql = "SELECT COUNT(*) FROM mail_messages WHERE message_id = $1";
    let n: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql).bind(message_id).fetch_one(&mut *c).await)?;
    Ok(n > 0)
}

/// The ticket one of these Message-IDs belongs to, the most recent first.
pub async fn find_thread_ticket(conn: &mut Conn, message_ids: &[String]) -> Result<Option<TicketId>> {
    if message_ids.is_empty() {
        return Ok(None);
    }
    let id: Option<i64> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> =
            QueryBuilder::new("SELECT ticket_id FROM mail_messages WHERE ticket_id IS NOT NULL AND message_id IN (");
        let mut list = qb.separated(", ");
        for m in message_ids {
            list.push_bind(m.as_str());
        }
        qb.push(") ORDER BY id DESC LIMIT 1");
        qb.build_query_scalar().fetch_optional(&mut *c).await
    })?;
    Ok(id.map(TicketId))
}

/// The Message-IDs of a ticket's conversation, oldest first (at most the
/// first and the last 9), for the References header of the next mail.
pub async fn thread_message_ids(conn: &mut Conn, ticket: TicketId) -> Result<Vec<String>> {
    let sql = "SELECT message_id FROM mail_messages WHERE ticket_id = $1 ORDER BY id";
    let all: Vec<String> = on_conn!(conn, |c| sqlx::query_scalar(sql).bind(ticket.0).fetch_all(&mut *c).await)?;
    if all.len() <= 10 {
        return Ok(all);
    }
    let mut kept = vec![all[0].clone()];
    kept.extend_from_slice(&all[all.len() - 9..]);
    Ok(kept)
}

/// The raw bytes of the mail that created or answered a ticket, for the desk.
pub async fn find_raw_message(conn: &mut Conn, ticket: TicketId, message_id: &str) -> Result<Option<Vec<u8>>> {
    let sql = "SELECT raw FROM mail_messages WHERE ticket_id = $1 AND message_id = $2";
    let raw: Option<Option<Vec<u8>>> =
        on_conn!(conn, |c| sqlx::query_scalar(sql).bind(ticket.0).bind(message_id).fetch_optional(&mut *c).await)?;
    Ok(raw.flatten())
}

/// A message that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: i64,
    pub mailbox: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub size: i64,
    pub error: String,
    pub created_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
    pub ticket: Option<TicketId>,
}

#[derive(sqlx::FromRow)]
struct QuarantineRow {
    id: i64,
    mailbox: Option<String>,
    sender: Option<String>,
    subject: Option<String>,
    size: i64,
    error: String,
    created_at: i64,
    released_at: Option<i64>,
    ticket_id: Option<i64>,
}

impl From<QuarantineRow> for Quarantined {
    fn from(r: QuarantineRow) -> Self {
        Quarantined {
            id: r.id,
            mailbox: r.mailbox,
            sender: r.sender,
            subject: r.subject,
            size: r.size,
            error: r.error,
            created_at: from_micros(r.created_at),
            released_at: r.released_at.map(from_micros),
            ticket: r.ticket_id.map(TicketId),
        }
    }
}

const QUARANTINE_SELECT: &str = "SELECT id, mailbox, sender, subject, CAST(LENGTH(raw) AS BIGINT) AS size, error, \
    created_at, released_at, ticket_id FROM mail_quarantine";

pub struct NewQuarantined<'a> {
    pub sha256: &'a str,
    pub mailbox: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub raw: &'a [u8],
    pub error: &'a str,
}

/// Keeps a message aside; the same bytes quarantined again keep the first
/// record and take the latest error (a message set aside stays set aside
/// when a mailbox is read again).
pub async fn insert_quarantine(conn: &mut Conn, q: &NewQuarantined<'_>, now: DateTime<Utc>) -> Result<()> {
    let sql = "INSERT INTO mail_quarantine (sha256, mailbox, sender, subject, raw, error, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sha256) DO UPDATE SET error = excluded.error";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(q.sha256)
        .bind(q.mailbox)
        .bind(q.sender)
        .bind(q.subject)
        .bind(q.raw)
        .bind(q.error)
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Quarantined messages still waiting, newest first.
pub async fn list_quarantine(conn: &mut Conn, limit: i64) -> Result<Vec<Quarantined>> {
    let sql = format!("{QUARANTINE_SELECT} WHERE released_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $1");
    let rows: Vec<QuarantineRow> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(limit).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(Quarantined::from).collect())
}

pub async fn find_quarantine(conn: &mut Conn, id: i64) -> Result<(Quarantined, Vec<u8>)> {
    let sql = format!("{QUARANTINE_SELECT} WHERE id = $1");
    let row: QuarantineRow = on_conn!(conn, |c| sqlx::query_as(&sql).bind(id).fetch_one(&mut *c).await)?;
    let raw_sql = "SELECT raw FROM mail_quarantine WHERE id = $1";
    let raw: Vec<u8> = on_conn!(conn, |c| sqlx::query_scalar(raw_sql).bind(id).fetch_one(&mut *c).await)?;
    Ok((row.into(), raw))
}

/// Marks a quarantined message as imported at last (or dismissed when `ticket` is None).
pub async fn release_quarantine(conn: &mut Conn, id: i64, ticket: Option<TicketId>, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE mail_quarantine SET released_at = $1, ticket_id = $2 WHERE id = $3";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(ticket.map(|t| t.0))
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// A notification to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutgoing {
    pub ticket: Option<TicketId>,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub automatic: bool,
    /// Where an answer should go, when not to the From address.
    pub reply_to: Option<String>,
}

/// A notification in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub id: i64,
    pub mail: NewOutgoing,
    pub created_at: DateTime<Utc>,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The request that queued it, for the logs.
    pub request_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct OutgoingRow {
    id: i64,
    ticket_id: Option<i64>,
    kind: String,
    recipient: String,
    subject: String,
    body_text: String,
    body_html: String,
    message_id: String,
    in_reply_to: Option<String>,
    thread_refs: String,
    automatic: bool,
    reply_to: Option<String>,
    created_at: i64,
    attempts: i64,
    next_attempt_at: i64,
    sent_at: Option<i64>,
    failed_at: Option<i64>,
    last_error: Option<String>,
    request_id: Option<String>,
}

impl From<OutgoingRow> for Outgoing {
    fn from(r: OutgoingRow) -> Self {
        Outgoing {
            id: r.id,
            mail: NewOutgoing {
                ticket: r.ticket_id.map(TicketId),
                kind: r.kind,
                recipient: r.recipient,
                subject: r.subject,
                body_text: r.body_text,
                body_html: r.body_html,
                message_id: r.message_id,
                in_reply_to: r.in_reply_to,
                references: r.thread_refs.split_whitespace().map(str::to_owned).collect(),
                automatic: r.automatic,
                reply_to: r.reply_to,
            },
            created_at: from_micros(r.created_at),
            attempts: r.attempts,
            next_attempt_at: from_micros(r.next_attempt_at),
            sent_at: r.sent_at.map(from_micros),
            failed_at: r.failed_at.map(from_micros),
            last_error: r.last_error,
            request_id: r.request_id,
        }
    }
}

const OUTBOX_SELECT: &str = "SELECT id, ticket_id, kind, recipient, subject, body_text, body_html, message_id, \
    in_reply_to, thread_refs, automatic, reply_to, created_at, attempts, next_attempt_at, sent_at, failed_at, last_error, request_id \
    FROM outbox";

/// Queues a notification and records its Message-ID, so that an answer to it
/// threads back to its ticket.
pub async fn insert_outgoing(conn: &mut Conn, m: &NewOutgoing, now: DateTime<Utc>) -> Result<i64> {
    let sql =
        "INSERT INTO outbox (ticket_id, kind, recipient, subject, body_text, body_html, message_id, in_reply_to, \
        thread_refs, automatic, reply_to, created_at, next_attempt_at, request_id) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) RETURNING id";
    let id: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(m.ticket.map(|t| t.0))
        .bind(&m.kind)
        .bind(&m.recipient)
        .bind(&m.subject)
        .bind(&m.body_text)
        .bind(&m.body_html)
        .bind(&m.message_id)
        .bind(&m.in_reply_to)
        .bind(m.references.join(" "))
        .bind(m.automatic)
        .bind(&m.reply_to)
        .bind(to_micros(now))
        .bind(crate::context::current_request_id())
        .fetch_one(&mut *c)
        .await)?;
    let record = NewMailMessage {
        message_id: &m.message_id,
        inbound: false,
        mailbox: None,
        outcome: &m.kind,
        ticket: m.ticket,
        comment: None,
        sender: &m.recipient,
        subject: &m.subject,
        raw: None,
    };
    insert_message(conn, &record, now).await?;
    Ok(id)
}

/// Mails waiting to be sent (neither sent nor given up) and when the
/// oldest was queued: the outbox's depth and age, for the metrics.
pub async fn outbox_backlog(conn: &mut Conn) -> Result<(i64, Option<DateTime<Utc>>)> {
    // Served by `outbox_due_idx`, whose condition this repeats.
    let sql = "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL";
    let (count, oldest): (i64, Option<i64>) = on_conn!(conn, |c| sqlx::query_as(sql).fetch_one(&mut *c).await)?;
    Ok((count, oldest.map(from_micros)))
}

/// Claims up to `limit` notifications due for a (new) attempt, oldest
/// first, for `holder` until `lease_until`: no other sender takes them
/// meanwhile. A claim whose holder died expires and is taken again.
pub async fn claim_due_outgoing(
    conn: &mut Conn,
    holder: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Outgoing>> {
    let due = "SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $3 \
        AND (locked_until IS NULL OR locked_until < $3) ORDER BY next_attempt_at, id LIMIT $4";
    let columns = OUTBOX_SELECT.trim_start_matches("SELECT ").trim_end_matches("FROM outbox").trim_end();
    let claim = crate::claims::Claim { table: "outbox", key: "id", due, lock_of: "", columns };
    let mut rows: Vec<OutgoingRow> = crate::claims::claim_rows(conn, &claim, holder, now, lease_until, limit).await?;
    rows.sort_by_key(|r| (r.next_attempt_at, r.id));
    Ok(rows.into_iter().map(Outgoing::from).collect())
}

/// Extends `holder`'s claim on a notification to `until`, if the claim is
/// still theirs and unexpired at `now`; false when it is not (another sender
/// may hold it, or take it at any moment).
pub async fn extend_claim(
    conn: &mut Conn,
    id: i64,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool> {
    let sql = "UPDATE outbox SET locked_until = $1 \
        WHERE id = $2 AND locked_by = $3 AND locked_until >= $4 AND sent_at IS NULL AND failed_at IS NULL";
    let n = on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(until))
        .bind(id)
        .bind(holder)
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Gives back claimed notifications not attempted (a sender stopping early).
pub async fn release_outgoing(conn: &mut Conn, holder: &str, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> =
            QueryBuilder::new("UPDATE outbox SET locked_by = NULL, locked_until = NULL WHERE locked_by = ");
        qb.push_bind(holder);
        qb.push(" AND id IN (");
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        qb.push(")");
        qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Notifications due for a (new) attempt, oldest first, claimed or not (for tests and checks).
pub async fn list_due_outgoing(conn: &mut Conn, now: DateTime<Utc>, limit: i64) -> Result<Vec<Outgoing>> {
    let sql = format!(
        "{OUTBOX_SELECT} WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, id LIMIT $2"
    );
    let rows: Vec<OutgoingRow> =
        on_conn!(conn, |c| sqlx::query_as(&sql).bind(to_micros(now)).bind(limit).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(Outgoing::from).collect())
}

/// Notifications of one ticket, in order (for tests and the ticket's trace).
pub async fn list_ticket_outgoing(conn: &mut Conn, ticket: TicketId) -> Result<Vec<Outgoing>> {
    let sql = format!("{OUTBOX_SELECT} WHERE ticket_id = $1 ORDER BY id");
    let rows: Vec<OutgoingRow> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(ticket.0).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(Outgoing::from).collect())
}

/// Notifications not sent yet or given up on, newest first, for administrators.
pub async fn list_unsent_outgoing(conn: &mut Conn, limit: i64) -> Result<Vec<Outgoing>> {
    let sql = format!("{OUTBOX_SELECT} WHERE sent_at IS NULL ORDER BY id DESC LIMIT $1");
    let rows: Vec<OutgoingRow> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(limit).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(Outgoing::from).collect())
}

/// Records a notification as sent by its holder; false when `holder` no
/// longer held it (its claim expired and another sender took it).
pub async fn mark_sent(conn: &mut Conn, id: i64, holder: &str, now: DateTime<Utc>) -> Result<bool> {
    let sql = "UPDATE outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL, locked_by = NULL, \
        locked_until = NULL WHERE id = $2 AND sent_at IS NULL AND (locked_by = $3 OR locked_by IS NULL)";
    let n = on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(id)
        .bind(holder)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Records a failed attempt: retried at `retry_at`, or given up when None.
pub async fn mark_attempt_failed(
    conn: &mut Conn,
    id: i64,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql =
        "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
        failed_at = $3, locked_by = NULL, locked_until = NULL WHERE id = $4";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(error)
        .bind(retry_at.map(to_micros))
        .bind(if retry_at.is_none() { Some(to_micros(now)) } else { None })
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Puts a notification given up on back in line.
pub async fn retry_outgoing(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE outbox SET failed_at = NULL, next_attempt_at = $1 WHERE id = $2 AND sent_at IS NULL";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Automatic mails queued for `recipient` since `since`, for the rate limit.
pub async fn count_automatic_since(conn: &mut Conn, recipient: &str, since: DateTime<Utc>) -> Result<i64> {
    let sql = "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND automatic AND created_at >= $2";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql).bind(recipient).bind(to_micros(since)).fetch_one(&mut *c).await)?)
}

/// A mailbox's health as its poller last wrote it, with the day's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxStatus {
    pub name: String,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub alerted_at: Option<DateTime<Utc>>,
    pub imported_since: i64,
    pub quarantined: i64,
    /// The node polling it now (the holder of its lease), when one does.
    pub polled_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct StatusRow {
    name: String,
    last_success_at: Option<i64>,
    last_error: Option<String>,
    last_error_at: Option<i64>,
    failing_since: Option<i64>,
    alerted_at: Option<i64>,
    imported_since: i64,
    quarantined: i64,
}

/// The status of the named mailboxes (a mailbox never polled yet has an empty one).
pub async fn list_mailbox_status(
    conn: &mut Conn,
    names: &[String],
    since: DateTime<Utc>,
) -> Result<Vec<MailboxStatus>> {
    let sql = "SELECT $1 AS name, s.last_success_at, s.last_error, s.last_error_at, s.failing_since, s.alerted_at, \
        (SELECT COUNT(*) FROM mail_messages m WHERE m.mailbox = $1 AND m.direction = 'in' AND m.created_at >= $2) \
            AS imported_since, \
        (SELECT COUNT(*) FROM mail_quarantine q WHERE q.mailbox = $1 AND q.released_at IS NULL) AS quarantined \
        FROM (SELECT 1 AS one) AS x LEFT JOIN mailbox_status s ON s.name = $1";
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let r: StatusRow =
            on_conn!(conn, |c| sqlx::query_as(sql).bind(name).bind(to_micros(since)).fetch_one(&mut *c).await)?;
        out.push(MailboxStatus {
            name: r.name,
            last_success_at: r.last_success_at.map(from_micros),
            last_error: r.last_error,
            last_error_at: r.last_error_at.map(from_micros),
            failing_since: r.failing_since.map(from_micros),
            alerted_at: r.alerted_at.map(from_micros),
            imported_since: r.imported_since,
            quarantined: r.quarantined,
            polled_by: None,
        });
    }
    Ok(out)
}

pub async fn record_mailbox_success(conn: &mut Conn, name: &str, now: DateTime<Utc>) -> Result<()> {
    let sql = "INSERT INTO mailbox_status (name, last_success_at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET \
        last_success_at = excluded.last_success_at, failing_since = NULL, alerted_at = NULL";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(name)
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records a failure and returns since when the mailbox has been failing.
pub async fn record_mailbox_error(
    conn: &mut Conn,
    name: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let sql = "INSERT INTO mailbox_status (name, last_error, last_error_at, failing_since) VALUES ($1, $2, $3, $3) \
        ON CONFLICT (name) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at, \
        failing_since = COALESCE(mailbox_status.failing_since, excluded.failing_since) RETURNING failing_since";
    let since: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(name)
        .bind(error)
        .bind(to_micros(now))
        .fetch_one(&mut *c)
        .await)?;
    Ok(from_micros(since))
}

/// Marks the failure as reported; false when it already was.
pub async fn mark_mailbox_alerted(conn: &mut Conn, name: &str, now: DateTime<Utc>) -> Result<bool> {
    let sql = "UPDATE mailbox_status SET alerted_at = $1 WHERE name = $2 AND alerted_at IS NULL";
    let n = on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .bind(name)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Where a mailbox's reading stands: the folder's UIDVALIDITY and the last
/// UID handled in it. None before the first complete pass.
pub async fn find_mailbox_cursor(conn: &mut Conn, name: &str) -> Result<Option<(i64, i64)>> {
    let sql = "SELECT uid_validity, last_uid FROM mailbox_status WHERE name = $1";
    let row: Option<(Option<i64>, Option<i64>)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(name).fetch_optional(&mut *c).await)?;
    Ok(row.and_then(|(v, u)| Some((v?, u?))))
}

pub async fn update_mailbox_cursor(conn: &mut Conn, name: &str, uid_validity: i64, last_uid: i64) -> Result<()> {
    let sql = "INSERT INTO mailbox_status (name, uid_validity, last_uid) VALUES ($1, $2, $3) ON CONFLICT (name) \
        DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(name)
        .bind(uid_validity)
        .bind(last_uid)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Counts a failed import of a message (by the hash of its bytes) and
/// returns how many times it has failed.
pub async fn record_import_failure(
    conn: &mut Conn,
    sha256: &str,
    mailbox: Option<&str>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let sql =
        "INSERT INTO mail_import_failures (sha256, mailbox, attempts, last_error, first_failed_at, last_failed_at) \
        VALUES ($1, $2, 1, $3, $4, $4) ON CONFLICT (sha256) DO UPDATE SET \
        attempts = mail_import_failures.attempts + 1, last_error = excluded.last_error, \
        last_failed_at = excluded.last_failed_at RETURNING attempts";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(sha256)
        .bind(mailbox)
        .bind(error)
        .bind(to_micros(now))
        .fetch_one(&mut *c)
        .await)?)
}

/// Forgets a message's failed imports (it was imported or quarantined).
pub async fn delete_import_failure(conn: &mut Conn, sha256: &str) -> Result<()> {
    let sql = "DELETE FROM mail_import_failures WHERE sha256 = $1";
    on_conn!(conn, |c| sqlx::query(sql).bind(sha256).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(())
}
