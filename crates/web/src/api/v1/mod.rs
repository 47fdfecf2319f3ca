//! Version 1 of the REST API. Routes and the OpenAPI document come from the
//! same handler annotations, so the document cannot drift from the code.

pub mod attachments;
pub mod canned;
pub mod desk;
pub mod establishments;
pub mod filters;
pub mod incidents;
pub mod jira;
pub mod kb;
pub mod mail;
pub mod me;
pub mod privacy;
pub mod reports;
pub mod rota;
pub mod search;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod webhooks;

use crate::AppState;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Guichet API", description = "Service desk for school digital workspaces (ENT)."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The answers every operation can give, whatever its own: a request that
/// cannot be read (400), no valid token (401), a request too slow (408), a
/// body too large or not JSON (413, 415), a bad parameter (422), a server
/// at its limits (503). Declared once here rather than on each handler, so
/// that no operation forgets one.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |description: &str| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let with_body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                let mut common = vec![
                    ("400", "the request could not be read (a path or query parameter, the body)"),
                    ("401", "no valid API token (Authorization: Bearer …)"),
                    ("408", "the request took longer than the server allows"),
                    ("414", "the URL is longer than the server reads"),
                    ("422", "a parameter or field is not valid; `field` names it"),
                    ("503", "the server is at its limits; try again after Retry-After seconds"),
                ];
                if with_body {
                    common.push(("413", "the body is larger than the server accepts"));
                    common.push(("415", "the body is not sent as `application/json`"));
                }
                for (status, description) in common {
                    responses.entry(status.to_owned()).or_insert_with(|| error(description));
                }
            }
        }
    }
}

/// The API's routes (to nest under `/api/v1`) and its OpenAPI document.
pub fn router(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tickets::list_tickets, tickets::create_ticket))
        .routes(routes!(tickets::get_ticket, tickets::update_ticket))
        .routes(routes!(tickets::list_comments, tickets::create_comment))
        .routes(routes!(tickets::get_history))
        .routes(routes!(incidents::escalate))
        .routes(routes!(incidents::hand_back))
        .routes(routes!(incidents::forward))
        .routes(routes!(incidents::list_links, incidents::create_link))
        .routes(routes!(incidents::delete_link))
        .routes(routes!(incidents::merge))
        .routes(routes!(incidents::list_incidents, incidents::declare_incident))
        .routes(routes!(incidents::proposals))
        .routes(routes!(incidents::get_incident))
        .routes(routes!(incidents::add_tickets))
        .routes(routes!(incidents::join_incident))
        .routes(routes!(incidents::resolve_incident))
        .routes(routes!(incidents::similar))
        .routes(routes!(attachments::list_attachments))
        .merge(attachments::upload_router(state))
        .routes(routes!(attachments::get_attachment))
        .routes(routes!(establishments::list_establishments, establishments::create_establishment))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(me::get_me))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(privacy::lookup_person))
        .routes(routes!(privacy::export_person))
        .routes(routes!(privacy::erase_person))
        .routes(routes!(privacy::run_retention))
        .routes(routes!(privacy::list_audit))
        .routes(routes!(privacy::list_redactions, privacy::create_redaction))
        .routes(routes!(desk::get_dashboard))
        .routes(routes!(desk::get_calendar, desk::put_calendar))
        .routes(routes!(desk::get_sla_policy, desk::put_sla_policy))
        .routes(routes!(canned::list_canned, canned::create_canned))
        .routes(routes!(canned::get_canned, canned::update_canned, canned::delete_canned))
        .routes(routes!(canned::fill_canned))
        .routes(routes!(kb::list_articles, kb::create_article))
        .routes(routes!(kb::get_article, kb::update_article))
        .routes(routes!(kb::list_versions))
        .routes(routes!(kb::answered))
        .routes(routes!(filters::list_filters, filters::create_filter))
        .routes(routes!(filters::update_filter, filters::delete_filter))
        .routes(routes!(rota::list_rota, rota::add_duty))
        .routes(routes!(rota::remove_duty))
        .routes(routes!(mail::list_mailboxes))
        .routes(routes!(mail::list_tasks))
        .routes(routes!(mail::list_quarantine))
        .routes(routes!(mail::get_quarantined_raw))
        .routes(routes!(mail::reprocess_quarantined))
        .routes(routes!(mail::dismiss_quarantined))
        .routes(routes!(mail::list_outbox))
        .routes(routes!(mail::retry_outgoing))
        .routes(routes!(search::search))
        .routes(routes!(reports::volume))
        .routes(routes!(reports::breakdown))
        .routes(routes!(reports::times))
        .routes(routes!(reports::sla))
        .routes(routes!(reports::agents))
        .routes(routes!(reports::escalations))
        .routes(routes!(reports::satisfaction))
        .routes(routes!(reports::deflections))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(webhooks::get_webhook, webhooks::update_webhook, webhooks::delete_webhook))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::resume_webhook))
        .routes(routes!(webhooks::ping_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::get_delivery))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(jira::get_jira_issue))
        .split_for_parts();
    // Paths are served under /api/v1.
    doc.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    // After the routes: a modifier of the OpenApi derive would see none.
    CommonResponses.modify(&mut doc);
    ClosedVariants.modify(&mut doc);
    (router, doc)
}

/// Tagged request bodies (`{"target": "comment", …}`) refuse unknown fields
/// like every other body; utoipa says so for structs, not for an enum's
/// variants, so the document says it here.
struct ClosedVariants;

impl Modify for ClosedVariants {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        use utoipa::openapi::RefOr;
        let Some(components) = openapi.components.as_mut() else { return };
        for name in ["RedactionRequest"] {
            if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(name) {
                for item in &mut one_of.items {
                    if let RefOr::T(Schema::Object(object)) = item {
                        object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
                    }
                }
            }
        }
    }
}
