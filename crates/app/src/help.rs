//! The HELP button: an end user (pupil, teacher, parent, staff) writes to
//! their school's local administrators from a public page, without an account.

use crate::auth::Principal;
use crate::notify::{Notice, Recipient};
use crate::tickets::Filing;
use crate::{App, AppError};
use chrono::Duration;
use guichet_domain::establishment::Establishment;
use guichet_domain::establishment::Uai;
use guichet_domain::ids::{EstablishmentId, TicketId};
use guichet_domain::ticket::{Channel, Profile, TicketDraft, Tier};
use guichet_domain::user::{EmailAddress, Language, NewUser, Role, User};
use guichet_domain::FieldError;
use guichet_store::incidents::Contact;

pub const HELP_NAME_MAX: usize = 100;
pub const HELP_MESSAGE_MAX: usize = 5_000;
/// The address of the account HELP requests are filed under until a school's
/// administrator takes one over; never a mailbox.
pub const HELP_FORM_ADDRESS: &str = "help-form@guichet.invalid";

/// What the public HELP form sends.
#[derive(Debug, Clone, Default)]
pub struct HelpRequest {
    pub uai: String,
    pub profile: String,
    pub name: String,
    pub email: String,
    pub message: String,
    /// A field people cannot see: only robots fill it.
    pub honeypot: String,
    pub screenshot: Option<(String, Vec<u8>)>,
    pub language: Language,
    /// Who sent it, for the rate limit only (never stored).
    pub client: String,
}

/// What became of a HELP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpOutcome {
    Filed(TicketId),
    /// A robot filled the hidden field: answered as if filed, kept nowhere.
    Ignored,
}

/// How many HELP messages are accepted per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelpLimits {
    pub per_client_per_hour: u32,
    pub per_establishment_per_hour: u32,
}

impl Default for HelpLimits {
    fn default() -> Self {
        Self { per_client_per_hour: 10, per_establishment_per_hour: 60 }
    }
}

fn looks_like_html(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(2).any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/' || w[1] == b'!'))
}

impl App {
    /// The establishment behind a public HELP page.
    pub async fn help_establishment(&self, uai: &str) -> Result<Establishment, AppError> {
        let uai = Uai::parse(uai).map_err(|_| AppError::NotFound("establishment"))?;
        let mut conn = self.db.conn().await?;
        guichet_store::establishments::find_establishment_by_uai(&mut conn, &uai)
            .await?
            .ok_or(AppError::NotFound("establishment"))
    }

