//! Establishments: schools and the départements, académies or régions above them.

use crate::db::{decode, Conn, Result, StoreError};
use chrono::{DateTime, Utc};
use guichet_domain::establishment::{Establishment, NewEstablishment, Uai};
use guichet_domain::ids::EstablishmentId;
use sqlx::{Database, QueryBuilder};

#[derive(sqlx::FromRow)]
struct EstablishmentRow {
    id: i64,
    uai: String,
    name: String,
    town: String,
    parent_id: Option<i64>,
}

impl EstablishmentRow {
    fn into_domain(self) -> Result<Establishment> {
        Ok(Establishment {
            id: EstablishmentId(self.id),
            uai: decode(&self.uai, Uai::parse)?,
            name: self.name,
            town: self.town,
            parent: self.parent_id.map(EstablishmentId),
        })
    }
}

const SELECT: &str = "SELECT id, uai, name, town, parent_id FROM establishments";

/// What an import did with one establishment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Updated,
    Unchanged,
}

/// Creates the establishment or updates the one with the same UAI. The parent
/// must already exist.
pub async fn upsert_establishment(
    conn: &mut Conn,
    new: &NewEstablishment,
    now: DateTime<Utc>,
) -> Result<(Establishment, Upserted)> {
    let parent = match &new.parent_uai {
        Some(uai) => Some(
            find_establishment_by_uai(conn, uai)
                .await?
                .ok_or(StoreError::Conflict { field: "parent_uai".into() })?
                .id
                .0,
        ),
        None => None,
    };
    let existing = find_establishment_by_uai(conn, &new.uai).await?;
    if let Some(existing) = existing {
        if existing.name == new.name && existing.town == new.town && existing.parent.map(|p| p.0) == parent {
            return Ok((existing, Upserted::Unchanged));
        }
        let sql = "UPDATE establishments SET name = $1, town = $2, parent_id = $3 WHERE id = $4";
        on_conn!(conn, |c| sqlx::query(sql)
            .bind(&new.name)
            .bind(&new.town)
            .bind(parent)
            .bind(existing.id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        let updated = Establishment {
            name: new.name.clone(),
            town: new.town.clone(),
            parent: parent.map(EstablishmentId),
            ..existing
        };
        return Ok((updated, Upserted::Updated));
    }
    let sql =
        "INSERT INTO establishments (uai, name, town, parent_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
    let id: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(new.uai.as_str())
        .bind(&new.name)
        .bind(&new.town)
        .bind(parent)
        .bind(crate::db::to_micros(now))
        .fetch_one(&mut *c)
        .await)?;
    let created = Establishment {
        id: EstablishmentId(id),
        uai: new.uai.clone(),
        name: new.name.clone(),
        town: new.town.clone(),
        parent: parent.map(EstablishmentId),
    };
    Ok((created, Upserted::Created))
}

pub async fn find_establishment_by_uai(conn: &mut Conn, uai: &Uai) -> Result<Option<Establishment>> {
    let sql = format!("{SELECT} WHERE uai = $1");
    let row: Option<EstablishmentRow> =
        on_conn!(conn, |c| sqlx::query_as(&sql).bind(uai.as_str()).fetch_optional(&mut *c).await)?;
    row.map(EstablishmentRow::into_domain).transpose()
}

pub async fn find_establishment(conn: &mut Conn, id: EstablishmentId) -> Result<Establishment> {
    let sql = format!("{SELECT} WHERE id = $1");
    let row: EstablishmentRow = on_conn!(conn, |c| sqlx::query_as(&sql).bind(id.0).fetch_one(&mut *c).await)?;
    row.into_domain()
}

/// Lists establishments by name, optionally restricted to some ids and
/// matching `search` in UAI, name or town. Returns the page and the total.
pub async fn list_establishments(
    conn: &mut Conn,
    only: Option<&[EstablishmentId]>,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Establishment>, i64)> {
    let rows: Vec<EstablishmentRow> = on_conn!(conn, |c| {
        let mut qb = QueryBuilder::new(SELECT);
        push_establishment_filter(&mut qb, only, search);
        qb.push(" ORDER BY name, uai LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        qb.build_query_as().fetch_all(&mut *c).await
    })?;
    let total: i64 = on_conn!(conn, |c| {
        let mut qb = QueryBuilder::new("SELECT COUNT(*) FROM establishments");
        push_establishment_filter(&mut qb, only, search);
        qb.build_query_scalar().fetch_one(&mut *c).await
    })?;
    Ok((rows.into_iter().map(EstablishmentRow::into_domain).collect::<Result<_>>()?, total))
}

pub async fn find_establishments(conn: &mut Conn, ids: &[EstablishmentId]) -> Result<Vec<Establishment>> {
    Ok(list_establishments(conn, Some(ids), None, i64::MAX, 0).await?.0)
}

/// ` WHERE …` of [`list_establishments`].
fn push_establishment_filter<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    only: Option<&[EstablishmentId]>,
    search: Option<&str>,
) where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" WHERE 1 = 1");
    if let Some(only) = only {
        // Ids are integers we produced, so listing them inline is safe, and
        // a long list (a report's schools) takes no bound value each.
        let ids: Vec<String> = only.iter().map(|e| e.0.to_string()).collect();
        qb.push(format_args!(" AND id IN ({})", if ids.is_empty() { "NULL".into() } else { ids.join(",") }));
    }
    if let Some(search) = search {
        qb.push(" AND ");
        push_contains(qb, &["uai", "name", "town"], &search.to_lowercase());
    }
}

/// `(LOWER(column) LIKE … OR …)`: `lower` (lower-cased) inside any of
/// `columns` as the database lower-cases them, written in each form its
/// `LOWER` may leave them in (see [`crate::fold::lower_forms`]).
pub(crate) fn push_contains<'a, DB>(qb: &mut QueryBuilder<'a, DB>, columns: &[&str], lower: &str)
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut separated = qb.separated(" OR ");
    separated.push_unseparated("(");
    for form in crate::fold::lower_forms(lower) {
        let pattern = format!("%{}%", escape_like(&form));
        for column in columns {
            separated.push(format_args!("LOWER({column}) LIKE "));
            separated.push_bind_unseparated(pattern.clone());
            separated.push_unseparated(" ESCAPE '\\'");
        }
    }
    separated.push_unseparated(")");
}

/// Escapes `%`, `_` and the escape character itself for a LIKE pattern.
pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// An establishment and all those under it (a département's schools, an académie's départements…).
pub async fn list_descendants(conn: &mut Conn, id: EstablishmentId) -> Result<Vec<EstablishmentId>> {
    let sql = "WITH RECURSIVE tree(id) AS (SELECT CAST($1 AS BIGINT) UNION SELECT e.id FROM establishments e \
        JOIN tree ON e.parent_id = tree.id) SELECT id FROM tree";
    let ids: Vec<i64> = on_conn!(conn, |c| sqlx::query_scalar(sql).bind(id.0).fetch_all(&mut *c).await)?;
    Ok(ids.into_iter().map(EstablishmentId).collect())
}
