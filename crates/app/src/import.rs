//! Importing another desk's tickets (Jira, GLPI): each ticket in its own
//! transaction, found again by its key there, so that running the same
//! import twice changes nothing and a row that fails loses nothing else. A
//! dry run does all the work and rolls each ticket back.

use crate::{App, AppError};
use chrono::{DateTime, Utc};
use guichet_domain::establishment::Uai;
use guichet_domain::history::FieldChange;
use guichet_domain::ids::{TicketId, UserId};
use guichet_domain::import::{ImportedTicket, Person, RowError};
use guichet_domain::ticket::Channel;
use guichet_domain::ticket::{TicketType, UserRef};
use guichet_domain::user::{EmailAddress, Language, NewUser, Role, User};
use guichet_domain::workflow::StatusCategory;
use guichet_store::Conn;

/// The account that files what an export does not attribute to a known
/// person; a system account (`.invalid`): it never receives mail.
pub const IMPORT_ADDRESS: &str = "import@guichet.invalid";

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub comments: usize,
    pub attachments: usize,
    pub accounts: usize,
    /// Rows not imported, and why.
    pub errors: Vec<RowError>,
    /// Imported, with something left out (a file not found, an unknown assignee).
    pub warnings: Vec<RowError>,
}

/// Reads an attachment of the export: (the ticket's alias, the file's name)
/// → its content, when the export's folder has it.
pub type FileSource<'a> = &'a (dyn Fn(&str, &str) -> Option<Vec<u8>> + Sync);

enum Outcome {
    Created,
    Updated,
    Unchanged,
}

#[derive(Default)]
struct Counts {
    comments: usize,
    attachments: usize,
    accounts: usize,
    warnings: Vec<String>,
}

impl App {
    /// Imports `tickets` (read by `guichet_domain::import`); `errors` are the
    /// rows the reader refused, reported with the others.
    pub async fn import_tickets(
        &self,
        tickets: Vec<ImportedTicket>,
        errors: Vec<RowError>,
        files: FileSource<'_>,
        dry_run: bool,
    ) -> Result<ImportReport, AppError> {
        let mut report = ImportReport { errors, ..ImportReport::default() };
        for ticket in &tickets {
            let mut tx = self.db.begin().await?;
            let mut counts = Counts::default();
            match self.import_one(&mut tx, ticket, files, &mut counts).await {
                Ok(outcome) => {
                    if dry_run {
                        tx.rollback().await?;
                    } else {
                        tx.commit().await?;
                    }
                    match outcome {
                        Outcome::Created => report.created += 1,
                        Outcome::Updated => report.updated += 1,
                        Outcome::Unchanged => report.unchanged += 1,
                    }
                    report.comments += counts.comments;
                    report.attachments += counts.attachments;
                    report.accounts += counts.accounts;
                    report.warnings.extend(counts.warnings.into_iter().map(|message| RowError {
                        line: ticket.line,
                        alias: Some(ticket.alias.clone()),
                        message,
                    }));
                }
                Err(AppError::Internal(e)) => return Err(AppError::Internal(e)),
                Err(e) => {
                    tx.rollback().await?;
                    report.errors.push(RowError {
                        line: ticket.line,
                        alias: Some(ticket.alias.clone()),
                        message: e.to_string(),
                    });
                }
            }
        }
        report.errors.sort_by_key(|e| e.line);
        report.warnings.sort_by_key(|e| e.line);
        Ok(report)
    }

