//! The admin API's serving: JSON over HTTP, bearer tokens from
//! configuration (several, for rotation, [`crate::auth`]). Every route is
//! declared next to its handler, in its module's `ROUTES` ([`routes`] is
//! their union); [`crate::error::AdminError`] is the one place that maps
//! failures to statuses.

use std::net::SocketAddr;
use std::sync::Arc;

use hookline_runtime::serve::{self, Body};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::json;

use crate::auth::{fingerprint, matching_token};
use crate::error::AdminError;
use crate::route::{Call, Route};
use crate::state::AdminState;

/// The probes and the scrape: served without a token (figures, never
/// secrets).
const PUBLIC: &[Route] = &[
    Route {
        method: "GET",
        template: "/healthz",
        public: true,
        handler: |_| Box::pin(async { Ok(serve::json(200, &json!({"status": "ok"}))) }),
    },
    Route {
        method: "GET",
        template: "/readyz",
        public: true,
        handler: |c| {
            Box::pin(async move {
                if c.state.nats.client.connection_state() == async_nats::connection::State::Connected {
                    Ok(serve::json(200, &json!({"status": "ready"})))
                } else {
                    Err(AdminError::Unavailable("not connected to NATS".into()))
                }
            })
        },
    },
    Route {
        method: "GET",
        template: "/metrics",
        public: true,
        handler: |_| {
            Box::pin(async {
                let text = hookline_runtime::metrics::render();
                Ok(serve::text(200, hookline_runtime::metrics::CONTENT_TYPE, text))
            })
        },
    },
];

/// Every module's routes.
const ALL: &[&[Route]] = &[
    PUBLIC,
    crate::catalog::ROUTES,
    crate::logs::ROUTES,
    crate::sessions::ROUTES,
    crate::fork::ROUTES,
    crate::events::ROUTES,
    crate::share::ROUTES,
    crate::health::ROUTES,
    crate::agent_health::ROUTES,
    crate::actions::ROUTES,
    crate::ops::ROUTES,
    crate::approvals::ROUTES,
    crate::event_types::ROUTES,
];

/// Every route the admin API serves, as `(method, path template)`; the
/// OpenAPI document in `docs/openapi.json` lists exactly these.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    ALL.iter()
        .flat_map(|r| r.iter())
        .map(|r| (r.method, r.template))
        .collect()
}

/// The caller, named by [`fingerprint`], or `None` when no accepted token
/// was presented.
fn caller(state: &AdminState, req: &Request<Incoming>) -> Option<String> {
    let token = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?
        .trim();
    matching_token(&state.tokens, token).map(|t| fingerprint(t.expose()))
}

/// Routes one admin request, counting it by route and status.
pub async fn route(state: Arc<AdminState>, req: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
    let started = std::time::Instant::now();
    let (method, template) = (req.method().to_string(), route_template(req.uri().path()));
    let response = match handle(&state, req).await {
        Ok(response) => response,
        Err(e) => e.response(),
    };
    if let Some(metrics) = hookline_runtime::metrics::get() {
        let labels = hookline_runtime::metrics::AdminRequestLabels {
            route: template.to_owned(),
            method,
            status: response.status().as_u16().to_string(),
        };
        metrics.admin_requests.get_or_create(&labels).inc();
        let route = hookline_runtime::metrics::RouteLabels {
            route: template.to_owned(),
        };
        metrics
            .admin_request_duration
            .get_or_create(&route)
            .observe(started.elapsed().as_secs_f64());
    }
    response
}

/// The route template a path is served by, for metrics: one of
/// [`routes`], `/console` for every console page, else `other` (so a
/// scanner's paths cannot grow the label set).
fn route_template(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments.first() == Some(&"console") {
        return "/console";
    }
    if segments.first() == Some(&"share") {
        return "/share";
    }
    ALL.iter()
        .flat_map(|r| r.iter())
        .find(|r| r.fit(&segments).is_some())
        .map_or("other", |r| r.template)
}

async fn handle(state: &AdminState, req: Request<Incoming>) -> Result<Response<Body>, AdminError> {
    let path: Vec<String> = req
        .uri()
        .path()
        .trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    let params = crate::params::Params::parse(req.uri().query());
    // The console has its own sign-in (a session cookie) and answers HTML.
    if segments.first() == Some(&"console") {
        return Ok(crate::console::route(state, req, &segments[1..], &params).await);
    }
    // A shared run's page: the link is its own credential.
    if let (&Method::GET, ["share", token]) = (req.method(), segments.as_slice()) {
        return Ok(crate::share::page(state, token).await);
    }
    let mut fitting: Vec<(&Route, Vec<String>)> = ALL
        .iter()
        .flat_map(|r| r.iter())
        .filter_map(|r| r.fit(&segments).map(|ids| (r, ids)))
        .collect();
    let method = req.method().as_str().to_owned();
    let chosen = fitting.iter().position(|(r, _)| r.method == method);
    let public = chosen.is_some_and(|i| fitting[i].0.public);
    let caller = match caller(state, &req) {
        Some(caller) => caller,
        None if public => String::new(),
        None => return Err(AdminError::Unauthorized),
    };
    if !public {
        crate::params::check_ids(&segments)?;
    }
    let Some(i) = chosen else {
        let mut allowed: Vec<&'static str> = fitting.iter().map(|(r, _)| r.method).collect();
        allowed.sort_unstable();
        allowed.dedup();
        return Err(if allowed.is_empty() {
            AdminError::NotFound("no such route".into())
        } else {
            AdminError::MethodNotAllowed(allowed)
        });
    };
    let (route, ids) = fitting.swap_remove(i);
    let call = Call {
        state,
        req,
        ids,
        params: &params,
        caller,
    };
    (route.handler)(call).await
}
