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

/// Reads `uai;name;town;parent_uai` rows (a header line is recognised and
/// skipped). Each line is parsed on its own so that errors carry the file's
/// own line numbers, blank lines included.
pub fn parse_establishments_csv(bytes: &[u8]) -> Vec<ImportRow> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut rows = Vec::new();
    for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = index as u64 + 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            rows.push((line, Err("the line is not UTF-8: save the file as UTF-8".to_owned())));
            continue;
        };
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        let mut csv =
            csv::ReaderBuilder::new().delimiter(b';').has_headers(false).flexible(true).from_reader(text.as_bytes());
        let row = match csv.records().next() {
            None => continue,
            Some(Err(e)) => Err(format!("unreadable row: {e}")),
            Some(Ok(r)) if index == 0 && r.get(0).is_some_and(|f| f.trim().eq_ignore_ascii_case("uai")) => continue,
            Some(Ok(r)) if !(3..=4).contains(&r.len()) => {
                Err(format!("expected 3 or 4 fields (uai;name;town;parent_uai), found {}", r.len()))
            }
            Some(Ok(r)) => {
                let field = |i: usize| r.get(i).unwrap_or_default().trim().to_owned();
                let parent = Some(field(3)).filter(|p| !p.is_empty());
                Ok((field(0), field(1), field(2), parent))
            }
        };
        rows.push((line, row));
    }
    rows
}

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

impl App {
    /// Categories, active or not, in their order.
    pub async fn categories(&self) -> Result<Vec<guichet_store::categories::Category>, AppError> {
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::categories::list_categories(&mut conn).await?)
    }

    /// Active agents, technicians and admins: who can be assigned a ticket.
    pub async fn staff_users(&self, p: &Principal) -> Result<Vec<guichet_store::users::StaffMember>, AppError> {
        if !p.actor.role.is_staff() {
            return Err(AppError::Forbidden("only the desk lists its members".into()));
        }
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::users::list_staff(&mut conn).await?)
    }
}

impl App {
    /// One user, for the desk (a caller) and admins.
    pub async fn find_user(&self, p: &Principal, id: guichet_domain::ids::UserId) -> Result<User, AppError> {
        if !p.actor.role.is_staff() && p.user.id != id {
            return Err(AppError::NotFound("user"));
        }
        let mut conn = self.db.conn().await?;
        guichet_store::users::find_user(&mut conn, id).await.map_err(|e| match e {
            guichet_store::StoreError::NotFound => AppError::NotFound("user"),
            other => other.into(),
        })
    }
}

