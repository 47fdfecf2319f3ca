//! The web interface: server-rendered pages (askama templates compiled into
//! the binary), French by default. Every flow works without JavaScript; the
//! little script only adds paste-a-screenshot and drag-and-drop.

pub mod account;
pub mod admin;
pub mod auth;
pub mod canned;
pub mod charts;
pub mod desk;
pub mod help;
pub mod i18n;
pub mod incidents;
pub mod kb;
pub mod mail;
pub mod phone;
pub mod privacy;
pub mod reports;
pub mod satisfaction;
pub mod search;
pub mod session;
pub mod sso;
pub mod tickets;
pub mod webhooks;

use crate::AppState;
use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use guichet_app::AppError;
use guichet_domain::user::Language;
use session::Viewer;

/// What the page layout needs from every page.
pub struct Layout {
    pub lang: Language,
    pub title: String,
    pub user_name: Option<String>,
    pub nav: Vec<NavItem>,
    pub csrf: String,
    pub path: String,
    /// A message after an action (`?ok=`), or an error to show (`?error=`).
    pub notice: Option<String>,
    pub error: Option<String>,
}

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

impl Layout {
    pub fn new(viewer: &Viewer, title: impl Into<String>) -> Self {
        let lang = viewer.lang;
        let role = viewer.principal().actor.role;
        let mut items: Vec<(&'static str, &'static str)> = Vec::new();
        if role.is_staff() {
            items.extend([
                ("/desk", "dashboard"),
                ("/tickets", "queue"),
                ("/phone", "phone_intake"),
                ("/incidents", "incidents"),
                ("/reports", "reports"),
                ("/canned", "canned_responses"),
                ("/kb", "knowledge_base"),
            ]);
        } else {
            items.extend([
                ("/tickets", "my_tickets"),
                ("/tickets/new", "new_request"),
                ("/incidents", "incidents"),
                ("/reports", "reports"),
                ("/kb", "knowledge_base"),
            ]);
        }
        if role == guichet_domain::user::Role::Admin {
            items.extend([
                ("/admin/establishments", "establishments"),
                ("/admin/users", "users"),
                ("/admin/categories", "categories"),
                ("/admin/mail", "mail"),
                ("/admin/privacy", "privacy"),
                ("/admin/webhooks", "webhooks"),
            ]);
        }
        let path = viewer.path.split('?').next().unwrap_or("/").to_owned();
        let nav = items
            .into_iter()
            .map(|(href, key)| NavItem { href, label: i18n::t(lang, key), current: path == href })
            .collect();
        let query = viewer.path.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let secret = &viewer.session.csrf_token;
        let signature = params.iter().find(|(k, _)| k == "sig").map(|(_, v)| v.as_str()).unwrap_or_default();
        // Only the messages this server sent to this session are shown.
        let param = |name: &str| {
            params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| {
                !signature.is_empty() && guichet_app::auth::same_secret(&message_signature(secret, name, v), signature)
            })
        };
        Self {
            lang,
            title: title.into(),
            user_name: Some(viewer.principal().user.name.clone()),
            nav,
            csrf: viewer.session.csrf_token.clone(),
            path: viewer.path.clone(),
            notice: param("ok"),
            error: param("error"),
        }
    }

    /// For pages seen before signing in.
    pub fn anonymous(lang: Language, title: impl Into<String>, path: &str) -> Self {
        Self {
            lang,
            title: title.into(),
            user_name: None,
            nav: Vec::new(),
            csrf: String::new(),
            path: path.to_owned(),
            notice: None,
            error: None,
        }
    }

    pub fn t(&self, key: &str) -> &'static str {
        i18n::t(self.lang, key)
    }

    pub fn label(&self, code: &str) -> String {
        i18n::label(self.lang, code)
    }

    pub fn lang_code(&self) -> &'static str {
        self.lang.as_str()
    }

    pub fn switch_label(&self) -> &'static str {
        if self.lang == Language::En {
            "Français"
        } else {
            "English"
        }
    }

    pub fn switch_lang(&self) -> &'static str {
        if self.lang == Language::En {
            "fr"
        } else {
            "en"
        }
    }
}

