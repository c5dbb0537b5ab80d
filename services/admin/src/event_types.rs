//! `GET /v1/event-types` and `GET /v1/event-types/{type}`: the event
//! catalog (`hookline_model::event_catalog`), built-in types and those the
//! live catalog's agents declare.

use hookline_model::event_catalog::{EventCatalog, EventTypeDef};
use serde::Serialize;

use crate::error::{AdminError, Answer, reply};
use crate::route::{Route, json_route};
use crate::state::AdminState;

/// A list of event types.
#[derive(Serialize)]
struct EventTypes<'a> {
    items: Vec<&'a EventTypeDef>,
}

fn current(state: &AdminState) -> EventCatalog {
    // The live catalog passed validation; a failure here means none of its
    // declarations could be read, and the built-in types are still true.
    EventCatalog::with_declared(&state.catalog.borrow()).unwrap_or_else(|_| EventCatalog::builtin().clone())
}

/// Every event type, by name.
pub fn list(state: &AdminState) -> Answer {
    let catalog = current(state);
    reply(
        200,
        &EventTypes {
            items: catalog.all().collect(),
        },
    )
}

/// One event type, or 404.
pub fn get(state: &AdminState, name: &str) -> Answer {
    let catalog = current(state);
    match catalog.get(name) {
        Some(def) => reply(200, def),
        None => Err(AdminError::NotFound(format!("no event type `{name}` in the catalog"))),
    }
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[
    json_route!("GET", "/v1/event-types", |c| async move { list(c.state) }),
    json_route!(
        "GET",
        "/v1/event-types/{type}",
        |c| async move { get(c.state, c.id(0)) }
    ),
];