    /// Files an end user's HELP message for their school's administrators.
    pub async fn submit_help(&self, req: HelpRequest) -> Result<HelpOutcome, AppError> {
        let establishment = self.help_establishment(&req.uai).await?;
        if !req.honeypot.trim().is_empty() {
            tracing::info!(uai = %establishment.uai, "HELP message from a robot ignored");
            return Ok(HelpOutcome::Ignored);
        }
        let mut errors = Vec::new();
        let profile = Profile::parse(req.profile.trim())
            .map_err(|_| errors.push(FieldError::new("profile", "choose who you are")))
            .ok();
        let name = req.name.trim();
        if name.is_empty() || name.chars().count() > HELP_NAME_MAX {
            errors.push(FieldError::new("name", format!("your name, at most {HELP_NAME_MAX} characters")));
        }
        let email = match req.email.trim() {
            "" => None,
            e => EmailAddress::parse(e)
                .map_err(|_| errors.push(FieldError::new("email", format!("`{e}` is not an e-mail address"))))
                .ok(),
        };
        let message = req.message.trim();
        if message.chars().count() < 5 {
            errors.push(FieldError::new("message", "describe the problem in a few words"));
        } else if message.chars().count() > HELP_MESSAGE_MAX {
            errors
                .push(FieldError::new("message", format!("the message is longer than {HELP_MESSAGE_MAX} characters")));
        }
        if looks_like_html(message) || looks_like_html(name) {
            errors.push(FieldError::new("message", "write plain text: HTML is not accepted"));
        }
        if let Some((filename, content)) = &req.screenshot {
            if content.len() > self.settings.attachment_max_bytes {
                return Err(AppError::TooLarge { limit: self.settings.attachment_max_bytes });
            }
            let image = infer::get(content).is_some_and(|t| t.matcher_type() == infer::MatcherType::Image);
            if !image || filename.chars().count() > 200 {
                errors.push(FieldError::new("screenshot", "the screenshot must be an image (PNG, JPEG, GIF, WebP)"));
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let now = self.now();
        let limits = self.settings.help_limits;
        let mut tx = self.db.begin().await?;
        // Counted in the database, so that every node counts the same hour; a
        // refused message rolls its count back with the transaction.
        let (sent, _) = guichet_store::throttles::count_attempt(
            &mut tx,
            &format!("help:{}", req.client),
            now,
            now - crate::auth::COUNTER_WINDOW,
        )
        .await?;
        if sent > i64::from(limits.per_client_per_hour) {
            return Err(AppError::RateLimited("too many messages from this address; try again in an hour".into()));
        }
        let recent =
            guichet_store::incidents::count_help_since(&mut tx, establishment.id, now - Duration::hours(1)).await?;
        if recent >= i64::from(limits.per_establishment_per_hour) {
            return Err(AppError::RateLimited(
                "this school's HELP page received too many messages; try again later".into(),
            ));
        }
        let form = self.help_form_user(&mut tx).await?;
        let principal = Principal::from_user(form.clone());
        let title: String = message.lines().next().unwrap_or(message).chars().take(80).collect();
        let draft = TicketDraft { title, description: message.to_owned(), ..TicketDraft::default() };
        let files: Vec<(String, Vec<u8>)> = req.screenshot.into_iter().collect();
        let contact = Contact {
            name: name.to_owned(),
            email: email.map(|e| e.as_str().to_owned()),
            profile: profile.map(|p| p.to_string()).unwrap_or_default(),
            language: req.language.to_string(),
        };
        let filing = Filing {
            draft,
            establishment: establishment.id,
            requester: form.id,
            files: &files,
            channel: Some(Channel::HelpForm),
            tier: Some(Tier::Establishment),
            acknowledge: false,
            thread_root: None,
        };
        let id = self.file_ticket(&mut tx, &principal, filing).await?;
        guichet_store::incidents::insert_contact(&mut tx, id, &contact).await?;
        self.notify(&mut tx, id, Recipient::Requester, Notice::Acknowledgment).await?;
        for admin in self.local_admins(&mut tx, establishment.id).await? {
            self.notify(&mut tx, id, Recipient::User(admin.id), Notice::HelpRequest { body: message }).await?;
        }
        tx.commit().await?;
        tracing::info!(ticket = %self.key(id), uai = %establishment.uai, "HELP message filed");
        Ok(HelpOutcome::Filed(id))
    }

    /// The account HELP requests are filed under, made on first use.
    pub(crate) async fn help_form_user(&self, conn: &mut guichet_store::Conn) -> Result<User, AppError> {
        let email = EmailAddress::parse(HELP_FORM_ADDRESS)?;
        if let Some(user) = guichet_store::users::find_user_by_email(conn, &email).await? {
            return Ok(user);
        }
        let new = NewUser {
            email,
            name: "Formulaire d'aide".into(),
            role: Role::Requester,
            language: Language::Fr,
            phones: Vec::new(),
            establishment_uais: Vec::new(),
        };
        Ok(guichet_store::users::insert_user_if_absent(conn, &new, self.now()).await?)
    }

    async fn local_admins(
        &self,
        conn: &mut guichet_store::Conn,
        establishment: EstablishmentId,
    ) -> Result<Vec<User>, AppError> {
        let filter = guichet_store::users::UserFilter {
            role: Some(Role::Requester),
            establishment: Some(establishment),
            search: None,
        };
        let (users, _) = guichet_store::users::list_users(conn, &filter, 50, 0).await?;
        Ok(users.into_iter().filter(|u| !u.disabled).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_html_but_a_heart_or_a_comparison_is_not() {
        assert!(looks_like_html("<script>alert(1)</script>"));
        assert!(looks_like_html("voir <a href=x>ici</a>"));
        assert!(!looks_like_html("merci <3"));
        assert!(!looks_like_html("note < 10"));
    }
}
