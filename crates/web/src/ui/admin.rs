//! Administration pages: establishments (with CSV import), users, categories.

use super::i18n::{label, t};
use super::session::{check_csrf, CsrfForm, Viewer};
use super::tickets::{read_multipart, Choice};
use super::{back, error_text, render, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::Response;
use guichet_app::AppError;
use guichet_domain::establishment::NewEstablishment;
use guichet_domain::ids::UserId;
use guichet_domain::user::{Language, NewUser, Role};
use guichet_store::users::UserFilter;
use serde::Deserialize;

fn require_admin(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.principal().actor.can_manage_directory() {
        Ok(())
    } else {
        Err(PageError::Forbidden(viewer.lang))
    }
}

fn done(lang: Language) -> &'static str {
    if lang == Language::En {
        "Saved."
    } else {
        "Enregistré."
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    page: Option<i64>,
}

pub struct EstablishmentRow {
    pub uai: String,
    pub name: String,
    pub town: String,
    pub parent: String,
}

#[derive(Template)]
#[template(path = "admin_establishments.html")]
struct EstablishmentsPage {
    layout: Layout,
    q: String,
    rows: Vec<EstablishmentRow>,
    total: i64,
    import_errors: Vec<String>,
    import_summary: Option<String>,
}

async fn establishments_page(
    state: &AppState,
    viewer: &Viewer,
    q: Option<String>,
    page: i64,
    import: Option<(String, Vec<String>)>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let err = |e| PageError::app(e, lang);
    let (list, total) = state
        .app
        .list_establishments(viewer.principal(), q.as_deref(), 100, (page.max(1) - 1) * 100)
        .await
        .map_err(err)?;
    let parent_ids: Vec<_> = list.iter().filter_map(|e| e.parent).collect();
    let parents = state.app.find_establishments(&parent_ids).await.map_err(err)?;
    let rows = list
        .into_iter()
        .map(|e| EstablishmentRow {
            parent: e
                .parent
                .and_then(|p| parents.iter().find(|x| x.id == p))
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            uai: e.uai.to_string(),
            name: e.name,
            town: e.town,
        })
        .collect();
    let (import_summary, import_errors) = match import {
        Some((summary, errors)) => (Some(summary), errors),
        None => (None, Vec::new()),
    };
    let page = EstablishmentsPage {
        layout: Layout::new(viewer, t(lang, "establishments")),
        q: q.unwrap_or_default(),
        rows,
        total,
        import_errors,
        import_summary,
    };
    render(&page, lang)
}

pub async fn establishments(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    establishments_page(&state, &viewer, q.q.filter(|s| !s.trim().is_empty()), q.page.unwrap_or(1), None).await
}

#[derive(Debug, Deserialize)]
pub struct EstablishmentForm {
    uai: String,
    name: String,
    town: String,
    #[serde(default)]
    parent_uai: String,
}

pub async fn create_establishment(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<EstablishmentForm>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let parent = Some(form.parent_uai.trim()).filter(|p| !p.is_empty());
    let result = match NewEstablishment::parse(&form.uai, &form.name, &form.town, parent) {
        Ok(new) => state.app.create_establishment(viewer.principal(), new).await.map(|_| ()),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => Ok(back(&viewer, "/admin/establishments", Some(done(lang)), None)),
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/admin/establishments", None, Some(&error_text(&e, lang)))),
    }
}

/// Imports a CSV and shows the result on the same page, one line per rejected row.
pub async fn import_establishments(
    State(state): State<AppState>,
    viewer: Viewer,
    multipart: Multipart,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let (fields, files) = match read_multipart(multipart, 20 * 1024 * 1024).await {
        Ok(read) => read,
        Err(e) => return Ok(back(&viewer, "/admin/establishments", None, Some(&error_text(&e, lang)))),
    };
    let csrf = fields.iter().find(|(k, _)| k == "_csrf").map(|(_, v)| v.as_str()).unwrap_or_default();
    check_csrf(&viewer, csrf)?;
    let Some((_, content)) = files.first() else {
        let msg = if lang == Language::En { "Choose a CSV file." } else { "Choisissez un fichier CSV." };
        return Ok(back(&viewer, "/admin/establishments", None, Some(msg)));
    };
    let rows = guichet_app::directory::parse_establishments_csv(content);
    let report =
        state.app.import_establishments(viewer.principal(), rows).await.map_err(|e| PageError::app(e, lang))?;
    let summary = if lang == Language::En {
        format!(
            "{} created, {} updated, {} unchanged, {} rejected",
            report.created,
            report.updated,
            report.unchanged,
            report.errors.len()
        )
    } else {
        format!(
            "{} créés, {} mis à jour, {} inchangés, {} refusés",
            report.created,
            report.updated,
            report.unchanged,
            report.errors.len()
        )
    };
    let line = if lang == Language::En { "Line" } else { "Ligne" };
    let errors = report.errors.iter().map(|e| format!("{line} {} : {}", e.line, e.message)).collect();
    establishments_page(&state, &viewer, None, 1, Some((summary, errors))).await
}

pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: String,
    pub roles: Vec<Choice>,
    pub establishments: String,
    pub phones: String,
    pub disabled: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    layout: Layout,
    q: String,
    rows: Vec<UserRow>,
    total: i64,
    roles: Vec<Choice>,
}

