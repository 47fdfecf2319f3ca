//! The on-duty rota: who holds the desk on a given local date and part of the day.

use crate::db::{Conn, Result};
use guichet_domain::ids::UserId;
use guichet_domain::ticket::UserRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutySlot {
    /// Local date, `YYYY-MM-DD`.
    pub day: String,
    /// `day`, `morning` or `afternoon`.
    pub part: String,
    pub user: UserRef,
}

pub async fn list_duty(conn: &mut Conn, from: &str, to: &str) -> Result<Vec<DutySlot>> {
    let sql = "SELECT d.day, d.part, u.id, u.name FROM duty_slots d JOIN users u ON u.id = d.user_id \
               WHERE d.day >= $1 AND d.day <= $2 AND NOT u.disabled ORDER BY d.day, d.part, u.name";
    let rows: Vec<(String, String, i64, String)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(from).bind(to).fetch_all(&mut *c).await)?;
    Ok(rows
        .into_iter()
        .map(|(day, part, id, name)| DutySlot { day, part, user: UserRef { id: UserId(id), name } })
        .collect())
}

pub async fn insert_duty(conn: &mut Conn, day: &str, part: &str, user: UserId) -> Result<()> {
    let sql = "INSERT INTO duty_slots (day, part, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(day)
        .bind(part)
        .bind(user.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn delete_duty(conn: &mut Conn, day: &str, part: &str, user: UserId) -> Result<bool> {
    let sql = "DELETE FROM duty_slots WHERE day = $1 AND part = $2 AND user_id = $3";
    let done = on_conn!(conn, |c| sqlx::query(sql)
        .bind(day)
        .bind(part)
        .bind(user.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Of `candidates`, the one whose latest assigned ticket is the oldest (or who has none).
pub async fn least_recently_assigned(conn: &mut Conn, candidates: &[UserId]) -> Result<Option<UserId>> {
    let mut best: Option<(Option<i64>, UserId)> = None;
    for user in candidates {
        let last: Option<i64> =
            on_conn!(conn, |c| sqlx::query_scalar("SELECT MAX(created_at) FROM tickets WHERE assignee_id = $1")
                .bind(user.0)
                .fetch_one(&mut *c)
                .await)?;
        if best.as_ref().is_none_or(|(b, _)| last < *b) {
            best = Some((last, *user));
        }
    }
    Ok(best.map(|(_, u)| u))
}
