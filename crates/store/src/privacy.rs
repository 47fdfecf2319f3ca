//! Forgetting personal data: the rows each retention rule selects, the text
//! cells that may hold a person's values, anonymised accounts, redactions,
//! and the privacy audit log.

use crate::db::{from_micros, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::{TicketId, UserId};

/// A text column that may hold personal values. Only the constants below
/// exist (the fields are private), so the SQL built from them never comes
/// from input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextColumn {
    table: &'static str,
    column: &'static str,
    /// The row's key: `id`, or `ticket_id` for a table with one row per ticket.
    key: &'static str,
}

const fn text(table: &'static str, column: &'static str) -> TextColumn {
    TextColumn { table, column, key: "id" }
}

impl TextColumn {
    pub const TICKET_DESCRIPTION: TextColumn = text("tickets", "description");
    pub const COMMENT_BODY: TextColumn = text("comments", "body");

    /// A satisfaction survey's comment, written by the requester.
    pub const SURVEY_COMMENT: TextColumn =
        TextColumn { table: "satisfaction_surveys", column: "comment", key: "ticket_id" };

    fn table_column(self) -> (&'static str, &'static str) {
        (self.table, self.column)
    }
}

/// The ticket's own texts (found by `id`), then the texts of rows that belong
/// to a ticket (found by `ticket_id`).
const TICKET_OWN_TEXTS: [TextColumn; 5] = [
    text("tickets", "title"),
    TextColumn::TICKET_DESCRIPTION,
    text("tickets", "repro_steps"),
    text("tickets", "repro_outcome"),
    text("tickets", "repro_url"),
];
const TICKET_ROW_TEXTS: [TextColumn; 11] = [
    TextColumn::COMMENT_BODY,
    TextColumn::SURVEY_COMMENT,
    text("ticket_events", "old_value"),
    text("ticket_events", "new_value"),
    text("attachments", "filename"),
    text("outbox", "subject"),
    text("outbox", "recipient"),
    text("outbox", "body_text"),
    text("outbox", "body_html"),
    text("mail_messages", "subject"),
    text("mail_messages", "sender"),
];
const USER_EVENT_TEXTS: [TextColumn; 2] = [text("user_events", "old_value"), text("user_events", "new_value")];

/// One text value in one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextCell {
    pub column: TextColumn,
    pub id: i64,
    pub text: String,
}

async fn cells(conn: &mut Conn, columns: &[TextColumn], filter: &str, key: i64) -> Result<Vec<TextCell>> {
    let mut out = Vec::new();
    for &column in columns {
        let (table, name) = column.table_column();
        let key_column = column.key;
        let sql =
            format!("SELECT {key_column}, {name} FROM {table} WHERE {filter} AND {name} IS NOT NULL AND {name} <> ''");
        let rows: Vec<(i64, String)> =
            on_conn!(conn, |c| sqlx::query_as(sql.as_str()).bind(key).fetch_all(&mut *c).await)?;
        out.extend(rows.into_iter().map(|(id, text)| TextCell { column, id, text }));
    }
    Ok(out)
}

/// Every text of a ticket where people write or are named: the ticket's own
/// fields, comments, history values, file names, mail subjects and addresses.
pub async fn ticket_texts(conn: &mut Conn, ticket: TicketId) -> Result<Vec<TextCell>> {
    let mut out = cells(conn, &TICKET_OWN_TEXTS, "id = $1", ticket.0).await?;
    out.extend(cells(conn, &TICKET_ROW_TEXTS, "ticket_id = $1", ticket.0).await?);
    Ok(out)
}

