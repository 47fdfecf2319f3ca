//! Signing in and out, and the language switch.

use super::session::{cookie, cookie_name, expired, Visitor, LANG_COOKIE, LOGIN_CSRF_COOKIE, SESSION_COOKIE};
use super::{i18n, render, Layout, PageError};
use crate::extract::ClientAddr;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use guichet_app::auth::{random_secret, same_secret};
use guichet_domain::user::Language;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    next: String,
    email: String,
    failure: Option<String>,
    /// The identity providers' buttons: link and label.
    providers: Vec<(String, String)>,
}

/// Why the form comes back: a wrong password, or too many attempts.
enum Failure {
    Wrong,
    Throttled {
        retry_after: u64,
    },
    Busy {
        retry_after: u64,
    },
    /// The right password, but this role signs in through a provider.
    UseProvider,
}

impl Failure {
    fn status(&self) -> axum::http::StatusCode {
        match self {
            Failure::Wrong => axum::http::StatusCode::UNAUTHORIZED,
            Failure::Throttled { .. } => axum::http::StatusCode::TOO_MANY_REQUESTS,
            Failure::Busy { .. } => axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Failure::UseProvider => axum::http::StatusCode::FORBIDDEN,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Failure::Wrong | Failure::UseProvider => None,
            Failure::Throttled { retry_after } | Failure::Busy { retry_after } => Some(*retry_after),
        }
    }

