//! Satisfaction surveys: one per resolved ticket, found by the hash of the
//! link's token, answered once; and their counts for the reports.

use crate::db::{from_micros, opt_from_micros, to_micros, Conn, Result};
use crate::tickets::{push_conditions, TicketFilter};
use chrono::{DateTime, Utc};
use guichet_domain::ids::{TicketId, UserId};
use sqlx::QueryBuilder;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    pub ticket: TicketId,
    pub requester: UserId,
    /// Who held the ticket when it was resolved.
    pub agent: Option<UserId>,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub reminded_at: Option<DateTime<Utc>>,
    pub rating: Option<i64>,
    pub comment: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
}

type Row = (i64, i64, Option<i64>, i64, i64, Option<i64>, Option<i64>, Option<String>, Option<i64>);

const SELECT: &str = "SELECT ticket_id, requester_id, agent_id, sent_at, expires_at, reminded_at, rating, comment, \
                      answered_at FROM satisfaction_surveys";

fn from_row(r: Row) -> Survey {
    Survey {
        ticket: TicketId(r.0),
        requester: UserId(r.1),
        agent: r.2.map(UserId),
        sent_at: from_micros(r.3),
        expires_at: from_micros(r.4),
        reminded_at: opt_from_micros(r.5),
        rating: r.6,
        comment: r.7,
        answered_at: opt_from_micros(r.8),
    }
}

