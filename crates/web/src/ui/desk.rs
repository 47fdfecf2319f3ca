//! The desk's home: the saved filters as tiles (late, at risk, waiting,
//! owed a reply…), and who is on duty. The tiles refresh without a reload.

use super::session::Viewer;
use super::tickets::Row;
use super::{render, urlencode, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use guichet_domain::user::Language;

pub struct TileView {
    pub title: String,
    pub count: String,
    pub rows: Vec<Row>,
    pub href: String,
}

#[derive(Template)]
#[template(path = "desk.html")]
struct DeskPage {
    layout: Layout,
    tiles: Vec<TileView>,
    on_duty: Vec<String>,
    proposals: Vec<ProposalRow>,
    open_incidents: Vec<super::incidents::IncidentRow>,
}

/// Alike tickets Guichet proposes to declare as one incident.
pub struct ProposalRow {
    pub rows: Vec<Row>,
    pub establishments: usize,
    pub title: String,
    /// The tickets' keys, for the form that accepts the proposal.
    pub keys: String,
}

#[derive(Template)]
#[template(path = "desk_tiles.html")]
struct DeskTiles {
    layout: Layout,
    tiles: Vec<TileView>,
    on_duty: Vec<String>,
}

async fn tiles(state: &AppState, viewer: &Viewer) -> Result<(Vec<TileView>, Vec<String>), PageError> {
    let lang = viewer.lang;
    let tiles = state.app.dashboard(viewer.principal()).await.map_err(|e| PageError::app(e, lang))?;
    let level = guichet_app::App::level_view(viewer.principal()).condition();
    let tiles = tiles
        .into_iter()
        .map(|t| TileView {
            title: builtin_name(&t.title, lang),
            count: super::count_label(t.count, t.more, lang),
            rows: t.items.into_iter().map(|r| Row::new(&state.app, r, lang)).collect(),
            href: format!("/tickets?q={}", urlencode(&for_level(&t.query, level.as_deref()))),
        })
        .collect();
    let on_duty =
        state.app.on_duty_now().await.map_err(|e| PageError::app(e, lang))?.into_iter().map(|u| u.name).collect();
    Ok((tiles, on_duty))
}

/// A tile's query as its queue page must run it: limited to the reader's level.
fn for_level(query: &str, level: Option<&str>) -> String {
    let Some(level) = level else { return query.to_owned() };
    let (condition, order) = match query.find(" ORDER BY ") {
        Some(at) => query.split_at(at),
        None => (query, ""),
    };
    format!("{level} AND ({condition}){order}")
}

/// The desk's shared filters are seeded with French names; English readers get them translated.
pub fn builtin_name(name: &str, lang: Language) -> String {
    const NAMES: &[(&str, &str)] = &[
        ("En retard", "Late"),
        ("Bientôt en retard", "At risk"),
        ("En attente de notre réponse", "Needs our reply"),
        ("En attente du demandeur", "Waiting on requester"),
        ("Non attribuées", "Unassigned"),
        ("Mes demandes", "My requests"),
        ("Résolues cette semaine", "Resolved this week"),
        ("Transmises au niveau 2", "Escalated to level 2"),
    ];
    match (lang, NAMES.iter().find(|(fr, _)| *fr == name)) {
        (Language::En, Some((_, en))) => (*en).to_owned(),
        _ => name.to_owned(),
    }
}

pub async fn dashboard(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    if !viewer.is_staff() {
        return Ok(Redirect::to("/tickets").into_response());
    }
    let lang = viewer.lang;
    let (tiles, on_duty) = tiles(&state, &viewer).await?;
    let proposals = state
        .app
        .incident_proposals(viewer.principal())
        .await
        .map_err(|e| PageError::app(e, lang))?
        .into_iter()
        .map(|p| {
            let rows: Vec<Row> = p.tickets.into_iter().map(|r| Row::new(&state.app, r, lang)).collect();
            ProposalRow {
                keys: rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>().join(" "),
                rows,
                establishments: p.establishments,
                title: p.suggested_title,
            }
        })
        .collect();
    let page = DeskPage {
        layout: Layout::new(&viewer, super::i18n::t(lang, "dashboard")),
        tiles,
        on_duty,
        proposals,
        open_incidents: super::incidents::open_incidents(&state, lang).await,
    };
    render(&page, viewer.lang)
}

/// The tiles alone, for the dashboard's periodic refresh.
pub async fn dashboard_tiles(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    if !viewer.is_staff() {
        return Err(PageError::Forbidden(viewer.lang));
    }
    let (tiles, on_duty) = tiles(&state, &viewer).await?;
    let fragment = DeskTiles { layout: Layout::new(&viewer, ""), tiles, on_duty };
    render(&fragment, viewer.lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tile_links_to_its_levels_queue_keeping_the_order() {
        assert_eq!(
            for_level("sla = breached ORDER BY due", Some("tier = technical")),
            "tier = technical AND (sla = breached) ORDER BY due"
        );
        assert_eq!(for_level("assignee IS EMPTY", None), "assignee IS EMPTY");
    }
}