    fn message(&self, lang: Language) -> String {
        let en = lang == Language::En;
        match self {
            Failure::Wrong => i18n::t(lang, "login_failed").to_owned(),
            Failure::Throttled { retry_after } => {
                let minutes = retry_after.div_ceil(60);
                if en {
                    format!("Too many sign-in attempts for this account or from this network. Try again in {minutes} minute(s).")
                } else {
                    format!("Trop de tentatives de connexion pour ce compte ou depuis ce réseau. Réessayez dans {minutes} minute(s).")
                }
            }
            Failure::Busy { .. } if en => "The server is busy signing people in. Try again in a few seconds.".into(),
            Failure::Busy { .. } => {
                "Le serveur traite beaucoup de connexions. Réessayez dans quelques secondes.".into()
            }
            Failure::UseProvider if en => "Your account signs in with the ENT: use the button above.".into(),
            Failure::UseProvider => "Votre compte se connecte avec l'ENT : utilisez le bouton ci-dessus.".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only paths of this site: `/` followed by neither `/` nor `\`, without
/// any control character or backslash. Browsers drop tabs and newlines from
/// a URL and read `\` as `/`, so `/\t/evil.example` or `/\\evil.example`
/// would otherwise lead to another site: sign-in and the language switch
/// would be open redirects.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    let Some(n) = next else { return "/".to_owned() };
    let mut chars = n.chars();
    let local = chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && !n.chars().any(|c| c.is_control() || c == '\\' || c.is_whitespace())
        && n.len() <= 2000;
    if local {
        n.to_owned()
    } else {
        "/".to_owned()
    }
}

fn login_form(
    state: &AppState,
    visitor: Visitor,
    next: String,
    email: String,
    failure: Option<Failure>,
) -> Result<Response, PageError> {
    let csrf = random_secret();
    let next_for_buttons = next.clone();
    let jar = visitor.jar.add(cookie(state, LOGIN_CSRF_COOKIE, csrf.clone()));
    let page = LoginPage {
        layout: Layout::anonymous(visitor.lang, i18n::t(visitor.lang, "login"), &visitor.path),
        csrf,
        next,
        email,
        failure: failure.as_ref().map(|f| f.message(visitor.lang)),
        providers: super::sso::buttons(state, &next_for_buttons),
    };
    let mut response = render(&page, visitor.lang)?;
    if let Some(failure) = failure {
        *response.status_mut() = failure.status();
        if let Some(seconds) = failure.retry_after() {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
    }
    Ok((jar, response).into_response())
}

pub async fn login_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    if visitor.session.is_some() {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    }
    let next = safe_next(q.next.as_deref());
    login_form(&state, visitor, next, String::new(), None)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    visitor: Visitor,
    client: ClientAddr,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let expected =
        visitor.jar.get(&cookie_name(&state, LOGIN_CSRF_COOKIE)).map(|c| c.value().to_owned()).unwrap_or_default();
    if expected.is_empty() || !same_secret(&form.csrf, &expected) {
        return Err(PageError::Csrf(visitor.lang));
    }
    let next = safe_next(form.next.as_deref());
    match state.app.authenticate_password(&form.email, &form.password, &client.0).await {
        Ok(principal) => {
            let secret = state.app.open_session(&principal).await.map_err(|e| PageError::app(e, visitor.lang))?;
            let jar =
                visitor.jar.remove(expired(&state, LOGIN_CSRF_COOKIE)).add(cookie(&state, SESSION_COOKIE, secret));
            let target = if next == "/" { "/".to_owned() } else { next };
            Ok((jar, Redirect::to(&target)).into_response())
        }
        Err(guichet_app::AppError::Unauthenticated) => {
            login_form(&state, visitor, next, form.email, Some(Failure::Wrong))
        }
        Err(guichet_app::AppError::Throttled { retry_after }) => {
            login_form(&state, visitor, next, form.email, Some(Failure::Throttled { retry_after }))
        }
        Err(guichet_app::AppError::Busy { retry_after }) => {
            login_form(&state, visitor, next, form.email, Some(Failure::Busy { retry_after }))
        }
        Err(guichet_app::AppError::SignInRefused(guichet_app::identities::SignInRefusal::UseProvider)) => {
            login_form(&state, visitor, next, form.email, Some(Failure::UseProvider))
        }
        Err(e) => Err(PageError::app(e, visitor.lang)),
    }
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PageError> {
    let mut target = None;
    if let (Some(session), Some(secret)) = (&visitor.session, &visitor.secret) {
        if !same_secret(&form.csrf, &session.csrf_token) {
            return Err(PageError::Csrf(visitor.lang));
        }
        let provider = state.app.session_provider(secret).await.map_err(|e| PageError::app(e, visitor.lang))?;
        state.app.close_session(secret).await.map_err(|e| PageError::app(e, visitor.lang))?;
        if let Some((name, hint)) = provider {
            target = super::sso::logout_target(&state, &name, hint.as_deref()).await;
        }
    }
    let jar = visitor.jar.remove(expired(&state, SESSION_COOKIE));
    // Signed in by a provider: signed out there too, which then sends the browser back here.
    Ok((jar, Redirect::to(target.as_deref().unwrap_or("/login"))).into_response())
}

#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    next: Option<String>,
}

/// Switches the language: a form button (no script needed), remembered in a
/// cookie and, when signed in, as the user's preference — which is why a
/// signed-in switch needs the session's CSRF token. Before signing in only
/// the cookie changes.
pub async fn switch_language(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(code): Path<String>,
    Form(form): Form<LanguageForm>,
) -> Result<Response, PageError> {
    let lang = Language::parse(&code).map_err(|_| PageError::NotFound(visitor.lang))?;
    if let Some(session) = &visitor.session {
        if !same_secret(&form.csrf, &session.csrf_token) {
            return Err(PageError::Csrf(visitor.lang));
        }
        state.app.set_language(&session.principal, lang).await.map_err(|e| PageError::app(e, lang))?;
    }
    let jar = visitor.jar.add(cookie(&state, LANG_COOKIE, lang.as_str().to_owned()));
    Ok((jar, Redirect::to(&safe_next(form.next.as_deref()))).into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_never_leaves_the_site() {
        assert_eq!(safe_next(Some("/tickets/SUP-1")), "/tickets/SUP-1");
        assert_eq!(
            safe_next(Some("/queue?q=status%20%3D%20new&sort=-updated")),
            "/queue?q=status%20%3D%20new&sort=-updated"
        );
        assert_eq!(safe_next(Some("/recherche?q=élève")), "/recherche?q=élève");
        assert_eq!(safe_next(None), "/");
        // Known bypasses, once decoded from the query string.
        for evil in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/ /evil.example",
            "/\u{0}/evil.example",
            "/\u{7f}/evil.example",
            "/\u{85}/evil.example",
            "/\u{3000}/evil.example",
            "/x\\..\\..\\evil",
            "javascript:alert(1)",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil:?}");
        }
    }
}
