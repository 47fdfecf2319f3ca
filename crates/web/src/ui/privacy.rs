//! `/admin/privacy`: what is kept and for how long, a person's data (look
//! up, export, erase) and the privacy audit log. The address looked up is
//! posted, never put in a URL.

use super::i18n::t;
use super::session::{CsrfForm, Viewer};
use super::tickets::when;
use super::{back, error_text, render, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use guichet_app::privacy::PersonSummary;
use guichet_app::AppError;
use guichet_domain::privacy::DataKind;
use guichet_domain::user::Language;
use serde::Deserialize;

pub struct RuleRow {
    pub kind: &'static str,
    pub keep: String,
}

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "admin_privacy.html")]
struct PrivacyPage {
    layout: Layout,
    rules: Vec<RuleRow>,
    audit: Vec<AuditRow>,
    person: Option<PersonSummary>,
    looked_up: String,
}

fn admin_only(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.principal().actor.role == guichet_domain::user::Role::Admin {
        Ok(())
    } else {
        Err(PageError::app(AppError::Forbidden("administrators only".into()), viewer.lang))
    }
}

fn kind_label(kind: DataKind, lang: Language) -> &'static str {
    let key = match kind {
        DataKind::HelpIdentity => "kind_help_identity",
        DataKind::Attachments => "kind_attachments",
        DataKind::RawMail => "kind_raw_mail",
        DataKind::SentMail => "kind_sent_mail",
        DataKind::Requesters => "kind_requesters",
        DataKind::DisabledAccounts => "kind_disabled_accounts",
        DataKind::Audit => "kind_audit",
    };
    t(lang, key)
}

async fn show(
    state: &AppState,
    viewer: &Viewer,
    person: Option<PersonSummary>,
    looked_up: String,
) -> Result<Response, PageError> {
    admin_only(viewer)?;
    let lang = viewer.lang;
    let policy = state.app.retention_policy();
    let (days, months) = if lang == Language::Fr { ("jours", "mois") } else { ("days", "months") };
    // Rules set in months read in months (a month counts 30 days).
    let duration = |d: chrono::Duration| match d.num_days() {
        n if n >= 360 && n % guichet_domain::privacy::MONTH_DAYS == 0 && n % 365 != 0 => {
            format!("{} {months}", n / guichet_domain::privacy::MONTH_DAYS)
        }
        n => format!("{n} {days}"),
    };
    let rules = DataKind::ALL
        .iter()
        .map(|&kind| RuleRow {
            kind: kind_label(kind, lang),
            keep: policy.keep(kind).map_or_else(|| t(lang, "kept").to_owned(), duration),
        })
        .collect();
    let audit = state
        .app
        .privacy_audit(viewer.principal(), None, 100)
        .await
        .map_err(|e| PageError::app(e, lang))?
        .into_iter()
        .map(|e| AuditRow {
            at: when(e.at, lang),
            actor: e.actor_name.unwrap_or_else(|| t(lang, "retention_job").to_owned()),
            action: e.action,
            subject: e.subject,
            details: e.details,
        })
        .collect();
    render(&PrivacyPage { layout: Layout::new(viewer, t(lang, "privacy")), rules, audit, person, looked_up }, lang)
}

pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    show(&state, &viewer, None, String::new()).await
}

#[derive(Debug, Deserialize)]
pub struct PersonForm {
    pub email: String,
    #[serde(default)]
    pub confirm: Option<String>,
}

/// Looks a person up: the page again, with what is held about them.
pub async fn lookup(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<PersonForm>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    match state.app.person_preview(viewer.principal(), &form.email).await {
        Ok(person) => show(&state, &viewer, Some(person), form.email).await,
        Err(e) => Ok(back(&viewer, "/admin/privacy", None, Some(&error_text(&e, viewer.lang)))),
    }
}

pub async fn export(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<PersonForm>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    match state.app.export_person(viewer.principal(), &form.email).await {
        Ok(zip) => {
            let disposition = "attachment; filename=\"guichet-export.zip\"".to_owned();
            Ok((
                [(header::CONTENT_TYPE, "application/zip".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
                zip,
            )
                .into_response())
        }
        Err(e) => Ok(back(&viewer, "/admin/privacy", None, Some(&error_text(&e, viewer.lang)))),
    }
}

pub async fn erase(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<PersonForm>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    if form.confirm.is_none() {
        return Ok(back(&viewer, "/admin/privacy", None, Some(t(lang, "erase_confirm_missing"))));
    }
    match state.app.erase_person(viewer.principal(), &form.email).await {
        Ok(_) => Ok(back(&viewer, "/admin/privacy", Some(t(lang, "erased")), None)),
        Err(e) => Ok(back(&viewer, "/admin/privacy", None, Some(&error_text(&e, lang)))),
    }
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

pub async fn run_retention(
    State(state): State<AppState>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    let run = state.app.run_retention_now(viewer.principal()).await.map_err(|e| PageError::app(e, lang))?;
    let done = if lang == Language::Fr {
        format!("Conservation appliquée : {} élément(s) oublié(s).", run.total())
    } else {
        format!("Retention applied: {} item(s) forgotten.", run.total())
    };
    Ok(back(&viewer, "/admin/privacy", Some(&done), None))
}

/// The audit log as CSV, for the data protection officer.
pub async fn audit_csv(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    admin_only(&viewer)?;
    let lang = viewer.lang;
    let entries = state.app.privacy_audit(viewer.principal(), None, 1000).await.map_err(|e| PageError::app(e, lang))?;
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    let internal = |_| PageError::Internal(lang);
    w.write_record(["at", "actor", "action", "subject", "details"]).map_err(internal)?;
    for e in entries {
        let actor = e.actor_name.unwrap_or_default();
        w.write_record([e.at.to_rfc3339().as_str(), &actor, &e.action, &e.subject, &e.details]).map_err(internal)?;
    }
    let body = w.into_inner().map_err(|_| PageError::Internal(lang))?;
    let disposition = "attachment; filename=\"guichet-privacy-audit.csv\"".to_owned();
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}
