//! A scripted model server for real agent CLIs: it speaks the Anthropic
//! Messages API (streamed or not, with `count_tokens`) as the real one does
//! on the wire, and plays a script. Each answer to the agent's main
//! conversation (a request that offers tools) is the script's next step,
//! chosen by how many tool results the conversation already holds; a step
//! names the tool in each agent's vocabulary, and the first one the request
//! offers is called. Side requests (titles, summaries: no tools) get a
//! short text. Every answer reports the same usage, cache tokens included,
//! so a test knows the exact total; every call's key is kept.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hookline_runtime::serve;
use hookline_runtime::shutdown::CancellationToken;
use serde_json::{Value, json};

/// Usage each answer reports: (input, output, cache read, cache write).
pub const USAGE: (u64, u64, u64, u64) = (120, 30, 40, 10);

/// One step of the script.
#[derive(Clone, Debug)]
pub enum Step {
    /// Call a tool: the first `(name, input)` whose name the request offers.
    Tool(Vec<(String, Value)>),
    /// Answer text and end the turn.
    Say(String),
}

impl Step {
    /// A tool call with one input shape per tool name.
    pub fn tool(choices: &[(&str, Value)]) -> Self {
        Step::Tool(choices.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect())
    }
}

/// One call the server answered.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Request path.
    pub path: String,
    /// The key it carried (`x-api-key`, or `authorization`'s bearer).
    pub key: String,
    /// The model asked for.
    pub model: String,
    /// Whether it was a main-conversation call.
    pub scripted: bool,
    /// The tool the answer called, if any.
    pub called: Option<String>,
}

