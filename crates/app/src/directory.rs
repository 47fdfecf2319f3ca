//! The directory: establishments and users. Admins manage it; the desk reads
//! it to find callers; a requester sees only their own establishments.

use crate::auth::{hash_password, Principal};
use crate::{App, AppError};
use guichet_domain::establishment::{Establishment, NewEstablishment};
use guichet_domain::ids::EstablishmentId;
use guichet_domain::user::{NewUser, User};
use guichet_store::establishments::Upserted;
use guichet_store::users::UserFilter;

/// One line of an establishment import that could not be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: Vec<ImportError>,
}

/// One parsed CSV row, or why it could not be parsed.
pub type ImportRow = (u64, Result<(String, String, String, Option<String>), String>);

impl App {
    fn require_admin(p: &Principal) -> Result<(), AppError> {
        if p.actor.can_manage_directory() {
            Ok(())
        } else {
            Err(AppError::Forbidden("only administrators manage the directory".into()))
        }
    }

    pub async fn create_establishment(&self, p: &Principal, new: NewEstablishment) -> Result<Establishment, AppError> {
        Self::require_admin(p)?;
        let mut tx = self.db.begin().await?;
        if guichet_store::establishments::find_establishment_by_uai(&mut tx, &new.uai).await?.is_some() {
            return Err(AppError::Conflict {
                field: "uai".into(),
                message: format!("an establishment with UAI {} already exists", new.uai),
            });
        }
        let (created, _) = guichet_store::establishments::upsert_establishment(&mut tx, &new, self.now())
            .await
            .map_err(|e| parent_error(e, &new))?;
        tx.commit().await?;
        Ok(created)
    }

    /// Imports establishments: valid rows are kept, each bad row is reported
    /// with its line number. Parents may appear later in the file than their
    /// children, so rows are retried until no more can be placed.
    pub async fn import_establishments(&self, p: &Principal, rows: Vec<ImportRow>) -> Result<ImportReport, AppError> {
        Self::require_admin(p)?;
        let mut report = ImportReport::default();
        let mut pending = Vec::new();
        for (line, row) in rows {
            match row.and_then(|(uai, name, town, parent)| {
                NewEstablishment::parse(&uai, &name, &town, parent.as_deref()).map_err(|e| match e {
                    guichet_domain::DomainError::Validation(list) => {
                        list.into_iter().map(|f| f.message).collect::<Vec<_>>().join("; ")
                    }
                    other => other.to_string(),
                })
            }) {
                Ok(new) => pending.push((line, new)),
                Err(message) => report.errors.push(ImportError { line, message }),
            }
        }
        let mut tx = self.db.begin().await?;
        loop {
            let before = pending.len();
            let mut next = Vec::new();
            for (line, new) in pending {
                match guichet_store::establishments::upsert_establishment(&mut tx, &new, self.now()).await {
                    Ok((_, Upserted::Created)) => report.created += 1,
                    Ok((_, Upserted::Updated)) => report.updated += 1,
                    Ok((_, Upserted::Unchanged)) => report.unchanged += 1,
                    Err(guichet_store::StoreError::Conflict { field }) if field == "parent_uai" => {
                        next.push((line, new))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            pending = next;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        for (line, new) in pending {
            let parent = new.parent_uai.map(|p| p.to_string()).unwrap_or_default();
            report.errors.push(ImportError { line, message: format!("parent establishment {parent} is unknown") });
        }
        tx.commit().await?;
        report.errors.sort_by_key(|e| e.line);
        Ok(report)
    }

    /// Establishments the actor may see, by name.
    pub async fn list_establishments(
        &self,
        p: &Principal,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Establishment>, i64), AppError> {
        let mut conn = self.db.conn().await?;
        let only = (!p.actor.role.is_staff()).then_some(p.actor.establishments.as_slice());
        Ok(guichet_store::establishments::list_establishments(&mut conn, only, search, limit, offset).await?)
    }

    pub async fn find_establishments(&self, ids: &[EstablishmentId]) -> Result<Vec<Establishment>, AppError> {
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::establishments::find_establishments(&mut conn, ids).await?)
    }

    /// Creates a user; the password, if any, is hashed with Argon2id.
    pub async fn create_user(&self, p: &Principal, new: NewUser, password: Option<&str>) -> Result<User, AppError> {
        Self::require_admin(p)?;
        self.insert_user(new, password).await
    }

    /// Creates a user without an actor: for the command line, which runs with
    /// the operator's rights on the machine.
    pub async fn insert_user(&self, new: NewUser, password: Option<&str>) -> Result<User, AppError> {
        let hash = password.map(hash_password).transpose()?;
        let mut tx = self.db.begin().await?;
        if guichet_store::users::find_user_by_email(&mut tx, &new.email).await?.is_some() {
            return Err(AppError::Conflict {
                field: "email".into(),
                message: format!("a user with the address {} already exists", new.email.as_str()),
            });
        }
        let mut ids = Vec::with_capacity(new.establishment_uais.len());
        for uai in &new.establishment_uais {
            let e = guichet_store::establishments::find_establishment_by_uai(&mut tx, uai)
                .await?
                .ok_or_else(|| AppError::field("establishments", format!("unknown establishment {uai}")))?;
            ids.push(e.id);
        }
        let user = guichet_store::users::insert_user(&mut tx, &new, &ids, hash.as_deref(), self.now()).await?;
        tx.commit().await?;
        tracing::info!(user = %user.id, role = %user.role, "user created");
        Ok(user)
    }

    /// Users, for the desk (caller look-up) and admins; requesters may not list people.
    pub async fn list_users(
        &self,
        p: &Principal,
        filter: &UserFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<User>, i64), AppError> {
        if !p.actor.role.is_staff() {
            return Err(AppError::Forbidden("only the desk lists users".into()));
        }
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::users::list_users(&mut conn, filter, limit, offset).await?)
    }

    /// A bootstrap principal for command-line tasks run by the operator.
    pub fn operator(&self) -> Principal {
        use guichet_domain::actor::Actor;
        use guichet_domain::ids::UserId;
        use guichet_domain::user::{EmailAddress, Language, Role};
        let user = User {
            id: UserId(0),
            email: EmailAddress::parse("operator@localhost.invalid").unwrap_or_else(|_| unreachable!()),
            name: "operator".into(),
            role: Role::Admin,
            language: Language::Fr,
            phones: Vec::new(),
            establishments: Vec::new(),
            disabled: false,
        };
        Principal { actor: Actor { user: user.id, role: Role::Admin, establishments: Vec::new() }, user }
    }
}

fn parent_error(e: guichet_store::StoreError, new: &NewEstablishment) -> AppError {
    match e {
        guichet_store::StoreError::Conflict { field } if field == "parent_uai" => AppError::field(
            "parent_uai",
            format!(
                "parent establishment {} is unknown",
                new.parent_uai.as_ref().map(|p| p.to_string()).unwrap_or_default()
            ),
        ),
        other => other.into(),
    }
}