    async fn import_one(
        &self,
        tx: &mut Conn,
        t: &ImportedTicket,
        files: FileSource<'_>,
        counts: &mut Counts,
    ) -> Result<Outcome, AppError> {
        let uai = Uai::parse(&t.establishment)
            .map_err(|_| AppError::field("establishment", format!("`{}` is not a valid UAI", t.establishment)))?;
        let establishment = guichet_store::establishments::find_establishment_by_uai(tx, &uai).await?.ok_or_else(|| {
            AppError::field(
                "establishment",
                format!("no establishment has the UAI {uai}: import the establishments first (guichet establishment import)"),
            )
        })?;
        let import_account = self.import_account(tx).await?;
        let requester = match self.person_account(tx, &t.requester, Some(establishment.id), counts).await? {
            Some(user) => user,
            None => import_account.clone(),
        };
        let assignee = match &t.assignee {
            Some(person) => match self.staff_account(tx, person).await? {
                Some(user) => Some(user),
                None => {
                    counts.warnings.push(format!(
                        "assignee `{}` is not a member of the desk here: left unassigned (map them under [users])",
                        person.name
                    ));
                    None
                }
            },
            None => None,
        };
        let status = self.imported_status(t.ticket_type, &t.status)?;
        let category = self.workflows().get(t.ticket_type)?.status(&status).map(|s| s.category);
        let resolved = matches!(category, Some(StatusCategory::Resolved | StatusCategory::Closed));
        let resolved_at = resolved.then(|| t.resolved_at.unwrap_or(t.updated_at));
        let closed_at = (category == Some(StatusCategory::Closed)).then_some(t.updated_at);
        let description = with_origin(&t.description, &t.requester, &requester);
        let outcome = match guichet_store::import::find_by_alias(tx, &t.alias).await? {
            None => {
                let row = guichet_store::import::ImportedRow {
                    alias: &t.alias,
                    title: &t.title,
                    description: &description,
                    ticket_type: t.ticket_type.as_str(),
                    status: &status,
                    priority: t.priority.as_str(),
                    requester_id: requester.id.0,
                    establishment_id: establishment.id.0,
                    assignee_id: assignee.as_ref().map(|a| a.id.0),
                    created_at: t.created_at,
                    updated_at: t.updated_at,
                    resolved_at,
                    closed_at,
                };
                let id = guichet_store::import::insert_imported(tx, &row).await?;
                let change = FieldChange::public("imported", None, Some(t.alias.clone()));
                guichet_store::events::insert_events(tx, id, Some(import_account.id), &[change], t.created_at).await?;
                self.import_comments(tx, id, t, &import_account, counts).await?;
                self.import_files(tx, id, t, &import_account, files, counts).await?;
                return Ok(Outcome::Created);
            }
            Some(id) => {
                let record =
                    guichet_store::tickets::find_ticket(tx, id, &guichet_domain::actor::TicketScope::All).await?;
                let mut ticket = record.ticket.clone();
                ticket.title.clone_from(&t.title);
                ticket.description = description;
                ticket.ticket_type = t.ticket_type;
                ticket.status.clone_from(&status);
                ticket.priority = t.priority;
                ticket.assignee = assignee.as_ref().map(|a| UserRef { id: a.id, name: a.name.clone() });
                ticket.resolved_at = resolved_at;
                ticket.closed_at = closed_at;
                ticket.establishment = establishment.id;
                let same = ticket.title == record.ticket.title
                    && ticket.description == record.ticket.description
                    && ticket.ticket_type == record.ticket.ticket_type
                    && ticket.status == record.ticket.status
                    && ticket.priority == record.ticket.priority
                    && ticket.assignee.as_ref().map(|a| a.id) == record.ticket.assignee.as_ref().map(|a| a.id)
                    && ticket.resolved_at == record.ticket.resolved_at
                    && ticket.closed_at == record.ticket.closed_at
                    && ticket.establishment == record.ticket.establishment;
                if !same {
                    ticket.updated_at = t.updated_at.max(record.ticket.updated_at);
                    guichet_store::tickets::update_ticket(tx, &ticket).await?;
                }
                let before = (counts.comments, counts.attachments);
                self.import_comments(tx, id, t, &import_account, counts).await?;
                self.import_files(tx, id, t, &import_account, files, counts).await?;
                if same && before == (counts.comments, counts.attachments) {
                    Outcome::Unchanged
                } else {
                    Outcome::Updated
                }
            }
        };
        Ok(outcome)
    }

    /// The export's status if the type's workflow has it, else the
    /// workflow's status of the same category (an evolution's `new` is
    /// `submitted`).
    fn imported_status(&self, ticket_type: TicketType, code: &str) -> Result<String, AppError> {
        let workflows = self.workflows();
        let workflow = workflows.get(ticket_type)?;
        if workflow.status(code).is_some() {
            return Ok(code.to_owned());
        }
        let category = workflows
            .0
            .iter()
            .flat_map(|w| w.statuses.iter())
            .find(|s| s.code == code)
            .map(|s| s.category)
            .ok_or_else(|| AppError::field("status", format!("unknown status `{code}`")))?;
        let same = if category == StatusCategory::Open {
            workflow.initial()
        } else {
            workflow.statuses.iter().rev().find(|s| s.category == category)
        };
        same.map(|s| s.code.clone())
            .ok_or_else(|| AppError::field("status", format!("the {ticket_type} workflow has no status like `{code}`")))
    }

    async fn import_account(&self, tx: &mut Conn) -> Result<User, AppError> {
        let email = EmailAddress::parse(IMPORT_ADDRESS)?;
        if let Some(user) = guichet_store::users::find_user_by_email(tx, &email).await? {
            return Ok(user);
        }
        let new = NewUser {
            email,
            name: "Import".into(),
            role: Role::Requester,
            language: Language::Fr,
            phones: Vec::new(),
            establishment_uais: Vec::new(),
        };
        Ok(guichet_store::users::insert_user_if_absent(tx, &new, self.now()).await?)
    }

