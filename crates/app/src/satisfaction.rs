//! Satisfaction: when a ticket is resolved its requester is asked to rate
//! the answer, by a single-use link that needs no sign-in (in the "resolved"
//! mail) or on the portal; one reminder; the answers in the reports.

use crate::auth::Principal;
use crate::notify::{Notice, Recipient};
use crate::reports::Scope;
use crate::{App, AppError};
use chrono::{DateTime, Duration, Utc};
use guichet_domain::ids::{TicketId, UserId};
use guichet_domain::ticket::Ticket;
use guichet_domain::user::Role;
use guichet_store::satisfaction::{Grouping, Survey, Tally};
use guichet_store::Conn;
use rand::RngCore;
use sha2::Digest;

/// `[satisfaction]` in guichet.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SatisfactionSettings {
    /// Ask requesters at all.
    pub enabled: bool,
    /// Days after which an unanswered survey is recalled once; 0: never.
    pub reminder_days: u32,
    /// Days a survey's links stay valid.
    pub valid_days: u32,
}

impl Default for SatisfactionSettings {
    fn default() -> Self {
        Self { enabled: true, reminder_days: 3, valid_days: 30 }
    }
}

/// Where a survey stands, for the page its link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyState {
    Open,
    Answered,
    Expired,
}

/// A survey as its link shows it.
#[derive(Debug, Clone)]
pub struct SurveyView {
    pub key: String,
    pub title: String,
    pub state: SurveyState,
    /// The requester's language: the page reads as their mail did.
    pub language: guichet_domain::user::Language,
    pub survey: Survey,
}

/// An answer checked: a rating from 1 to 5 and an optional comment.
pub fn check_answer(rating: i64, comment: Option<&str>) -> Result<(i64, Option<String>), AppError> {
    if !(1..=5).contains(&rating) {
        return Err(AppError::field("rating", "a rating goes from 1 (not satisfied) to 5 (very satisfied)"));
    }
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 2000) {
        return Err(AppError::field("comment", "a comment is limited to 2000 characters"));
    }
    Ok((rating, comment.map(str::to_owned)))
}

fn new_token() -> (String, String) {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// Only the hash is stored: a copy of the database does not hold links
/// that rate tickets in their requesters' names.
fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.trim().as_bytes()))
}

/// One group of a satisfaction report.
#[derive(Debug, Clone, PartialEq)]
pub struct SatisfactionRow {
    pub key: String,
    pub label: String,
    pub answered: i64,
    /// Mean rating, one decimal.
    pub average: Option<f64>,
    /// Share rated 4 or 5, in percent.
    pub satisfied_percent: Option<i64>,
}