/// A running scripted model server.
pub struct ScriptedModel {
    /// Its base URL (`http://127.0.0.1:port`).
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Held while the test wants calls answered slowly (ms per answer).
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Calls received, answered or not yet.
    arrived: Arc<std::sync::atomic::AtomicU64>,
    stop: CancellationToken,
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl ScriptedModel {
    /// Starts one playing `script`.
    pub async fn start(script: Vec<Step>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let arrived = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = CancellationToken::new();
        let script = Arc::new(script);
        let (log, delay, count) = (seen.clone(), delay_ms.clone(), arrived.clone());
        tokio::spawn(serve::serve(
            listener,
            move |req: hyper::Request<hyper::body::Incoming>, _| {
                let (log, script, delay) = (log.clone(), script.clone(), delay.clone());
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    let path = req.uri().path().to_owned();
                    let key = key_of(req.headers());
                    let body = http_body_util::BodyExt::collect(req.into_body())
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let pause = delay.load(std::sync::atomic::Ordering::SeqCst);
                    if pause > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                    }
                    answer(&path, key, &body, &script, &log)
                }
            },
            serve::Limits::default(),
            stop.clone(),
            std::time::Duration::from_secs(1),
        ));
        Self {
            url,
            seen,
            delay_ms,
            arrived,
            stop,
        }
    }

    /// Every call answered so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Calls received so far, answered or not.
    pub fn arrived(&self) -> u64 {
        self.arrived.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Makes each later answer wait `ms` first (a model still thinking).
    pub fn slow_down(&self, ms: u64) {
        self.delay_ms.store(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

fn key_of(headers: &hyper::HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    header("x-api-key")
        .or_else(|| header("x-goog-api-key"))
        .or_else(|| header("authorization").map(|v| v.trim_start_matches("Bearer ").to_owned()))
        .unwrap_or_default()
}

fn answer(
    path: &str,
    key: String,
    body: &Value,
    script: &[Step],
    log: &Mutex<Vec<Seen>>,
) -> hyper::Response<serve::Body> {
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let mut seen = Seen {
        path: path.to_owned(),
        key,
        model: model.clone(),
        scripted: false,
        called: None,
    };
    if path.ends_with("/count_tokens") {
        log.lock().expect("lock").push(seen);
        return serve::json(200, &json!({"input_tokens": USAGE.0}));
    }
    if !path.ends_with("/v1/messages") {
        log.lock().expect("lock").push(seen);
        return serve::json(
            404,
            &json!({"type": "error", "error": {"type": "not_found_error", "message": format!("no {path} here")}}),
        );
    }
    let offered: Vec<&str> = body["tools"]
        .as_array()
        .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    let step = if offered.is_empty() {
        Step::Say("Hookline test".to_owned())
    } else {
        seen.scripted = true;
        let done = tool_results(body);
        script
            .get(done)
            .cloned()
            .unwrap_or_else(|| Step::Say("Done.".to_owned()))
    };
    let block = match &step {
        Step::Say(text) => json!({"type": "text", "text": text}),
        Step::Tool(choices) => match choices.iter().find(|(name, _)| offered.contains(&name.as_str())) {
            Some((name, input)) => {
                seen.called = Some(name.clone());
                let input = in_workspace(input, &working_directory(body));
                json!({"type": "tool_use", "id": format!("toolu_{:04}", tool_results(body)), "name": name, "input": input})
            }
            None => json!({"type": "text", "text": format!("none of my tools is offered: {offered:?}")}),
        },
    };
    log.lock().expect("lock").push(seen);
    let stop_reason = if block["type"] == "tool_use" {
        "tool_use"
    } else {
        "end_turn"
    };
    if body["stream"] == json!(true) {
        streamed(&model, &block, stop_reason)
    } else {
        serve::json(
            200,
            &json!({"id": "msg_test", "type": "message", "role": "assistant", "model": model,
                    "content": [block], "stop_reason": stop_reason, "stop_sequence": null, "usage": usage()}),
        )
    }
}

/// The agent's working directory, as its system prompt tells the model
/// (`Working directory: /…`), for tools that want absolute paths.
fn working_directory(body: &Value) -> String {
    fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    strings(body, &mut all);
    all.iter()
        .find_map(|text| {
            let at = text.find("Working directory: ")? + "Working directory: ".len();
            let rest = &text[at..];
            let end = rest.find(|c: char| c.is_whitespace() || c == '<').unwrap_or(rest.len());
            Some(rest[..end].to_owned())
        })
        .unwrap_or_default()
}

/// `input` with `{cwd}` in its strings replaced by `cwd`.
fn in_workspace(input: &Value, cwd: &str) -> Value {
    match input {
        Value::String(s) => Value::String(s.replace("{cwd}", cwd)),
        Value::Array(items) => Value::Array(items.iter().map(|v| in_workspace(v, cwd)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), in_workspace(v, cwd))).collect()),
        other => other.clone(),
    }
}

/// Tool results in the conversation so far: how far the script went.
fn tool_results(body: &Value) -> usize {
    body["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["content"].as_array())
                .flatten()
                .filter(|block| block["type"] == "tool_result")
                .count()
        })
        .unwrap_or(0)
}

fn usage() -> Value {
    json!({"input_tokens": USAGE.0, "output_tokens": USAGE.1,
           "cache_read_input_tokens": USAGE.2, "cache_creation_input_tokens": USAGE.3})
}

/// The answer as Anthropic streams it: `message_start` (input usage),
/// one content block in pieces, `message_delta` (output usage, stop
/// reason), `message_stop`; each event its own write.
fn streamed(model: &str, block: &Value, stop_reason: &str) -> hyper::Response<serve::Body> {
    let event = |name: &str, data: Value| Bytes::from(format!("event: {name}\ndata: {data}\n\n"));
    let mut start_usage = usage();
    start_usage["output_tokens"] = json!(1);
    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_test", "type": "message", "role": "assistant",
                   "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    if block["type"] == "tool_use" {
        let mut empty = block.clone();
        empty["input"] = json!({});
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": empty}),
        ));
        let input = block["input"].to_string();
        let middle = input.len() / 2;
        let middle = (0..=middle).rev().find(|i| input.is_char_boundary(*i)).unwrap_or(0);
        for part in [&input[..middle], &input[middle..]] {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": part}}),
            ));
        }
    } else {
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ));
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": block["text"]}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
               "usage": {"output_tokens": USAGE.1}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    let mut response = hyper::Response::new(serve::streamed(futures::stream::iter(events)));
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    response
}
