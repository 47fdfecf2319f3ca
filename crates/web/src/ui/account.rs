//! `/account`: one's own password, sessions and API tokens; and, for
//! administrators, another user's tokens (`/admin/users/{id}/tokens`).

use super::i18n::t;
use super::session::{CsrfForm, Viewer};
use super::tickets::when;
use super::{back, error_text, render, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use guichet_app::AppError;
use guichet_domain::ids::{TokenId, UserId};
use guichet_domain::user::{Language, Role};
use guichet_store::tokens::TokenRecord;
use serde::Deserialize;

pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
}

fn rows(tokens: Vec<TokenRecord>, now: chrono::DateTime<chrono::Utc>, lang: Language) -> Vec<TokenRow> {
    tokens
        .into_iter()
        .map(|tk| TokenRow {
            id: tk.id.0,
            name: tk.name,
            created: when(tk.created_at, lang),
            last_used: tk.last_used_at.map_or_else(|| t(lang, "never").to_owned(), |d| when(d, lang)),
            expires: when(tk.expires_at, lang),
            state: if tk.revoked_at.is_some() {
                "token_revoked"
            } else if tk.expires_at <= now {
                "token_expired"
            } else {
                "token_active"
            },
        })
        .collect()
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    name: String,
    email: String,
    role: String,
    tokens: Vec<TokenRow>,
    /// A token just made: its secret, shown this once.
    new_token: Option<String>,
    /// Whose tokens these are, when an administrator looks at someone else's.
    owner: Option<String>,
    token_days: u32,
    /// For an administrator: the providers that sign this person in…
    identities: Vec<IdentityRow>,
    /// …and the changes made to the account.
    history: Vec<ChangeRow>,
}

pub struct IdentityRow {
    pub provider: String,
    pub subject: String,
    pub last_seen: String,
}

pub struct ChangeRow {
    pub at: String,
    /// Who: an administrator's name, or the provider that said so at sign-in.
    pub by: String,
    pub field: String,
    pub old: String,
    pub new: String,
}

async fn account_page(state: &AppState, viewer: &Viewer, new_token: Option<String>) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let p = viewer.principal();
    let tokens = state.app.list_tokens(p, Some(p.user.id)).await.map_err(|e| PageError::app(e, lang))?;
    let page = AccountPage {
        layout: Layout::new(viewer, t(lang, "account")),
        name: p.user.name.clone(),
        email: p.user.email.as_str().to_owned(),
        role: super::i18n::label(lang, p.user.role.as_str()),
        tokens: rows(tokens, state.app.now(), lang),
        new_token,
        owner: None,
        token_days: state.app.settings.sign_in.token_days,
        identities: Vec::new(),
        history: Vec::new(),
    };
    render(&page, lang)
}

pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    account_page(&state, &viewer, None).await
}

#[derive(Debug, Deserialize)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<PasswordChange>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    if form.new_password != form.confirm_password {
        let message = if lang == Language::Fr {
            "Les deux nouveaux mots de passe ne sont pas les mêmes."
        } else {
            "The two new passwords differ."
        };
        return Ok(back(&viewer, "/account", None, Some(message)));
    }
    let keep = Some(viewer.secret.clone());
    match state
        .app
        .change_own_password(viewer.principal(), &form.current_password, &form.new_password, keep.as_deref())
        .await
    {
        Ok(ended) => Ok(back(&viewer, "/account", Some(&sessions_ended(ended, lang, true)), None)),
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/account", None, Some(&error_text(&e, lang)))),
    }
}

fn sessions_ended(n: u64, lang: Language, password: bool) -> String {
    match (lang, password) {
        (Language::Fr, true) => format!("Mot de passe changé ; {n} autre(s) session(s) fermée(s)."),
        (Language::Fr, false) => format!("{n} autre(s) session(s) fermée(s)."),
        (Language::En, true) => format!("Password changed; {n} other session(s) signed out."),
        (Language::En, false) => format!("{n} other session(s) signed out."),
    }
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

pub async fn sign_out_elsewhere(
    State(state): State<AppState>,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let keep = viewer.secret.clone();
    let ended = state.app.sign_out_elsewhere(viewer.principal(), &keep).await.map_err(|e| PageError::app(e, lang))?;
    Ok(back(&viewer, "/account", Some(&sessions_ended(ended, lang, false)), None))
}

#[derive(Debug, Deserialize)]
pub struct NewToken {
    name: String,
    #[serde(default)]
    days: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<NewToken>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let days = match form.days.trim() {
        "" => None,
        d => match d.parse::<u32>() {
            Ok(d) => Some(d),
            Err(_) => {
                let e = AppError::field("expires_in_days", "a number of days");
                return Ok(back(&viewer, "/account#tokens", None, Some(&error_text(&e, lang))));
            }
        },
    };
    match state.app.create_own_token(viewer.principal(), &form.name, days).await {
        // Shown once, on this answer: not in a URL, not in a redirect.
        Ok((_, secret)) => account_page(&state, &viewer, Some(secret)).await,
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/account#tokens", None, Some(&error_text(&e, lang)))),
    }
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    /// Where to come back: the account page, or the administrator's view of a user.
    #[serde(default)]
    back: String,
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<RevokeForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    state.app.revoke_token(viewer.principal(), TokenId(id)).await.map_err(|e| PageError::app(e, lang))?;
    let to = if form.back.starts_with("/admin/users/") && !form.back.contains("//") {
        form.back.as_str()
    } else {
        "/account#tokens"
    };
    Ok(back(&viewer, to, Some(if lang == Language::Fr { "Jeton révoqué." } else { "Token revoked." }), None))
}

/// An administrator's view of one user's tokens.
pub async fn user_tokens(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    if viewer.principal().actor.role != Role::Admin {
        return Err(PageError::app(AppError::Forbidden("administrators only".into()), lang));
    }
    let fail = |e| PageError::app(e, lang);
    let user = state.app.find_user(viewer.principal(), UserId(id)).await.map_err(fail)?;
    let tokens = state.app.list_tokens(viewer.principal(), Some(user.id)).await.map_err(fail)?;
    let (events, identities) = state.app.user_history(viewer.principal(), user.id).await.map_err(fail)?;
    let identities = identities
        .into_iter()
        .map(|i| IdentityRow { provider: i.provider, subject: i.subject, last_seen: when(i.last_seen_at, lang) })
        .collect();
    let history = events
        .into_iter()
        .map(|e| ChangeRow {
            at: when(e.at, lang),
            by: e.actor_name.unwrap_or_else(|| e.source.strip_prefix("provider:").unwrap_or(&e.source).to_owned()),
            field: super::i18n::label(lang, &format!("change_{}", e.field)),
            old: e.old.unwrap_or_default(),
            new: e.new.unwrap_or_default(),
        })
        .collect();
    let page = AccountPage {
        layout: Layout::new(&viewer, t(lang, "user_access")),
        name: user.name.clone(),
        email: user.email.as_str().to_owned(),
        role: super::i18n::label(lang, user.role.as_str()),
        tokens: rows(tokens, state.app.now(), lang),
        new_token: None,
        owner: Some(user.name),
        token_days: state.app.settings.sign_in.token_days,
        identities,
        history,
    };
    render(&page, lang)
}
