//! Signing in through an identity provider: leaving for it, coming back
//! (`/auth/cas/{name}/callback`, `/auth/oidc/{name}/callback`), and a CAS
//! server's single logout. A flow is bound to the browser that started it
//! by a cookie whose hash the flow keeps: a callback link made by someone
//! else (with their ticket or code) signs nobody in.

use super::auth::safe_next;
use super::session::{cookie, cookie_name, expired, Visitor, LOGIN_CSRF_COOKIE, SESSION_COOKIE};
use super::PageError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use guichet_app::auth::{random_secret, Principal};
use guichet_app::identities::{ProviderSession, SignInRefusal};
use guichet_sso::SsoError;
use serde::Deserialize;

/// The cookie binding a sign-in under way to this browser.
pub const FLOW_COOKIE: &str = "guichet_sso";

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// What a provider's failure shows: a provider down is a 502 with its own
/// page, one that says no (or cannot be believed) refuses the sign-in.
fn provider_error(e: SsoError, visitor: &Visitor, provider: &str) -> PageError {
    match e {
        SsoError::Unreachable(why) | SsoError::Config(why) => {
            tracing::warn!(provider, error = %why, "identity provider unavailable");
            PageError::ProviderDown(visitor.lang)
        }
        SsoError::Refused(why) | SsoError::Invalid(why) => {
            tracing::warn!(provider, error = %why, "sign-in refused by the identity provider's answer");
            PageError::SignInRefused(visitor.lang, SignInRefusal::NotConfirmed)
        }
    }
}

/// Lives with the browser session; the flow it binds ends after
/// `FLOW_LIFETIME` in the database whatever the cookie says.
fn flow_cookie(state: &AppState, secret: String) -> axum_extra::extract::cookie::Cookie<'static> {
    cookie(state, FLOW_COOKIE, secret)
}

fn flow_secret(state: &AppState, visitor: &Visitor) -> Option<String> {
    visitor.jar.get(&cookie_name(state, FLOW_COOKIE)).map(|c| c.value().to_owned())
}

/// Opens the session and goes where the sign-in was headed.
async fn signed_in(
    state: &AppState,
    visitor: Visitor,
    principal: &Principal,
    provider: ProviderSession<'_>,
    next: &str,
) -> Result<Response, PageError> {
    let secret =
        state.app.open_provider_session(principal, provider).await.map_err(|e| PageError::app(e, visitor.lang))?;
    let jar = visitor.jar.remove(expired(state, FLOW_COOKIE)).remove(expired(state, LOGIN_CSRF_COOKIE)).add(cookie(
        state,
        SESSION_COOKIE,
        secret,
    ));
    Ok((jar, Redirect::to(&safe_next(Some(next)))).into_response())
}

