//! The model gateway of a sandboxed run: for each model of the profile
//! (`models = { anthropic = { upstream, header, secret } }`) a loopback URL
//! inside the run's network namespace (`HOOKLINE_MODEL_<NAME>_URL`), served
//! by the executor, which forwards each request to the upstream with the
//! key in the named header, connecting only where the address rule allows.
//! The agent never holds the key. Every answer is read for token usage as
//! it passes ([`crate::usage`]) and priced by its model (`prices`); the
//! run's limits ([`meter`]: tokens, money, turns) refuse the call past them
//! with 429 and stop the agent at once. A model outside the entry's
//! `allow` list is refused with 403 and never sent upstream.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::usage::Tap;
use bytes::Bytes;
use hookline_model::catalog::ModelGlob;
use hookline_model::cost::Price;
use hookline_model::runs::{ModelCall, TokenUsage};
use hookline_model::secret::Secret;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Log;

mod bodies;
mod meter;

pub use bodies::{CallBody, MAX_ALL, MAX_BODY};
pub use meter::{MAX_CALLS_KEPT, Meter, RunLimits};

/// How long connecting to an upstream may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Largest request body forwarded.
const MAX_REQUEST: usize = 16 * 1024 * 1024;

/// One model's gateway for one run.
#[derive(Clone)]
pub struct Gateway {
    name: String,
    upstream: String,
    header: hyper::header::HeaderName,
    key: Arc<Secret>,
    /// `Bearer ` for `authorization`, else nothing.
    prefix: &'static str,
    limits: RunLimits,
    meter: Meter,
    client: hookline_http::guarded_http::HttpClient,
    emitter: Log,
    /// The models runs may ask for (empty: any).
    allow: Vec<ModelGlob>,
    /// Prices by model (none: calls cost nothing known).
    prices: Arc<dyn Fn(&str) -> Option<Price> + Send + Sync>,
}

impl Gateway {
    /// A gateway to `upstream` for model `name`, adding `header: key`
    /// (`authorization: Bearer key`), connecting only to addresses `guard`
    /// allows (the upstream URL itself was checked by the caller).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        upstream: &str,
        header: hyper::header::HeaderName,
        key: Secret,
        limits: RunLimits,
        meter: &Meter,
        emitter: Log,
        guard: Arc<hookline_model::ssrf::Guard>,
    ) -> Self {
        let prefix = if header == hyper::header::AUTHORIZATION {
            "Bearer "
        } else {
            ""
        };
        Self {
            name: name.to_owned(),
            upstream: upstream.trim_end_matches('/').to_owned(),
            header,
            key: Arc::new(key),
            prefix,
            limits,
            meter: meter.clone(),
            client: hookline_http::guarded_http::http_client(CONNECT_TIMEOUT, guard),
            emitter,
            allow: Vec::new(),
            prices: Arc::new(|_: &str| None),
        }
    }

    /// The same gateway, pricing each call by its model.
    pub fn pricing(mut self, prices: impl Fn(&str) -> Option<Price> + Send + Sync + 'static) -> Self {
        self.prices = Arc::new(prices);
        self
    }

    /// The same gateway, refusing calls for models `allow` does not fit
    /// (none given: any model).
    pub fn allowing(mut self, allow: Vec<ModelGlob>) -> Self {
        self.allow = allow;
        self
    }

    /// Serves calls on `listener` until `stop`.
    pub async fn serve(self, listener: TcpListener, stop: CancellationToken) {
        serve_loopback(listener, stop, move |req| self.clone().forward(req)).await;
    }

    async fn forward(self, req: Request<Incoming>) -> Result<Response<BoxBody<Bytes, hyper::Error>>, Infallible> {
        let began = std::time::Instant::now();
        if let Some(refusal) = self.over_a_limit(req.uri().path()) {
            return Ok(refusal);
        }
        let (parts, body) = req.into_parts();
        let Ok(body) = Limited::new(body, MAX_REQUEST).collect().await.map(|b| b.to_bytes()) else {
            return Ok(answer(400, "invalid_request", "request body unreadable or too large"));
        };
        let model = requested_model(parts.uri.path(), &body);
        if !self.allow.is_empty()
            && !model
                .as_deref()
                .is_some_and(|m| self.allow.iter().any(|g| g.matches(m)))
        {
            let named = model.as_deref().unwrap_or("(none named)");
            self.emitter.log(
                "hookline",
                format!(
                    "model {}: call for `{named}` refused: not in the profile's allow list",
                    self.name
                ),
            );
            return Ok(answer(
                403,
                "model_not_allowed",
                &format!(
                    "the model `{named}` is not allowed for this agent (models.{}.allow)",
                    self.name
                ),
            ));
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let request_body = self.meter.bodies.as_ref().map(|_| body.clone());
        let upstream = Request::builder()
            .method(parts.method)
            .uri(format!("{}{path}", self.upstream));
        let upstream = forward_headers(upstream, &parts.headers, &self.header);
        let Ok(request) = upstream
            .header(&self.header, format!("{}{}", self.prefix, self.key.expose()))
            .body(Full::new(body))
        else {
            return Ok(answer(400, "invalid_request", "request not forwardable"));
        };
        let response = match self.client.request(request).await {
            Ok(response) => response,
            Err(e) if hookline_http::guarded_http::is_refused(&e) => {
                self.emitter.log(
                    "hookline",
                    format!("model {}: upstream refused by the address rule: {e:#}", self.name),
                );
                return Ok(answer(
                    403,
                    "upstream_refused",
                    "the model API's address is not allowed",
                ));
            }
            Err(e) => {
                self.emitter
                    .log("hookline", format!("model {}: upstream unreachable: {e}", self.name));
                return Ok(answer(
                    502,
                    "upstream_unreachable",
                    "the model API could not be reached",
                ));
            }
        };
        let (parts, body) = response.into_parts();
        let tap = Arc::new(Mutex::new(Tap::default()));
        let price = model.as_deref().and_then(|m| (self.prices)(m));
        let call = self.meter.calls.lock().ok().and_then(|mut calls| {
            (calls.len() < MAX_CALLS_KEPT).then(|| {
                calls.push(ModelCall {
                    api: self.name.clone(),
                    model: model.clone().unwrap_or_default(),
                    status: parts.status.as_u16(),
                    latency_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
                    usage: TokenUsage::default(),
                });
                calls.len() - 1
            })
        });
        let kept = self
            .meter
            .bodies
            .clone()
            .zip(request_body)
            .and_then(|(bodies, request)| {
                let call = bodies::CallBody {
                    api: self.name.clone(),
                    model: model.clone().unwrap_or_default(),
                    path: path.clone(),
                    status: parts.status.as_u16(),
                    ..bodies::CallBody::default()
                };
                Some((bodies.begin(call, &request)?, bodies))
            });
        let meter = self.meter.clone();
        let counted = body.map_frame(move |frame: Frame<Bytes>| {
            if let (Some(data), Some((at, bodies))) = (frame.data_ref(), &kept) {
                bodies.answer(*at, data);
            }
            if let Some(data) = frame.data_ref()
                && let Ok(mut tap) = tap.lock()
            {
                let before = tap.seen;
                let mut delta = tap.feed(data);
                // Most frames of a stream carry text, not usage: the shared
                // totals are touched only when this call's usage grew.
                if delta != TokenUsage::default() {
                    let cost = |usage: &TokenUsage| price.map_or(0, |p| p.cost_micros(usage));
                    let mut seen = tap.seen;
                    seen.cost_micros = cost(&seen);
                    delta.cost_micros = seen.cost_micros - cost(&before);
                    meter.largest.fetch_max(seen.total(), Ordering::SeqCst);
                    meter.dearest.fetch_max(seen.cost_micros, Ordering::SeqCst);
                    if let Ok(mut total) = meter.usage.lock() {
                        total.add(&delta);
                    }
                    if let (Some(at), Ok(mut calls)) = (call, meter.calls.lock())
                        && let Some(call) = calls.get_mut(at)
                    {
                        call.usage = TokenUsage { calls: 1, ..seen };
                    }
                }
            }
            frame
        });
        Ok(Response::from_parts(parts, counted.boxed()))
    }
}