impl SatisfactionRow {
    fn new(key: String, label: String, t: Tally) -> Self {
        let (average, satisfied_percent) = if t.answered > 0 {
            (
                Some((t.rating_sum as f64 / t.answered as f64 * 10.0).round() / 10.0),
                Some((t.satisfied * 100 + t.answered / 2) / t.answered),
            )
        } else {
            (None, None)
        };
        Self { key, label, answered: t.answered, average, satisfied_percent }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SatisfactionReport {
    /// Surveys sent in the period, and answers given in it.
    pub sent: i64,
    pub total: SatisfactionRow,
    /// Per bucket of the period (day, week or month).
    pub periods: Vec<(SatisfactionRow, i64)>,
    pub by_type: Vec<SatisfactionRow>,
    pub by_category: Vec<SatisfactionRow>,
    pub by_tier: Vec<SatisfactionRow>,
    /// Per agent: administrators only.
    pub by_agent: Option<Vec<SatisfactionRow>>,
}

impl App {
    /// Opens the survey of a ticket just resolved, inside the resolving
    /// transaction, and returns its link; `None` when the requester is not
    /// asked: surveys off, a member of the desk (nobody rates a request they
    /// filed themselves), the HELP form's account, the one who resolved it,
    /// or a ticket asked already.
    pub(crate) async fn offer_survey(&self, tx: &mut Conn, ticket: &Ticket) -> Result<Option<String>, AppError> {
        if !self.settings.satisfaction.enabled {
            return Ok(None);
        }
        let requester = guichet_store::users::find_user(tx, ticket.requester.id).await?;
        let agent = ticket.assignee.as_ref().map(|a| a.id);
        if requester.role != Role::Requester
            || requester.disabled
            || crate::notify::is_system_account(&requester)
            || agent == Some(requester.id)
        {
            return Ok(None);
        }
        let now = self.now();
        let (token, hash) = new_token();
        let survey = Survey {
            ticket: ticket.id,
            requester: requester.id,
            agent,
            sent_at: now,
            expires_at: now + Duration::days(i64::from(self.settings.satisfaction.valid_days.max(1))),
            reminded_at: None,
            rating: None,
            comment: None,
            answered_at: None,
        };
        if !guichet_store::satisfaction::insert_survey(tx, &survey, &hash).await? {
            return Ok(None);
        }
        Ok(Some(self.survey_url(&token)))
    }

    fn survey_url(&self, token: &str) -> String {
        format!("{}/satisfaction/{token}", self.settings.mail.portal_url.trim_end_matches('/'))
    }

    fn state(survey: &Survey, now: DateTime<Utc>) -> SurveyState {
        if survey.answered_at.is_some() {
            SurveyState::Answered
        } else if survey.expires_at <= now {
            SurveyState::Expired
        } else {
            SurveyState::Open
        }
    }

    /// The survey a link opens; a token that opens none answers "not found".
    pub async fn survey_by_token(&self, token: &str) -> Result<SurveyView, AppError> {
        let mut conn = self.db.conn().await?;
        let survey = guichet_store::satisfaction::find_by_token(&mut conn, &token_hash(token))
            .await?
            .ok_or(AppError::NotFound("survey"))?;
        let record =
            guichet_store::tickets::find_ticket(&mut conn, survey.ticket, &guichet_domain::actor::TicketScope::All)
                .await?;
        let language = guichet_store::users::find_user(&mut conn, survey.requester).await?.language;
        Ok(SurveyView {
            key: self.key(survey.ticket),
            title: record.ticket.title,
            language,
            state: Self::state(&survey, self.now()),
            survey,
        })
    }

    /// Answers through a link: once, before it expires.
    pub async fn answer_survey_by_token(
        &self,
        token: &str,
        rating: i64,
        comment: Option<&str>,
    ) -> Result<SurveyView, AppError> {
        let (rating, comment) = check_answer(rating, comment)?;
        let view = self.survey_by_token(token).await?;
        self.record_answer(view.survey.ticket, view.state, rating, comment.as_deref()).await?;
        self.survey_by_token(token).await
    }

    async fn record_answer(
        &self,
        ticket: guichet_domain::ids::TicketId,
        state: SurveyState,
        rating: i64,
        comment: Option<&str>,
    ) -> Result<(), AppError> {
        let refused = |state| match state {
            SurveyState::Expired => {
                AppError::Conflict { field: "survey".into(), message: "this survey has expired".into() }
            }
            _ => AppError::Conflict { field: "survey".into(), message: "this survey was answered already".into() },
        };
        if state != SurveyState::Open {
            return Err(refused(state));
        }
        let mut tx = self.db.begin().await?;
        if !guichet_store::satisfaction::answer(&mut tx, ticket, rating, comment, self.now()).await? {
            return Err(refused(SurveyState::Answered));
        }
        let change = guichet_domain::history::FieldChange::public("satisfaction", None, Some(format!("{rating}/5")));
        self.record_history(&mut tx, ticket, None, &[change], self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The survey of a ticket, for who may see it: the desk, and the requester who is asked.
    pub async fn ticket_survey(&self, p: &Principal, key: &str) -> Result<Option<Survey>, AppError> {
        let mut conn = self.db.conn().await?;
        let record = self.visible_ticket(&mut conn, p, key).await?;
        Self::survey_of(&mut conn, p, record.ticket.id).await
    }

    /// [`App::ticket_survey`] for a ticket already checked visible.
    pub(crate) async fn survey_of(
        conn: &mut guichet_store::Conn,
        p: &Principal,
        ticket: TicketId,
    ) -> Result<Option<Survey>, AppError> {
        let survey = guichet_store::satisfaction::find_for_ticket(conn, ticket).await?;
        Ok(survey.filter(|s| p.actor.role.is_staff() || s.requester == p.user.id))
    }

    /// Answers on the portal, signed in: only the requester who is asked.
    pub async fn answer_survey(
        &self,
        p: &Principal,
        key: &str,
        rating: i64,
        comment: Option<&str>,
    ) -> Result<(), AppError> {
        let (rating, comment) = check_answer(rating, comment)?;
        let survey = self.ticket_survey(p, key).await?.ok_or(AppError::NotFound("survey"))?;
        if survey.requester != p.user.id {
            return Err(AppError::Forbidden("only the requester rates the answer to their request".into()));
        }
        let state = Self::state(&survey, self.now());
        self.record_answer(survey.ticket, state, rating, comment.as_deref()).await
    }

    /// Sends the one reminder of the surveys left unanswered for
    /// `reminder_days`, each with its own link. Safe on several nodes: the
    /// reminder is marked and the mail queued in one transaction, and a
    /// survey marked already is skipped.
    pub async fn send_survey_reminders(&self, fence: Option<&crate::leases::Fence>) -> Result<usize, AppError> {
        let settings = &self.settings.satisfaction;
        if !settings.enabled || settings.reminder_days == 0 {
            return Ok(0);
        }
        let now = self.now();
        let before = now - Duration::days(i64::from(settings.reminder_days));
        let mut conn = self.db.conn().await?;
        let due = guichet_store::satisfaction::due_reminders(&mut conn, before, now, 200).await?;
        drop(conn);
        let mut sent = 0;
        for ticket in due {
            let mut tx = self.db.begin().await?;
            self.check_fence(&mut tx, fence).await?;
            let (token, hash) = new_token();
            if !guichet_store::satisfaction::set_reminder(&mut tx, ticket, &hash, now).await? {
                continue;
            }
            let url = self.survey_url(&token);
            self.notify(&mut tx, ticket, Recipient::Requester, Notice::SatisfactionReminder { survey: &url }).await?;
            tx.commit().await?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Satisfaction in a report's scope: per bucket, type, category and
    /// level, and per agent for administrators.
    pub async fn report_satisfaction(&self, p: &Principal, scope: &Scope) -> Result<SatisfactionReport, AppError> {
        let mut conn = self.db.conn().await?;
        let spans: Vec<_> = scope.buckets.iter().map(|b| (b.start, b.end)).collect();
        let per_span = guichet_store::satisfaction::tally_per_span(&mut conn, scope.filter(), &spans).await?;
        let mut total = Tally::default();
        let mut sent = 0;
        let periods = scope
            .buckets
            .iter()
            .zip(per_span)
            .map(|(b, (t, s))| {
                total.answered += t.answered;
                total.rating_sum += t.rating_sum;
                total.satisfied += t.satisfied;
                sent += s;
                let label = b.label(scope.granularity);
                (SatisfactionRow::new(label.clone(), label, t), s)
            })
            .collect();
        let categories = guichet_store::categories::list_categories(&mut conn).await?;
        let mut group = async |grouping: Grouping| -> Result<Vec<SatisfactionRow>, AppError> {
            let rows =
                guichet_store::satisfaction::tally_by(&mut conn, scope.filter(), grouping, scope.start, scope.end)
                    .await?;
            Ok(rows.into_iter().map(|(key, t)| SatisfactionRow::new(key.clone(), key, t)).collect())
        };
        let by_type = group(Grouping::Type).await?;
        let mut by_category = group(Grouping::Category).await?;
        let by_tier = group(Grouping::Tier).await?;
        let mut by_agent = if p.actor.can_manage_directory() { Some(group(Grouping::Agent).await?) } else { None };
        for row in &mut by_category {
            if let Some(c) = categories.iter().find(|c| c.id.to_string() == row.key) {
                row.key = c.code.clone();
                row.label = c.label_fr.clone();
            }
        }
        if let Some(rows) = &mut by_agent {
            for row in rows.iter_mut() {
                let id = row.key.parse().ok().map(UserId);
                row.label = match id {
                    Some(id) => {
                        guichet_store::users::find_user(&mut conn, id).await.map(|u| u.name).unwrap_or_default()
                    }
                    None => String::new(),
                };
            }
        }
        Ok(SatisfactionReport {
            sent,
            total: SatisfactionRow::new("total".into(), "total".into(), total),
            periods,
            by_type,
            by_category,
            by_tier,
            by_agent,
        })
    }
}
