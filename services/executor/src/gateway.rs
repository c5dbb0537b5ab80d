//! The model gateway of a sandboxed run: for each model of the profile
//! (`models = { anthropic = { upstream, header, secret } }`) a loopback URL
//! inside the run's network namespace (`HOOKLINE_MODEL_<NAME>_URL`), served
//! by the executor, which forwards each request to the upstream with the
//! key in the named header. The agent never holds the key. Every answer is
//! read for token usage, OpenAI- and Anthropic-style, streamed (SSE) or
//! not; a call that would take a run past its token budget (at the size of
//! its largest call so far) gets 429, and the run ends `budget_exceeded`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hookline_core::runs::TokenUsage;
use hookline_core::secret::Secret;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::emit::Emitter;

/// Largest request body forwarded.
const MAX_REQUEST: usize = 16 * 1024 * 1024;

/// Input and output tokens together.
fn total(usage: &TokenUsage) -> u64 {
    usage.input_tokens + usage.output_tokens
}

/// One model's gateway for one run.
#[derive(Clone)]
pub struct Gateway {
    name: String,
    upstream: String,
    header: hyper::header::HeaderName,
    key: Arc<Secret>,
    /// `Bearer ` for `authorization`, else nothing.
    prefix: &'static str,
    budget: Option<u64>,
    usage: Arc<Mutex<TokenUsage>>,
    exceeded: Arc<AtomicBool>,
    largest: Arc<AtomicU64>,
    client: hookline_core::https::HttpsClient,
    emitter: Emitter,
}

/// What a run's gateways share: one usage total and one budget.
#[derive(Clone, Default)]
pub struct Meter {
    usage: Arc<Mutex<TokenUsage>>,
    exceeded: Arc<AtomicBool>,
    /// The most tokens one call took so far.
    largest: Arc<AtomicU64>,
}

impl Meter {
    /// The run's usage so far.
    pub fn usage(&self) -> TokenUsage {
        self.usage.lock().map(|u| *u).unwrap_or_default()
    }

    /// Whether a call was refused for the budget.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::SeqCst)
    }
}

