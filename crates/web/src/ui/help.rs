//! The public HELP page of an establishment (`/aide/{UAI}`), its embeddable
//! script, and what a school's administrator does with the requests it brings.

use super::session::Visitor;
use super::tickets::{read_multipart, Choice};
use super::{i18n, render, Layout, PageError};
use crate::extract::ClientAddr;
use crate::AppState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use guichet_app::help::{HelpOutcome, HelpRequest};
use guichet_app::AppError;
use guichet_domain::ticket::Profile;
use guichet_domain::user::Language;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "help.html")]
struct HelpPage {
    layout: Layout,
    establishment: String,
    action: String,
    /// Where the public articles like the message being typed come from.
    suggest_url: String,
    again_href: String,
    profiles: Vec<Choice>,
    sent: bool,
    with_email: bool,
    error: Option<String>,
    profile: String,
    name: String,
    email: String,
    message: String,
}

#[derive(Debug, Deserialize)]
pub struct HelpQuery {
    pub lang: Option<String>,
}

fn page_language(visitor: &Visitor, asked: Option<&str>) -> Language {
    asked.and_then(|l| Language::parse(l).ok()).unwrap_or(visitor.lang)
}

/// The page may be shown inside the ENT's own pages (an iframe behind its
/// HELP button), and only there: the origins listed in `[help]
/// frame_ancestors`. Another site framing it could dress it up to collect
/// pupils' messages (clickjacking).
fn framable(state: &AppState, mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    let ancestors = if state.web.help_frame_ancestors.is_empty() {
        "'self'".to_owned()
    } else {
        format!("'self' {}", state.web.help_frame_ancestors.join(" "))
    };
    let policy = crate::content_security_policy(&ancestors, &state.web.providers.logout_origins());
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    // Browsers follow frame-ancestors over this header; an unknown value
    // keeps the server's default (DENY) from forbidding the listed origins.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("ALLOWALL"));
    response
}

fn profiles(lang: Language) -> Vec<Choice> {
    Profile::ALL
        .iter()
        .filter(|p| **p != Profile::LocalAdmin)
        .map(|p| Choice { value: p.to_string(), label: i18n::label(lang, p.as_str()), selected: false })
        .collect()
}

fn unknown_school(lang: Language, uai: &str) -> PageError {
    tracing::info!(uai, "HELP page of an unknown establishment");
    PageError::NotFound(lang)
}

struct Form {
    profile: String,
    name: String,
    email: String,
    message: String,
}

async fn show(
    state: &AppState,
    lang: Language,
    uai: &str,
    form: Form,
    sent: Option<bool>,
    error: Option<(StatusCode, String)>,
) -> Result<Response, PageError> {
    let establishment = match state.app.help_establishment(uai).await {
        Ok(e) => e,
        Err(AppError::NotFound(_)) => return Err(unknown_school(lang, uai)),
        Err(e) => return Err(PageError::app(e, lang)),
    };
    let path = format!("/aide/{}", establishment.uai);
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = HelpPage {
        layout: Layout::anonymous(lang, i18n::t(lang, "help_title"), &path),
        establishment: format!("{} ({})", establishment.name, establishment.town),
        action: format!("{path}?lang={}", lang.as_str()),
        suggest_url: format!("{path}/articles"),
        again_href: format!("{path}?lang={}", lang.as_str()),
        profiles: profiles(lang),
        sent: sent.is_some(),
        with_email: sent.unwrap_or(false),
        error,
        profile: form.profile,
        name: form.name,
        email: form.email,
        message: form.message,
    };
    Ok(framable(state, render(&page, lang)?, status))
}

pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(uai): Path<String>,
    Query(q): Query<HelpQuery>,
) -> Result<Response, PageError> {
    let lang = page_language(&visitor, q.lang.as_deref());
    let empty = Form { profile: String::new(), name: String::new(), email: String::new(), message: String::new() };
    show(&state, lang, &uai, empty, None, None).await
}