pub async fn users(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let err = |e| PageError::app(e, lang);
    let search = q.q.clone().filter(|s| !s.trim().is_empty());
    let filter = UserFilter { search: search.clone(), ..UserFilter::default() };
    let (list, total) = state
        .app
        .list_users(viewer.principal(), &filter, 100, (q.page.unwrap_or(1).max(1) - 1) * 100)
        .await
        .map_err(err)?;
    let ids: Vec<_> = list.iter().flat_map(|u| u.establishments.iter().copied()).collect();
    let establishments = state.app.find_establishments(&ids).await.map_err(err)?;
    let rows = list
        .into_iter()
        .map(|u| UserRow {
            id: u.id.0,
            establishments: u
                .establishments
                .iter()
                .filter_map(|id| establishments.iter().find(|e| e.id == *id))
                .map(|e| e.uai.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            phones: u.phones.join(", "),
            role: label(lang, u.role.as_str()),
            roles: Role::ALL
                .iter()
                .map(|r| Choice { value: r.as_str().into(), label: label(lang, r.as_str()), selected: *r == u.role })
                .collect(),
            email: u.email.as_str().to_owned(),
            name: u.name,
            disabled: u.disabled,
        })
        .collect();
    let roles = Role::ALL
        .iter()
        .map(|r| Choice { value: r.as_str().into(), label: label(lang, r.as_str()), selected: *r == Role::Requester })
        .collect();
    let page =
        UsersPage { layout: Layout::new(&viewer, t(lang, "users")), q: search.unwrap_or_default(), rows, total, roles };
    render(&page, lang)
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    email: String,
    name: String,
    role: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    phones: String,
    #[serde(default)]
    establishments: String,
    #[serde(default)]
    password: String,
}

fn list(s: &str) -> Vec<String> {
    s.split([',', ';', ' ']).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect()
}

pub async fn create_user(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<UserForm>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let result: Result<(), AppError> = async {
        let role = Role::parse(&form.role)?;
        let language = Some(form.language.trim()).filter(|l| !l.is_empty());
        let phones: Vec<String> =
            form.phones.split([',', ';']).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect();
        let new = NewUser::parse(&form.email, &form.name, role, language, &phones, &list(&form.establishments))?;
        let password = Some(form.password.as_str()).filter(|p| !p.is_empty());
        state.app.create_user(viewer.principal(), new, password).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(back(&viewer, "/admin/users", Some(done(lang)), None)),
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/admin/users", None, Some(&error_text(&e, lang)))),
    }
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn set_password(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<PasswordForm>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    match state.app.reset_password(viewer.principal(), UserId(id), &form.password).await {
        Ok(()) => Ok(back(&viewer, "/admin/users", Some(done(lang)), None)),
        Err(e @ (AppError::NotFound(_) | AppError::Internal(_))) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/admin/users", None, Some(&error_text(&e, lang)))),
    }
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    role: String,
    #[serde(default)]
    establishments: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<RoleForm>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let result = match Role::parse(&form.role) {
        Ok(role) => state.app.update_user_role(viewer.principal(), UserId(id), role, &list(&form.establishments)).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => Ok(back(&viewer, "/admin/users", Some(done(lang)), None)),
        Err(e @ (AppError::NotFound(_) | AppError::Internal(_))) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/admin/users", None, Some(&error_text(&e, lang)))),
    }
}

#[derive(Debug, Deserialize)]
pub struct DisabledForm {
    disabled: String,
}

pub async fn set_disabled(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, form }: CsrfForm<DisabledForm>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    match state.app.set_user_disabled(viewer.principal(), UserId(id), form.disabled == "true").await {
        Ok(()) => Ok(back(&viewer, "/admin/users", Some(done(lang)), None)),
        Err(e @ (AppError::NotFound(_) | AppError::Internal(_))) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/admin/users", None, Some(&error_text(&e, lang)))),
    }
}

pub struct CategoryRow {
    pub code: String,
    pub label_fr: String,
    pub label_en: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "admin_categories.html")]
