//! What the API returns: JSON views built from domain and store types. Views
//! are built for one reader: internal content is already filtered out.

use chrono::{DateTime, Utc};
use guichet_app::render::markdown_to_safe_html;
use guichet_app::tickets::TicketDetails;
use guichet_app::App;
use guichet_domain::comment::Comment;
use guichet_domain::establishment::Establishment;
use guichet_domain::history::HistoryEntry;
use guichet_domain::ticket::{Channel, Priority, Reproduction, Resolution, TicketType, Tier};
use guichet_domain::user::{Language, Role, User};
use guichet_store::attachments::Attachment;
use guichet_store::tickets::TicketRecord;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EstablishmentRefView {
    pub uai: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    /// Human key, also the ticket's id in URLs: `SUP-123`.
    pub key: String,
    pub title: String,
    pub description: String,
    /// The description rendered from Markdown and sanitised.
    pub description_html: String,
    #[serde(rename = "type")]
    pub ticket_type: TicketType,
    pub status: String,
    pub priority: Priority,
    /// Category code.
    pub category: Option<String>,
    pub channel: Channel,
    pub tier: Tier,
    pub requester: PersonView,
    pub establishment: EstablishmentRefView,
    pub assignee: Option<PersonView>,
    pub reproduction: Reproduction,
    pub resolution: Option<Resolution>,
    pub watchers: Vec<PersonView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub sla: SlaView,
    /// The major incident it is part of: `INC-3`.
    pub incident: Option<String>,
    /// Raised by every change; also the `ETag` (`"v7"`) to send back in `If-Match`.
    pub version: i64,
}

/// Where the ticket stands against its service levels (business time).
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaView {
    /// ok, at_risk, breached, met, paused or none.
    pub state: Option<guichet_domain::sla::SlaState>,
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
}

impl TicketView {
    pub fn new(app: &App, record: TicketRecord, watchers: Vec<PersonView>) -> Self {
        let sla = SlaView {
            state: record.sla.state,
            first_response_due: record.sla.first_response_due,
            resolution_due: record.sla.resolution_due,
        };
        let t = record.ticket;
        Self {
            version: t.version,
            incident: record.incident.map(App::incident_key),
            key: app.key(t.id),
            description_html: markdown_to_safe_html(&t.description),
            title: t.title,
            description: t.description,
            ticket_type: t.ticket_type,
            status: t.status,
            priority: t.priority,
            category: t.category.map(|c| c.code),
            channel: t.channel,
            tier: t.tier,
            requester: PersonView { id: t.requester.id.0, name: t.requester.name },
            establishment: EstablishmentRefView { uai: record.establishment_uai, name: record.establishment_name },
            assignee: t.assignee.map(|a| PersonView { id: a.id.0, name: a.name }),
            reproduction: t.reproduction,
            resolution: t.resolution,
            watchers,
            created_at: t.created_at,
            updated_at: t.updated_at,
            first_response_at: t.first_response_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            sla,
        }
    }

    /// The `ETag` of this version of the ticket.
    pub fn etag(&self) -> String {
        format!("\"v{}\"", self.version)
    }

    pub fn from_details(app: &App, details: TicketDetails) -> Self {
        let watchers = details.watchers.into_iter().map(|w| PersonView { id: w.id.0, name: w.name }).collect();
        Self::new(app, details.record, watchers)
    }
}

/// One page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageView<T: ToSchema> {
    pub items: Vec<T>,
    /// Matches in all; for tickets, exact up to 10,000.
    pub total: i64,
    /// More tickets than `total` match: counting stopped at 10,000 (shown as « plus de 10 000 »).
    pub more_than_total: bool,
    pub page: i64,
    pub per_page: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommentView {
    pub id: i64,
    pub author: PersonView,
    pub body: String,
    pub body_html: String,
    /// An internal note (never shown to the requester) rather than a public reply.
    pub internal: bool,
    pub channel: Channel,
    pub created_at: DateTime<Utc>,
}

impl From<Comment> for CommentView {
    fn from(c: Comment) -> Self {
        Self {
            id: c.id.0,
            author: PersonView { id: c.author.0, name: c.author_name },
            body_html: markdown_to_safe_html(&c.body),
            body: c.body,
            internal: c.internal,
            channel: c.channel,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: i64,
    pub filename: String,
    /// Detected from the content, not from the sender's claim.
    pub mime: String,
    pub size: i64,
    pub sha256: String,
    pub internal: bool,
    pub comment_id: Option<i64>,
    /// Where to download it.
    pub url: String,
    pub created_at: DateTime<Utc>,
}

impl From<Attachment> for AttachmentView {
    fn from(a: Attachment) -> Self {
        Self {
            id: a.id.0,
            url: format!("/api/v1/attachments/{}", a.id.0),
            filename: a.filename,
            mime: a.mime,
            size: a.size,
            sha256: a.sha256,
            internal: a.internal,
            comment_id: a.comment.map(|c| c.0),
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntryView {
    pub at: DateTime<Utc>,
    /// Who made the change; absent for the system.
    pub actor: Option<PersonView>,
    /// The field changed, or an event: `created`, `comment`, `attachment`.
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub internal: bool,
}

impl From<HistoryEntry> for HistoryEntryView {
    fn from(h: HistoryEntry) -> Self {
        Self {
            at: h.at,
            actor: h.actor.map(|id| PersonView { id: id.0, name: h.actor_name.unwrap_or_default() }),
            field: h.field,
            old: h.old,
            new: h.new,
            internal: h.internal,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EstablishmentView {
    pub uai: String,
    pub name: String,
    pub town: String,
    /// UAI of the parent (département, académie, région).
    pub parent_uai: Option<String>,
}

impl EstablishmentView {
    /// `parents` resolves parent ids to UAIs.
    pub fn new(e: Establishment, parents: &[Establishment]) -> Self {
        let parent_uai = e.parent.and_then(|p| parents.iter().find(|x| x.id == p)).map(|p| p.uai.to_string());
        Self { uai: e.uai.to_string(), name: e.name, town: e.town, parent_uai }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub language: Language,
    pub phones: Vec<String>,
    /// UAIs of the establishments a requester belongs to.
    pub establishments: Vec<String>,
    pub disabled: bool,
}

impl UserView {
    pub fn new(u: User, establishments: &[Establishment]) -> Self {
        let uais = u
            .establishments
            .iter()
            .filter_map(|id| establishments.iter().find(|e| e.id == *id))
            .map(|e| e.uai.to_string())
            .collect();
        Self {
            id: u.id.0,
            email: u.email.as_str().to_owned(),
            name: u.name,
            role: u.role,
            language: u.language,
            phones: u.phones,
            establishments: uais,
            disabled: u.disabled,
        }
    }
}
