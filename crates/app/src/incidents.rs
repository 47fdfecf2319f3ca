//! Major incidents: declared by an agent or proposed by Guichet when many
//! schools report alike at once; joined by requesters; resolved in one act
//! that answers every linked ticket in its requester's language.

use crate::auth::Principal;
use crate::notify::{Notice, Recipient};
use crate::tickets::{CreateTicket, TicketDetails};
use crate::{App, AppError};
use chrono::{DateTime, Utc};
use guichet_domain::history::FieldChange;
use guichet_domain::ids::TicketId;
use guichet_domain::incident::{propose, signature, similarity, NewIncident, ProposalRule};
use guichet_domain::search::SearchQuery;
use guichet_domain::ticket::{Channel, Resolution, Ticket, TicketPatch};
use guichet_domain::user::Language;
use guichet_domain::webhook::WebhookEvent;
use guichet_domain::workflow::StatusCategory;
use guichet_store::incidents::Incident;
use guichet_store::tickets::{TicketFilter, TicketRecord};
use guichet_store::{Conn, StoreError};

/// The longest text compared for similar requests: what is typed first says it.
pub const SIMILAR_TEXT_MAX: usize = 10_000;

/// Recent tickets looked at for proposals: a burst of an outage's reports is
/// well within, and the grouping's cost (quadratic) stays small.
const MAX_CANDIDATES: i64 = 500;
/// How long proposals are reused: every agent's dashboard asks each minute.
const PROPOSALS_FRESH: chrono::Duration = chrono::Duration::seconds(20);

impl App {
    /// Drops the proposals kept: tickets or incidents changed.
    pub(crate) fn forget_proposals(&self) {
        if let Ok(mut cache) = self.proposals.lock() {
            *cache = None;
        }
    }
}

/// What an agent fills in to declare an incident (or accept a proposal).
#[derive(Debug, Clone, Default)]
pub struct DeclareIncident {
    pub title: String,
    pub service: String,
    pub public_message: String,
    /// When the outage began; now when not said.
    pub started_at: Option<DateTime<Utc>>,
    /// Keys of the tickets it gathers from the start.
    pub tickets: Vec<String>,
}

/// An incident as one actor sees it: the tickets and schools of their scope.
#[derive(Debug, Clone)]
pub struct IncidentView {
    pub incident: Incident,
    pub tickets: Vec<TicketRecord>,
    /// UAI and name of each affected establishment, in the actor's scope.
    pub establishments: Vec<(String, String)>,
    /// What happened, oldest first.
    pub timeline: Vec<(DateTime<Utc>, String)>,
}

/// Alike tickets Guichet proposes to gather, with a title to start from.
#[derive(Debug, Clone)]
pub struct ProposalView {
    pub tickets: Vec<TicketRecord>,
    pub establishments: usize,
    pub suggested_title: String,
}

/// What a request being typed resembles.
#[derive(Debug, Clone, Default)]
pub struct Similar {
    pub tickets: Vec<crate::search::SearchResult>,
    pub incidents: Vec<Incident>,
}

pub const SIMILAR_LIMIT: i64 = 5;

impl App {
    pub fn incident_key(id: i64) -> String {
        format!("INC-{id}")
    }

    fn incident_rule(&self) -> ProposalRule {
        self.settings.incident_rule
    }

    async fn find_incident(conn: &mut Conn, id: i64) -> Result<Incident, AppError> {
        guichet_store::incidents::find_incident(conn, id).await.map_err(|e| match e {
            StoreError::NotFound => AppError::NotFound("incident"),
            other => other.into(),
        })
    }