struct CategoriesPage {
    layout: Layout,
    rows: Vec<CategoryRow>,
}

pub async fn categories(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let rows = state
        .app
        .categories()
        .await
        .map_err(|e| PageError::app(e, lang))?
        .into_iter()
        .map(|c| CategoryRow { code: c.code, label_fr: c.label_fr, label_en: c.label_en, active: c.active })
        .collect();
    render(&CategoriesPage { layout: Layout::new(&viewer, t(lang, "categories")), rows }, lang)
}

#[derive(Debug, Deserialize)]
pub struct CategoryForm {
    code: String,
    label_fr: String,
    label_en: String,
}

pub async fn create_category(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<CategoryForm>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    match state.app.create_category(viewer.principal(), &form.code, &form.label_fr, &form.label_en).await {
        Ok(()) => Ok(back(&viewer, "/admin/categories", Some(done(lang)), None)),
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/admin/categories", None, Some(&error_text(&e, lang)))),
    }
}

#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    active: String,
}

pub async fn set_category_active(
    State(state): State<AppState>,
    Path(code): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<ActiveForm>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    match state.app.set_category_active(viewer.principal(), &code, form.active == "true").await {
        Ok(()) => Ok(back(&viewer, "/admin/categories", Some(done(lang)), None)),
        Err(e) => Err(PageError::app(e, lang)),
    }
}

pub struct DutyRow {
    pub day: String,
    pub day_code: String,
    pub part: String,
    pub part_code: String,
    pub user_id: i64,
    pub name: String,
}

#[derive(Template)]
#[template(path = "admin_rota.html")]
struct RotaPage {
    layout: Layout,
    rows: Vec<DutyRow>,
    agents: Vec<Choice>,
    parts: Vec<Choice>,
    today: String,
}

pub async fn rota(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let err = |e| PageError::app(e, lang);
    let today = state.app.local_now().0;
    let rows = state
        .app
        .rota(viewer.principal(), today, 28)
        .await
        .map_err(err)?
        .into_iter()
        .map(|s| DutyRow {
            day: super::tickets::day_label(&s.day, lang),
            day_code: s.day.clone(),
            part: label(lang, &s.part),
            part_code: s.part.clone(),
            user_id: s.user.id.0,
            name: s.user.name,
        })
        .collect::<Vec<_>>();
    let agents = state
        .app
        .staff_users(viewer.principal())
        .await
        .map_err(err)?
        .into_iter()
        .filter(|u| matches!(u.role, Role::Agent | Role::Admin))
        .map(|u| Choice { value: u.id.to_string(), label: u.name, selected: false })
        .collect();
    let parts = guichet_app::rota::PARTS
        .iter()
        .map(|p| Choice { value: (*p).to_owned(), label: label(lang, p), selected: *p == "day" })
        .collect();
    render(
        &RotaPage { layout: Layout::new(&viewer, t(lang, "rota")), rows, agents, parts, today: today.to_string() },
        lang,
    )
}

#[derive(Debug, Deserialize)]
pub struct DutyForm {
    day: String,
    part: String,
    user: i64,
    #[serde(default)]
    remove: Option<String>,
}

pub async fn change_rota(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<DutyForm>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let result = if form.remove.is_some() {
        state.app.remove_duty(viewer.principal(), &form.day, &form.part, UserId(form.user)).await
    } else {
        state.app.add_duty(viewer.principal(), &form.day, &form.part, UserId(form.user)).await
    };
    match result {
        Ok(()) => Ok(back(&viewer, "/admin/rota", Some(done(lang)), None)),
        Err(e @ AppError::Internal(_)) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/admin/rota", None, Some(&error_text(&e, lang)))),
    }
}

pub struct WeekdayRow {
    pub index: usize,
    pub name: &'static str,
    pub hours: String,
}

pub struct TargetRow {
    pub key: String,
    pub ticket_type: String,
    pub priority: String,
    pub first_response: String,
    pub resolution: String,
}

#[derive(Template)]
#[template(path = "admin_calendar.html")]
struct CalendarPage {
    layout: Layout,
    tz: String,
    days: Vec<WeekdayRow>,
    holidays: bool,
    closures: String,
    openings: String,
    targets: Vec<TargetRow>,
    at_risk_percent: String,
    pause_technical: bool,
}

const WEEKDAYS_FR: [&str; 7] = ["Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche"];
const WEEKDAYS_EN: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn hours_text(minutes: Option<i64>) -> String {
    minutes.map_or_else(
        String::new,
        |m| {
            if m % 60 == 0 {
                (m / 60).to_string()
            } else {
                format!("{:.2}", m as f64 / 60.0)
            }
        },
    )
}

