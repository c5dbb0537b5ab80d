//! The admin API's routing: JSON over HTTP, bearer tokens from
//! configuration (several, for rotation, [`crate::auth`]); every route is
//! listed in [`ROUTES`]; [`crate::error::AdminError`] is the one place that
//! maps failures to statuses.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use hookline_model::subjects::ConfigKind;
use hookline_runtime::serve::{self, Body};

use crate::auth::{fingerprint, matching_token};
use crate::error::{AdminError, Answer};
use crate::state::AdminState;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

/// Largest admin request body.
const MAX_BODY: usize = 1024 * 1024;

/// Routes the admin API serves, as `(method, path template)`; the OpenAPI
/// document in `docs/openapi.json` lists exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/sources"),
    ("GET", "/v1/sources/{id}"),
    ("PUT", "/v1/sources/{id}"),
    ("DELETE", "/v1/sources/{id}"),
    ("POST", "/v1/sources/{id}/enable"),
    ("POST", "/v1/sources/{id}/disable"),
    ("GET", "/v1/profiles"),
    ("GET", "/v1/profiles/{id}"),
    ("PUT", "/v1/profiles/{id}"),
    ("DELETE", "/v1/profiles/{id}"),
    ("GET", "/v1/agents"),
    ("GET", "/v1/agents/{id}"),
    ("PUT", "/v1/agents/{id}"),
    ("DELETE", "/v1/agents/{id}"),
    ("POST", "/v1/agents/{id}/enable"),
    ("POST", "/v1/agents/{id}/disable"),
    ("GET", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions/{id}"),
    ("PUT", "/v1/subscriptions/{id}"),
    ("DELETE", "/v1/subscriptions/{id}"),
    ("POST", "/v1/subscriptions/{id}/enable"),
    ("POST", "/v1/subscriptions/{id}/disable"),
    ("GET", "/v1/sources/{id}/invocations"),
    ("GET", "/v1/sources/{id}/health"),
    ("POST", "/v1/sources/{id}/test"),
    ("POST", "/v1/agents/{id}/run"),
    ("GET", "/v1/subscriptions/{id}/attempts"),
    ("GET", "/v1/subscriptions/{id}/health"),
    ("GET", "/v1/runs"),
    ("GET", "/v1/runs/{run_id}"),
    ("GET", "/v1/runs/{run_id}/log"),
    ("POST", "/v1/runs/{run_id}/cancel"),
    ("POST", "/v1/runs/{run_id}/approve"),
    ("POST", "/v1/runs/{run_id}/reject"),
    ("GET", "/v1/events/{event_id}/explain"),
    ("GET", "/v1/dlq"),
    ("POST", "/v1/dlq/replay"),
    ("GET", "/v1/event-types"),
    ("GET", "/v1/event-types/{type}"),
];

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

/// The JSON body, or `None` when there is none.
async fn optional_json_body(req: Request<Incoming>) -> Result<Option<Value>, AdminError> {
    let bytes: Bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| AdminError::Invalid(vec![format!("body: {e}")]))?
        .to_bytes();
    if bytes.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| AdminError::Invalid(vec![format!("body is not JSON: {e}")]))
}

/// The JSON body (`null` when there is none).
async fn json_body(req: Request<Incoming>) -> Result<Value, AdminError> {
    Ok(optional_json_body(req).await?.unwrap_or(Value::Null))
}

/// The revision named by `If-Match: "N"` (or `N`), if any.
fn if_match(req: &Request<Incoming>) -> Result<Option<u64>, AdminError> {
    let Some(value) = req.headers().get(hyper::header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| AdminError::Invalid(vec!["If-Match: give the object's revision, such as \"12\"".to_owned()]))
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
/// [`ROUTES`], `/console` for every console page, else `other` (so a
/// scanner's paths cannot grow the label set).
fn route_template(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments.first() == Some(&"console") {
        return "/console";
    }
    ROUTES
        .iter()
        .map(|(_, template)| *template)
        .find(|template| matches_template(template, &segments))
        .unwrap_or("other")
}

/// Whether `segments` fit `template`'s (a `{name}` fits any one).
fn matches_template(template: &str, segments: &[&str]) -> bool {
    let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
    parts.len() == segments.len() && parts.iter().zip(segments).all(|(p, s)| p.starts_with('{') || p == s)
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
    let method = req.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["healthz"]) => return Ok(serve::json(200, &json!({"status": "ok"}))),
        // Figures, never secrets: scraped without a token, like the probes.
        (&Method::GET, ["metrics"]) => {
            let text = hookline_runtime::metrics::render();
            return Ok(serve::text(200, hookline_runtime::metrics::CONTENT_TYPE, text));
        }
        (&Method::GET, ["readyz"]) => {
            let connected = state.nats.client.connection_state() == async_nats::connection::State::Connected;
            return if connected {
                Ok(serve::json(200, &json!({"status": "ready"})))
            } else {
                Err(AdminError::Unavailable("not connected to NATS".into()))
            };
        }
        // The console has its own sign-in (a session cookie) and answers HTML.
        (_, ["console", ..]) => return Ok(crate::console::route(state, req, &segments[1..], &params).await),
        _ => {}
    }
    let Some(caller) = caller(state, &req) else {
        return Err(AdminError::Unauthorized);
    };
    crate::params::check_ids(&segments)?;
    if let (&Method::GET, ["v1", "runs", run_id, "log"]) = (&method, segments.as_slice()) {
        return crate::logs::run_log(state, run_id, &params).await;
    }
    let (status, value) = match (&method, segments.as_slice()) {
        (&Method::POST, ["v1", "runs", run_id, decision @ ("approve" | "reject")]) => {
            let body = optional_json_body(req).await?;
            crate::approvals::decide(state, run_id, decision, &caller, body.as_ref()).await?
        }
        _ => answer(state, req, &method, &segments, &params).await?,
    };
    if status == 204 {
        let mut response = serve::json(204, &Value::Null);
        *response.body_mut() = serve::empty();
        return Ok(response);
    }
    Ok(serve::json(status, &value))
}