    pub(crate) fn require_staff(p: &Principal, what: &str) -> Result<(), AppError> {
        if p.actor.role.is_staff() {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("only the desk may {what}")))
        }
    }

    pub async fn declare_incident(&self, p: &Principal, req: DeclareIncident) -> Result<IncidentView, AppError> {
        self.forget_proposals();
        Self::require_staff(p, "declare an incident")?;
        let now = self.now();
        let new = NewIncident::new(&req.title, &req.service, &req.public_message, req.started_at.unwrap_or(now), now)?;
        let mut tx = self.db.begin().await?;
        let id = guichet_store::incidents::insert_incident(&mut tx, &new, p.user.id, now).await?;
        for key in &req.tickets {
            self.join_in(&mut tx, p, id, key).await?;
        }
        self.queue_incident_event(&mut tx, WebhookEvent::IncidentDeclared, id, p.user.id).await?;
        tx.commit().await?;
        tracing::info!(incident = id, tickets = req.tickets.len(), "incident declared");
        self.incident(p, id).await
    }

    /// Links a ticket to an incident inside the caller's transaction.
    async fn join_in(&self, tx: &mut Conn, p: &Principal, incident: i64, key: &str) -> Result<(), AppError> {
        let record = self.visible_ticket(tx, p, key).await?;
        if record.incident == Some(incident) {
            return Ok(());
        }
        if let Some(other) = record.incident {
            return Err(AppError::Conflict {
                field: "tickets".into(),
                message: format!("{key} is already part of {}", Self::incident_key(other)),
            });
        }
        guichet_store::incidents::set_ticket_incident(tx, record.ticket.id, Some(incident)).await?;
        let change = FieldChange::public("incident", None, Some(Self::incident_key(incident)));
        self.record_history(tx, record.ticket.id, Some(p.user.id), &[change], self.now()).await?;
        Ok(())
    }

    /// Open incidents (or all, most recent first): public to every signed-in person.
    pub async fn incidents(&self, open_only: bool) -> Result<Vec<Incident>, AppError> {
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::incidents::list_incidents(&mut conn, open_only, 200).await?)
    }

    pub async fn incident(&self, p: &Principal, id: i64) -> Result<IncidentView, AppError> {
        let mut conn = self.db.conn().await?;
        let incident = Self::find_incident(&mut conn, id).await?;
        let ids = guichet_store::incidents::incident_tickets(&mut conn, id, &p.actor.scope()).await?;
        let mut tickets = Vec::with_capacity(ids.len());
        for ticket in ids {
            tickets.push(guichet_store::tickets::find_ticket(&mut conn, ticket, &p.actor.scope()).await?);
        }
        let mut establishments: Vec<(String, String)> =
            tickets.iter().map(|t| (t.establishment_uai.clone(), t.establishment_name.clone())).collect();
        establishments.sort();
        establishments.dedup();
        let mut timeline =
            vec![(incident.started_at, "started".to_owned()), (incident.created_at, "declared".to_owned())];
        for t in &tickets {
            timeline
                .push((t.ticket.created_at, format!("reported:{}:{}", self.key(t.ticket.id), t.establishment_name)));
        }
        if let Some(at) = incident.resolved_at {
            timeline.push((at, "resolved".to_owned()));
        }
        timeline.sort_by_key(|(at, _)| *at);
        Ok(IncidentView { incident, tickets, establishments, timeline })
    }

    /// Adds existing tickets to an open incident (the desk).
    pub async fn add_to_incident(&self, p: &Principal, id: i64, keys: &[String]) -> Result<IncidentView, AppError> {
        self.forget_proposals();
        Self::require_staff(p, "link tickets to an incident")?;
        let mut tx = self.db.begin().await?;
        Self::open_incident(&mut tx, id).await?;
        for key in keys {
            self.join_in(&mut tx, p, id, key).await?;
        }
        tx.commit().await?;
        self.incident(p, id).await
    }

    /// An incident still open: a resolved one takes no more tickets nor a second resolution.
    async fn open_incident(conn: &mut Conn, id: i64) -> Result<Incident, AppError> {
        let incident = Self::find_incident(conn, id).await?;
        if incident.resolved_at.is_some() {
            let message = format!("{} is resolved", Self::incident_key(id));
            return Err(AppError::Conflict { field: "incident".into(), message });
        }
        Ok(incident)
    }

    /// A requester follows an open incident for one of their establishments:
    /// a ticket is filed for them, already part of it, so that they are told
    /// when it ends. An existing ticket of theirs can join instead.
    pub async fn join_incident(
        &self,
        p: &Principal,
        id: i64,
        establishment: &str,
        details: Option<&str>,
    ) -> Result<TicketDetails, AppError> {
        self.forget_proposals();
        let incident = Self::open_incident(&mut self.db.conn().await?, id).await?;
        let description = match details.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => d.to_owned(),
            None => format!("Concerné par l'incident {} : {}", Self::incident_key(id), incident.title),
        };
        let req = CreateTicket {
            title: incident.title.clone(),
            description,
            establishment: establishment.to_owned(),
            reproduction: Some(guichet_domain::ticket::Reproduction {
                service: Some(incident.service.clone()),
                ..Default::default()
            }),
            ..CreateTicket::default()
        };
        let created = self.create_ticket(p, req).await?;
        let key = self.key(created.record.ticket.id);
        let mut tx = self.db.begin().await?;
        self.join_in(&mut tx, p, id, &key).await?;
        tx.commit().await?;
        self.get_ticket(p, &key).await
    }

    /// Ends an incident: one public reply to each linked ticket still open, in
    /// its requester's language (`message_en` for English readers when
    /// given), and each of them resolved as fixed.
    pub async fn resolve_incident(
        &self,
        p: &Principal,
        id: i64,
        message: &str,
        message_en: Option<&str>,
    ) -> Result<IncidentView, AppError> {
        self.forget_proposals();
        Self::require_staff(p, "resolve an incident")?;
        let message = guichet_domain::comment::validate_body(message)?;
        let message_en = match message_en.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => Some(guichet_domain::comment::validate_body(m)?),
            None => None,
        };
        let now = self.now();
        let mut tx = self.db.begin().await?;
        Self::open_incident(&mut tx, id).await?;
        guichet_store::incidents::resolve_incident(&mut tx, id, &message, now).await?;
        let all = guichet_domain::actor::TicketScope::All;
        let mut answered = 0;
        for ticket_id in guichet_store::incidents::incident_tickets(&mut tx, id, &all).await? {
            let record = guichet_store::tickets::find_ticket(&mut tx, ticket_id, &all).await?;
            if !record.ticket.is_open(&self.workflows()) {
                continue;
            }
            let requester = guichet_store::users::find_user(&mut tx, record.ticket.requester.id).await?;
            let body = match (&message_en, requester.language) {
                (Some(en), Language::En) => en.as_str(),
                _ => message.as_str(),
            };
            // One mail per requester: the message, quoted in the "resolved"
            // notice with its satisfaction survey, as when an agent answers
            // and resolves at once. Sent as a reply first, then resolved
            // quietly, it offered no survey for a request ended this way.
            self.comment_in_telling(&mut tx, p, &record.ticket, body, false, Channel::Portal, false).await?;
            let survey = match self.resolve_quietly(&mut tx, p, ticket_id, Resolution::Fixed).await? {
                Some(resolved) => Some(self.offer_survey(&mut tx, &resolved).await?),
                None => None,
            };
            let notice = match &survey {
                Some(survey) => Notice::Resolved { survey: survey.as_deref(), reply: Some(body) },
                // A workflow with no way to "resolved" from here: the message alone.
                None => Notice::Reply { body },
            };
            self.notify(&mut tx, ticket_id, Recipient::Requester, notice).await?;
            answered += 1;
        }
        self.queue_incident_event(&mut tx, WebhookEvent::IncidentResolved, id, p.user.id).await?;
        tx.commit().await?;
        tracing::info!(incident = id, answered, "incident resolved");
        self.incident(p, id).await
    }

    /// Moves a ticket to its workflow's resolved status without the
    /// "resolved" mail (the caller writes to the requester); the ticket
    /// resolved, or `None` when its workflow has no way there.
    pub(crate) async fn resolve_quietly(
        &self,
        tx: &mut Conn,
        p: &Principal,
        id: TicketId,
        resolution: Resolution,
    ) -> Result<Option<Ticket>, AppError> {
        let now = self.now();
        let mut ticket =
            guichet_store::tickets::find_ticket(tx, id, &guichet_domain::actor::TicketScope::All).await?.ticket;
        let workflows = self.workflows();
        let workflow = workflows.get(ticket.ticket_type)?;
        let target = workflow
            .allowed_from(&ticket.status, false)
            .into_iter()
            .find(|s| workflow.status(s).map(|d| d.category) == Some(StatusCategory::Resolved));
        let Some(status) = target else { return Ok(None) };
        let patch = TicketPatch { status: Some(status), resolution: Some(Some(resolution)), ..TicketPatch::default() };
        let changes = ticket.apply(patch, &p.actor, &self.workflows(), now)?;
        guichet_store::tickets::update_ticket(tx, &ticket).await?;
        self.record_history(tx, id, Some(p.user.id), &changes, now).await?;
        self.refresh_sla(tx, id).await?;
        Ok(Some(ticket))
    }

    /// Groups of recent alike tickets from several schools that no incident
    /// gathers yet: what the dashboard proposes to declare.
    pub async fn incident_proposals(&self, p: &Principal) -> Result<Vec<ProposalView>, AppError> {
        Self::require_staff(p, "see incident proposals")?;
        let rule = self.incident_rule();
        let mut conn = self.db.conn().await?;
        let statuses = self.open_statuses(true);
        let now = self.now();
        let cached = self.proposals.lock().ok().and_then(|c| c.clone()).filter(|(at, _)| now - *at < PROPOSALS_FRESH);
        let proposals = match cached {
            Some((_, proposals)) => proposals,
            None => {
                let candidates = guichet_store::incidents::recent_candidates(
                    &mut conn,
                    now - rule.window,
                    &statuses,
                    MAX_CANDIDATES,
                )
                .await?;
                let proposals = propose(&candidates, &rule);
                if let Ok(mut cache) = self.proposals.lock() {
                    *cache = Some((now, proposals.clone()));
                }
                proposals
            }
        };
        let mut out = Vec::new();
        for proposal in proposals {
            let filter =
                TicketFilter { scope: p.actor.scope(), ids: Some(proposal.tickets.clone()), ..TicketFilter::default() };
            let sort =
                [guichet_store::tickets::Sort { field: guichet_store::tickets::SortField::Created, descending: false }];
            let (tickets, _) = guichet_store::tickets::list_tickets(
                &mut conn,
                &filter,
                &sort,
                proposal.tickets.len() as i64,
                0,
                guichet_store::tickets::Counting::No,
            )
            .await?;
            let suggested_title = tickets.first().map(|t| t.ticket.title.clone()).unwrap_or_default();
            out.push(ProposalView { tickets, establishments: proposal.establishments, suggested_title });
        }
        Ok(out)
    }

    /// What a request being typed looks like: open tickets of the actor's
    /// establishments (of `establishment` when given) and open incidents.
    pub async fn similar(&self, p: &Principal, text: &str, establishment: Option<&str>) -> Result<Similar, AppError> {
        if text.chars().count() > SIMILAR_TEXT_MAX {
            return Err(AppError::field("text", format!("the text is longer than {SIMILAR_TEXT_MAX} characters")));
        }
        if let Some(uai) = establishment.map(str::trim).filter(|u| !u.is_empty()) {
            guichet_domain::establishment::Uai::parse(uai)
                .map_err(|_| AppError::field("establishment", format!("`{uai}` is not a valid UAI code")))?;
        }
        let Some(query) = SearchQuery::similar_to(text) else { return Ok(Similar::default()) };
        let mut conn = self.db.conn().await?;
        let mut filter =
            TicketFilter { scope: p.actor.scope(), statuses: self.open_statuses(true), ..TicketFilter::default() };
        if let Some(uai) = establishment.map(str::trim).filter(|u| !u.is_empty()) {
            let uai = guichet_domain::establishment::Uai::parse(uai)
                .map_err(|_| AppError::field("establishment", format!("`{uai}` is not a valid UAI code")))?;
            match guichet_store::establishments::find_establishment_by_uai(&mut conn, &uai).await? {
                Some(e) if p.actor.can_see_establishment(e.id) => filter.establishments.push(e.id),
                _ => return Err(AppError::field("establishment", format!("no establishment {uai} of yours"))),
            }
        }
        let tickets = self.search_with(&mut conn, &query, filter, SIMILAR_LIMIT).await?;
        let wanted = signature(text);
        let mut incidents: Vec<(f64, Incident)> = guichet_store::incidents::list_incidents(&mut conn, true, 200)
            .await?
            .into_iter()
            .map(|i| {
                let words = signature(&format!("{} {} {}", i.title, i.service, i.public_message));
                (similarity(&wanted, &words), i)
            })
            .filter(|(score, _)| *score > 0.0)
            .collect();
        incidents.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(Similar { tickets, incidents: incidents.into_iter().take(3).map(|(_, i)| i).collect() })
    }
}