/// A ticket count as the pages show it: the figure, or « plus de 10 000 »
/// when counting stopped at its limit.
pub fn count_label(count: i64, more: bool, lang: Language) -> String {
    match (more, lang) {
        (false, _) => count.to_string(),
        // Grouped as each language writes thousands, with a narrow no-break space in French.
        (true, Language::En) => format!("more than {}", grouped(count, ',')),
        (true, Language::Fr) => format!("plus de {}", grouped(count, '\u{202f}')),
    }
}

fn grouped(n: i64, separator: char) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(d);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|q| q.trim_start_matches('=').to_owned()).unwrap_or_default()
}

/// Errors of pages: a redirection to sign in, or a page that says what went wrong.
#[derive(Debug)]
pub enum PageError {
    SignIn {
        next: String,
    },
    NotFound(Language),
    Forbidden(Language),
    BadRequest(Language),
    Csrf(Language),
    Internal(Language),
    /// A sign-in (by a provider, or a password where a provider is due) not let in, and why.
    SignInRefused(Language, guichet_app::identities::SignInRefusal),
    /// The identity provider does not answer.
    ProviderDown(Language),
}

impl PageError {
    pub fn app(e: AppError, lang: Language) -> Self {
        match e {
            AppError::NotFound(_) => PageError::NotFound(lang),
            AppError::Forbidden(_) => PageError::Forbidden(lang),
            AppError::Unauthenticated => PageError::SignIn { next: "/".into() },
            AppError::SignInRefused(why) => PageError::SignInRefused(lang, why),
            AppError::Internal(source) => {
                tracing::error!(error = %source, "internal error on a page");
                PageError::Internal(lang)
            }
            _ => PageError::BadRequest(lang),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    message: String,
    /// Where "back" leads: home, or the sign-in page after a refused sign-in.
    back: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut back = "/";
        let (status, lang, title, message) = match self {
            PageError::SignIn { next } => {
                return Redirect::to(&format!("/login?next={}", urlencode(&next))).into_response();
            }
            PageError::SignInRefused(l, why) => {
                back = "/login";
                (StatusCode::FORBIDDEN, l, i18n::t(l, "sign_in_refused"), refusal_text(l, why))
            }
            PageError::ProviderDown(l) => {
                back = "/login";
                (StatusCode::BAD_GATEWAY, l, i18n::t(l, "sign_in_refused"), provider_down_text(l))
            }
            PageError::NotFound(l) => (StatusCode::NOT_FOUND, l, i18n::t(l, "not_found"), i18n::t(l, "not_found_text")),
            PageError::Forbidden(l) => (StatusCode::FORBIDDEN, l, i18n::t(l, "error"), forbidden_text(l)),
            PageError::BadRequest(l) => (StatusCode::BAD_REQUEST, l, i18n::t(l, "error"), bad_request_text(l)),
            PageError::Csrf(l) => (StatusCode::FORBIDDEN, l, i18n::t(l, "error"), csrf_text(l)),
            PageError::Internal(l) => (StatusCode::INTERNAL_SERVER_ERROR, l, i18n::t(l, "error"), internal_text(l)),
        };
        let page = ErrorPage { layout: Layout::anonymous(lang, title, "/"), message: message.to_owned(), back };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, message).into_response(),
        }
    }
}