async fn answer(
    state: &AdminState,
    req: Request<Incoming>,
    method: &Method,
    segments: &[&str],
    params: &crate::params::Params,
) -> Answer {
    let catalog_kind = |kind: &str| ConfigKind::from_plural(kind).is_some();
    match (method, segments) {
        (&Method::GET, ["v1", "sources", id, "invocations"]) => crate::logs::invocations(state, id, params).await,
        (&Method::GET, ["v1", "sources", id, "health"]) => crate::health::source(state, id, params).await,
        (&Method::POST, ["v1", "sources", id, "test"]) => {
            crate::actions::send_test(state, id, optional_json_body(req).await?.as_ref()).await
        }
        (&Method::POST, ["v1", "agents", id, "run"]) => {
            crate::actions::manual_run(state, id, optional_json_body(req).await?.as_ref()).await
        }
        (&Method::GET, ["v1", "subscriptions", id, "attempts"]) => crate::logs::attempts(state, id, params).await,
        (&Method::GET, ["v1", "subscriptions", id, "health"]) => crate::health::subscription(state, id, params).await,
        (&Method::GET, ["v1", "runs"]) => crate::ops::runs(state, params).await,
        (&Method::GET, ["v1", "runs", run_id]) => crate::ops::run(state, run_id).await,
        (&Method::POST, ["v1", "runs", run_id, "cancel"]) => crate::ops::cancel(state, run_id).await,
        (&Method::GET, ["v1", "events", event_id, "explain"]) => crate::ops::explain(state, event_id).await,
        (&Method::GET, ["v1", "dlq"]) => crate::logs::dead_letters(state, params).await,
        (&Method::GET, ["v1", "event-types"]) => crate::event_types::list(state),
        (&Method::GET, ["v1", "event-types", name]) => crate::event_types::get(state, name),
        (&Method::POST, ["v1", "dlq", "replay"]) => crate::ops::replay(state, &json_body(req).await?).await,
        (&Method::GET, ["v1", kind]) if catalog_kind(kind) => {
            crate::catalog::list(state, crate::catalog::parse_kind(kind)?).await
        }
        (&Method::GET, ["v1", kind, id]) if catalog_kind(kind) => {
            crate::catalog::get(state, crate::catalog::parse_kind(kind)?, id).await
        }
        (&Method::PUT, ["v1", kind, id]) if catalog_kind(kind) => {
            let kind = crate::catalog::parse_kind(kind)?;
            let if_match = if_match(&req)?;
            crate::catalog::put(state, kind, id, json_body(req).await?, if_match).await
        }
        (&Method::DELETE, ["v1", kind, id]) if catalog_kind(kind) => {
            crate::catalog::delete(state, crate::catalog::parse_kind(kind)?, id, if_match(&req)?).await
        }
        (&Method::POST, ["v1", kind, id, action @ ("enable" | "disable")])
            if catalog_kind(kind) && *kind != "profiles" =>
        {
            let enabled = *action == "enable";
            crate::catalog::set_enabled(state, crate::catalog::parse_kind(kind)?, id, enabled, if_match(&req)?).await
        }
        _ => match allowed_methods(segments) {
            allowed if allowed.is_empty() => Err(AdminError::NotFound("no such route".into())),
            allowed => Err(AdminError::MethodNotAllowed(allowed)),
        },
    }
}

/// The methods [`ROUTES`] serve on a concrete path.
fn allowed_methods(segments: &[&str]) -> Vec<&'static str> {
    let mut allowed: Vec<&'static str> = ROUTES
        .iter()
        .filter(|(_, template)| matches_template(template, segments))
        .map(|(method, _)| *method)
        .collect();
    allowed.sort_unstable();
    allowed.dedup();
    allowed
}