/// `builder` with the agent's request headers, but for those of the
/// connection (`Host`, `Connection`, `Transfer-Encoding`, `Content-Length`,
/// set again for the forwarded body) and any credential: `Authorization`
/// and `credential` (the header the gateway adds its key in), so the
/// agent's placeholder never reaches the upstream.
pub(crate) fn forward_headers(
    mut builder: hyper::http::request::Builder,
    headers: &hyper::HeaderMap,
    credential: &hyper::header::HeaderName,
) -> hyper::http::request::Builder {
    use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
    for (name, value) in headers {
        let skip = [HOST, CONNECTION, TRANSFER_ENCODING, CONTENT_LENGTH, AUTHORIZATION];
        if !skip.contains(name) && name != credential {
            builder = builder.header(name, value);
        }
    }
    builder
}

/// Serves HTTP/1 on `listener` (a loopback port inside a run's network
/// namespace) with `handle`, until `stop` ends it and every connection.
pub(crate) async fn serve_loopback<F, Fut>(listener: TcpListener, stop: CancellationToken, handle: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<BoxBody<Bytes, hyper::Error>>, Infallible>> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { return };
        let (handle, stop) = (handle.clone(), stop.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(handle);
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connection => {}
            }
        });
    }
}

/// The model a call asks for: the body's `model` (Anthropic Messages and
/// `count_tokens`, OpenAI Chat Completions and Responses), else the path's
/// `models/<name>:<method>` (Gemini).
fn requested_model(path: &str, body: &[u8]) -> Option<String> {
    // Only `model` is read: the rest of a large request (a whole
    // conversation) is skipped, not built into a tree.
    #[derive(serde::Deserialize)]
    struct Named {
        model: Option<String>,
    }
    let named = serde_json::from_slice::<Named>(body).ok().and_then(|n| n.model);
    named.or_else(|| {
        let (_, after) = path.split_once("/models/")?;
        let name = after.split([':', '/']).next()?;
        (!name.is_empty()).then(|| name.to_owned())
    })
}

fn answer(status: u16, code: &str, message: &str) -> Response<BoxBody<Bytes, hyper::Error>> {
    let body = serde_json::json!({"error": {"type": code, "message": message}}).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_read_from_the_body_or_a_gemini_path() {
        assert_eq!(
            requested_model("/v1/messages", br#"{"model":"claude-sonnet-4-5","max_tokens":1}"#).as_deref(),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(
            requested_model("/v1beta/models/gemini-2.5-pro:streamGenerateContent", b"{}").as_deref(),
            Some("gemini-2.5-pro")
        );
        assert_eq!(requested_model("/v1/responses", b"not json"), None);
    }
}
