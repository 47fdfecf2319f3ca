//! Users, their phone numbers and the establishments requesters belong to.

use crate::db::{decode, to_micros, Conn, Result};
use chrono::{DateTime, Utc};
use guichet_domain::ids::{EstablishmentId, UserId};
use guichet_domain::user::{EmailAddress, Language, NewUser, Role, User};
use sqlx::{Database, QueryBuilder};

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    language: String,
    disabled: bool,
    /// The phone numbers, in order, separated by commas (a number has none).
    phones: Option<String>,
    /// The establishments' numbers, in order, separated by commas.
    establishments: Option<String>,
}

/// A user's columns with their phones and establishments aggregated, in one
/// statement: every authenticated request reads its user, and a list reads
/// many. Qualified, so that a credential's query can join its owner.
pub(crate) fn columns(backend: crate::Backend) -> &'static str {
    match backend {
        crate::Backend::Sqlite => {
            "users.id, users.email, users.name, users.role, users.language, users.disabled, \
             (SELECT group_concat(phone, ',' ORDER BY phone) FROM user_phones p WHERE p.user_id = users.id) AS phones, \
             (SELECT group_concat(establishment_id, ',' ORDER BY establishment_id) FROM user_establishments x \
              WHERE x.user_id = users.id) AS establishments"
        }
        crate::Backend::Postgres => {
            "users.id, users.email, users.name, users.role, users.language, users.disabled, \
             (SELECT string_agg(phone, ',' ORDER BY phone) FROM user_phones p WHERE p.user_id = users.id) AS phones, \
             (SELECT string_agg(establishment_id::TEXT, ',' ORDER BY establishment_id) FROM user_establishments x \
              WHERE x.user_id = users.id) AS establishments"
        }
    }
}

fn select(conn: &Conn) -> String {
    format!("SELECT {} FROM users", columns(conn.backend()))
}

