//! Canned responses: who may use and change them, their variables filled
//! from a ticket, and the macro that answers and classifies in one action.

use crate::auth::Principal;
use crate::notify::{Notice, Recipient};
use crate::tickets::UpdateTicket;
use crate::{App, AppError};
use guichet_domain::canned::{self, Values, Variable};
use guichet_domain::comment::{validate_body, Comment};
use guichet_domain::ticket::{Channel, Resolution, TicketType, Tier};
use guichet_domain::user::Role;
use guichet_store::canned::{CannedFields, CannedResponse};
use guichet_store::tickets::TicketRecord;
use guichet_store::{Conn, StoreError};

/// Who a canned response is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannedScope {
    /// Its author's only.
    Personal,
    /// One level of the desk.
    Level(Tier),
    /// Everyone on the desk.
    Desk,
}

impl CannedScope {
    pub fn parse(code: &str) -> Result<Self, AppError> {
        match code.trim() {
            "personal" => Ok(Self::Personal),
            "desk" => Ok(Self::Desk),
            "support" => Ok(Self::Level(Tier::Support)),
            "technical" => Ok(Self::Level(Tier::Technical)),
            other => Err(AppError::field(
                "scope",
                format!("unknown scope `{other}`; expected one of: personal, desk, support, technical"),
            )),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Desk => "desk",
            Self::Level(Tier::Technical) => "technical",
            Self::Level(_) => "support",
        }
    }

    pub fn of(c: &CannedResponse) -> Self {
        match (c.owner_id, c.level.as_deref()) {
            (Some(_), _) => Self::Personal,
            (None, Some("technical")) => Self::Level(Tier::Technical),
            (None, Some(_)) => Self::Level(Tier::Support),
            (None, None) => Self::Desk,
        }
    }
}

/// A canned response as written by a user.
#[derive(Debug, Clone)]
pub struct CannedInput {
    pub name: String,
    pub body: String,
    pub scope: CannedScope,
    pub set_status: Option<String>,
    pub set_type: Option<String>,
    pub set_category: Option<String>,
    pub set_resolution: Option<String>,
}

/// A canned response filled for one ticket: the text to send, and what the
/// macro would change.
#[derive(Debug, Clone)]
pub struct Expansion {
    pub canned: CannedResponse,
    pub body: String,
}

fn not_found(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::NotFound("canned response"),
        other => other.into(),
    }
}