/// Forgets a ticket's mail as received, and quarantined mail released into it.
pub async fn forget_ticket_mail(conn: &mut Conn, ticket: TicketId) -> Result<()> {
    let sql = "UPDATE mail_messages SET raw = NULL WHERE ticket_id = $1 AND raw IS NOT NULL";
    on_conn!(conn, |c| sqlx::query(sql).bind(ticket.0).execute(&mut *c).await.map(|_| ()))?;
    let sql = "DELETE FROM mail_quarantine WHERE ticket_id = $1";
    on_conn!(conn, |c| sqlx::query(sql).bind(ticket.0).execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}

/// The values of an account's history (old and new addresses, names).
pub async fn user_event_texts(conn: &mut Conn, user: UserId) -> Result<Vec<TextCell>> {
    cells(conn, &USER_EVENT_TEXTS, "user_id = $1", user.0).await
}

pub async fn update_text(conn: &mut Conn, cell: &TextCell, text: &str) -> Result<()> {
    let (table, name) = cell.column.table_column();
    let sql = format!("UPDATE {table} SET {name} = $1 WHERE {} = $2", cell.column.key);
    on_conn!(conn, |c| sqlx::query(sql.as_str()).bind(text).bind(cell.id).execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}

/// A HELP sender still identified on a request closed before `before`.
pub async fn help_contacts_closed_before(
    conn: &mut Conn,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(TicketId, String, Option<String>)>> {
    let sql = "SELECT c.ticket_id, c.name, c.email FROM ticket_contacts c JOIN tickets t ON t.id = c.ticket_id \
        WHERE c.anonymised_at IS NULL AND t.closed_at < $1 ORDER BY c.ticket_id LIMIT $2";
    let rows: Vec<(i64, String, Option<String>)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(to_micros(before)).bind(limit).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(|(t, n, e)| (TicketId(t), n, e)).collect())
}

/// The HELP sender of `ticket` becomes `name`, without address nor profile.
pub async fn anonymise_contact(conn: &mut Conn, ticket: TicketId, name: &str, now: DateTime<Utc>) -> Result<()> {
    let sql =
        "UPDATE ticket_contacts SET name = $1, email = NULL, profile = '', anonymised_at = $2 WHERE ticket_id = $3";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(name)
        .bind(to_micros(now))
        .bind(ticket.0)
        .execute(&mut *c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Files of tickets closed before `before`: (attachment, ticket, content hash).
pub async fn attachments_closed_before(
    conn: &mut Conn,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(i64, TicketId, String)>> {
    let sql = "SELECT a.id, a.ticket_id, a.sha256 FROM attachments a JOIN tickets t ON t.id = a.ticket_id \
        WHERE t.closed_at < $1 ORDER BY a.id LIMIT $2";
    let rows: Vec<(i64, i64, String)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(to_micros(before)).bind(limit).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(|(a, t, s)| (a, TicketId(t), s)).collect())
}

/// Removes an attachment, and its content when no other attachment shares it.
pub async fn delete_attachment(conn: &mut Conn, id: i64, sha256: &str) -> Result<()> {
    on_conn!(conn, |c| sqlx::query("DELETE FROM attachments WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|_| ()))?;
    let sql = "DELETE FROM blobs WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM attachments WHERE sha256 = $1)";
    on_conn!(conn, |c| sqlx::query(sql).bind(sha256).execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}

async fn execute_before(conn: &mut Conn, sql: &str, before: DateTime<Utc>, limit: i64) -> Result<u64> {
    Ok(on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(before))
        .bind(limit)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Forgets inbound mail as received (and who sent it, and its subject), oldest first.
pub async fn forget_raw_mail(conn: &mut Conn, before: DateTime<Utc>, limit: i64) -> Result<u64> {
    let sql = "UPDATE mail_messages SET raw = NULL, sender = '', subject = '' WHERE id IN \
        (SELECT id FROM mail_messages WHERE raw IS NOT NULL AND created_at < $1 ORDER BY created_at LIMIT $2)";
    execute_before(conn, sql, before, limit).await
}

/// Removes quarantined mail received before `before`, dismissed or not.
pub async fn delete_quarantine(conn: &mut Conn, before: DateTime<Utc>, limit: i64) -> Result<u64> {
    let sql = "DELETE FROM mail_quarantine WHERE id IN \
        (SELECT id FROM mail_quarantine WHERE created_at < $1 ORDER BY created_at LIMIT $2)";
    execute_before(conn, sql, before, limit).await
}

/// Forgets the bodies of mail sent (or given up) before `before`; the
/// envelope stays for threading.
pub async fn forget_sent_bodies(conn: &mut Conn, before: DateTime<Utc>, limit: i64) -> Result<u64> {
    let sql = "UPDATE outbox SET body_text = '', body_html = '' WHERE id IN (SELECT id FROM outbox \
        WHERE body_text <> '' AND (sent_at IS NOT NULL OR failed_at IS NOT NULL) AND created_at < $1 \
        ORDER BY created_at LIMIT $2)";
    execute_before(conn, sql, before, limit).await
}

/// Deletes privacy audit entries and account history older than `before`.
pub async fn delete_audit(conn: &mut Conn, before: DateTime<Utc>, limit: i64) -> Result<u64> {
    let a = "DELETE FROM privacy_audit WHERE id IN (SELECT id FROM privacy_audit WHERE at < $1 ORDER BY at LIMIT $2)";
    let u = "DELETE FROM user_events WHERE id IN (SELECT id FROM user_events WHERE at < $1 ORDER BY at LIMIT $2)";
    Ok(execute_before(conn, a, before, limit).await? + execute_before(conn, u, before, limit).await?)
}

/// Tickets closed before `before` whose people are still named in their text.
pub async fn tickets_closed_before(conn: &mut Conn, before: DateTime<Utc>, limit: i64) -> Result<Vec<TicketId>> {
    let sql = "SELECT id FROM tickets WHERE closed_at IS NOT NULL AND anonymised_at IS NULL AND closed_at < $1 \
        ORDER BY closed_at LIMIT $2";
    let ids: Vec<i64> =
        on_conn!(conn, |c| sqlx::query_scalar(sql).bind(to_micros(before)).bind(limit).fetch_all(&mut *c).await)?;
    Ok(ids.into_iter().map(TicketId).collect())
}

pub async fn mark_ticket_anonymised(conn: &mut Conn, ticket: TicketId, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE tickets SET anonymised_at = $1 WHERE id = $2";
    on_conn!(conn, |c| sqlx::query(sql).bind(to_micros(now)).bind(ticket.0).execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}

/// The values naming a ticket's requester and HELP sender: names, addresses, phones.
pub async fn ticket_people(conn: &mut Conn, ticket: TicketId) -> Result<Vec<String>> {
    let sql = "SELECT u.name, u.email FROM tickets t JOIN users u ON u.id = t.requester_id WHERE t.id = $1 \
        AND u.email NOT LIKE '%.invalid' \
        UNION ALL SELECT name, COALESCE(email, '') FROM ticket_contacts WHERE ticket_id = $1";
    let rows: Vec<(String, String)> = on_conn!(conn, |c| sqlx::query_as(sql).bind(ticket.0).fetch_all(&mut *c).await)?;
    let phones = "SELECT p.phone FROM tickets t JOIN user_phones p ON p.user_id = t.requester_id WHERE t.id = $1";
    let phones: Vec<String> = on_conn!(conn, |c| sqlx::query_scalar(phones).bind(ticket.0).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().flat_map(|(n, e)| [n, e]).chain(phones).collect())
}

/// The tickets an account filed.
pub async fn requester_tickets(conn: &mut Conn, user: UserId) -> Result<Vec<TicketId>> {
    let sql = "SELECT id FROM tickets WHERE requester_id = $1 ORDER BY id";
    let ids: Vec<i64> = on_conn!(conn, |c| sqlx::query_scalar(sql).bind(user.0).fetch_all(&mut *c).await)?;
    Ok(ids.into_iter().map(TicketId).collect())
}

/// Accounts disabled before `before` and not yet anonymised.
pub async fn disabled_before(conn: &mut Conn, before: DateTime<Utc>, limit: i64) -> Result<Vec<UserId>> {
    let sql = "SELECT id FROM users WHERE disabled AND anonymised_at IS NULL AND disabled_at < $1 \
        ORDER BY disabled_at LIMIT $2";
    let ids: Vec<i64> =
        on_conn!(conn, |c| sqlx::query_scalar(sql).bind(to_micros(before)).bind(limit).fetch_all(&mut *c).await)?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// An account's name and address become placeholders; its phones, links to
/// identity providers, tokens and sessions go; it cannot sign in again. Its
/// tickets, comments and history stay, under the placeholder.
pub async fn anonymise_user(conn: &mut Conn, user: UserId, name: &str, email: &str, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE users SET name = $1, email = $2, password_hash = NULL, disabled = TRUE, \
        disabled_at = COALESCE(disabled_at, $3), anonymised_at = $3 WHERE id = $4";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(name)
        .bind(email)
        .bind(to_micros(now))
        .bind(user.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)?;
    for table in ["user_phones", "user_identities", "api_tokens", "sessions"] {
        let sql = format!("DELETE FROM {table} WHERE user_id = $1");
        on_conn!(conn, |c| sqlx::query(sql.as_str()).bind(user.0).execute(&mut *c).await.map(|_| ()))?;
    }
    Ok(())
}

/// Whether an account was anonymised (it cannot be enabled again).
pub async fn is_anonymised(conn: &mut Conn, user: UserId) -> Result<bool> {
    let sql = "SELECT anonymised_at IS NOT NULL FROM users WHERE id = $1";
    let found: Option<bool> = on_conn!(conn, |c| sqlx::query_scalar(sql).bind(user.0).fetch_optional(&mut *c).await)?;
    Ok(found.unwrap_or(false))
}

/// One entry of the privacy audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<UserId>,
    pub actor_name: Option<String>,
    pub action: String,
    pub subject: String,
    /// JSON: counts, ids and keys, never personal values.
    pub details: String,
}

pub async fn insert_audit(
    conn: &mut Conn,
    at: DateTime<Utc>,
    actor: Option<UserId>,
    action: &str,
    subject: &str,
    details: &str,
) -> Result<()> {
    let sql = "INSERT INTO privacy_audit (at, actor_id, action, subject, details) VALUES ($1, $2, $3, $4, $5)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(to_micros(at))
        .bind(actor.map(|a| a.0))
        .bind(action)
        .bind(subject)
        .bind(details)
        .execute(&mut *c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Whether `actor` already looked at `subject` (`action`) since `since`.
pub async fn audited_since(
    conn: &mut Conn,
    actor: UserId,
    action: &str,
    subject: &str,
    since: DateTime<Utc>,
) -> Result<bool> {
    let sql = "SELECT 1 FROM privacy_audit WHERE actor_id = $1 AND action = $2 AND subject = $3 AND at >= $4 LIMIT 1";
    let found: Option<i32> = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(actor.0)
        .bind(action)
        .bind(subject)
        .bind(to_micros(since))
        .fetch_optional(&mut *c)
        .await)?;
    Ok(found.is_some())
}

/// The newest entries first, `before_id` paging backwards.
pub async fn list_audit(conn: &mut Conn, before_id: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
    let sql = "SELECT a.id, a.at, a.actor_id, u.name, a.action, a.subject, a.details FROM privacy_audit a \
        LEFT JOIN users u ON u.id = a.actor_id WHERE a.id < $1 ORDER BY a.id DESC LIMIT $2";
    type Row = (i64, i64, Option<i64>, Option<String>, String, String, String);
    let rows: Vec<Row> = on_conn!(conn, |c| sqlx::query_as(sql)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&mut *c)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, at, actor, actor_name, action, subject, details)| AuditEntry {
            id,
            at: from_micros(at),
            actor: actor.map(UserId),
            actor_name,
            action,
            subject,
            details,
        })
        .collect())
}

/// Where a person (an address) appears: what an export gathers and an
/// erasure rewrites. Found by ids and exact addresses, never by text search,
/// so that another person with a similar name is never included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonTrace {
    pub account: Option<UserId>,
    /// Tickets the account filed.
    pub filed: Vec<TicketId>,
    /// HELP requests sent from the address.
    pub help: Vec<TicketId>,
    /// Tickets where the account wrote, outside those above.
    pub commented: Vec<TicketId>,
    /// Outbox rows addressed to the person.
    pub mails_to: Vec<i64>,
    /// Inbound mail from the address (mail_messages).
    pub mails_from: Vec<i64>,
    /// Quarantined mail from the address.
    pub quarantined: Vec<i64>,
}

async fn ids(conn: &mut Conn, sql: &str, key: &str) -> Result<Vec<i64>> {
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql).bind(key).fetch_all(&mut *c).await)?)
}

async fn ids_of_user(conn: &mut Conn, sql: &str, user: UserId) -> Result<Vec<i64>> {
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql).bind(user.0).fetch_all(&mut *c).await)?)
}