/// Inserts a user with phones and establishments (given as ids).
/// Creates a user without establishments, phones nor password unless one
/// with that address exists (then returns that one): safe when two nodes
/// create the same account at once (the HELP form's, an unknown sender's).
pub async fn insert_user_if_absent(conn: &mut Conn, new: &NewUser, now: DateTime<Utc>) -> Result<User> {
    let sql = "INSERT INTO users (email, name, role, language, password_hash, disabled, created_at) \
               VALUES ($1, $2, $3, $4, NULL, FALSE, $5) ON CONFLICT (email) DO NOTHING";
    on_conn!(conn, |c| sqlx::query(sql)
        .bind(new.email.as_str())
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(new.language.as_str())
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    find_user_by_email(conn, &new.email).await?.ok_or(crate::StoreError::NotFound)
}

pub async fn insert_user(
    conn: &mut Conn,
    new: &NewUser,
    establishments: &[EstablishmentId],
    password_hash: Option<&str>,
    now: DateTime<Utc>,
) -> Result<User> {
    let sql = "INSERT INTO users (email, name, role, language, password_hash, disabled, created_at) \
               VALUES ($1, $2, $3, $4, $5, FALSE, $6) RETURNING id";
    let id: i64 = on_conn!(conn, |c| sqlx::query_scalar(sql)
        .bind(new.email.as_str())
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(new.language.as_str())
        .bind(password_hash)
        .bind(to_micros(now))
        .fetch_one(&mut *c)
        .await)?;
    let mut phones = new.phones.clone();
    phones.sort();
    phones.dedup();
    for phone in &phones {
        on_conn!(conn, |c| sqlx::query("INSERT INTO user_phones (user_id, phone) VALUES ($1, $2)")
            .bind(id)
            .bind(phone)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    for establishment in establishments {
        on_conn!(conn, |c| sqlx::query("INSERT INTO user_establishments (user_id, establishment_id) VALUES ($1, $2)")
            .bind(id)
            .bind(establishment.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(User {
        id: UserId(id),
        email: new.email.clone(),
        name: new.name.clone(),
        role: new.role,
        language: new.language,
        phones,
        establishments: establishments.to_vec(),
        disabled: false,
    })
}

pub(crate) fn complete_one(row: UserRow) -> Result<User> {
    complete(vec![row])?.pop().ok_or(crate::StoreError::NotFound)
}

fn complete(rows: Vec<UserRow>) -> Result<Vec<User>> {
    let split = |list: &Option<String>| -> Vec<String> {
        list.as_deref().unwrap_or_default().split(',').filter(|v| !v.is_empty()).map(str::to_owned).collect()
    };
    let mut users = Vec::with_capacity(rows.len());
    for row in rows {
        let establishments = split(&row.establishments)
            .iter()
            .map(|id| {
                id.parse::<i64>().map(EstablishmentId).map_err(|e| {
                    crate::StoreError::Internal(sqlx::Error::Decode(format!("establishment `{id}`: {e}").into()))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        users.push(User {
            id: UserId(row.id),
            email: decode(&row.email, EmailAddress::parse)?,
            phones: split(&row.phones),
            name: row.name,
            role: decode(&row.role, Role::parse)?,
            language: decode(&row.language, Language::parse)?,
            establishments,
            disabled: row.disabled,
        });
    }
    Ok(users)
}

pub async fn find_user(conn: &mut Conn, id: UserId) -> Result<User> {
    let sql = format!("{} WHERE id = $1", select(conn));
    let row: UserRow = on_conn!(conn, |c| sqlx::query_as(&sql).bind(id.0).fetch_one(&mut *c).await)?;
    complete_one(row)
}

pub async fn find_user_by_email(conn: &mut Conn, email: &EmailAddress) -> Result<Option<User>> {
    let sql = format!("{} WHERE email = $1", select(conn));
    let row: Option<UserRow> =
        on_conn!(conn, |c| sqlx::query_as(&sql).bind(email.as_str()).fetch_optional(&mut *c).await)?;
    Ok(complete(row.into_iter().collect())?.pop())
}

/// The password hash of an enabled user, for sign-in.
pub async fn find_password_hash(conn: &mut Conn, email: &EmailAddress) -> Result<Option<(UserId, Option<String>)>> {
    let sql = "SELECT id, password_hash FROM users WHERE email = $1 AND NOT disabled";
    let row: Option<(i64, Option<String>)> =
        on_conn!(conn, |c| sqlx::query_as(sql).bind(email.as_str()).fetch_optional(&mut *c).await)?;
    Ok(row.map(|(id, hash)| (UserId(id), hash)))
}

pub async fn update_password_hash(conn: &mut Conn, id: UserId, hash: &str) -> Result<()> {
    crate::db::one_row(on_conn!(conn, |c| sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)?;
    Ok(())
}

/// Filters for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub establishment: Option<EstablishmentId>,
    /// Matches name, e-mail or a phone number (digits only).
    pub search: Option<String>,
}

/// Someone who can be assigned a ticket or put on duty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: UserId,
    pub name: String,
    pub role: Role,
}

/// Active agents, technicians and admins, by name: one indexed query (the
/// ticket page lists them for every agent who opens a ticket).
pub async fn list_staff(conn: &mut Conn) -> Result<Vec<StaffMember>> {
    let sql = "SELECT id, name, role FROM users WHERE role IN ('agent', 'technician', 'admin') AND NOT disabled \
               ORDER BY name, id";
    let rows: Vec<(i64, String, String)> = on_conn!(conn, |c| sqlx::query_as(sql).fetch_all(&mut *c).await)?;
    rows.into_iter()
        .map(|(id, name, role)| Ok(StaffMember { id: UserId(id), name, role: crate::db::decode(&role, Role::parse)? }))
        .collect()
}

/// ` WHERE …` of [`list_users`]: the search matches the name in any case
/// (see [`crate::establishments::push_contains`]), the address, or a phone
/// number's digits.
fn push_user_filter<'a, DB>(qb: &mut QueryBuilder<'a, DB>, filter: &UserFilter)
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" WHERE 1 = 1");
    if let Some(role) = filter.role {
        qb.push(" AND role = ").push_bind(role.as_str().to_owned());
    }
    if let Some(establishment) = filter.establishment {
        qb.push(" AND id IN (SELECT user_id FROM user_establishments WHERE establishment_id = ")
            .push_bind(establishment.0)
            .push(")");
    }
    if let Some(search) = &filter.search {
        let lower = search.to_lowercase();
        qb.push(" AND (");
        crate::establishments::push_contains(qb, &["name"], &lower);
        qb.push(" OR email LIKE ").push_bind(format!("%{}%", crate::establishments::escape_like(&lower)));
        qb.push(" ESCAPE '\\'");
        if let Ok(phone) = guichet_domain::user::normalize_phone(search) {
            qb.push(" OR id IN (SELECT user_id FROM user_phones WHERE phone LIKE ").push_bind(format!("%{phone}%"));
            qb.push(")");
        }
        qb.push(")");
    }
}

pub async fn list_users(conn: &mut Conn, filter: &UserFilter, limit: i64, offset: i64) -> Result<(Vec<User>, i64)> {
    let select = select(conn);
    let rows: Vec<UserRow> = on_conn!(conn, |c| {
        let mut qb = QueryBuilder::new(select);
        push_user_filter(&mut qb, filter);
        qb.push(" ORDER BY name, id LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        qb.build_query_as().fetch_all(&mut *c).await
    })?;
    let total: i64 = on_conn!(conn, |c| {
        let mut qb = QueryBuilder::new("SELECT COUNT(*) FROM users");
        push_user_filter(&mut qb, filter);
        qb.build_query_scalar().fetch_one(&mut *c).await
    })?;
    Ok((complete(rows)?, total))
}

pub async fn update_user_language(conn: &mut Conn, id: UserId, language: Language) -> Result<()> {
    on_conn!(conn, |c| sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
        .bind(language.as_str())
        .bind(id.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Enables or disables a user; a disabled user's sessions and tokens stop working.
/// When it was disabled is kept: disabled accounts are anonymised some time after.
pub async fn update_user_disabled(conn: &mut Conn, id: UserId, disabled: bool, now: DateTime<Utc>) -> Result<()> {
    let sql = "UPDATE users SET disabled = $1, \
        disabled_at = CASE WHEN $1 THEN COALESCE(disabled_at, $3) ELSE NULL END WHERE id = $2";
    crate::db::one_row(on_conn!(conn, |c| sqlx::query(sql)
        .bind(disabled)
        .bind(id.0)
        .bind(crate::db::to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)?;
    Ok(())
}

/// Changes a user's role and, for a requester, their establishments.
pub async fn update_user_role(
    conn: &mut Conn,
    id: UserId,
    role: Role,
    establishments: &[EstablishmentId],
) -> Result<()> {
    crate::db::one_row(on_conn!(conn, |c| sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
        .bind(role.as_str())
        .bind(id.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?)?;
    on_conn!(conn, |c| sqlx::query("DELETE FROM user_establishments WHERE user_id = $1")
        .bind(id.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    for establishment in establishments {
        on_conn!(conn, |c| sqlx::query("INSERT INTO user_establishments (user_id, establishment_id) VALUES ($1, $2)")
            .bind(id.0)
            .bind(establishment.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Addresses of the active administrators, for alerts.
pub async fn list_admin_emails(conn: &mut Conn) -> Result<Vec<String>> {
    let sql = "SELECT email FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id";
    Ok(on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_all(&mut *c).await)?)
}

/// The users whose address is `$1` or whose name, lower-cased by the
/// database, is one of `forms` values from `$2` on (see
/// [`crate::fold::lower_forms`]).
pub fn users_named(forms: usize) -> String {
    format!(
        "SELECT id FROM users WHERE email = $1 OR LOWER(name) IN ({}) ORDER BY id",
        crate::db::placeholders(2, forms)
    )
}

/// The users a query's `assignee = …` or `requester = …` names, by address
/// or by name (lower-cased by the query language), as the compiler used to
/// look them up in a sub-query.
pub async fn user_ids_named(conn: &mut Conn, name: &str) -> Result<Vec<i64>> {
    let forms = crate::fold::lower_forms(name);
    let sql = users_named(forms.len());
    Ok(on_conn!(conn, |c| {
        let mut query = sqlx::query_scalar(&sql).bind(name);
        for form in &forms {
            query = query.bind(form);
        }
        query.fetch_all(&mut *c).await
    })?)
}
