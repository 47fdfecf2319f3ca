//! `/reports`: the desk's figures for a period, as charts with their tables;
//! printing the page gives the monthly report. `/reports/{name}.csv` exports a table.

use super::charts::{bars, hbars, Series};
use super::i18n::{label, t};
use super::session::Viewer;
use super::tickets::{choices, Choice};
use super::{render, Layout, PageError};
use crate::reports::{self as tables, Table};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use guichet_app::reports::{ReportParams, Scope};
use guichet_app::tickets::ListParams;
use guichet_app::AppError;
use guichet_domain::user::Language;
use guichet_store::reports::Dimension;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct ReportForm {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    #[serde(rename = "type")]
    ticket_type: Option<String>,
    channel: Option<String>,
    tier: Option<String>,
    category: Option<String>,
    establishment: Option<String>,
    filter: Option<String>,
    dimension: Option<String>,
    bom: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl ReportForm {
    fn params(&self) -> Result<ReportParams, AppError> {
        let saved_filter = match nonempty(&self.filter) {
            Some(id) => Some(id.parse().map_err(|_| AppError::field("filter", "unknown saved filter"))?),
            None => None,
        };
        Ok(ReportParams {
            from: nonempty(&self.from),
            to: nonempty(&self.to),
            granularity: nonempty(&self.granularity),
            filters: ListParams {
                ticket_type: nonempty(&self.ticket_type),
                channel: nonempty(&self.channel),
                tier: nonempty(&self.tier),
                category: nonempty(&self.category),
                establishment: nonempty(&self.establishment),
                ..ListParams::default()
            },
            saved_filter,
        })
    }

    fn query_string(&self) -> String {
        let pairs = [
            ("from", &self.from),
            ("to", &self.to),
            ("granularity", &self.granularity),
            ("type", &self.ticket_type),
            ("channel", &self.channel),
            ("tier", &self.tier),
            ("category", &self.category),
            ("establishment", &self.establishment),
            ("filter", &self.filter),
        ];
        let kept: Vec<(&str, String)> = pairs.iter().filter_map(|(k, v)| nonempty(v).map(|v| (*k, v))).collect();
        serde_urlencoded::to_string(kept).unwrap_or_default()
    }
}

/// A report section: its chart, its table and its CSV link.
pub struct Section {
    pub id: &'static str,
    pub title: String,
    pub chart: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub csv: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    layout: Layout,
    from: String,
    to: String,
    granularities: Vec<Choice>,
    types: Vec<Choice>,
    channels: Vec<Choice>,
    tiers: Vec<Choice>,
    categories: Vec<Choice>,
    filters: Vec<Choice>,
    establishment: String,
    last_month: String,
    problem: Option<String>,
    summary: String,
    sections: Vec<Section>,
}

/// A category's label in the reader's language, by its code.
fn category_label(lang: Language, categories: &[guichet_store::categories::Category], code: &str) -> Option<String> {
    let c = categories.iter().find(|c| c.code == code)?;
    Some(if lang == Language::En { c.label_en.clone() } else { c.label_fr.clone() })
}

fn header_label(lang: Language, h: &str) -> String {
    label(lang, &format!("col_{h}"))
}

fn section(
    lang: Language,
    id: &'static str,
    title: String,
    chart: String,
    table: Table,
    csv: String,
    note: String,
) -> Section {
    let headers = table.headers.iter().map(|h| header_label(lang, h)).collect();
    let rows = table
        .rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|cell| {
                    if cell.contains('_') || cell.chars().all(|c| c.is_ascii_lowercase()) {
                        label(lang, &cell)
                    } else {
                        cell
                    }
                })
                .collect()
        })
        .collect();
    Section { id, title, chart, headers, rows, csv, note }
}