/// Everything held about the person with this address (lower-case).
pub async fn person_trace(conn: &mut Conn, email: &str) -> Result<PersonTrace> {
    let account: Option<i64> = on_conn!(conn, |c| sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&mut *c)
        .await)?;
    let mut trace = PersonTrace { account: account.map(UserId), ..PersonTrace::default() };
    if let Some(user) = trace.account {
        trace.filed = requester_tickets(conn, user).await?;
        let sql = "SELECT DISTINCT ticket_id FROM comments WHERE author_id = $1 ORDER BY ticket_id";
        trace.commented = ids_of_user(conn, sql, user)
            .await?
            .into_iter()
            .map(TicketId)
            .filter(|t| !trace.filed.contains(t))
            .collect();
    }
    let help =
        ids(conn, "SELECT ticket_id FROM ticket_contacts WHERE LOWER(email) = $1 ORDER BY ticket_id", email).await?;
    trace.help = help.into_iter().map(TicketId).filter(|t| !trace.filed.contains(t)).collect();
    trace.commented.retain(|t| !trace.help.contains(t));
    trace.mails_to = ids(conn, "SELECT id FROM outbox WHERE LOWER(recipient) = $1 ORDER BY id", email).await?;
    trace.mails_from = ids_by_sender(conn, "mail_messages", " AND direction = 'in'", email).await?;
    trace.quarantined = ids_by_sender(conn, "mail_quarantine", "", email).await?;
    Ok(trace)
}

