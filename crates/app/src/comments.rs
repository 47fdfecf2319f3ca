//! Conversation: public replies and internal notes on a ticket.

use crate::auth::Principal;
use crate::{App, AppError};
use guichet_domain::comment::{validate_body, Comment};
use guichet_domain::history::FieldChange;
use guichet_domain::ticket::Channel;
use guichet_domain::workflow::StatusCategory;
use guichet_store::comments::NewComment;

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
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let record = self.visible_ticket(&mut tx, p, key).await?;
        let ticket = record.ticket;
        let new = NewComment { ticket: ticket.id, author: p.user.id, body: &body, internal, channel };
        let id = guichet_store::comments::insert_comment(&mut tx, &new, now).await?;
        let staff_reply = !internal && p.actor.role.is_staff();
        guichet_store::tickets::touch_ticket(&mut tx, ticket.id, now, staff_reply).await?;
        let waiting = ticket.status_category(self.workflows()) == Some(StatusCategory::Waiting);
        if waiting && !p.actor.role.is_staff() {
            let resumed =
                self.workflows().get(ticket.ticket_type)?.allowed_from(&ticket.status, false).into_iter().find(|to| {
                    self.workflows().get(ticket.ticket_type).ok().and_then(|w| w.status(to)).map(|s| s.category)
                        == Some(StatusCategory::Open)
                });
            if let Some(to) = resumed {
                let mut resumed_ticket = ticket.clone();
                resumed_ticket.status = to.clone();
                resumed_ticket.updated_at = now;
                guichet_store::tickets::update_ticket(&mut tx, &resumed_ticket).await?;
                let change = FieldChange::public("status", Some(ticket.status.clone()), Some(to));
                guichet_store::events::insert_events(&mut tx, ticket.id, None, &[change], now).await?;
            }
        }
        let kind = if internal { "internal_note" } else { "reply" };
        let change = FieldChange { field: "comment", old: None, new: Some(kind.into()), internal };
        guichet_store::events::insert_events(&mut tx, ticket.id, Some(p.user.id), &[change], now).await?;
        self.refresh_sla(&mut tx, ticket.id).await?;
        let comments = guichet_store::comments::list_comments(&mut tx, ticket.id, true).await?;
        tx.commit().await?;
        comments.into_iter().find(|c| c.id == id).ok_or(AppError::NotFound("comment"))
    }

    pub async fn list_comments(&self, p: &Principal, key: &str) -> Result<Vec<Comment>, AppError> {
        let mut conn = self.db.conn().await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        Ok(guichet_store::comments::list_comments(&mut conn, record.ticket.id, p.actor.can_see_internal()).await?)
    }
}