async fn sections(
    state: &AppState,
    viewer: &Viewer,
    scope: &Scope,
    query: &str,
) -> Result<(String, Vec<Section>), AppError> {
    let app = &state.app;
    let lang = viewer.lang;
    let csv = |name: &str| format!("/reports/{name}.csv?{query}");
    let mut out = Vec::new();
    let categories = app.categories().await?;

    let volume = app.report_volume(scope).await?;
    let labels: Vec<String> = volume.rows.iter().map(|r| r.label.clone()).collect();
    let created: Vec<i64> = volume.rows.iter().map(|r| r.created).collect();
    let resolved: Vec<i64> = volume.rows.iter().map(|r| r.resolved).collect();
    let backlog: Vec<i64> = volume.rows.iter().map(|r| r.backlog).collect();
    let open_now = backlog.last().copied().unwrap_or(volume.backlog_before);
    let summary = if lang == Language::Fr {
        format!(
            "Du {} au {} : {} demandes reçues, {} résolues ; {} en cours au début, {} à la fin.",
            scope.from.format("%d/%m/%Y"),
            scope.to.format("%d/%m/%Y"),
            volume.created,
            volume.resolved,
            volume.backlog_before,
            open_now
        )
    } else {
        format!(
            "From {} to {}: {} requests received, {} resolved; {} open at the start, {} at the end.",
            scope.from, scope.to, volume.created, volume.resolved, volume.backlog_before, open_now
        )
    };
    let chart = bars(
        "volume",
        t(lang, "report_volume"),
        &summary,
        t(lang, "requests"),
        &labels,
        &[
            Series { name: t(lang, "received_plural"), class: "s1", values: &created },
            Series { name: t(lang, "resolved_plural"), class: "s2", values: &resolved },
        ],
        Some(Series { name: t(lang, "backlog"), class: "s3", values: &backlog }),
    );
    out.push(section(
        lang,
        "volume",
        t(lang, "report_volume").into(),
        chart,
        tables::volume(&volume),
        csv("volume"),
        t(lang, "report_volume_note").into(),
    ));

    for (dimension, key, name) in [
        (Dimension::Type, "by_type", "type"),
        (Dimension::Channel, "by_channel", "channel"),
        (Dimension::Category, "by_category", "category"),
        (Dimension::Establishment, "by_establishment", "establishment"),
        (Dimension::Tier, "by_tier", "tier"),
    ] {
        let mut shares = app.report_breakdown(scope, dimension, 10).await?;
        for s in &mut shares {
            s.label = match dimension {
                Dimension::Establishment if s.key != "others" => s.label.clone(),
                Dimension::Category => {
                    category_label(lang, &categories, &s.key).unwrap_or_else(|| label(lang, &s.label))
                }
                _ => label(lang, &s.label),
            };
        }
        let items: Vec<(String, i64)> = shares.iter().map(|s| (s.label.clone(), s.count)).collect();
        let desc = items.iter().map(|(l, n)| format!("{l} : {n}")).collect::<Vec<_>>().join(", ");
        let title = format!("{} — {}", t(lang, "report_breakdown"), t(lang, key));
        let chart = hbars(key, &title, &desc, &items);
        let id: &'static str = key;
        out.push(section(
            lang,
            id,
            title,
            chart,
            tables::breakdown(&shares),
            format!("/reports/breakdown.csv?{query}&dimension={name}"),
            String::new(),
        ));
    }

    let times = app.report_times(scope).await?;
    for (id, stats, title) in [
        ("first_response", &times.first_response, t(lang, "report_first_response")),
        ("resolution_time", &times.resolution, t(lang, "report_resolution_time")),
    ] {
        let h = |s: Option<i64>| tables::hours(s, lang == Language::Fr);
        let note = format!(
            "{} : {} h ; p90 : {} h ({} {})",
            t(lang, "median"),
            h(stats.median),
            h(stats.p90),
            stats.count,
            t(lang, "requests").to_lowercase()
        );
        let items: Vec<(String, i64)> = stats.distribution.clone();
        let chart = hbars(id, title, &note, &items);
        let table = Table {
            headers: vec!["class", "count"],
            rows: stats.distribution.iter().map(|(c, n)| vec![c.clone(), n.to_string()]).collect(),
        };
        out.push(section(lang, id, title.into(), chart, table, csv("times"), note));
    }

    let sla = app.report_sla(scope).await?;
    let items: Vec<(String, i64)> = sla
        .rows
        .iter()
        .map(|r| {
            (
                format!("{} · {}", label(lang, &r.ticket_type), label(lang, &r.priority)),
                if r.resolved == 0 { 0 } else { r.met * 100 / r.resolved },
            )
        })
        .collect();
    let chart = hbars("sla", t(lang, "report_sla"), t(lang, "report_sla_note"), &items);
    let mut sla_section = section(
        lang,
        "sla",
        t(lang, "report_sla").into(),
        chart,
        tables::sla(&sla),
        csv("sla"),
        t(lang, "report_sla_note").into(),
    );
    if !sla.breaches.is_empty() {
        let list: Vec<String> = sla
            .breaches
            .iter()
            .take(20)
            .map(|b| format!("{} {}", app.key(guichet_domain::ids::TicketId(b.id)), b.title))
            .collect();
        sla_section.note = format!("{} {} : {}", t(lang, "breaches"), sla.breaches.len(), list.join(" · "));
    }
    out.push(sla_section);

    if viewer.is_staff() {
        let agents = app.report_agents(viewer.principal(), scope).await?;
        let items: Vec<(String, i64)> = agents.iter().map(|a| (a.name.clone(), a.replies)).collect();
        let chart = hbars("agents", t(lang, "report_agents"), t(lang, "report_agents_note"), &items);
        out.push(section(
            lang,
            "agents",
            t(lang, "report_agents").into(),
            chart,
            tables::agents(&agents),
            csv("agents"),
            t(lang, "report_agents_note").into(),
        ));
    }

    let esc = app.report_escalations(scope).await?;
    let rate = if esc.created == 0 { 0.0 } else { esc.escalated as f64 * 100.0 / esc.created as f64 };
    let note = if lang == Language::Fr {
        format!("{} demandes transmises au niveau 2 ({:.1} % des {} reçues).", esc.escalated, rate, esc.created)
    } else {
        format!("{} requests escalated to level 2 ({:.1} % of {} received).", esc.escalated, rate, esc.created)
    };
    let chart = hbars("escalations", t(lang, "report_escalations"), &note, &esc.time_at_technical.distribution);
    out.push(section(
        lang,
        "escalations",
        t(lang, "report_escalations").into(),
        chart,
        tables::escalations(&esc, lang == Language::Fr),
        csv("escalations"),
        note,
    ));

    let mut sat = app.report_satisfaction(viewer.principal(), scope).await?;
    for row in sat.by_type.iter_mut().chain(&mut sat.by_tier) {
        row.label = label(lang, &row.key);
    }
    for row in &mut sat.by_category {
        if let Some(name) = category_label(lang, &categories, &row.key) {
            row.label = name;
        }
    }
    let note = match (sat.total.average, lang) {
        (Some(avg), Language::Fr) => format!(
            "{} avis sur {} enquêtes envoyées ; note moyenne {avg:.1}/5, {} % satisfaits (4 ou 5).",
            sat.total.answered,
            sat.sent,
            sat.total.satisfied_percent.unwrap_or_default()
        ),
        (Some(avg), Language::En) => format!(
            "{} ratings out of {} surveys sent; mean {avg:.1}/5, {} % satisfied (4 or 5).",
            sat.total.answered,
            sat.sent,
            sat.total.satisfied_percent.unwrap_or_default()
        ),
        (None, Language::Fr) => format!("Aucun avis sur la période ({} enquêtes envoyées).", sat.sent),
        (None, Language::En) => format!("No rating in the period ({} surveys sent).", sat.sent),
    };
    let items: Vec<(String, i64)> =
        sat.periods.iter().map(|(row, _)| (row.label.clone(), row.satisfied_percent.unwrap_or_default())).collect();
    let chart = hbars("satisfaction", t(lang, "satisfaction"), &note, &items);
    out.push(section(
        lang,
        "satisfaction",
        t(lang, "satisfaction").into(),
        chart,
        tables::satisfaction(&sat, lang == Language::Fr),
        csv("satisfaction"),
        note,
    ));
    let deflections = app.report_deflections(viewer.principal(), scope.start, scope.end).await?;
    let total: i64 = deflections.iter().map(|(_, _, n)| n).sum();
    let note = if lang == Language::Fr {
        format!("{total} questions résolues par un article de la base de connaissances, sans demande déposée.")
    } else {
        format!("{total} questions answered by a knowledge-base article, without a request filed.")
    };
    let items: Vec<(String, i64)> = deflections.iter().take(10).map(|(_, title, n)| (title.clone(), *n)).collect();
    let chart = hbars("deflections", t(lang, "deflections"), &note, &items);
    out.push(section(
        lang,
        "deflections",
        t(lang, "deflections").into(),
        chart,
        tables::deflections(&deflections),
        csv("deflections"),
        note,
    ));
    Ok((summary, out))
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(form): Query<ReportForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let app = &state.app;
    let p = viewer.principal();
    let result = match form.params() {
        Ok(params) => app.report_scope(p, &params).await,
        Err(e) => Err(e),
    };
    let (problem, summary, sections, from, to) = match result {
        Ok(scope) => {
            let (summary, sections) =
                sections(&state, &viewer, &scope, &form.query_string()).await.map_err(|e| PageError::app(e, lang))?;
            (None, summary, sections, scope.from.to_string(), scope.to.to_string())
        }
        Err(e @ AppError::Validation(_)) => (
            Some(super::error_text(&e, lang)),
            String::new(),
            Vec::new(),
            nonempty(&form.from).unwrap_or_default(),
            nonempty(&form.to).unwrap_or_default(),
        ),
        Err(e) => return Err(PageError::app(e, lang)),
    };
    let code_choices = |codes: &[&str], selected: &Option<String>| {
        let mut all = vec![(String::new(), t(lang, "all").to_owned())];
        all.extend(codes.iter().map(|c| ((*c).to_owned(), label(lang, c))));
        choices(all, &nonempty(selected).unwrap_or_default())
    };
    use guichet_domain::ticket::{Channel, TicketType, Tier};
    let types: Vec<&str> = TicketType::ALL.iter().map(|v| v.as_str()).collect();
    let channels: Vec<&str> = Channel::ALL.iter().map(|v| v.as_str()).collect();
    let tiers: Vec<&str> = Tier::ALL.iter().map(|v| v.as_str()).collect();
    let mut categories = vec![(String::new(), t(lang, "all").to_owned())];
    for c in app.categories().await.map_err(|e| PageError::app(e, lang))? {
        let name = if lang == Language::Fr { c.label_fr.clone() } else { c.label_en.clone() };
        categories.push((c.code, name));
    }
    let mut filters = vec![(String::new(), t(lang, "none").to_owned())];
    for f in app.saved_filter_list(p).await.map_err(|e| PageError::app(e, lang))? {
        filters.push((f.id.to_string(), super::desk::builtin_name(&f.name, lang)));
    }
    let granularities = choices(
        [("day", "by_day"), ("week", "by_week"), ("month", "by_month")]
            .iter()
            .map(|(g, k)| ((*g).to_owned(), t(lang, k).to_owned())),
        &nonempty(&form.granularity).unwrap_or_default(),
    );
    let (first, last) = app.last_month();
    let page = ReportsPage {
        layout: Layout::new(&viewer, t(lang, "reports")),
        from,
        to,
        granularities,
        types: code_choices(&types, &form.ticket_type),
        channels: code_choices(&channels, &form.channel),
        tiers: code_choices(&tiers, &form.tier),
        categories: choices(categories, &nonempty(&form.category).unwrap_or_default()),
        filters: choices(filters, &nonempty(&form.filter).unwrap_or_default()),
        establishment: nonempty(&form.establishment).unwrap_or_default(),
        last_month: format!("/reports?from={first}&to={last}&granularity=day"),
        problem,
        summary,
        sections,
    };
    render(&page, lang)
}

