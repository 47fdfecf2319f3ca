//! The desk's home: what is late, waiting, unassigned, owed a reply, done.

use super::session::Viewer;
use super::tickets::Row;
use super::{render, Layout, PageError};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

pub struct TileView {
    pub title: &'static str,
    pub count: i64,
    pub rows: Vec<Row>,
    pub href: String,
}

#[derive(Template)]
#[template(path = "desk.html")]
struct DeskPage {
    layout: Layout,
    tiles: Vec<TileView>,
    on_duty: Vec<String>,
}

pub async fn dashboard(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    if !viewer.is_staff() {
        return Ok(Redirect::to("/tickets").into_response());
    }
    let lang = viewer.lang;
    let tiles = state.app.dashboard(viewer.principal()).await.map_err(|e| PageError::app(e, lang))?;
    let tiles = tiles
        .into_iter()
        .map(|t| TileView {
            title: super::i18n::t(lang, t.key),
            count: t.count,
            rows: t.items.into_iter().map(|r| Row::new(&state.app, r, lang)).collect(),
            href: format!("/tickets?{}", t.query),
        })
        .collect();
    let on_duty =
        state.app.on_duty_now().await.map_err(|e| PageError::app(e, lang))?.into_iter().map(|u| u.name).collect();
    let page = DeskPage { layout: Layout::new(&viewer, super::i18n::t(lang, "dashboard")), tiles, on_duty };
    render(&page, lang)
}