    /// The account of a person the export names by address (made for a
    /// requester, with their establishment), or None.
    async fn person_account(
        &self,
        tx: &mut Conn,
        person: &Person,
        establishment: Option<guichet_domain::ids::EstablishmentId>,
        counts: &mut Counts,
    ) -> Result<Option<User>, AppError> {
        let Some(email) = person.email.as_deref().and_then(|e| EmailAddress::parse(e).ok()) else { return Ok(None) };
        if let Some(user) = guichet_store::users::find_user_by_email(tx, &email).await? {
            return Ok(Some(user));
        }
        let Some(establishment) = establishment else { return Ok(None) };
        let new = NewUser {
            email,
            name: if person.name.contains('@') {
                person.name.split('@').next().unwrap_or_default().into()
            } else {
                person.name.clone()
            },
            role: Role::Requester,
            language: Language::Fr,
            phones: Vec::new(),
            establishment_uais: Vec::new(),
        };
        let user = guichet_store::users::insert_user(tx, &new, &[establishment], None, self.now()).await?;
        counts.accounts += 1;
        Ok(Some(user))
    }

    async fn staff_account(&self, tx: &mut Conn, person: &Person) -> Result<Option<User>, AppError> {
        let Some(email) = person.email.as_deref().and_then(|e| EmailAddress::parse(e).ok()) else { return Ok(None) };
        let user = guichet_store::users::find_user_by_email(tx, &email).await?;
        Ok(user.filter(|u| u.role.is_staff() && !u.disabled))
    }

    /// Adds the export's comments the ticket does not have yet (same time,
    /// same text), under their author's account or the import account with
    /// the author's name.
    async fn import_comments(
        &self,
        tx: &mut Conn,
        id: TicketId,
        t: &ImportedTicket,
        import_account: &User,
        counts: &mut Counts,
    ) -> Result<(), AppError> {
        let existing = guichet_store::comments::list_comments(tx, id, true).await?;
        for c in &t.comments {
            let author = match c.author.email.as_deref().and_then(|e| EmailAddress::parse(e).ok()) {
                Some(email) => guichet_store::users::find_user_by_email(tx, &email).await?,
                None => None,
            };
            let body = match &author {
                Some(_) => c.body.clone(),
                None => format!("**{}** :\n\n{}", c.author.name, c.body),
            };
            let at = truncate_micros(c.at);
            if existing.iter().any(|e| e.created_at == at && e.body == body) {
                continue;
            }
            let author = author.as_ref().unwrap_or(import_account);
            let new = guichet_store::comments::NewComment {
                ticket: id,
                author: author.id,
                body: &body,
                internal: c.internal,
                channel: Channel::Api,
            };
            guichet_store::comments::insert_comment(tx, &new, at).await?;
            counts.comments += 1;
        }
        Ok(())
    }

    async fn import_files(
        &self,
        tx: &mut Conn,
        id: TicketId,
        t: &ImportedTicket,
        import_account: &User,
        files: FileSource<'_>,
        counts: &mut Counts,
    ) -> Result<(), AppError> {
        if t.attachments.is_empty() {
            return Ok(());
        }
        let existing = guichet_store::attachments::list_attachments(tx, id, true).await?;
        for name in &t.attachments {
            let clean = crate::attachments::clean_filename(name);
            if existing.iter().any(|a| a.filename == clean) {
                continue;
            }
            let Some(content) = files(&t.alias, name) else {
                counts.warnings.push(format!("attachment `{name}` is not in the export's folder"));
                continue;
            };
            if content.is_empty() || content.len() > self.settings.attachment_max_bytes {
                counts.warnings.push(format!(
                    "attachment `{name}` left out: empty or larger than {} bytes",
                    self.settings.attachment_max_bytes
                ));
                continue;
            }
            self.store_imported_file(tx, id, &clean, &content, import_account.id, t.created_at).await?;
            counts.attachments += 1;
        }
        Ok(())
    }

    async fn store_imported_file(
        &self,
        tx: &mut Conn,
        ticket: TicketId,
        filename: &str,
        content: &[u8],
        by: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), AppError> {
        use sha2::Digest;
        let sha256 = hex::encode(sha2::Sha256::digest(content));
        let mime = crate::attachments::sniff_mime(content);
        guichet_store::attachments::insert_blob(tx, &sha256, content).await?;
        let new = guichet_store::attachments::NewAttachment {
            ticket,
            comment: None,
            sha256: &sha256,
            filename,
            mime: &mime,
            size: i64::try_from(content.len()).unwrap_or(i64::MAX),
            internal: false,
            uploaded_by: by,
        };
        guichet_store::attachments::insert_attachment(tx, &new, at).await?;
        Ok(())
    }
}

/// Times are stored in microseconds: compare what will be read back.
fn truncate_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// The description, with the requester's name on top when the ticket is
/// filed under the import account (the export named nobody known here).
fn with_origin(description: &str, person: &Person, filed_under: &User) -> String {
    if filed_under.email.as_str() == IMPORT_ADDRESS && !person.name.is_empty() {
        format!("*Demandeur d'origine : {}*\n\n{description}", person.name)
    } else {
        description.to_owned()
    }
}