/// Records a survey unless the ticket has one already (a ticket reopened and
/// resolved again is asked once); says whether it was recorded.
pub async fn insert_survey(conn: &mut Conn, survey: &Survey, token_hash: &str) -> Result<bool> {
    let sql = "INSERT INTO satisfaction_surveys (ticket_id, requester_id, agent_id, token_hash, sent_at, expires_at) \
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ticket_id) DO NOTHING";
    let affected = on_conn!(conn, |c| sqlx::query(sql)
        .bind(survey.ticket.0)
        .bind(survey.requester.0)
        .bind(survey.agent.map(|a| a.0))
        .bind(token_hash)
        .bind(to_micros(survey.sent_at))
        .bind(to_micros(survey.expires_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(affected > 0)
}

/// The survey a link's token (hashed) opens: the first mail's or the reminder's.
pub async fn find_by_token(conn: &mut Conn, token_hash: &str) -> Result<Option<Survey>> {
    let sql = format!("{SELECT} WHERE token_hash = $1 OR reminder_hash = $1");
    let row: Option<Row> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(token_hash).fetch_optional(&mut *c).await)?;
    Ok(row.map(from_row))
}

pub async fn find_for_ticket(conn: &mut Conn, ticket: TicketId) -> Result<Option<Survey>> {
    let sql = format!("{SELECT} WHERE ticket_id = $1");
    let row: Option<Row> = on_conn!(conn, |c| sqlx::query_as(&sql).bind(ticket.0).fetch_optional(&mut *c).await)?;
    Ok(row.map(from_row))
}

/// Records the answer if none was given yet: a second submission, even at
/// the same instant, finds the survey answered and changes nothing.
pub async fn answer(
    conn: &mut Conn,
    ticket: TicketId,
    rating: i64,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let sql = "UPDATE satisfaction_surveys SET rating = $1, comment = $2, answered_at = $3 \
               WHERE ticket_id = $4 AND answered_at IS NULL AND expires_at > $3";
    let affected = on_conn!(conn, |c| sqlx::query(sql)
        .bind(rating)
        .bind(comment)
        .bind(to_micros(now))
        .bind(ticket.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(affected > 0)
}

/// Unanswered surveys sent before `sent_before`, not reminded, still valid.
pub async fn due_reminders(
    conn: &mut Conn,
    sent_before: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<TicketId>> {
    let sql = "SELECT ticket_id FROM satisfaction_surveys WHERE answered_at IS NULL AND reminded_at IS NULL \
               AND sent_at < $1 AND expires_at > $2 ORDER BY sent_at LIMIT $3";
    let ids: Vec<i64> = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(to_micros(sent_before))
        .bind(to_micros(now))
        .bind(limit)
        .fetch_all(&mut *c)
        .await)?;
    Ok(ids.into_iter().map(TicketId).collect())
}

/// Marks the reminder sent with its own link; false when someone (another
/// node, the requester) got there first.
pub async fn set_reminder(conn: &mut Conn, ticket: TicketId, token_hash: &str, now: DateTime<Utc>) -> Result<bool> {
    let sql = "UPDATE satisfaction_surveys SET reminder_hash = $1, reminded_at = $2 \
               WHERE ticket_id = $3 AND reminded_at IS NULL AND answered_at IS NULL";
    let affected = on_conn!(conn, |c| sqlx::query(sql)
        .bind(token_hash)
        .bind(to_micros(now))
        .bind(ticket.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(affected > 0)
}

/// What answers are grouped by in the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Type,
    Category,
    Tier,
    Agent,
}

impl Grouping {
    fn column(self) -> &'static str {
        match self {
            Grouping::Type => "t.ticket_type",
            Grouping::Category => "COALESCE(CAST(t.category_id AS TEXT), '')",
            Grouping::Tier => "t.tier",
            Grouping::Agent => "COALESCE(CAST(s.agent_id AS TEXT), '')",
        }
    }
}

/// Answers in a group: how many, the sum of their ratings, how many rated 4 or 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub answered: i64,
    pub rating_sum: i64,
    pub satisfied: i64,
}

/// Answers given in `[start, end)` to surveys of the tickets `filter` selects, per group.
pub async fn tally_by(
    conn: &mut Conn,
    filter: &TicketFilter,
    grouping: Grouping,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(String, Tally)>> {
    let column = grouping.column();
    let rows: Vec<(String, i64, i64, i64)> = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(format!(
            "SELECT {column}, COUNT(*), CAST(COALESCE(SUM(s.rating), 0) AS BIGINT), \
             COALESCE(SUM(CASE WHEN s.rating >= 4 THEN 1 ELSE 0 END), 0) \
             FROM satisfaction_surveys s JOIN tickets t ON t.id = s.ticket_id"
        ));
        push_conditions(&mut qb, filter);
        qb.push(" AND s.answered_at >= ").push_bind(to_micros(start));
        qb.push(" AND s.answered_at < ").push_bind(to_micros(end));
        qb.push(format_args!(" GROUP BY {column} ORDER BY COUNT(*) DESC, {column}"));
        qb.build_query_as().fetch_all(&mut *c).await
    })?;
    Ok(rows
        .into_iter()
        .map(|(key, answered, rating_sum, satisfied)| (key, Tally { answered, rating_sum, satisfied }))
        .collect())
}

/// Answers per `[start, end)` span, in order, and the surveys sent in each.
pub async fn tally_per_span(
    conn: &mut Conn,
    filter: &TicketFilter,
    spans: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<(Tally, i64)>> {
    let mut out = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        let tally = tally_by_all(conn, filter, *start, *end).await?;
        let sent: i64 = on_conn!(conn, |c| {
            let mut qb: QueryBuilder<'_, _> =
                QueryBuilder::new("SELECT COUNT(*) FROM satisfaction_surveys s JOIN tickets t ON t.id = s.ticket_id");
            push_conditions(&mut qb, filter);
            qb.push(" AND s.sent_at >= ").push_bind(to_micros(*start));
            qb.push(" AND s.sent_at < ").push_bind(to_micros(*end));
            qb.build_query_scalar().fetch_one(&mut *c).await
        })?;
        out.push((tally, sent));
    }
    Ok(out)
}

async fn tally_by_all(
    conn: &mut Conn,
    filter: &TicketFilter,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Tally> {
    let row: (i64, i64, i64) = on_conn!(conn, |c| {
        let mut qb: QueryBuilder<'_, _> = QueryBuilder::new(
            "SELECT COUNT(*), CAST(COALESCE(SUM(s.rating), 0) AS BIGINT), COALESCE(SUM(CASE WHEN s.rating >= 4 THEN 1 ELSE 0 END), 0) \
             FROM satisfaction_surveys s JOIN tickets t ON t.id = s.ticket_id",
        );
        push_conditions(&mut qb, filter);
        qb.push(" AND s.answered_at >= ").push_bind(to_micros(start));
        qb.push(" AND s.answered_at < ").push_bind(to_micros(end));
        qb.build_query_as().fetch_one(&mut *c).await
    })?;
    Ok(Tally { answered: row.0, rating_sum: row.1, satisfied: row.2 })
}
