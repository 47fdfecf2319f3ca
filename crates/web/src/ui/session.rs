//! Who is looking at a page: the session cookie, the language, and the CSRF
//! check every form post goes through.

use super::i18n;
use super::PageError;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use guichet_app::auth::{same_secret, WebSession};
use guichet_domain::user::Language;
use serde::de::DeserializeOwned;

pub const SESSION_COOKIE: &str = "guichet_session";
pub const LANG_COOKIE: &str = "guichet_lang";
pub const LOGIN_CSRF_COOKIE: &str = "guichet_login_csrf";

/// A cookie's name: over HTTPS with the `__Host-` prefix, which browsers
/// accept only from this host, over HTTPS, for the whole site — a sibling
/// domain or a plain-HTTP page cannot set or shadow it.
pub fn cookie_name(state: &AppState, base: &'static str) -> String {
    if state.web.secure_cookies {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// A cookie with the attributes every Guichet cookie shares.
pub fn cookie(state: &AppState, base: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(cookie_name(state, base), value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(state.web.secure_cookies);
    c
}

/// A cookie to remove (the same name and path).
pub fn expired(state: &AppState, base: &'static str) -> Cookie<'static> {
    Cookie::build(cookie_name(state, base)).path("/").build()
}

/// The language of a page: an explicit choice (cookie), else the signed-in
/// user's preference, else the browser's, else French.
pub fn language(state: &AppState, jar: &CookieJar, headers: &HeaderMap, session: Option<&WebSession>) -> Language {
    if let Some(lang) = jar.get(&cookie_name(state, LANG_COOKIE)).and_then(|c| Language::parse(c.value()).ok()) {
        return lang;
    }
    if let Some(session) = session {
        return session.principal.user.language;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(i18n::from_accept_language)
        .unwrap_or_default()
}

/// A page viewer who may or may not be signed in.
pub struct Visitor {
    pub session: Option<WebSession>,
    pub lang: Language,
    pub jar: CookieJar,
    pub path: String,
    /// The session cookie's secret, when signed in.
    pub secret: Option<String>,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let secret = jar.get(&cookie_name(state, SESSION_COOKIE)).map(|c| c.value().to_owned());
        let session = match &secret {
            Some(s) => state.app.find_session(s).await.map_err(|e| PageError::app(e, Language::Fr))?,
            None => None,
        };
        let lang = language(state, &jar, &parts.headers, session.as_ref());
        let path = parts.uri.path_and_query().map_or_else(|| "/".to_owned(), ToString::to_string);
        let secret = secret.filter(|_| session.is_some());
        Ok(Visitor { session, lang, jar, path, secret })
    }
}

/// A signed-in viewer; anyone else is sent to the sign-in page.
pub struct Viewer {
    pub session: WebSession,
    pub lang: Language,
    pub jar: CookieJar,
    pub path: String,
    /// The session cookie's secret.
    pub secret: String,
}

impl Viewer {
    pub fn principal(&self) -> &guichet_app::auth::Principal {
        &self.session.principal
    }

    pub fn is_staff(&self) -> bool {
        self.session.principal.actor.role.is_staff()
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        match visitor.session {
            Some(session) => Ok(Viewer {
                session,
                lang: visitor.lang,
                jar: visitor.jar,
                path: visitor.path,
                secret: visitor.secret.unwrap_or_default(),
            }),
            None => Err(PageError::SignIn { next: visitor.path }),
        }
    }
}

/// A form post from a signed-in viewer, refused unless it carries the
/// session's CSRF token in `_csrf`.
pub struct CsrfForm<T> {
    pub viewer: Viewer,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, 1024 * 1024).await.map_err(|_| PageError::BadRequest(viewer.lang))?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadRequest(viewer.lang))?;
        let sent = pairs.iter().find(|(k, _)| k == "_csrf").map(|(_, v)| v.as_str()).unwrap_or_default();
        if !same_secret(sent, &viewer.session.csrf_token) {
            return Err(PageError::Csrf(viewer.lang));
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadRequest(viewer.lang))?;
        Ok(CsrfForm { viewer, form })
    }
}

/// Checks the CSRF token of a multipart form (uploads).
pub fn check_csrf(viewer: &Viewer, sent: &str) -> Result<(), PageError> {
    if same_secret(sent, &viewer.session.csrf_token) {
        Ok(())
    } else {
        Err(PageError::Csrf(viewer.lang))
    }
}
