//! HTTP routing for the public listener, the order of checks a webhook goes
//! through, and the one place that maps an [`IngestError`] to a status, a
//! JSON error body and `Retry-After`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::json;
use tracing::Instrument as _;

use hookline_model::catalog::Provider;
use hookline_model::clock;
use hookline_model::ids::Id;
use hookline_model::subjects::msg_id;
use hookline_proto::{Header, InboundEvent, Invocation};
use hookline_providers::{self as providers, VerifyError, body};
use hookline_runtime::metrics;
use hookline_runtime::serve::{self, Body};
use hookline_runtime::telemetry::TraceParent;
use hookline_runtime::tracing_export;
use opentelemetry::trace::SpanKind;

use crate::limits::{Limited as RateLimited, Scope};
use crate::publish::Stored;
use crate::{ResolvedSource, State};

/// Why a webhook was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The path's source is not an identifier.
    #[error("`{0}` is not a valid source id")]
    BadIdentifier(String),
    /// No such source.
    #[error("no source named `{0}`")]
    UnknownSource(String),
    /// The source exists but is disabled.
    #[error("source `{0}` is disabled")]
    Disabled(String),
    /// Body over the source's limit.
    #[error("body is larger than {0} bytes")]
    TooLarge(usize),
    /// Multipart or binary content.
    #[error("content type `{0}` is not accepted; send JSON, form or text")]
    UnsupportedMedia(String),
    /// A JSON source sent something that is not JSON.
    #[error("body is not valid: {0}")]
    Malformed(#[from] body::Malformed),
    /// The body could not be read.
    #[error("body could not be read: {0}")]
    BodyRead(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The body did not arrive in time.
    #[error("body did not arrive within the time allowed")]
    BodyTimeout,
    /// Signature problems.
    #[error("{0}")]
    Verify(#[from] VerifyError),
    /// Over a rate limit.
    #[error("rate limit reached; retry in {} s", .0.retry_after_secs)]
    RateLimited(RateLimited),
    /// Too many requests for this source at once.
    #[error("too many requests in progress for this source")]
    TooManyInFlight,
    /// JetStream did not acknowledge: nothing stored.
    #[error("event could not be stored; retry later")]
    Unavailable,
}

impl IngestError {
    fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            IngestError::BadIdentifier(_) => (400, "invalid_source_id"),
            IngestError::UnknownSource(_) => (404, "source_not_found"),
            IngestError::Disabled(_) => (403, "source_disabled"),
            IngestError::TooLarge(_) => (413, "payload_too_large"),
            IngestError::UnsupportedMedia(_) => (415, "unsupported_media_type"),
            IngestError::Malformed(_) => (400, "malformed_body"),
            IngestError::BodyRead(_) => (400, "body_unreadable"),
            IngestError::BodyTimeout => (408, "body_timeout"),
            IngestError::Verify(e) => (401, e.code()),
            IngestError::RateLimited(l) if l.scope == Scope::Global => (429, "global_rate_limited"),
            IngestError::RateLimited(_) => (429, "rate_limited"),
            IngestError::TooManyInFlight => (429, "too_many_in_flight"),
            IngestError::Unavailable => (503, "unavailable"),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            IngestError::RateLimited(l) => Some(l.retry_after_secs),
            IngestError::TooManyInFlight => Some(1),
            IngestError::Unavailable => Some(5),
            _ => None,
        }
    }

    fn response(&self) -> Response<Body> {
        let (status, code) = self.status_and_code();
        let mut response = error_response(status, code, &self.to_string());
        if let Some(secs) = self.retry_after() {
            response.headers_mut().insert(hyper::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

fn error_response(status: u16, code: &str, message: &str) -> Response<Body> {
    serve::json(status, &json!({"error": {"code": code, "message": message}}))
}

/// What an accepted request became.
enum Accepted {
    Stored(Stored),
    /// Slack's `url_verification`: answered, not stored.
    Handshake(String),
}

/// Routes one request.
pub async fn route(state: Arc<State>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => serve::json(200, &json!({"status": "ok"})),
        (&Method::GET, "/metrics") => serve::text(200, metrics::CONTENT_TYPE, metrics::render()),
        (&Method::GET, "/readyz") => {
            if state.publisher.connected() {
                serve::json(200, &json!({"status": "ready"}))
            } else {
                error_response(503, "nats_unavailable", "not connected to NATS")
            }
        }
        (&Method::POST, p) if p.starts_with("/webhooks/") => {
            let source = p.trim_start_matches("/webhooks/").to_owned();
            let span = tracing::debug_span!("webhook", source = %source, peer = %peer);
            webhook(&state, source, req, peer).instrument(span).await
        }
        (_, p) if p.starts_with("/webhooks/") => error_response(405, "method_not_allowed", "webhooks are POSTed"),
        _ => error_response(404, "not_found", "no such route"),
    }
}

async fn webhook(state: &State, source: String, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let client_ip = state.trusted_proxies.client_ip(peer.ip(), forwarded);
    let mut record = Invocation {
        at_ms: clock::now_ms(),
        source: source.clone(),
        source_ip: client_ip.to_string(),
        ..Default::default()
    };
    let response = match accept(state, &source, req, &mut record).await {
        Ok(Accepted::Stored(Stored::New(event_id))) => {
            (record.status, record.reason, record.event_id) = (202, "stored".into(), event_id.clone());
            serve::json(202, &json!({"event_id": event_id}))
        }
        Ok(Accepted::Stored(Stored::Duplicate(event_id))) => {
            (record.status, record.reason, record.event_id) = (200, "duplicate".into(), event_id.clone());
            serve::json(200, &json!({"event_id": event_id, "duplicate": true}))
        }
        Ok(Accepted::Handshake(challenge)) => {
            (record.status, record.reason) = (200, "handshake".into());
            serve::json(200, &json!({"challenge": challenge}))
        }
        Err(e) => {
            let (status, code) = e.status_and_code();
            (record.status, record.reason) = (u32::from(status), code.to_owned());
            tracing::debug!(source = %source, status, code, error = %e, "Webhook refused.");
            e.response()
        }
    };
    // Only valid source ids name a log subject or a metric label.
    if Id::parse(&source).is_ok() {
        if let Some(metrics) = metrics::get() {
            let labels = metrics::WebhookLabels {
                source: source.clone(),
                status: record.status.to_string(),
            };
            metrics.webhooks.get_or_create(&labels).inc();
            if record.status == 401 {
                let reason = metrics::ReasonLabels {
                    source,
                    reason: record.reason.clone(),
                };
                metrics.verification_failures.get_or_create(&reason).inc();
            }
        }
        state.publisher.log_invocation(record);
    }
    response
}

async fn accept(
    state: &State,
    source: &str,
    req: Request<Incoming>,
    record: &mut Invocation,
) -> Result<Accepted, IngestError> {
    let id = Id::parse(source).map_err(|_| IngestError::BadIdentifier(source.to_owned()))?;
    let resolved: Arc<ResolvedSource> = state
        .sources
        .borrow()
        .get(id.as_str())
        .cloned()
        .ok_or_else(|| IngestError::UnknownSource(id.to_string()))?;
    let spec = &resolved.spec;
    if !spec.enabled {
        return Err(IngestError::Disabled(id.to_string()));
    }
    let (parts, incoming) = req.into_parts();
    let content_type = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let kind = body::classify(&content_type).ok_or_else(|| IngestError::UnsupportedMedia(content_type.clone()))?;
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > spec.max_body_bytes as u64) {
        return Err(IngestError::TooLarge(spec.max_body_bytes));
    }
    let _slot = state
        .in_flight
        .enter(id.as_str(), spec.max_in_flight)
        .ok_or(IngestError::TooManyInFlight)?;
    let raw = read_body(incoming, spec.max_body_bytes, state.body_timeout).await?;
    record.size = raw.len() as u64;
    let received_at_ms = clock::now_ms();
    // A refused request's log names the delivery it claimed to be.
    record.delivery_id = providers::claimed_delivery_id(&resolved.scheme, &parts.headers, &raw).unwrap_or_default();
    let verified = providers::verify(
        &resolved.scheme,
        &resolved.active_secrets(received_at_ms),
        &parts.headers,
        &raw,
        received_at_ms / 1000,
    )?;
    if spec.provider == Provider::Slack
        && let Some(challenge) = body::slack_challenge(&raw)
    {
        return Ok(Accepted::Handshake(challenge));
    }
    state
        .limits
        .admit(id.as_str(), spec.rate_limit_per_minute, Instant::now())
        .map_err(IngestError::RateLimited)?;
    let (payload, content_type) = body::normalize(spec.provider, kind, raw, content_type)?;
    let event_id = clock::new_id();
    let delivery_id = verified.delivery_id().map_or_else(|| event_id.clone(), str::to_owned);
    record.delivery_id = delivery_id.clone();
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !providers::is_secret_header(&resolved.scheme, name.as_str()))
        .map(|(name, value)| Header {
            name: name.as_str().to_owned(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect();
    let (traceparent, incoming) =
        TraceParent::continued(parts.headers.get("traceparent").and_then(|v| v.to_str().ok()));
    let received = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(received_at_ms).unwrap_or(0));
    let span = tracing_export::stage_from(
        "ingest webhook",
        SpanKind::Server,
        &traceparent,
        incoming.as_ref(),
        received,
    );
    if span.recording() {
        span.set("hookline.source", id.to_string());
        span.set("hookline.event_id", event_id.clone());
    }
    let event = verified.into_event(InboundEvent {
        event_id,
        source: id.to_string(),
        provider: spec.provider.name().to_owned(),
        delivery_id: delivery_id.clone(),
        received_at_ms,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body: payload,
        content_type,
        source_ip: record.source_ip.clone(),
    });
    let msg_id = msg_id::inbound(id.as_str(), &delivery_id);
    let stored = state
        .publisher
        .store(&event, &msg_id, &traceparent.to_string())
        .await
        .map_err(|e| {
            tracing::warn!(source = %id, error = %e, "Webhook not stored; answering 503.");
            IngestError::Unavailable
        })?;
    Ok(Accepted::Stored(stored))
}

async fn read_body(incoming: Incoming, limit: usize, timeout: std::time::Duration) -> Result<Bytes, IngestError> {
    let collect = Limited::new(incoming, limit).collect();
    let collected = tokio::time::timeout(timeout, collect)
        .await
        .map_err(|_| IngestError::BodyTimeout)?;
    collected.map(|c| c.to_bytes()).map_err(|e| {
        if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            IngestError::TooLarge(limit)
        } else {
            IngestError::BodyRead(e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{Limited as RateLimited, Scope};

    /// One of each error, so a new variant cannot be forgotten here.
    fn every_error() -> Vec<IngestError> {
        let limited = |scope| {
            IngestError::RateLimited(RateLimited {
                scope,
                retry_after_secs: 1,
            })
        };
        let all = vec![
            IngestError::BadIdentifier(String::new()),
            IngestError::UnknownSource(String::new()),
            IngestError::Disabled(String::new()),
            IngestError::TooLarge(1),
            IngestError::UnsupportedMedia(String::new()),
            IngestError::Malformed(body::Malformed::NoPayload),
            IngestError::BodyRead("reset".into()),
            IngestError::BodyTimeout,
            IngestError::Verify(VerifyError::Missing(String::new())),
            IngestError::Verify(VerifyError::Invalid),
            IngestError::Verify(VerifyError::Stale),
            limited(Scope::Global),
            limited(Scope::Source),
            IngestError::TooManyInFlight,
            IngestError::Unavailable,
        ];
        for e in &all {
            // Exhaustive: adding a variant fails to compile until it is listed above.
            match e {
                IngestError::BadIdentifier(_)
                | IngestError::UnknownSource(_)
                | IngestError::Disabled(_)
                | IngestError::TooLarge(_)
                | IngestError::UnsupportedMedia(_)
                | IngestError::Malformed(_)
                | IngestError::BodyRead(_)
                | IngestError::BodyTimeout
                | IngestError::Verify(_)
                | IngestError::RateLimited(_)
                | IngestError::TooManyInFlight
                | IngestError::Unavailable => {}
            }
        }
        all
    }

    #[test]
    fn every_reason_code_ingest_can_record_is_documented() {
        let docs = include_str!("../../../docs/api.md");
        let mut codes: Vec<&str> = every_error().iter().map(|e| e.status_and_code().1).collect();
        codes.extend(VerifyError::CODES);
        codes.extend([
            "stored",
            "duplicate",
            "handshake",
            "internal_error",
            "not_found",
            "method_not_allowed",
        ]);
        for code in codes {
            assert!(
                docs.contains(&format!("`{code}`")),
                "reason code `{code}` is not in docs/api.md"
            );
        }
    }
}