/// One report's table as CSV (`;`, optional BOM), for the signed-in reader.
pub async fn csv(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(form): Query<ReportForm>,
) -> Result<Response, PageError> {
    let lang = viewer.lang;
    let app = &state.app;
    let err = |e| PageError::app(e, lang);
    let params = form.params().map_err(err)?;
    let scope = app.report_scope(viewer.principal(), &params).await.map_err(err)?;
    let name = name.strip_suffix(".csv").unwrap_or(&name).to_owned();
    let table = match name.as_str() {
        "volume" => tables::volume(&app.report_volume(&scope).await.map_err(err)?),
        "breakdown" => {
            let dimension = crate::api::v1::reports::dimension(form.dimension.as_deref()).map_err(err)?;
            tables::breakdown(&app.report_breakdown(&scope, dimension, 100).await.map_err(err)?)
        }
        "times" => tables::times(&app.report_times(&scope).await.map_err(err)?, true),
        "sla" => tables::sla(&app.report_sla(&scope).await.map_err(err)?),
        "agents" => tables::agents(&app.report_agents(viewer.principal(), &scope).await.map_err(err)?),
        "escalations" => tables::escalations(&app.report_escalations(&scope).await.map_err(err)?, true),
        "satisfaction" => {
            tables::satisfaction(&app.report_satisfaction(viewer.principal(), &scope).await.map_err(err)?, true)
        }
        _ => return Err(err(AppError::NotFound("report"))),
    };
    let body = tables::to_csv(&table, form.bom.is_some());
    let file = format!("attachment; filename=\"guichet-{name}-{}-{}.csv\"", scope.from, scope.to);
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, file)], body)
        .into_response())
}
