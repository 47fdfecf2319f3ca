//! Everything a ticket's page shows, read after one access check.

use crate::auth::Principal;
use crate::canned::Expansion;
use crate::error::AppError;
use crate::handover::LinkView;
use crate::tickets::TicketDetails;
use crate::App;
use guichet_domain::comment::Comment;
use guichet_domain::history::HistoryEntry;
use guichet_store::attachments::Attachment;
use guichet_store::incidents::Contact;
use guichet_store::kb::Article;
use guichet_store::privacy::Redaction;
use guichet_store::satisfaction::Survey;

/// A ticket and its parts as one reader may see them. The desk's tools
/// (canned responses, knowledge base articles) are empty for a school.
#[derive(Debug, Clone)]
pub struct TicketView {
    pub details: TicketDetails,
    pub comments: Vec<Comment>,
    pub history: Vec<HistoryEntry>,
    pub attachments: Vec<Attachment>,
    pub redactions: Vec<Redaction>,
    pub links: Vec<LinkView>,
    pub survey: Option<Survey>,
    pub contact: Option<Contact>,
    pub canned: Vec<Expansion>,
    pub articles: Vec<Article>,
}

impl App {
    /// The ticket's page: one check that `p` may see the ticket, then each
    /// part on the same connection. Checking again in each part cost a read
    /// of the ticket each (nine per page, 0.3 ms each on PostgreSQL at
    /// 1,000,000 tickets) and a connection from the pool each.
    pub async fn ticket_view(&self, p: &Principal, key: &str) -> Result<TicketView, AppError> {
        let staff = p.actor.role.is_staff();
        let mut conn = self.db.conn().await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        let id = record.ticket.id;
        let comments = Self::comments_of(&mut conn, p, id).await?;
        let history = self.history_of(&mut conn, p, id).await?;
        let attachments = Self::attachments_of(&mut conn, p, id).await?;
        let redactions = guichet_store::privacy::list_redactions(&mut conn, id).await?;
        let links = self.links_of(&mut conn, p, id).await?;
        let survey = Self::survey_of(&mut conn, p, id).await?;
        let contact = guichet_store::incidents::find_contact(&mut conn, id).await?;
        let canned = if staff { self.canned_of(&mut conn, p, &record).await? } else { Vec::new() };
        let details = self.details(&mut conn, record).await?;
        // What follows takes connections of its own: this one goes back first.
        drop(conn);
        self.contact_seen(p, id, contact.as_ref()).await?;
        let articles = if staff { self.articles_like(p, &details.record.ticket).await? } else { Vec::new() };
        Ok(TicketView { details, comments, history, attachments, redactions, links, survey, contact, canned, articles })
    }
}