/// The rows of `table` (with `condition`) whose `sender` is `email` in any
/// case. A quarantined mail's sender is kept as the mail wrote it, and the
/// databases' LOWER may fold A to Z only (SQLite always, PostgreSQL in the
/// C locale): a mail set aside from an address with an accented capital
/// ("Élodie.Roux@…") was not found, so neither exported nor erased with
/// the person's data. Such an address is matched on its ASCII letters in
/// the database (`_` for each other character), then exactly here: a rare
/// request, which may read the whole table.
async fn ids_by_sender(conn: &mut Conn, table: &str, condition: &str, email: &str) -> Result<Vec<i64>> {
    if email.is_ascii() {
        let sql = format!("SELECT id FROM {table} WHERE LOWER(sender) = $1{condition} ORDER BY id");
        return ids(conn, &sql, email).await;
    }
    let pattern: String = email
        .chars()
        .map(|c| match c {
            '%' | '_' | '\\' => format!("\\{c}"),
            c if c.is_ascii() => c.to_string(),
            _ => "_".to_owned(),
        })
        .collect();
    let like = match conn.backend() {
        crate::Backend::Sqlite => "LIKE",
        crate::Backend::Postgres => "ILIKE",
    };
    let sql = format!("SELECT id, sender FROM {table} WHERE sender {like} $1 ESCAPE '\\'{condition} ORDER BY id");
    let rows: Vec<(i64, String)> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(&pattern).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().filter(|(_, sender)| sender.to_lowercase() == email).map(|(id, _)| id).collect())
}