impl App {
    /// Adds a category (admins); its code is what the API and queries use.
    pub async fn create_category(
        &self,
        p: &Principal,
        code: &str,
        label_fr: &str,
        label_en: &str,
    ) -> Result<(), AppError> {
        Self::require_admin(p)?;
        let code = code.trim().to_lowercase();
        let mut errors = Vec::new();
        if code.is_empty()
            || code.len() > 40
            || !code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            errors.push(guichet_domain::FieldError::new("code", "a code is 1 to 40 letters, digits or _"));
        }
        for (field, value) in [("label_fr", label_fr), ("label_en", label_en)] {
            if value.trim().is_empty() || value.chars().count() > 100 {
                errors.push(guichet_domain::FieldError::new(field, format!("`{field}` must have 1 to 100 characters")));
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let mut tx = self.db.begin().await?;
        if guichet_store::categories::find_category_by_code(&mut tx, &code).await?.is_some() {
            return Err(AppError::Conflict {
                field: "code".into(),
                message: format!("the category `{code}` already exists"),
            });
        }
        guichet_store::categories::insert_category(&mut tx, &code, label_fr.trim(), label_en.trim()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Retires or restores a category; tickets keep theirs.
    pub async fn set_category_active(&self, p: &Principal, code: &str, active: bool) -> Result<(), AppError> {
        Self::require_admin(p)?;
        let mut conn = self.db.conn().await?;
        guichet_store::categories::update_category_active(&mut conn, code, active).await.map_err(|e| match e {
            guichet_store::StoreError::NotFound => AppError::NotFound("category"),
            other => other.into(),
        })
    }

    /// Disables or enables an account (admins); its sessions and tokens follow.
    pub async fn set_user_disabled(
        &self,
        p: &Principal,
        id: guichet_domain::ids::UserId,
        disabled: bool,
    ) -> Result<(), AppError> {
        Self::require_admin(p)?;
        if id == p.user.id && disabled {
            return Err(AppError::field("disabled", "you cannot disable your own account"));
        }
        let mut tx = self.db.begin().await?;
        if !disabled && guichet_store::privacy::is_anonymised(&mut tx, id).await? {
            return Err(AppError::field("disabled", "an anonymised account cannot be enabled again"));
        }
        guichet_store::users::update_user_disabled(&mut tx, id, disabled, self.now()).await.map_err(|e| match e {
            guichet_store::StoreError::NotFound => AppError::NotFound("user"),
            other => other.into(),
        })?;
        if disabled {
            guichet_store::sessions::delete_user_sessions(&mut tx, id, None).await?;
        }
        let change = if disabled { "disabled" } else { "enabled" };
        self.record_admin_change(&mut tx, p, id, "access", None, Some(change.to_owned())).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes an administrator's change to an account's history.
    pub(crate) async fn record_admin_change(
        &self,
        tx: &mut guichet_store::Conn,
        p: &Principal,
        id: guichet_domain::ids::UserId,
        field: &str,
        old: Option<String>,
        new: Option<String>,
    ) -> Result<(), AppError> {
        // The command line acts as the operator, who is nobody's account.
        let actor = Some(p.user.id).filter(|a| a.0 != 0);
        let event = guichet_store::identities::UserEvent {
            actor,
            actor_name: None,
            source: "admin".into(),
            field: field.into(),
            old,
            new,
            at: self.now(),
        };
        guichet_store::identities::insert_user_event(tx, id, &event).await?;
        Ok(())
    }

    /// Sets a user's password (admins); their sessions end.
    pub async fn reset_password(
        &self,
        p: &Principal,
        id: guichet_domain::ids::UserId,
        password: &str,
    ) -> Result<(), AppError> {
        Self::require_admin(p)?;
        let hash = hash_password(password)?;
        let mut tx = self.db.begin().await?;
        guichet_store::users::update_password_hash(&mut tx, id, &hash).await.map_err(|e| match e {
            guichet_store::StoreError::NotFound => AppError::NotFound("user"),
            other => other.into(),
        })?;
        // Whoever knew the old password is signed out everywhere.
        guichet_store::sessions::delete_user_sessions(&mut tx, id, None).await?;
        self.record_admin_change(&mut tx, p, id, "password", None, Some("reset".into())).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl App {
    /// Changes a user's role and establishments (admins). A requester keeps at
    /// least one establishment; staff belong to none.
    pub async fn update_user_role(
        &self,
        p: &Principal,
        id: guichet_domain::ids::UserId,
        role: guichet_domain::user::Role,
        establishment_uais: &[String],
    ) -> Result<(), AppError> {
        use guichet_domain::user::Role;
        Self::require_admin(p)?;
        if id == p.user.id && role != Role::Admin {
            return Err(AppError::field("role", "you cannot remove your own administrator role"));
        }
        let mut tx = self.db.begin().await?;
        let mut ids = Vec::new();
        if role == Role::Requester {
            for uai in establishment_uais {
                let uai = guichet_domain::establishment::Uai::parse(uai)?;
                let e = guichet_store::establishments::find_establishment_by_uai(&mut tx, &uai)
                    .await?
                    .ok_or_else(|| AppError::field("establishments", format!("unknown establishment {uai}")))?;
                ids.push(e.id);
            }
            if ids.is_empty() {
                return Err(AppError::field("establishments", "a requester belongs to at least one establishment"));
            }
        }
        let before = guichet_store::users::find_user(&mut tx, id).await.map_err(|e| match e {
            guichet_store::StoreError::NotFound => AppError::NotFound("user"),
            other => other.into(),
        })?;
        guichet_store::users::update_user_role(&mut tx, id, role, &ids).await?;
        let describe = |role: Role, schools: &[guichet_domain::establishment::Establishment]| {
            let mut uais: Vec<&str> = schools.iter().map(|e| e.uai.as_str()).collect();
            uais.sort();
            format!("{} {}", role.as_str(), uais.join(" ")).trim().to_owned()
        };
        let old_schools = guichet_store::establishments::find_establishments(&mut tx, &before.establishments).await?;
        let new_schools = guichet_store::establishments::find_establishments(&mut tx, &ids).await?;
        let (old, new) = (describe(before.role, &old_schools), describe(role, &new_schools));
        if old != new {
            self.record_admin_change(&mut tx, p, id, "role", Some(old), Some(new)).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