pub async fn submit(
    State(state): State<AppState>,
    visitor: Visitor,
    client: ClientAddr,
    Path(uai): Path<String>,
    Query(q): Query<HelpQuery>,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let mut lang = page_language(&visitor, q.lang.as_deref());
    // Public uploads are received a few at a time, whatever the load.
    let Ok(_slot) = state.help_slots.clone().try_acquire_owned() else {
        let busy = if lang == Language::En {
            "Many messages are arriving right now. Please send yours again in a minute."
        } else {
            "Beaucoup de messages arrivent en ce moment. Renvoyez le vôtre dans une minute."
        };
        let empty = Form { profile: String::new(), name: String::new(), email: String::new(), message: String::new() };
        let mut response =
            show(&state, lang, &uai, empty, None, Some((StatusCode::SERVICE_UNAVAILABLE, busy.into()))).await?;
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return Ok(response);
    };
    let limit = state.app.settings.attachment_max_bytes;
    let empty = || Form { profile: String::new(), name: String::new(), email: String::new(), message: String::new() };
    let (fields, mut files) = match read_multipart(multipart, limit).await {
        Ok(read) => read,
        Err(e) => {
            let status = if matches!(e, AppError::TooLarge { .. }) {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return show(&state, lang, &uai, empty(), None, Some((status, help_error(&e, lang)))).await;
        }
    };
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    if let Ok(l) = Language::parse(&get("lang")) {
        lang = l;
    }
    let form = Form { profile: get("profile"), name: get("name"), email: get("email"), message: get("message") };
    let request = HelpRequest {
        uai: uai.clone(),
        profile: form.profile.clone(),
        name: form.name.clone(),
        email: form.email.clone(),
        message: form.message.clone(),
        honeypot: get("website"),
        screenshot: files.pop(),
        language: lang,
        client: client.0,
    };
    match state.app.submit_help(request).await {
        Ok(HelpOutcome::Filed(_) | HelpOutcome::Ignored) => {
            let with_email = !form.email.trim().is_empty();
            show(&state, lang, &uai, empty(), Some(with_email), None).await
        }
        Err(AppError::NotFound(_)) => Err(unknown_school(lang, &uai)),
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => {
            let status = match e {
                AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                AppError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let message = help_error(&e, lang);
            show(&state, lang, &uai, form, None, Some((status, message))).await
        }
    }
}

/// An error as an end user reads it, in their language.
fn help_error(e: &AppError, lang: Language) -> String {
    let en = lang == Language::En;
    match e {
        AppError::RateLimited(_) if en => "Too many messages were sent from here. Please try again in an hour.".into(),
        AppError::RateLimited(_) => {
            "Trop de messages ont été envoyés depuis ce poste. Réessayez dans une heure.".into()
        }
        AppError::TooLarge { limit } if en => {
            format!("The screenshot is too large (at most {} MB).", limit / (1024 * 1024))
        }
        AppError::TooLarge { limit } => {
            format!("La capture d'écran est trop lourde ({} Mo au plus).", limit / (1024 * 1024))
        }
        AppError::Validation(errors) => errors
            .iter()
            .map(|f| {
                format!("{} : {}", i18n::t(lang, &format!("help_{}", f.field)), help_field_message(&f.field, lang))
            })
            .collect::<Vec<_>>()
            .join(" ; "),
        _ if en => "The form could not be read. Please try again.".into(),
        _ => "Le formulaire n'a pas pu être lu. Réessayez.".into(),
    }
}

fn help_field_message(field: &str, lang: Language) -> &'static str {
    let en = lang == Language::En;
    match (field, en) {
        ("profile", false) => "indiquez qui vous êtes",
        ("profile", true) => "say who you are",
        ("name", false) => "indiquez votre nom (100 caractères au plus)",
        ("name", true) => "give your name (at most 100 characters)",
        ("email", false) => "cette adresse e-mail n'est pas valide",
        ("email", true) => "this e-mail address is not valid",
        ("screenshot", false) => "la capture doit être une image (PNG, JPEG, GIF, WebP)",
        ("screenshot", true) => "the screenshot must be an image (PNG, JPEG, GIF, WebP)",
        (_, false) => "décrivez le problème en texte simple (5 à 5 000 caractères, sans HTML)",
        (_, true) => "describe the problem in plain text (5 to 5,000 characters, no HTML)",
    }
}

/// A script the ENT places behind its HELP button: it opens the school's
/// HELP page in a dialog over the ENT's page.
pub async fn widget(State(state): State<AppState>, Path(uai): Path<String>) -> Response {
    let establishment = match state.app.help_establishment(&uai).await {
        Ok(e) => e,
        Err(_) => {
            return (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                "/* unknown establishment */",
            )
                .into_response()
        }
    };
    let script = WIDGET.replace("__UAI__", establishment.uai.as_str());
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        script,
    )
        .into_response()
}

const WIDGET: &str = r#"(function () {
  var script = document.currentScript;
  var origin = new URL(script.src).origin;
  var lang = script.getAttribute("data-lang") || document.documentElement.lang || "fr";
  var url = origin + "/aide/__UAI__?lang=" + (lang.indexOf("en") === 0 ? "en" : "fr");
  function open() {
    var dialog = document.createElement("dialog");
    dialog.style.cssText = "padding:0;border:0;width:min(40rem,95vw);height:min(48rem,90vh)";
    var frame = document.createElement("iframe");
    frame.src = url;
    frame.title = "Aide";
    frame.style.cssText = "border:0;width:100%;height:calc(100% - 2.5rem)";
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "×";
    close.setAttribute("aria-label", "Fermer");
    close.style.cssText = "float:right;font-size:1.5rem;background:none;border:0;cursor:pointer";
    close.onclick = function () { dialog.close(); dialog.remove(); };
    dialog.appendChild(close);
    dialog.appendChild(frame);
    document.body.appendChild(dialog);
    dialog.showModal();
  }
  var selector = script.getAttribute("data-button");
  var targets = selector ? document.querySelectorAll(selector) : [];
  if (targets.length === 0) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "Aide";
    button.style.cssText = "position:fixed;right:1rem;bottom:1rem;padding:.6rem 1rem;border-radius:2rem;border:0;background:#000091;color:#fff;font-weight:bold;cursor:pointer;z-index:2147483647";
    document.body.appendChild(button);
    targets = [button];
  }
  for (var i = 0; i < targets.length; i++) {
    targets[i].addEventListener("click", function (e) { e.preventDefault(); open(); });
  }
})();
"#;
