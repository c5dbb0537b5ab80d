//! The admin API's routing: JSON over HTTP, bearer tokens from
//! configuration (several, for rotation), compared in constant time.
//! [`AdminError`] is the one place that maps failures to statuses.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hookline_core::catalog::{Catalog, Secret};
use hookline_core::ids::Id;
use hookline_core::nats::Nats;
use hookline_core::runs::Records;
use hookline_core::serve::{self, Body};
use hookline_core::signing;
use hookline_core::ssrf::{self, Guard};
use hookline_core::store::CatalogView;
use hookline_core::subjects::ConfigKind;

use crate::model::{ErrorBody, ErrorDetail};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

/// Largest admin request body.
const MAX_BODY: usize = 1024 * 1024;

/// What admin handlers share.
pub struct AdminState {
    /// NATS.
    pub nats: Nats,
    /// The live catalog (for validating a change against the rest).
    pub catalog: CatalogView,
    /// Accepted bearer tokens.
    pub tokens: Vec<Secret>,
    /// Ingest's public base URL, where test events are sent.
    pub webhook_url: String,
    /// Run records, for manual runs.
    pub records: Records,
    /// The SSRF rule subscription URLs must pass (`HOOKLINE_DELIVERY_ALLOW`).
    pub guard: Guard,
    /// The rule model upstreams must pass (`HOOKLINE_EGRESS_ALLOW`).
    pub egress_guard: Guard,
    /// The approval gate.
    pub approvals: hookline_core::approvals::Approvals,
}

impl AdminState {
    /// Reads `pick` of the live catalog, or answers 404 for `what` `id`.
    pub fn find<T>(&self, what: &str, id: &str, pick: impl FnOnce(&Catalog) -> Option<T>) -> Result<T, AdminError> {
        pick(&self.catalog.borrow()).ok_or_else(|| AdminError::NotFound(format!("no {what} `{id}`")))
    }

    /// Refuses a catalog whose subscription URLs or model upstreams the
    /// address rule refuses, with the same words as `hookline apply`.
    pub fn check_targets(&self, catalog: &Catalog) -> Result<(), AdminError> {
        ssrf::check_catalog(&self.guard, &self.egress_guard, catalog).map_err(AdminError::Invalid)
    }
}

/// What a JSON handler answers.
pub type Answer = Result<(u16, Value), AdminError>;

/// Answers `status` with a typed body (from [`crate::model`]).
pub fn reply<T: serde::Serialize>(status: u16, body: &T) -> Answer {
    Ok((status, serde_json::to_value(body).map_err(AdminError::unavailable)?))
}

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No or a wrong bearer token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// No such route or object.
    #[error("{0}")]
    NotFound(String),
    /// The request is invalid; every problem is listed.
    #[error("the request is invalid")]
    Invalid(Vec<String>),
    /// The change would leave the configuration invalid.
    #[error("the change conflicts with the rest of the configuration")]
    Conflict(Vec<String>),
    /// The request comes too late for where its object stands (a run
    /// someone approved already); the message says who and when.
    #[error("{0}")]
    State(String),
    /// The method is not served on this path; these are.
    #[error("method not allowed; this path answers {}", .0.join(", "))]
    MethodNotAllowed(Vec<&'static str>),
    /// NATS could not be read or written.
    #[error("{0}")]
    Unavailable(String),
}

impl AdminError {
    /// NATS (or another part) could not do what was asked: 503.
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        AdminError::Unavailable(e.to_string())
    }

    /// The HTTP status, the JSON error code and the listed problems.
    pub fn parts(&self) -> (u16, &'static str, Option<&Vec<String>>) {
        match self {
            AdminError::Unauthorized => (401, "unauthorized", None),
            AdminError::NotFound(_) => (404, "not_found", None),
            AdminError::Invalid(p) => (400, "invalid", Some(p)),
            AdminError::Conflict(p) => (409, "conflict", Some(p)),
            AdminError::State(_) => (409, "conflict", None),
            AdminError::MethodNotAllowed(_) => (405, "method_not_allowed", None),
            AdminError::Unavailable(_) => (503, "unavailable", None),
        }
    }

    fn response(&self) -> Response<Body> {
        let (status, code, problems) = self.parts();
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: self.to_string(),
                problems: problems.cloned(),
            },
        };
        let mut response = serve::json(status, &body);
        if let AdminError::MethodNotAllowed(allowed) = self
            && let Ok(value) = hyper::header::HeaderValue::from_str(&allowed.join(", "))
        {
            // RFC 9110: a 405 names the methods the path does answer.
            response.headers_mut().insert(hyper::header::ALLOW, value);
        }
        response
    }
}

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

/// The accepted token `presented` is, if any. Every token is compared, so
/// timing does not tell which one matched.
pub(crate) fn matching_token<'a>(tokens: &'a [Secret], presented: &str) -> Option<&'a Secret> {
    tokens.iter().fold(None, |found, t| {
        if signing::constant_time_eq(t.expose().as_bytes(), presented.as_bytes()) {
            Some(t)
        } else {
            found
        }
    })
}

/// How a caller is named: `token:1a2b3c4d`, the first bytes of the token's
/// SHA-256, never the token.
pub(crate) fn fingerprint(token: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(token.as_bytes());
    format!("token:{}", hex::encode(&digest[..4]))
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
    if let Some(metrics) = hookline_core::metrics::get() {
        let labels = hookline_core::metrics::AdminRequestLabels {
            route: template.to_owned(),
            method,
            status: response.status().as_u16().to_string(),
        };
        metrics.admin_requests.get_or_create(&labels).inc();
        let route = hookline_core::metrics::RouteLabels {
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
            let text = hookline_core::metrics::render();
            return Ok(serve::text(200, hookline_core::metrics::CONTENT_TYPE, text));
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
    check_ids(&segments)?;
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

/// Every id in a path is checked before it reaches a subject or a key: a
/// catalog id must be an identifier (400), a run or event id a key-safe
/// token (else there is no such record: 404).
pub(crate) fn check_ids(segments: &[&str]) -> Result<(), AdminError> {
    match segments {
        ["v1", kind, id, ..] if ConfigKind::from_plural(kind).is_some() => Id::parse(id)
            .map(|_| ())
            .map_err(|e| AdminError::Invalid(vec![e.to_string()])),
        ["v1", what @ ("runs" | "events"), id, ..] => {
            let key_safe = !id.is_empty()
                && id.len() <= 128
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if key_safe {
                Ok(())
            } else {
                Err(AdminError::NotFound(format!("no {} `{id}`", &what[..what.len() - 1])))
            }
        }
        _ => Ok(()),
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
