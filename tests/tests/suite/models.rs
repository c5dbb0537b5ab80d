//! The model gateway against a real local HTTP server standing in for a
//! model API: the key stays outside the sandbox, usage is counted from
//! plain and streamed answers, a run's token budget and an agent's daily
//! budget hold.

use hookline_bus::runs::RunStatus;
use hookline_model::catalog::Catalog;
use hookline_tests::{Pipeline, Service, eventually, script};
use serde_json::{Value, json};

use crate::sandbox::run_once;

/// A stand-in for a model API on loopback: `/v1/messages` answers JSON,
/// `/v1/stream` server-sent events (in two chunks), each 400 input and
/// 600 output tokens, Anthropic-style; `/v1/responses` streams OpenAI's
/// Responses API (300 input of which 100 cached, 150 output). Answers the
/// `x-api-key` it saw on each call.
async fn model_server() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    hookline_runtime::shutdown::CancellationToken,
) {
    use hookline_runtime::serve;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let keys: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
    let seen = keys.clone();
    let stop = hookline_runtime::shutdown::CancellationToken::new();
    tokio::spawn(serve::serve(
        listener,
        move |req: hyper::Request<hyper::body::Incoming>, _| {
            let seen = seen.clone();
            async move {
                let key = req
                    .headers()
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                seen.lock().expect("lock").push(key);
                if req.uri().path() == "/v1/responses" {
                    // OpenAI's Responses API as Codex streams it: usage only
                    // in the last event, cached input counted inside input.
                    event_stream(&[
                        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"usage\":null}}\n\n",
                        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n",
                        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":300,\"input_tokens_details\":{\"cached_tokens\":100},\"output_tokens\":150,\"total_tokens\":450}}}\n\n",
                    ])
                } else if req.uri().path() == "/v1/stream" {
                    event_stream(&[
                        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":400,\"output_tokens\":1}}}\n\n",
                        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":600}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                    ])
                } else {
                    serve::json(
                        200,
                        &json!({"type": "message", "content": [{"type": "text", "text": "hi"}],
                                "usage": {"input_tokens": 400, "output_tokens": 600}}),
                    )
                }
            }
        },
        serve::Limits::default(),
        stop.clone(),
        std::time::Duration::from_secs(1),
    ));
    (url, keys, stop)
}

/// A server-sent event stream sent in `chunks`, each its own write.
fn event_stream(chunks: &[&'static str]) -> hyper::Response<hookline_runtime::serve::Body> {
    hookline_tests::scripted_model::event_stream(
        chunks.iter().map(|c| bytes::Bytes::from_static(c.as_bytes())).collect(),
    )
}

/// The agent calls three models APIs' answers, then retries its refused
/// call as CLIs do with a 429 (Claude Code backs off and tries again for
/// minutes): the executor must end the run at the refusal, not at its
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_model_gateway_adds_the_key_counts_tokens_and_enforces_the_budget() {
    let (upstream, keys, _stop) = model_server().await;
    let dir = tempfile::tempdir().expect("dir");
    let body = r#"export NEEDLE="$(printf 'model-key-%s' '789')"
if env | grep -v "^NEEDLE=" | grep -q "$NEEDLE" || grep -rqs "$NEEDLE" "$HOOKLINE_WORKSPACE/.." /tmp "$HOME"; then echo "KEY FOUND"; fi
python3 - <<'PY'
import os, sys, time, urllib.request, urllib.error
base = os.environ["HOOKLINE_MODEL_ANTHROPIC_URL"]
def call(path):
    req = urllib.request.Request(base + path, data=b'{"model":"m"}', headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
for path in ["/v1/messages", "/v1/stream", "/v1/responses"]:
    print("CALL", path, call(path), flush=True)
while True:
    status = call("/v1/messages")
    print("CALL /v1/messages", status, flush=True)
    if status != 429:
        break
    time.sleep(1)
PY"#;
    let agent = script(dir.path(), "agent.sh", body);
    let text = format!(
        r#"
[profiles.p]
models = {{ anthropic = {{ upstream = "{upstream}", header = "x-api-key", secret = "model-key-789" }} }}

[agents.hostile]
prompt = "x"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "p"
token_budget = 3200
timeout = "30s"
"#
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    // The stand-in listens on loopback: allowed as an operator would.
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let pipeline = Pipeline::start_services(&catalog, &allow, &[Service::Admin, Service::Executor]).await;
    let (record, lines) = run_once(&pipeline).await;
    assert!(!lines.contains(&"KEY FOUND".to_owned()), "{lines:?}");
    for expected in ["CALL /v1/messages 200", "CALL /v1/stream 200", "CALL /v1/responses 200"] {
        assert!(lines.contains(&expected.to_owned()), "{expected}: {lines:?}");
    }
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::Failed, "budget_exceeded"),
        "stopped at the refusal, not at its timeout: {lines:?}"
    );
    let refusals = lines.iter().filter(|l| *l == "CALL /v1/messages 429").count();
    assert!(
        refusals <= 1,
        "the agent was stopped at the first refusal, not left to retry: {lines:?}"
    );
    let usage = record.usage.expect("usage in the record");
    let state = hookline_bus::state::State::new(&pipeline.nats);
    let today = hookline_model::clock::utc_day(hookline_model::clock::now_ms());
    assert_eq!(
        state
            .daily(hookline_model::cost::Measure::Tokens, "hostile", &today)
            .await
            .expect("daily"),
        2450,
        "the run's tokens, cached ones included, count towards the agent's day"
    );
    assert_eq!(
        (
            usage.calls,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens
        ),
        (3, 1000, 1350, 100),
        "exact for a plain, a streamed and a Responses API answer"
    );
    assert_eq!(
        *keys.lock().expect("lock"),
        ["model-key-789", "model-key-789", "model-key-789"],
        "the upstream got the key on each forwarded call; the refused one never left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spent_daily_budget_skips_triggers_and_stops_runs_before_they_start() {
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(dir.path(), "agent.sh", &format!("touch {}/ran", dir.path().display()));
    let text = format!(
        r#"
[sources.gh]
provider = "github"
secrets = ["budget-test-secret"]

[agents.hostile]
prompt = "x"
runner = {{ type = "command", command = ["{agent}"] }}
daily_token_budget = 1000
sandbox_paths = {{ write = ["{}"] }}
triggers = [{{ source = "gh", events = ["push"] }}]
"#,
        dir.path().display()
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    let pipeline = Pipeline::start(&catalog, &[]).await;
    let state = hookline_bus::state::State::new(&pipeline.nats);
    let today = hookline_model::clock::utc_day(hookline_model::clock::now_ms());
    state
        .add_daily(hookline_model::cost::Measure::Tokens, "hostile", &today, 1000)
        .await
        .expect("spent");

    let (record, lines) = run_once(&pipeline).await;
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::Failed, "budget_exceeded"),
        "{lines:?}"
    );
    let (status, answer) = hookline_tests::post_github(
        &pipeline.webhook_url("gh"),
        "budget-test-secret",
        "push",
        "budget-1",
        r#"{"ref": "refs/heads/main", "sender": {"login": "alice"}}"#,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let event_id = answer["event_id"].as_str().expect("event id").to_owned();
    let decision = eventually("the decision", || async {
        match pipeline
            .admin("GET", &format!("/v1/events/{event_id}/explain"), Value::Null)
            .await
        {
            (200, d) => Ok(d),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(decision["matched"], json!([]), "{decision}");
    assert_eq!(
        decision["budget_spent"][0]["explain"],
        format!("skipped: daily token budget spent (1000 of 1000 tokens on {today})")
    );
    assert!(!dir.path().join("ran").exists(), "the agent never ran");
}

/// A model upstream is held to the rule subscriptions and egress are held
/// to: no loopback, private or plain-http address unless allow-listed, at
/// write and when a run starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_model_upstream_is_held_to_the_address_rule() {
    let (upstream, keys, _stop) = model_server().await;
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(
        dir.path(),
        "agent.sh",
        r#"echo "URL=${HOOKLINE_MODEL_ANTHROPIC_URL:-none}""#,
    );
    let text = format!(
        r#"
[profiles.p]
models = {{ anthropic = {{ upstream = "{upstream}", header = "x-api-key", secret = "model-key-789" }} }}

[agents.hostile]
prompt = "x"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "p"
"#
    );
    let catalog = Catalog::parse(&text).expect("parse");
    let pipeline = Pipeline::start_services(&catalog, &[], &[Service::Admin, Service::Executor]).await;
    for (url, expected) in [
        (upstream.as_str(), "(allow-list it with HOOKLINE_EGRESS_ALLOW)"),
        ("http://10.1.2.3:4000", "(allow-list it with HOOKLINE_EGRESS_ALLOW)"),
        (
            "http://models.example.com",
            "plain http to an address that is not allow-listed",
        ),
    ] {
        let (status, answer) = pipeline
            .admin(
                "PUT",
                "/v1/profiles/q",
                json!({"models": {"anthropic": {"upstream": url, "header": "x-api-key", "secret": "k"}}}),
            )
            .await;
        assert_eq!(status, 400, "{url}: {answer}");
        let problems = answer["error"]["problems"].to_string();
        assert!(
            problems.contains("profile `q`: model `anthropic` upstream") && problems.contains(expected),
            "{url}: {answer}"
        );
    }
    // Written past the check (by an older version, or by hand): the run
    // gets no gateway for it, and says why.
    let (record, lines) = run_once(&pipeline).await;
    assert!(lines.contains(&"URL=none".to_owned()), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("model anthropic unavailable: upstream") && l.contains("HOOKLINE_EGRESS_ALLOW")),
        "{lines:?}"
    );
    assert_eq!(record.status, RunStatus::Succeeded);
    assert!(keys.lock().expect("lock").is_empty(), "nothing reached the upstream");
}

/// A profile's model allow-list: a call for a listed model goes upstream,
/// a call for another (named in the body, or in a Gemini path) is refused
/// by the gateway with 403 `model_not_allowed` and never reaches the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_model_outside_the_allow_list_is_refused_and_never_sent_upstream() {
    let (upstream, keys, _stop) = model_server().await;
    let dir = tempfile::tempdir().expect("dir");
    let body = r#"python3 - <<'PY'
import json, os, urllib.request, urllib.error
base = os.environ["HOOKLINE_MODEL_ANTHROPIC_URL"]
def call(path, model):
    data = json.dumps({"model": model}).encode() if model else b"{}"
    req = urllib.request.Request(base + path, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            return r.status, ""
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())["error"]["type"]
for path, model in [("/v1/messages", "claude-sonnet-4-5"), ("/v1/messages", "claude-opus-4-1"),
                    ("/v1beta/models/gemini-2.5-pro:generateContent", None)]:
    status, error = call(path, model)
    print("CALL", model or path, status, error, flush=True)
PY"#;
    let agent = script(dir.path(), "agent.sh", body);
    let text = format!(
        r#"
[profiles.p]
models = {{ anthropic = {{ upstream = "{upstream}", header = "x-api-key", secret = "model-key-789", allow = ["claude-sonnet-*"] }} }}

[agents.hostile]
prompt = "x"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "p"
timeout = "30s"
"#
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let pipeline = Pipeline::start_services(&catalog, &allow, &[Service::Admin, Service::Executor]).await;
    let (record, lines) = run_once(&pipeline).await;
    for expected in [
        "CALL claude-sonnet-4-5 200 ",
        "CALL claude-opus-4-1 403 model_not_allowed",
        "CALL /v1beta/models/gemini-2.5-pro:generateContent 403 model_not_allowed",
    ] {
        assert!(lines.contains(&expected.to_owned()), "{expected}: {lines:?}");
    }
    assert!(
        lines.iter().any(|l| l.contains("call for `claude-opus-4-1` refused")),
        "the refusal is in the run log: {lines:?}"
    );
    assert_eq!(record.status, RunStatus::Succeeded, "{lines:?}");
    assert_eq!(
        keys.lock().expect("lock").len(),
        1,
        "only the allowed call reached the model API"
    );
}