impl Gateway {
    /// A gateway to `upstream` for model `name`, adding `header: key`
    /// (`authorization: Bearer key`).
    pub fn new(
        name: &str,
        upstream: &str,
        header: hyper::header::HeaderName,
        key: Secret,
        budget: Option<u64>,
        meter: &Meter,
        emitter: Emitter,
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
            budget,
            usage: meter.usage.clone(),
            exceeded: meter.exceeded.clone(),
            largest: meter.largest.clone(),
            client: hookline_core::https::client(),
            emitter,
        }
    }

    /// Serves calls on `listener` until `stop`.
    pub async fn serve(self, listener: TcpListener, stop: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _)) = accepted else { return };
            let this = self.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| this.clone().forward(req));
                let connection =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = connection => {}
                }
            });
        }
    }

    async fn forward(self, req: Request<Incoming>) -> Result<Response<BoxBody<Bytes, hyper::Error>>, Infallible> {
        if let Some(budget) = self.budget {
            let used = self.usage.lock().map(|u| total(&u)).unwrap_or(0);
            // A call that would pass the budget at the size of the largest
            // call so far is refused: a budget is a ceiling, not a floor.
            if used + self.largest.load(Ordering::SeqCst) > budget || used >= budget {
                self.exceeded.store(true, Ordering::SeqCst);
                self.emitter.log(
                    "hookline",
                    format!("model call refused: the run's token budget ({budget}) is spent ({used} used)"),
                );
                return Ok(answer(
                    429,
                    "budget_exceeded",
                    &format!("the run's token budget of {budget} is spent"),
                ));
            }
        }
        let (parts, body) = req.into_parts();
        let Ok(body) = Limited::new(body, MAX_REQUEST).collect().await.map(|b| b.to_bytes()) else {
            return Ok(answer(400, "invalid_request", "request body unreadable or too large"));
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut upstream = Request::builder()
            .method(parts.method)
            .uri(format!("{}{path}", self.upstream));
        for (name, value) in &parts.headers {
            let skip = [
                hyper::header::HOST,
                hyper::header::CONNECTION,
                hyper::header::TRANSFER_ENCODING,
            ];
            if !skip.contains(name) && *name != self.header && name.as_str() != "authorization" {
                upstream = upstream.header(name, value);
            }
        }
        let Ok(request) = upstream
            .header(&self.header, format!("{}{}", self.prefix, self.key.expose()))
            .body(Full::new(body))
        else {
            return Ok(answer(400, "invalid_request", "request not forwardable"));
        };
        let response = match self.client.request(request).await {
            Ok(response) => response,
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
        let (usage, largest) = (self.usage.clone(), self.largest.clone());
        let counted = body.map_frame(move |frame: Frame<Bytes>| {
            if let Some(data) = frame.data_ref()
                && let Ok(mut tap) = tap.lock()
            {
                let delta = tap.feed(data);
                largest.fetch_max(total(&tap.seen), Ordering::SeqCst);
                if let Ok(mut total) = usage.lock() {
                    total.input_tokens += delta.input_tokens;
                    total.output_tokens += delta.output_tokens;
                    total.calls += delta.calls;
                }
            }
            frame
        });
        Ok(Response::from_parts(parts, counted.boxed()))
    }
}

/// The usage a whole answer (JSON, or a server-sent event stream) reports.
pub fn usage_of(body: &[u8]) -> TokenUsage {
    let mut tap = Tap::default();
    tap.feed(body);
    tap.feed(b"\n");
    tap.seen
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

/// Reads one answer's usage as its bytes pass: JSON bodies and SSE
/// `data:` lines alike. Streams report usage more than once (Anthropic:
/// input at `message_start`, the running output total at
/// `message_delta`), so the largest figures seen count, added to the run's
/// total as they grow.
#[derive(Default)]
struct Tap {
    pending: Vec<u8>,
    whole: Vec<u8>,
    seen: TokenUsage,
}

/// Most of an answer kept for reading its usage.
const MAX_TAPPED: usize = 4 * 1024 * 1024;

impl Tap {
    /// Takes more bytes; answers what the run's total grows by.
    fn feed(&mut self, data: &[u8]) -> TokenUsage {
        let before = self.seen;
        if self.whole.len() < MAX_TAPPED {
            self.whole.extend_from_slice(data);
        }
        self.pending.extend_from_slice(data);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(json) = line.trim().strip_prefix("data:")
                && let Ok(value) = serde_json::from_str::<Value>(json.trim())
            {
                self.observe(&value);
            }
        }
        // A plain JSON answer: read it whole once it can be complete (it
        // ends in `}`), not on every chunk of a long one.
        let complete = self.whole.iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
        if complete && let Ok(value) = serde_json::from_slice::<Value>(&self.whole) {
            self.observe(&value);
        }
        TokenUsage {
            calls: u64::from(before.calls == 0 && total(&self.seen) > 0),
            input_tokens: self.seen.input_tokens - before.input_tokens,
            output_tokens: self.seen.output_tokens - before.output_tokens,
        }
    }

    fn observe(&mut self, value: &Value) {
        for usage in [value.get("usage"), value.pointer("/message/usage")]
            .into_iter()
            .flatten()
        {
            let field = |names: &[&str]| names.iter().find_map(|n| usage.get(*n).and_then(Value::as_u64));
            if let Some(input) = field(&["input_tokens", "prompt_tokens"]) {
                self.seen.input_tokens = self.seen.input_tokens.max(input);
            }
            if let Some(output) = field(&["output_tokens", "completion_tokens"]) {
                self.seen.output_tokens = self.seen.output_tokens.max(output);
            }
        }
        if total(&self.seen) > 0 {
            self.seen.calls = 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&str]) -> TokenUsage {
        let mut tap = Tap::default();
        let mut total = TokenUsage::default();
        for chunk in chunks {
            let d = tap.feed(chunk.as_bytes());
            total.calls += d.calls;
            total.input_tokens += d.input_tokens;
            total.output_tokens += d.output_tokens;
        }
        total
    }

    #[test]
    fn usage_is_read_from_json_and_from_streams() {
        let openai = r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}"#;
        assert_eq!(
            read(&[&openai[..20], &openai[20..]]),
            TokenUsage {
                calls: 1,
                input_tokens: 12,
                output_tokens: 30
            }
        );
        let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":400,\"output_tokens\":1}}}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\n\
            event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":600}}\n\n";
        let (a, b) = anthropic.split_at(70);
        assert_eq!(
            read(&[a, b]),
            TokenUsage {
                calls: 1,
                input_tokens: 400,
                output_tokens: 600
            }
        );
        let openai_stream = "data: {\"choices\":[{}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\ndata: [DONE]\n\n";
        assert_eq!(
            read(&[openai_stream]),
            TokenUsage {
                calls: 1,
                input_tokens: 5,
                output_tokens: 7
            }
        );
    }
}