fn blank_to_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl App {
    /// The level whose shared responses a person uses; `None` for admins, who use them all.
    fn canned_level(p: &Principal) -> Result<Option<&'static str>, AppError> {
        match p.actor.role {
            Role::Agent => Ok(Some(Tier::Support.as_str())),
            Role::Technician => Ok(Some(Tier::Technical.as_str())),
            Role::Admin => Ok(None),
            Role::Requester => Err(AppError::Forbidden("canned responses are the desk's".into())),
        }
    }

    /// The responses the caller may use, the most used first.
    pub async fn canned_responses(&self, p: &Principal) -> Result<Vec<CannedResponse>, AppError> {
        let level = Self::canned_level(p)?;
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::canned::list_canned(&mut conn, p.user.id, level).await?)
    }

    /// One response the caller may use; any other answers "not found".
    async fn usable_canned(&self, conn: &mut Conn, p: &Principal, id: i64) -> Result<CannedResponse, AppError> {
        let level = Self::canned_level(p)?;
        let c = guichet_store::canned::find_canned(conn, id).await.map_err(not_found)?;
        let usable = match (c.owner_id, c.level.as_deref()) {
            (Some(owner), _) => owner == p.user.id.0,
            (None, Some(l)) => level.is_none_or(|mine| mine == l),
            (None, None) => true,
        };
        if usable {
            Ok(c)
        } else {
            Err(AppError::NotFound("canned response"))
        }
    }

    pub async fn canned_response(&self, p: &Principal, id: i64) -> Result<CannedResponse, AppError> {
        let mut conn = self.db.conn().await?;
        self.usable_canned(&mut conn, p, id).await
    }

    /// Checks what a user writes, against the vocabularies in force.
    async fn canned_fields(
        &self,
        conn: &mut Conn,
        p: &Principal,
        input: CannedInput,
    ) -> Result<CannedFields, AppError> {
        let level = Self::canned_level(p)?;
        if input.scope != CannedScope::Personal && level.is_some() {
            return Err(AppError::Forbidden("only administrators share canned responses with the desk".into()));
        }
        let name = canned::check_name(&input.name)?;
        let body = validate_body(&input.body)?;
        canned::check_text("body", &body)?;
        let set_status = blank_to_none(input.set_status);
        if let Some(status) = &set_status {
            let workflows = self.workflows();
            if !workflows.all_status_codes().any(|s| s == status) {
                let mut known: Vec<&str> = workflows.all_status_codes().collect();
                known.sort_unstable();
                known.dedup();
                return Err(AppError::field(
                    "set_status",
                    format!("unknown status `{status}`; expected one of: {}", known.join(", ")),
                ));
            }
        }
        let set_type = blank_to_none(input.set_type);
        if let Some(t) = &set_type {
            TicketType::parse(t).map_err(|e| AppError::field("set_type", e.to_string()))?;
        }
        let set_resolution = blank_to_none(input.set_resolution);
        if let Some(r) = &set_resolution {
            Resolution::parse(r).map_err(|e| AppError::field("set_resolution", e.to_string()))?;
        }
        let set_category = blank_to_none(input.set_category);
        if let Some(code) = &set_category {
            let known = guichet_store::categories::find_category_by_code(conn, code).await?.filter(|c| c.active);
            if known.is_none() {
                return Err(AppError::field("set_category", format!("unknown category `{code}`")));
            }
        }
        let (owner_id, level) = match input.scope {
            CannedScope::Personal => (Some(p.user.id.0), None),
            CannedScope::Level(tier) => (None, Some(tier.as_str().to_owned())),
            CannedScope::Desk => (None, None),
        };
        Ok(CannedFields { name, body, owner_id, level, set_status, set_type, set_category, set_resolution })
    }

    pub async fn create_canned(&self, p: &Principal, input: CannedInput) -> Result<CannedResponse, AppError> {
        let mut tx = self.db.begin().await?;
        let fields = self.canned_fields(&mut tx, p, input).await?;
        let id = guichet_store::canned::insert_canned(&mut tx, &fields, p.user.id, self.now()).await?;
        let created = guichet_store::canned::find_canned(&mut tx, id).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// A response the caller may change: their own, or a shared one for an administrator.
    async fn writable_canned(&self, conn: &mut Conn, p: &Principal, id: i64) -> Result<CannedResponse, AppError> {
        let c = self.usable_canned(conn, p, id).await?;
        if c.owner_id.is_none() && !p.actor.can_manage_directory() {
            return Err(AppError::Forbidden("only administrators change the desk's shared canned responses".into()));
        }
        Ok(c)
    }

    pub async fn update_canned(&self, p: &Principal, id: i64, input: CannedInput) -> Result<CannedResponse, AppError> {
        let mut tx = self.db.begin().await?;
        let current = self.writable_canned(&mut tx, p, id).await?;
        let mut fields = self.canned_fields(&mut tx, p, input).await?;
        // An administrator editing someone's personal response keeps it theirs.
        if current.owner_id.is_some() && fields.owner_id.is_some() {
            fields.owner_id = current.owner_id;
        }
        guichet_store::canned::update_canned(&mut tx, id, &fields, p.user.id, self.now()).await.map_err(not_found)?;
        let updated = guichet_store::canned::find_canned(&mut tx, id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    pub async fn delete_canned(&self, p: &Principal, id: i64) -> Result<(), AppError> {
        let mut tx = self.db.begin().await?;
        self.writable_canned(&mut tx, p, id).await?;
        guichet_store::canned::delete_canned(&mut tx, id).await.map_err(not_found)?;
        tx.commit().await?;
        Ok(())
    }

    /// The values a ticket gives a canned response's variables.
    async fn canned_values(&self, conn: &mut Conn, p: &Principal, record: &TicketRecord) -> Result<Values, AppError> {
        let ticket = &record.ticket;
        let key = self.key(ticket.id);
        let mut values = Values::default();
        // A request filed through the HELP form belongs to a system account:
        // the person is the end user who wrote it.
        let requester = if record.requester_email.ends_with(".invalid") {
            let contact = guichet_store::incidents::find_contact(conn, ticket.id).await?;
            contact.map(|c| (c.name, c.email.unwrap_or_default()))
        } else {
            Some((ticket.requester.name.clone(), record.requester_email.clone()))
        };
        if let Some((name, email)) = requester {
            values
                .set(Variable::RequesterFirstName, Values::first_name(&name))
                .set(Variable::RequesterName, name.clone())
                .set(Variable::RequesterEmail, email);
        }
        values
            .set(Variable::TicketKey, key.clone())
            .set(Variable::TicketTitle, ticket.title.clone())
            .set(Variable::TicketLink, self.ticket_url(&key))
            .set(Variable::EstablishmentName, record.establishment_name.clone())
            .set(Variable::EstablishmentUai, record.establishment_uai.clone())
            .set(Variable::AgentFirstName, Values::first_name(&p.user.name))
            .set(Variable::AgentName, p.user.name.clone());
        Ok(values)
    }

    /// A canned response filled for a ticket the caller may see.
    pub async fn expand_canned(&self, p: &Principal, key: &str, id: i64) -> Result<Expansion, AppError> {
        let mut conn = self.db.conn().await?;
        let canned = self.usable_canned(&mut conn, p, id).await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        let values = self.canned_values(&mut conn, p, &record).await?;
        Ok(Expansion { body: canned::expand(&canned.body, &values), canned })
    }

    /// Every response the caller may use, filled for one ticket already
    /// checked visible: the composer offers them without a round trip per response.
    pub(crate) async fn canned_of(
        &self,
        conn: &mut Conn,
        p: &Principal,
        record: &TicketRecord,
    ) -> Result<Vec<Expansion>, AppError> {
        let level = Self::canned_level(p)?;
        let values = self.canned_values(conn, p, record).await?;
        let list = guichet_store::canned::list_canned(conn, p.user.id, level).await?;
        Ok(list.into_iter().map(|canned| Expansion { body: canned::expand(&canned.body, &values), canned }).collect())
    }

    /// Answers with a canned response and applies its macro in one
    /// transaction: the reply, the changes and the count are written
    /// together or not at all. `body` is the text as the agent edited it;
    /// without it, the response filled for this ticket.
    pub async fn reply_with_canned(
        &self,
        p: &Principal,
        key: &str,
        id: i64,
        body: Option<&str>,
        internal: bool,
        channel: Channel,
    ) -> Result<Comment, AppError> {
        let mut tx = self.db.begin().await?;
        let canned = self.usable_canned(&mut tx, p, id).await?;
        let record = self.visible_ticket(&mut tx, p, key).await?;
        let body = match body {
            Some(b) => validate_body(b)?,
            None => {
                let values = self.canned_values(&mut tx, p, &record).await?;
                validate_body(&canned::expand(&canned.body, &values))?
            }
        };
        // A macro that also resolves, or waits on the requester, sends one
        // mail: the status mail quoting the reply.
        let comment = self.comment_in_telling(&mut tx, p, &record.ticket, &body, internal, channel, false).await?;
        let after_comment = guichet_store::tickets::find_ticket(&mut tx, record.ticket.id, &p.actor.scope()).await?;
        let mut change = UpdateTicket {
            reply: (!internal).then(|| body.clone()),
            ticket_type: canned.set_type.as_deref().map(TicketType::parse).transpose()?,
            category: canned.set_category.clone().map(Some),
            resolution: canned.set_resolution.as_deref().map(Resolution::parse).transpose()?.map(Some),
            ..UpdateTicket::default()
        };
        change.status = canned.set_status.clone().filter(|s| *s != after_comment.ticket.status);
        let (_, quoted) = self.apply_update(&mut tx, p, &after_comment, change).await?;
        if !internal && !quoted {
            self.notify(&mut tx, record.ticket.id, Recipient::Requester, Notice::Reply { body: &body }).await?;
        }
        guichet_store::canned::count_use(&mut tx, canned.id, self.now()).await?;
        let comments = guichet_store::comments::list_comments(&mut tx, record.ticket.id, true).await?;
        tx.commit().await?;
        comments.into_iter().find(|c| c.id == comment).ok_or(AppError::NotFound("comment"))
    }
}