pub async fn calendar(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let cal = state.app.calendar();
    let policy = state.app.sla_policy();
    let join = |ranges: &[guichet_domain::calendar::Range]| {
        ranges.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    };
    let names = if lang == Language::En { WEEKDAYS_EN } else { WEEKDAYS_FR };
    let days = (0..7).map(|i| WeekdayRow { index: i, name: names[i], hours: join(&cal.week[i]) }).collect();
    let targets = policy
        .targets
        .iter()
        .map(|(ty, pr, t)| TargetRow {
            key: format!("{}.{}", ty.as_str(), pr.as_str()),
            ticket_type: label(lang, ty.as_str()),
            priority: label(lang, pr.as_str()),
            first_response: hours_text(t.first_response_minutes),
            resolution: hours_text(t.resolution_minutes),
        })
        .collect();
    let page = CalendarPage {
        layout: Layout::new(&viewer, t(lang, "calendar")),
        tz: cal.tz.name().to_owned(),
        days,
        holidays: cal.french_holidays,
        closures: cal.closures.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
        openings: cal.openings.iter().map(|(d, r)| format!("{d} {}", join(r))).collect::<Vec<_>>().join("\n"),
        targets,
        at_risk_percent: format!("{:.0}", policy.at_risk_ratio * 100.0),
        pause_technical: policy.pause_at_technical_tier,
    };
    render(&page, lang)
}

fn ranges(text: &str) -> Result<Vec<guichet_domain::calendar::Range>, AppError> {
    text.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| guichet_domain::calendar::Range::parse(r).map_err(AppError::from))
        .collect()
}

/// Saves the calendar form: hours per weekday, holidays, closures, openings, time zone.
pub async fn save_calendar(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    let result: Result<(), AppError> = async {
        let mut cal = state.app.calendar();
        cal.tz = get("tz")
            .trim()
            .parse()
            .map_err(|_| AppError::field("tz", format!("unknown time zone `{}`", get("tz"))))?;
        for i in 0..7 {
            cal.week[i] = ranges(get(&format!("day{i}")))?;
        }
        cal.french_holidays = !get("holidays").is_empty();
        cal.closures = get("closures")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| l.parse().map_err(|_| AppError::field("closures", format!("`{l}` is not a date (YYYY-MM-DD)"))))
            .collect::<Result<_, _>>()?;
        cal.openings = get("openings")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (day, hours) = l.split_once(' ').unwrap_or((l, ""));
                let day = day
                    .parse()
                    .map_err(|_| AppError::field("openings", format!("`{day}` is not a date (YYYY-MM-DD)")))?;
                Ok((day, ranges(hours)?))
            })
            .collect::<Result<_, AppError>>()?;
        state.app.set_calendar(viewer.principal(), cal).await
    }
    .await;
    match result {
        Ok(()) => Ok(back(&viewer, "/admin/calendar", Some(done(lang)), None)),
        Err(e @ (AppError::Internal(_) | AppError::Forbidden(_))) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/admin/calendar", None, Some(&error_text(&e, lang)))),
    }
}

/// Saves the service-level targets (hours of business time; empty for none).
pub async fn save_sla(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let lang = viewer.lang;
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let result: Result<(), AppError> = async {
        let mut policy = state.app.sla_policy();
        let minutes = |field: &str, v: String| -> Result<Option<i64>, AppError> {
            if v.is_empty() {
                return Ok(None);
            }
            let hours: f64 = v
                .replace(',', ".")
                .parse()
                .map_err(|_| AppError::field(field.to_owned(), format!("`{v}` is not a number of hours")))?;
            Ok(Some((hours * 60.0).round() as i64))
        };
        for (ty, pr, targets) in &mut policy.targets {
            let key = format!("{}.{}", ty.as_str(), pr.as_str());
            targets.first_response_minutes = minutes("targets", get(&format!("fr.{key}")))?;
            targets.resolution_minutes = minutes("targets", get(&format!("res.{key}")))?;
        }
        let percent: f64 = get("at_risk")
            .replace(',', ".")
            .parse()
            .map_err(|_| AppError::field("at_risk_ratio", "a percentage is expected"))?;
        policy.at_risk_ratio = percent / 100.0;
        policy.pause_at_technical_tier = !get("pause_technical").is_empty();
        state.app.set_sla_policy(viewer.principal(), policy).await
    }
    .await;
    match result {
        Ok(()) => Ok(back(&viewer, "/admin/calendar", Some(done(lang)), None)),
        Err(e @ (AppError::Internal(_) | AppError::Forbidden(_))) => Err(PageError::app(e, lang)),
        Err(e) => Ok(back(&viewer, "/admin/calendar", None, Some(&error_text(&e, lang)))),
    }
}
