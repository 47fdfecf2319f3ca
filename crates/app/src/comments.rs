//! Conversation: public replies and internal notes on a ticket.

use crate::auth::Principal;
use crate::notify::{Notice, Recipient};
use crate::{App, AppError};
use guichet_domain::comment::{validate_body, Comment};
use guichet_domain::history::FieldChange;
use guichet_domain::ids::{CommentId, TicketId};
use guichet_domain::ticket::Channel;
use guichet_domain::ticket::Ticket;
use guichet_domain::workflow::StatusCategory;
use guichet_store::comments::NewComment;
use guichet_store::Conn;

impl App {
    /// Adds a reply or an internal note. The desk's first public reply stamps
    /// the first response; a requester's reply takes a ticket that waited on
    /// them back to work.
    pub async fn add_comment(
        &self,
        p: &Principal,
        key: &str,
        body: &str,
        internal: bool,
        channel: Channel,
    ) -> Result<Comment, AppError> {
        let body = validate_body(body)?;
        if internal && !p.actor.can_see_internal() {
            return Err(AppError::field("internal", "only the desk writes internal notes"));
        }
        let mut tx = self.db.begin().await?;
        let record = self.visible_ticket(&mut tx, p, key).await?;
        let id = self.comment_in(&mut tx, p, &record.ticket, &body, internal, channel).await?;
        let comments = guichet_store::comments::list_comments(&mut tx, record.ticket.id, true).await?;
        tx.commit().await?;
        comments.into_iter().find(|c| c.id == id).ok_or(AppError::NotFound("comment"))
    }

    /// Adds a checked comment inside the caller's transaction, moves the
    /// ticket on and queues the notifications it causes.
    pub(crate) async fn comment_in(
        &self,
        tx: &mut Conn,
        p: &Principal,
        ticket: &Ticket,
        body: &str,
        internal: bool,
        channel: Channel,
    ) -> Result<CommentId, AppError> {
        self.comment_in_telling(tx, p, ticket, body, internal, channel, true).await
    }

    /// [`App::comment_in`]; without `tell_requester`, the desk's public reply
    /// is not mailed here: the caller sends it (quoted in a status mail).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn comment_in_telling(
        &self,
        tx: &mut Conn,
        p: &Principal,
        ticket: &Ticket,
        body: &str,
        internal: bool,
        channel: Channel,
        tell_requester: bool,
    ) -> Result<CommentId, AppError> {
        let now = self.now();
        let new = NewComment { ticket: ticket.id, author: p.user.id, body, internal, channel };
        let id = guichet_store::comments::insert_comment(tx, &new, now).await?;
        // At the school's tier, its administrators are the ones answering.
        let staff = p.actor.role.is_staff() || ticket.tier == guichet_domain::ticket::Tier::Establishment;
        guichet_store::tickets::touch_ticket(tx, ticket.id, now, !internal && staff).await?;
        let category = ticket.status_category(&self.workflows());
        // A requester's answer takes a waiting ticket back to work; by mail,
        // answering the "resolved" notification reopens the request, as that mail says.
        let resume = category == Some(StatusCategory::Waiting)
            || (category == Some(StatusCategory::Resolved) && channel == Channel::Email);
        if resume && !staff && !internal {
            let workflows = self.workflows();
            let workflow = workflows.get(ticket.ticket_type)?;
            let to = workflow
                .allowed_from(&ticket.status, false)
                .into_iter()
                .find(|to| workflow.status(to).map(|s| s.category) == Some(StatusCategory::Open));
            if let Some(to) = to {
                let mut resumed = ticket.clone();
                resumed.status = to.clone();
                resumed.updated_at = now;
                if category == Some(StatusCategory::Resolved) {
                    resumed.resolved_at = None;
                    resumed.resolution = None;
                }
                guichet_store::tickets::update_ticket(tx, &resumed).await?;
                let change = FieldChange::public("status", Some(ticket.status.clone()), Some(to));
                self.record_history(tx, ticket.id, None, &[change], now).await?;
            }
        }
        let kind = if internal { "internal_note" } else { "reply" };
        let change = FieldChange { field: "comment", old: None, new: Some(kind.into()), internal };
        self.record_history(tx, ticket.id, Some(p.user.id), &[change], now).await?;
        self.refresh_sla(tx, ticket.id).await?;
        if !internal {
            if staff {
                if tell_requester {
                    self.notify(tx, ticket.id, Recipient::Requester, Notice::Reply { body }).await?;
                }
            } else {
                let assignee = ticket.assignee.as_ref().map(|a| a.id);
                self.notify_agents(tx, ticket.id, assignee, Some(p.user.id), Notice::RequesterReplied { body }).await?;
            }
        }
        Ok(id)
    }

    pub async fn list_comments(&self, p: &Principal, key: &str) -> Result<Vec<Comment>, AppError> {
        let mut conn = self.db.conn().await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        Self::comments_of(&mut conn, p, record.ticket.id).await
    }

    /// [`App::list_comments`] for a ticket already checked visible.
    pub(crate) async fn comments_of(
        conn: &mut Conn,
        p: &Principal,
        ticket: TicketId,
    ) -> Result<Vec<Comment>, AppError> {
        Ok(guichet_store::comments::list_comments(conn, ticket, p.actor.can_see_internal()).await?)
    }
}