pub async fn start_cas(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    Query(q): Query<StartQuery>,
) -> Result<Response, PageError> {
    let provider = state.web.providers.find_cas(&name).ok_or(PageError::NotFound(visitor.lang))?;
    let browser = random_secret();
    let next = safe_next(q.next.as_deref());
    let flow = state
        .app
        .start_sign_in(&name, &browser, None, None, None, &next)
        .await
        .map_err(|e| PageError::app(e, visitor.lang))?;
    let url = provider.login_url(&flow).map_err(|e| provider_error(e, &visitor, &name))?;
    let jar = visitor.jar.clone().add(flow_cookie(&state, browser));
    Ok((jar, Redirect::to(url.as_str())).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CasCallbackQuery {
    flow: Option<String>,
    ticket: Option<String>,
}

pub async fn cas_callback(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    Query(q): Query<CasCallbackQuery>,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let refused = |why| PageError::SignInRefused(lang, why);
    let provider = state.web.providers.find_cas(&name).ok_or(PageError::NotFound(lang))?;
    let (Some(flow_id), Some(ticket)) = (q.flow, q.ticket) else {
        return Err(refused(SignInRefusal::FlowExpired));
    };
    if ticket.len() > 1024 {
        return Err(refused(SignInRefusal::NotConfirmed));
    }
    let browser = flow_secret(&state, &visitor);
    let flow =
        state.app.finish_sign_in(&name, &flow_id, browser.as_deref()).await.map_err(|e| PageError::app(e, lang))?;
    // A ticket serves once here, whatever the CAS server would say of it.
    if state.app.provider_reference_used(&name, &ticket).await.map_err(|e| PageError::app(e, lang))? {
        tracing::warn!(provider = %name, "a service ticket came back a second time");
        return Err(refused(SignInRefusal::NotConfirmed));
    }
    let success =
        provider.validate(&state.sso_http, &flow.id, &ticket).await.map_err(|e| provider_error(e, &visitor, &name))?;
    let identity = provider.identity(success);
    let principal = state.app.sign_in_external(&identity).await.map_err(|e| PageError::app(e, lang))?;
    let session = ProviderSession { provider: &name, reference: Some(&ticket), logout_hint: None };
    signed_in(&state, visitor, &principal, session, &flow.next).await
}

#[derive(Debug, Deserialize)]
pub struct LogoutRequestForm {
    #[serde(rename = "logoutRequest")]
    logout_request: String,
}

/// A CAS server's single logout (a back-channel POST to the service URL):
/// the sessions opened with the service ticket it names end.
pub async fn cas_single_logout(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Form(form): Form<LogoutRequestForm>,
) -> StatusCode {
    if state.web.providers.find_cas(&name).is_none() {
        return StatusCode::NOT_FOUND;
    }
    match guichet_sso::cas::parse_logout_request(&form.logout_request) {
        Ok(ticket) => match state.app.single_logout(&name, &ticket).await {
            Ok(_) => StatusCode::OK,
            Err(e) => {
                tracing::error!(error = %e, "single logout failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        },
        Err(e) => {
            tracing::warn!(provider = %name, error = %e, "unreadable single-logout request");
            StatusCode::BAD_REQUEST
        }
    }
}

pub async fn start_oidc(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    Query(q): Query<StartQuery>,
) -> Result<Response, PageError> {
    let provider = state.web.providers.find_oidc(&name).ok_or(PageError::NotFound(visitor.lang))?;
    let start = provider.start(&state.sso_http).await.map_err(|e| provider_error(e, &visitor, &name))?;
    let browser = random_secret();
    let next = safe_next(q.next.as_deref());
    state
        .app
        .start_sign_in(&name, &browser, Some(start.state), Some(start.nonce), Some(start.pkce_verifier), &next)
        .await
        .map_err(|e| PageError::app(e, visitor.lang))?;
    let jar = visitor.jar.clone().add(flow_cookie(&state, browser));
    Ok((jar, Redirect::to(start.url.as_str())).into_response())
}

#[derive(Debug, Deserialize)]
pub struct OidcCallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn oidc_callback(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    Query(q): Query<OidcCallbackQuery>,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let provider = state.web.providers.find_oidc(&name).ok_or(PageError::NotFound(lang))?;
    let Some(flow_id) = q.state else { return Err(PageError::SignInRefused(lang, SignInRefusal::FlowExpired)) };
    let browser = flow_secret(&state, &visitor);
    let flow =
        state.app.finish_sign_in(&name, &flow_id, browser.as_deref()).await.map_err(|e| PageError::app(e, lang))?;
    if let Some(error) = q.error {
        tracing::info!(provider = %name, error = %error.chars().take(100).collect::<String>(), "the provider did not sign the person in");
        return Err(PageError::SignInRefused(lang, SignInRefusal::NotConfirmed));
    }
    let (Some(code), Some(nonce), Some(verifier)) = (q.code, flow.nonce.as_deref(), flow.pkce_verifier.as_deref())
    else {
        return Err(PageError::SignInRefused(lang, SignInRefusal::FlowExpired));
    };
    let signed = provider
        .finish(&state.sso_http, &code, nonce, verifier)
        .await
        .map_err(|e| provider_error(e, &visitor, &name))?;
    let principal = state.app.sign_in_external(&signed.identity).await.map_err(|e| PageError::app(e, lang))?;
    let session = ProviderSession { provider: &name, reference: None, logout_hint: Some(&signed.id_token) };
    signed_in(&state, visitor, &principal, session, &flow.next).await
}

/// Where signing out sends a person a provider signed in: through the
/// provider's own logout when configured, else back to the sign-in page.
pub async fn logout_target(state: &AppState, provider: &str, hint: Option<&str>) -> Option<String> {
    if let Some(cas) = state.web.providers.find_cas(provider) {
        if cas.logout_at_provider {
            let back = cas.callback_url.join("/login").ok()?;
            return cas.logout_url(&back).ok().map(|u| u.to_string());
        }
    }
    if let Some(oidc) = state.web.providers.find_oidc(provider) {
        if oidc.logout_at_provider {
            return oidc.logout_url(&state.sso_http, hint.unwrap_or_default()).await.map(|u| u.to_string());
        }
    }
    None
}

/// The sign-in page's buttons: one per provider.
pub fn buttons(state: &AppState, next: &str) -> Vec<(String, String)> {
    let next = super::urlencode(next);
    let cas = state.web.providers.cas.iter().map(|p| (format!("/auth/cas/{}?next={next}", p.name), p.label.clone()));
    let oidc = state.web.providers.oidc.iter().map(|p| (format!("/auth/oidc/{}?next={next}", p.name), p.label.clone()));
    cas.chain(oidc).collect()
}