fn refusal_text(l: Language, why: guichet_app::identities::SignInRefusal) -> &'static str {
    use guichet_app::identities::SignInRefusal as R;
    let en = l == Language::En;
    match (why, en) {
        (R::NoSubject, false) => "Le service de connexion n'a pas transmis d'identifiant : le support ne peut pas savoir qui vous êtes. Contactez le support.",
        (R::NoSubject, true) => "The sign-in service sent no identifier: the desk cannot tell who you are. Contact the desk.",
        (R::Unknown, false) => "Votre compte n'est pas connu du support ENT. Si vous administrez un établissement, demandez au support de créer votre accès en lui donnant votre adresse électronique.",
        (R::Unknown, true) => "The ENT support desk does not know your account. If you administer a school, ask the desk to create your access, giving them your e-mail address.",
        (R::NoKnownSchool, false) => "Aucun des établissements de votre profil ENT n'est suivi par ce support. Contactez le support de votre académie.",
        (R::NoKnownSchool, true) => "None of the schools in your ENT profile is served by this desk. Contact your académie's support.",
        (R::NoEmail, false) => "Votre profil ENT ne comporte pas d'adresse électronique : le support ne peut pas créer votre accès. Contactez le support.",
        (R::NoEmail, true) => "Your ENT profile has no e-mail address: the desk cannot create your access. Contact the desk.",
        (R::AddressTaken, false) => "Un compte existe déjà avec votre adresse électronique, mais le service de connexion ne la garantit pas. Demandez au support de relier votre compte ENT à ce compte.",
        (R::AddressTaken, true) => "An account already has your e-mail address, but the sign-in service does not vouch for it. Ask the desk to link your ENT account to it.",
        (R::Disabled, false) => "Votre accès a été désactivé. Contactez le support.",
        (R::Disabled, true) => "Your access has been disabled. Contact the desk.",
        (R::UseProvider, false) => "Votre compte se connecte avec l'ENT : utilisez le bouton de connexion ENT.",
        (R::UseProvider, true) => "Your account signs in with the ENT: use the ENT sign-in button.",
        (R::FlowExpired, false) => "La connexion n'a pas abouti : le lien a expiré, a déjà servi ou a été ouvert dans un autre navigateur. Recommencez depuis la page de connexion.",
        (R::FlowExpired, true) => "The sign-in did not complete: the link expired, was already used or was opened in another browser. Start again from the sign-in page.",
        (R::NotConfirmed, false) => "Le service de connexion n'a pas confirmé votre identité (ticket invalide ou déjà utilisé, connexion annulée). Recommencez la connexion.",
        (R::NotConfirmed, true) => "The sign-in service did not confirm who you are (an invalid or already used ticket, a cancelled sign-in). Sign in again.",
    }
}

fn provider_down_text(l: Language) -> &'static str {
    if l == Language::En {
        "The ENT's sign-in service is not answering. Try again in a few minutes, or use your password if you have one."
    } else {
        "Le service de connexion de l'ENT ne répond pas. Réessayez dans quelques minutes, ou utilisez votre mot de passe si vous en avez un."
    }
}

fn forbidden_text(l: Language) -> &'static str {
    if l == Language::En {
        "You may not do this."
    } else {
        "Vous n'avez pas le droit de faire cela."
    }
}

fn bad_request_text(l: Language) -> &'static str {
    if l == Language::En {
        "The form could not be read. Go back and try again."
    } else {
        "Le formulaire n'a pas pu être lu. Revenez en arrière et réessayez."
    }
}

fn csrf_text(l: Language) -> &'static str {
    if l == Language::En {
        "This form has expired or did not come from Guichet. Reload the page and try again."
    } else {
        "Ce formulaire a expiré ou ne provient pas de Guichet. Rechargez la page et réessayez."
    }
}

fn internal_text(l: Language) -> &'static str {
    if l == Language::En {
        "Something went wrong on our side; it has been logged."
    } else {
        "Une erreur est survenue de notre côté ; elle a été enregistrée."
    }
}

/// Renders a template into a response.
pub fn render(template: &impl Template, lang: Language) -> Result<Response, PageError> {
    template.render().map(|html| Html(html).into_response()).map_err(|e| {
        tracing::error!(error = %e, "template error");
        PageError::Internal(lang)
    })
}