/// A mail sent to the person, as kept in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailCopy {
    pub id: i64,
    pub ticket: Option<TicketId>,
    pub subject: String,
    pub body: String,
    pub at: DateTime<Utc>,
    pub sent: bool,
}

pub async fn outbox_copies(conn: &mut Conn, ids: &[i64]) -> Result<Vec<MailCopy>> {
    let mut out = Vec::new();
    for id in ids {
        let sql = "SELECT id, ticket_id, subject, body_text, created_at, sent_at IS NOT NULL FROM outbox WHERE id = $1";
        let row: Option<(i64, Option<i64>, String, String, i64, bool)> =
            on_conn!(conn, |c| sqlx::query_as(sql).bind(id).fetch_optional(&mut *c).await)?;
        if let Some((id, ticket, subject, body, at, sent)) = row {
            out.push(MailCopy { id, ticket: ticket.map(TicketId), subject, body, at: from_micros(at), sent });
        }
    }
    Ok(out)
}

/// A mail received from the person: its subject and, while kept, the message as received.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InboundCopy {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub subject: String,
    pub raw: Option<Vec<u8>>,
    pub created_at: i64,
}

pub async fn inbound_copies(conn: &mut Conn, ids: &[i64]) -> Result<Vec<InboundCopy>> {
    let mut out = Vec::new();
    for id in ids {
        let sql = "SELECT id, ticket_id, subject, raw, created_at FROM mail_messages WHERE id = $1";
        let row: Option<InboundCopy> = on_conn!(conn, |c| sqlx::query_as(sql).bind(id).fetch_optional(&mut *c).await)?;
        out.extend(row);
    }
    Ok(out)
}

