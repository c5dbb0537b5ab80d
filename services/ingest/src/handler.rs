//! HTTP routing for the public listener, and the one place that maps an
//! [`IngestError`] to a status and a JSON error body.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::json;

use hookline_core::clock;
use hookline_core::ids::Id;
use hookline_core::serve::{self, Body};
use hookline_core::telemetry::TraceParent;
use hookline_proto::{Header, InboundEvent, Invocation};

use crate::publish::Stored;
use crate::verify::{self, SECRET_HEADERS, VerifyError};
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
    #[error("content type `{0}` is not accepted; send JSON or text")]
    UnsupportedMedia(String),
    /// A JSON source sent something that is not JSON.
    #[error("body is not valid JSON: {0}")]
    Malformed(String),
    /// The body could not be read.
    #[error("body could not be read: {0}")]
    BodyRead(String),
    /// Signature problems.
    #[error("{0}")]
    Verify(#[from] VerifyError),
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
            IngestError::Verify(e) => (401, e.code()),
            IngestError::Unavailable => (503, "unavailable"),
        }
    }
}

fn error_response(status: u16, code: &str, message: &str) -> Response<Body> {
    serve::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// Routes one request.
pub async fn route(state: Arc<State>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => serve::json(200, &json!({"status": "ok"})),
        (&Method::GET, "/readyz") => {
            if state.nats.client.connection_state() == async_nats::connection::State::Connected {
                serve::json(200, &json!({"status": "ready"}))
            } else {
                error_response(503, "nats_unavailable", "not connected to NATS")
            }
        }
        (&Method::POST, p) if p.starts_with("/webhooks/") => {
            let source = p.trim_start_matches("/webhooks/").to_owned();
            webhook(&state, source, req, peer).await
        }
        (_, p) if p.starts_with("/webhooks/") => {
            error_response(405, "method_not_allowed", "webhooks are POSTed")
        }
        _ => error_response(404, "not_found", "no such route"),
    }
}

async fn webhook(
    state: &State,
    source: String,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let received_at_ms = clock::now_ms();
    let mut record = Invocation {
        at_ms: received_at_ms,
        source: source.clone(),
        source_ip: peer.ip().to_string(),
        ..Default::default()
    };
    let outcome = accept(state, &source, req, peer, received_at_ms, &mut record).await;
    let response = match outcome {
        Ok(Stored::New(event_id)) => {
            record.status = 202;
            record.reason = "stored".to_owned();
            record.event_id = event_id.clone();
            serve::json(202, &json!({"event_id": event_id}))
        }
        Ok(Stored::Duplicate(event_id)) => {
            record.status = 200;
            record.reason = "duplicate".to_owned();
            record.event_id = event_id.clone();
            serve::json(200, &json!({"event_id": event_id, "duplicate": true}))
        }
        Err(e) => {
            let (status, code) = e.status_and_code();
            record.status = u32::from(status);
            record.reason = code.to_owned();
            tracing::debug!(source = %source, status, code, error = %e, "Webhook refused.");
            error_response(status, code, &e.to_string())
        }
    };
    // Only valid source ids name a log subject.
    if Id::parse(&source).is_ok() {
        state.publisher.log_invocation(record);
    }
    response
}

fn is_unsupported(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("multipart/")
        || ct.starts_with("application/octet-stream")
        || ct.starts_with("image/")
        || ct.starts_with("audio/")
        || ct.starts_with("video/")
        || ct.starts_with("application/zip")
        || ct.starts_with("application/pdf")
}

async fn accept(
    state: &State,
    source: &str,
    req: Request<Incoming>,
    peer: SocketAddr,
    received_at_ms: i64,
    record: &mut Invocation,
) -> Result<Stored, IngestError> {
    let id = Id::parse(source).map_err(|_| IngestError::BadIdentifier(source.to_owned()))?;
    let resolved = state.sources.borrow().get(id.as_str()).cloned();
    let ResolvedSource { spec, secrets } = resolved
        .as_deref()
        .cloned()
        .ok_or_else(|| IngestError::UnknownSource(id.to_string()))?;
    if !spec.enabled {
        return Err(IngestError::Disabled(id.to_string()));
    }
    let (parts, body) = req.into_parts();
    let content_type = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if is_unsupported(&content_type) {
        return Err(IngestError::UnsupportedMedia(content_type));
    }
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > spec.max_body_bytes as u64) {
        return Err(IngestError::TooLarge(spec.max_body_bytes));
    }
    let body = Limited::new(body, spec.max_body_bytes)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                IngestError::TooLarge(spec.max_body_bytes)
            } else {
                IngestError::BodyRead(e.to_string())
            }
        })?
        .to_bytes();
    record.size = body.len() as u64;
    let verified = verify::verify(
        spec.provider,
        &secrets,
        &parts.headers,
        &body,
        received_at_ms / 1000,
    )?;
    if content_type.to_ascii_lowercase().contains("json") {
        serde_json::from_slice::<serde::de::IgnoredAny>(&body)
            .map_err(|e| IngestError::Malformed(e.to_string()))?;
    }
    let event_id = clock::new_id();
    let delivery_id = verified
        .delivery_id()
        .map_or_else(|| event_id.clone(), str::to_owned);
    record.delivery_id = delivery_id.clone();
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !SECRET_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| Header {
            name: name.as_str().to_owned(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect();
    let traceparent = TraceParent::continue_or_new(
        parts
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok()),
    );
    let event = InboundEvent {
        event_id,
        source: id.to_string(),
        provider: serde_json::to_value(spec.provider)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        delivery_id: delivery_id.clone(),
        received_at_ms,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body: body.to_vec(),
        content_type,
        source_ip: peer.ip().to_string(),
    };
    let msg_id = format!("{}/{}", id, delivery_id);
    state
        .publisher
        .store(&event, &msg_id, &traceparent.to_string())
        .await
        .map_err(|e| {
            tracing::warn!(source = %id, error = %e, "Webhook not stored; answering 503.");
            IngestError::Unavailable
        })
}
