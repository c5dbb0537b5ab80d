//! A scripted model server for real agent CLIs: it speaks the Anthropic
//! Messages API ([`anthropic`], with `count_tokens`), OpenAI's Responses API
//! ([`openai`]) and Gemini's `generateContent` ([`gemini`]), streamed or
//! not, as the real ones do on the wire, and plays a script. Each answer to the agent's main
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

mod anthropic;
mod gemini;
mod openai;
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
    /// Whether it was a model call answered with usage.
    pub answered: bool,
    /// The tool the answer called, if any.
    pub called: Option<String>,
    /// The tools the request offered.
    pub offered: Vec<String>,
    /// The user's prompts its conversation carries (Anthropic; 1 for the
    /// others): 2 once a resumed session got its next prompt.
    pub prompts: usize,
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

/// What the script says, in no API's words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// Text, ending the turn.
    Text(String),
    /// A tool call.
    Call {
        /// The call's id.
        id: String,
        /// The tool.
        name: String,
        /// Its arguments.
        input: Value,
    },
}

/// The wire formats the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// OpenAI Responses (`/v1/responses`).
    OpenAiResponses,
    /// Gemini (`/v1beta/models/<model>:streamGenerateContent`).
    Gemini,
}

impl Api {
    fn of(path: &str) -> Option<Self> {
        if path.ends_with("/v1/messages") {
            Some(Api::Anthropic)
        } else if path.ends_with("/responses") {
            Some(Api::OpenAiResponses)
        } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
            Some(Api::Gemini)
        } else {
            None
        }
    }

    /// What the gateway counts for one answer: OpenAI and Gemini report
    /// cached input inside their input (and no cache writes).
    pub fn per_call(self) -> (u64, u64, u64, u64) {
        match self {
            Api::Anthropic => USAGE,
            Api::OpenAiResponses | Api::Gemini => (USAGE.0, USAGE.1, USAGE.2, 0),
        }
    }
}

fn answer(
    path: &str,
    key: String,
    body: &Value,
    script: &[Step],
    log: &Mutex<Vec<Seen>>,
) -> hyper::Response<serve::Body> {
    let model = body["model"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| gemini::model_of(path))
        .unwrap_or_default();
    let mut seen = Seen {
        path: path.to_owned(),
        key,
        model: model.clone(),
        scripted: false,
        answered: false,
        called: None,
        offered: Vec::new(),
        prompts: 1,
    };
    if path.ends_with("/count_tokens") || path.ends_with(":countTokens") {
        log.lock().expect("lock").push(seen);
        return serve::json(200, &json!({"input_tokens": USAGE.0, "totalTokens": USAGE.0}));
    }
    let Some(api) = Api::of(path) else {
        log.lock().expect("lock").push(seen);
        return serve::json(
            404,
            &json!({"type": "error", "error": {"type": "not_found_error", "message": format!("no {path} here")}}),
        );
    };
    seen.answered = true;
    let (offered, done) = match api {
        Api::Anthropic => (anthropic::offered(body), anthropic::results(body)),
        Api::OpenAiResponses => (openai::offered(body), openai::results(body)),
        Api::Gemini => (gemini::offered(body), gemini::results(body)),
    };
    seen.offered.clone_from(&offered);
    // A resumed conversation goes on where the script left it: the step is
    // the number of model turns it holds (Anthropic, whose agent resumes).
    // A resumed conversation goes on where the script left it: the step is
    // the number of model turns it holds (Anthropic, whose agent resumes).
    if let Ok(dir) = std::env::var("SCRIPTED_DUMP") {
        let n = log.lock().expect("lock").len();
        let _ = std::fs::write(
            format!("{dir}/{n}.json"),
            serde_json::to_string_pretty(body).unwrap_or_default(),
        );
    }
    // A resumed conversation goes on where the script left it: the step is
    // the number the conversation already played (Anthropic, whose agent
    // resumes here).
    let done = if api == Api::Anthropic {
        seen.prompts = anthropic::prompts(body).max(1);
        anthropic::played(body)
    } else {
        done
    };
    let step = if offered.is_empty() {
        Step::Say("Hookline test".to_owned())
    } else {
        seen.scripted = true;
        script
            .get(done)
            .cloned()
            .unwrap_or_else(|| Step::Say("Done.".to_owned()))
    };
    let reply = match &step {
        Step::Say(text) => Reply::Text(text.clone()),
        Step::Tool(choices) => match choices.iter().find(|(name, _)| offered.contains(name)) {
            Some((name, input)) => {
                seen.called = Some(name.clone());
                Reply::Call {
                    id: format!("call_{done:04}"),
                    name: name.clone(),
                    input: in_workspace(input, &working_directory(body)),
                }
            }
            None => Reply::Text(format!("none of my tools is offered: {offered:?}")),
        },
    };
    log.lock().expect("lock").push(seen);
    let streamed = body["stream"] == json!(true) || path.contains(":streamGenerateContent");
    match api {
        Api::Anthropic => anthropic::respond(&model, &reply, streamed),
        Api::OpenAiResponses => openai::respond(&model, &reply, streamed),
        Api::Gemini => gemini::respond(&reply, streamed),
    }
}

/// A server-sent event stream, each event its own write.
pub fn event_stream(events: Vec<Bytes>) -> hyper::Response<serve::Body> {
    let mut response = hyper::Response::new(serve::streamed(futures::stream::iter(events)));
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    response
}

/// The `name` of each entry of `tools` (Anthropic's and OpenAI's `tools`).
pub(crate) fn names(tools: &Value) -> Vec<String> {
    tools
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `text` in two pieces, cut at a character boundary near its middle.
pub(crate) fn halves(text: &str) -> [&str; 2] {
    let middle = (0..=text.len() / 2)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    [&text[..middle], &text[middle..]]
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