/// Mail to an erased person: queued mail is given up, copies lose their
/// body and the address.
pub async fn erase_mail_to(conn: &mut Conn, ids: &[i64], placeholder: &str, now: DateTime<Utc>) -> Result<()> {
    for id in ids {
        let sql = "UPDATE outbox SET recipient = $1, body_text = '', body_html = '', \
            failed_at = CASE WHEN sent_at IS NULL THEN COALESCE(failed_at, $2) ELSE failed_at END, \
            last_error = CASE WHEN sent_at IS NULL THEN 'recipient erased' ELSE last_error END WHERE id = $3";
        on_conn!(conn, |c| sqlx::query(sql)
            .bind(placeholder)
            .bind(to_micros(now))
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

/// Mail from an erased person: the message as received and its sender go;
/// quarantined messages are removed.
pub async fn erase_mail_from(conn: &mut Conn, messages: &[i64], quarantined: &[i64]) -> Result<()> {
    for id in messages {
        let sql = "UPDATE mail_messages SET raw = NULL, sender = '', subject = '' WHERE id = $1";
        on_conn!(conn, |c| sqlx::query(sql).bind(id).execute(&mut *c).await.map(|_| ()))?;
    }
    for id in quarantined {
        on_conn!(conn, |c| sqlx::query("DELETE FROM mail_quarantine WHERE id = $1")
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

/// Content masked on a ticket: where, by whom, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    pub target: String,
    pub target_id: Option<i64>,
    pub actor_name: Option<String>,
    pub reason: String,
    pub at: DateTime<Utc>,
}

pub async fn insert_redaction(
    conn: &mut Conn,
    ticket: TicketId,
    target: &str,
    target_id: Option<i64>,
    actor: Option<UserId>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql =
        "INSERT INTO redactions (ticket_id, target, target_id, actor_id, reason, at) VALUES ($1, $2, $3, $4, $5, $6)";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(ticket.0)
        .bind(target)
        .bind(target_id)
        .bind(actor.map(|a| a.0))
        .bind(reason)
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|_| ()))?;
    Ok(())
}

pub async fn list_redactions(conn: &mut Conn, ticket: TicketId) -> Result<Vec<Redaction>> {
    let sql = "SELECT r.target, r.target_id, u.name, r.reason, r.at FROM redactions r \
        LEFT JOIN users u ON u.id = r.actor_id WHERE r.ticket_id = $1 ORDER BY r.id";
    type Row = (String, Option<i64>, Option<String>, String, i64);
    let rows: Vec<Row> = on_conn!(conn, |c| sqlx::query_as(sql).bind(ticket.0).fetch_all(&mut *c).await)?;
    Ok(rows
        .into_iter()
        .map(|(target, target_id, actor_name, reason, at)| Redaction {
            target,
            target_id,
            actor_name,
            reason,
            at: from_micros(at),
        })
        .collect())
}