/// Goes back to a page with a message (success) or an error, after a form
/// post. The message travels in the URL with a signature made with the
/// viewer's session secret (its CSRF token): a link crafted elsewhere cannot
/// make a page display the attacker's text.
pub fn back(viewer: &Viewer, to: &str, ok: Option<&str>, error: Option<&str>) -> Response {
    let (to, fragment) = to.split_once('#').map_or((to, ""), |(path, f)| (path, f));
    // The target's own parameters are kept (the composer's canned response
    // after a refused reply); the message comes after them.
    let mut url = to.to_owned();
    let separator = if to.contains('?') { '&' } else { '?' };
    let secret = &viewer.session.csrf_token;
    if let Some(ok) = ok {
        url = format!("{url}{separator}ok={}&sig={}", urlencode(ok), message_signature(secret, "ok", ok));
    } else if let Some(error) = error {
        url = format!("{url}{separator}error={}&sig={}", urlencode(error), message_signature(secret, "error", error));
    }
    if !fragment.is_empty() {
        url = format!("{url}#{fragment}");
    }
    Redirect::to(&url).into_response()
}

/// The signature of a page message for one session.
fn message_signature(secret: &str, kind: &str, text: &str) -> String {
    use hmac::Mac;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(format!("guichet-message\0{kind}\0{text}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..12])
}

/// A form's validation failure as a sentence in the viewer's language.
pub fn error_text(e: &AppError, lang: Language) -> String {
    match e {
        AppError::Validation(errors) => errors
            .iter()
            .map(|f| format!("{} : {}", i18n::label(lang, &f.field), f.message))
            .collect::<Vec<_>>()
            .join(" ; "),
        other => other.to_string(),
    }
}

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");

async fn static_file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

async fn home(visitor: session::Visitor) -> Response {
    match visitor.session {
        None => Redirect::to("/login").into_response(),
        Some(s) if s.principal.actor.role.is_staff() => Redirect::to("/desk").into_response(),
        Some(_) => Redirect::to("/tickets").into_response(),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/auth/cas/{name}", get(sso::start_cas))
        .route("/auth/cas/{name}/callback", get(sso::cas_callback).post(sso::cas_single_logout))
        .route("/auth/oidc/{name}", get(sso::start_oidc))
        .route("/auth/oidc/{name}/callback", get(sso::oidc_callback))
        .route("/lang/{code}", post(auth::switch_language))
        .route("/desk", get(desk::dashboard))
        .route("/desk/tiles", get(desk::dashboard_tiles))
        .route("/tickets", get(tickets::queue))
        .route("/tickets/new", get(tickets::new_page).post(tickets::create))
        .route("/filters", post(tickets::save_filter))
        .route("/filters/{id}/delete", post(tickets::delete_filter))
        .route("/tickets/{key}", get(tickets::page))
        .route("/tickets/{key}/update", post(tickets::update))
        .route("/tickets/{key}/comments", post(tickets::comment))
        .route("/tickets/{key}/attachments", post(tickets::upload))
        .route("/attachments/{id}", get(tickets::attachment))
        .route("/phone", get(phone::page).post(phone::create))
        .route("/kb", get(kb::list))
        .route("/kb/new", get(kb::new_page).post(kb::create))
        .route("/kb/{id}", get(kb::article))
        .route("/kb/{id}/edit", get(kb::edit).post(kb::update))
        .route("/kb/{id}/answered", post(kb::answered))
        .route("/canned", get(canned::page).post(canned::create))
        .route("/canned/{id}", get(canned::edit_page).post(canned::update))
        .route("/canned/{id}/delete", post(canned::delete))
        .route("/admin/establishments", get(admin::establishments).post(admin::create_establishment))
        .route("/admin/establishments/import", post(admin::import_establishments))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/{id}/password", post(admin::set_password))
        .route("/admin/users/{id}/tokens", get(account::user_tokens))
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route("/account/sessions/others", post(account::sign_out_elsewhere))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/admin/users/{id}/disabled", post(admin::set_disabled))
        .route("/admin/users/{id}/role", post(admin::set_role))
        .route("/admin/categories", get(admin::categories).post(admin::create_category))
        .route("/admin/rota", get(admin::rota).post(admin::change_rota))
        .route("/admin/calendar", get(admin::calendar).post(admin::save_calendar))
        .route("/admin/sla", post(admin::save_sla))
        .route("/admin/categories/{code}/active", post(admin::set_category_active))
        .route("/search", get(search::page))
        .route("/reports", get(reports::page))
        .route("/reports/{name}", get(reports::csv))
        .route("/admin/mail", get(mail::page))
        .route("/admin/privacy", get(privacy::page))
        .route("/admin/privacy/person", post(privacy::lookup))
        .route("/admin/privacy/export", post(privacy::export))
        .route("/admin/privacy/erase", post(privacy::erase))
        .route("/admin/privacy/retention", post(privacy::run_retention))
        .route("/admin/privacy/audit.csv", get(privacy::audit_csv))
        .route("/admin/mail/quarantine/{id}/raw", get(mail::raw))
        .route("/admin/mail/quarantine/{id}/reprocess", post(mail::reprocess))
        .route("/admin/mail/quarantine/{id}/dismiss", post(mail::dismiss))
        .route("/admin/mail/outbox/{id}/retry", post(mail::retry))
        .route("/admin/webhooks", get(webhooks::page).post(webhooks::create))
        .route("/admin/webhooks/{id}", get(webhooks::hook_page).post(webhooks::update))
        .route("/admin/webhooks/{id}/delete", post(webhooks::delete))
        .route("/admin/webhooks/{id}/secret", post(webhooks::rotate_secret))
        .route("/admin/webhooks/{id}/resume", post(webhooks::resume))
        .route("/admin/webhooks/{id}/ping", post(webhooks::ping))
        .route("/admin/webhooks/{id}/deliveries/{delivery}", get(webhooks::delivery_page))
        .route("/admin/webhooks/{id}/deliveries/{delivery}/redeliver", post(webhooks::redeliver))
        .route("/static/{name}", get(static_file))
        .route("/incidents", get(incidents::list).post(incidents::declare))
        .route("/incidents/{id}", get(incidents::page))
        .route("/incidents/{id}/resolve", post(incidents::resolve))
        .route("/incidents/{id}/join", post(incidents::join))
        .route("/incidents/{id}/tickets", post(incidents::add_tickets))
        .route("/tickets/{key}/handover", post(incidents::handover))
        .route("/tickets/{key}/links", post(incidents::link))
        .route("/tickets/{key}/links/delete", post(incidents::unlink))
        .route("/tickets/{key}/merge", post(incidents::merge))
        .route("/tickets/{key}/redact", post(tickets::redact))
        .route("/tickets/{key}/satisfaction", post(satisfaction::answer_on_portal))
        .route("/satisfaction/{token}", get(satisfaction::page).post(satisfaction::submit))
        .route("/similar", get(incidents::similar))
}

/// The public HELP pages, apart: their uploads come from anyone, and get a
/// smaller body limit than the signed-in pages'.
pub fn help_router() -> Router<AppState> {
    Router::new()
        .route("/aide/{uai}", get(help::page).post(help::submit))
        .route("/aide/{uai}/widget.js", get(help::widget))
        .route("/aide/{uai}/articles", get(kb::help_suggestions))
        .route("/aide/{uai}/articles/{id}", get(kb::help_article))
        .route("/aide/{uai}/articles/{id}/answered", post(kb::help_answered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_past_its_limit_reads_as_more_than_in_each_language() {
        assert_eq!(count_label(9_999, false, Language::Fr), "9999");
        assert_eq!(count_label(10_000, true, Language::Fr), "plus de 10\u{202f}000");
        assert_eq!(count_label(10_000, true, Language::En), "more than 10,000");
        assert_eq!(count_label(1_234_567, true, Language::En), "more than 1,234,567");
        assert_eq!(count_label(999, true, Language::En), "more than 999");
    }
}
