//! Real agents stopped: a run whose budget in money is spent, a run
//! cancelled mid model call, a tool the agent's policy refuses, a model
//! outside the allow list; and the clear errors of an agent that cannot
//! start, dies before the handshake, breaks the protocol or stops
//! answering.

use hookline_bus::runs::RunStatus;
use hookline_model::transcript::{Entry, ToolStatus};
use hookline_tests::git::{bare_origin, git};
use hookline_tests::scripted_model::ScriptedModel;
use hookline_tests::{Pipeline, Service, eventually, script};
use serde_json::Value;

use crate::agents::{catalog, catalog_text, catalog_with, parsed, run_by_webhook, transcript, write_and_commit};
use crate::e2e::{GITHUB_SECRET, issue_labeled, send_github};

/// One agent as the stop tests run it: its runner, and the same runner
/// asking for a model its profile's allow list leaves out.
struct Agent {
    runner: &'static str,
    outside: &'static str,
    model: &'static str,
    /// The allow list as written, and narrowed to exclude `model`.
    allow: (&'static str, &'static str),
}

const CLAUDE: Agent = Agent {
    runner: r#"{ type = "claude-code", model = "claude-sonnet-4-5" }"#,
    outside: r#"{ type = "claude-code", model = "claude-opus-4-1" }"#,
    model: "claude-opus-4-1",
    allow: (r#"allow = ["claude-*"]"#, r#"allow = ["claude-sonnet-*"]"#),
};
const CODEX: Agent = Agent {
    runner: r#"{ type = "codex", model = "gpt-5-codex" }"#,
    outside: r#"{ type = "codex", model = "gpt-4o" }"#,
    model: "gpt-4o",
    allow: (r#"allow = ["gpt-*"]"#, r#"allow = ["gpt-5*"]"#),
};
const GEMINI: Agent = Agent {
    runner: r#"{ type = "gemini", model = "gemini-2.5-pro" }"#,
    outside: r#"{ type = "gemini", model = "gemini-1.5-pro" }"#,
    model: "gemini-1.5-pro",
    allow: (r#"allow = ["gemini-*"]"#, r#"allow = ["gemini-2.5-*"]"#),
};
const OPENCODE: Agent = Agent {
    runner: r#"{ type = "opencode", model = "claude-sonnet-4-5" }"#,
    // (opencode waits forever on a model its bundled list lacks, such as
    // claude-opus-4-1, without calling it.)
    outside: r#"{ type = "opencode", model = "claude-haiku-4-5" }"#,
    model: "claude-haiku-4-5",
    allow: (r#"allow = ["claude-*"]"#, r#"allow = ["claude-sonnet-*"]"#),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claude_code_is_held_by_its_budget_a_cancel_and_the_allow_list() {
    held(&CLAUDE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codex_is_held_by_its_budget_a_cancel_and_the_allow_list() {
    held(&CODEX).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gemini_is_held_by_its_budget_a_cancel_and_the_allow_list() {
    held(&GEMINI).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opencode_is_held_by_its_budget_a_cancel_and_the_allow_list() {
    held(&OPENCODE).await;
}

/// A run whose budget in money is spent after its first call and a run
/// cancelled while its model call is in flight each end within [`PROMPTLY`],
/// the agent's processes gone, not at the agent's 120 s timeout; a model
/// outside the allow list never reaches the model API, and the run says so.
/// A quarter of the agents' 120 s timeout, which is what it tells apart,
/// and above what a loaded 2-core CI machine took for `session/cancel`,
/// its 1.5 s grace, the kill and the run's artifacts (here about 0.3 s;
/// there 4.1 s, then 14.5 s, for opencode with the whole suite running:
/// a failure prints the run's log with the time of each line to say where).
const PROMPTLY: std::time::Duration = std::time::Duration::from_secs(30);

async fn held(agent: &Agent) {
    spent_budget(agent).await;
    cancelled(agent).await;
    outside_the_allow_list(agent).await;
}

async fn spent_budget(agent: &Agent) {
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    let model = ScriptedModel::start(write_and_commit()).await;
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    // One call (822 or 860 micro-dollars) fits in $0.001; the next would not.
    let tight = catalog_with(agent.runner, &model.url, &origin, "budget_usd = 0.001");
    let pipeline = Pipeline::start(&tight, &allow).await;
    let (record, lines) = run_by_webhook(&pipeline, "d-budget").await;
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::Failed, "budget_exceeded"),
        "{lines:?}"
    );
    let refused = lines
        .iter()
        .any(|(_, l)| l.contains("model call refused: the run's budget of $0.001 is spent"));
    assert!(refused, "{lines:?}");
    let usage = record.usage.expect("usage");
    assert!(usage.cost_micros <= 1000, "never past the budget: {usage:?}");
    let took = record.finished_at_ms - refusal_at(&pipeline, &record.run_id).await;
    assert!(
        took < PROMPTLY.as_millis() as i64,
        "the spent budget ended the run {took} ms after the refusal: {}",
        timed_log(&pipeline, &record.run_id).await
    );
}

/// The run's log with the time of each line, for a failure's message.
async fn timed_log(pipeline: &Pipeline, run_id: &str) -> String {
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{run_id}/log"), Value::Null)
        .await;
    let lines = log["lines"].as_array().cloned().unwrap_or_default();
    lines
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["at"].as_str().unwrap_or("?"),
                l["line"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// When the run's log recorded the budget's refusal (unix ms).
async fn refusal_at(pipeline: &Pipeline, run_id: &str) -> i64 {
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{run_id}/log"), Value::Null)
        .await;
    log["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["line"].as_str().is_some_and(|t| t.contains("model call refused")))
        .and_then(|l| chrono::DateTime::parse_from_rfc3339(l["at"].as_str()?).ok())
        .map(|at| at.timestamp_millis())
        .unwrap_or_else(|| panic!("no refusal with a time in {log}"))
}

async fn cancelled(agent: &Agent) {
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let model = ScriptedModel::start(write_and_commit()).await;
    model.slow_down(60_000);
    let slow = catalog(agent.runner, &model.url, &origin);
    let pipeline = Pipeline::start(&slow, &allow).await;
    let (status, answer) = send_github(&pipeline, "d-cancel", &issue_labeled("Slow"), GITHUB_SECRET).await;
    assert_eq!(status, 202, "{answer}");
    let run_id = eventually("the run to start", || async {
        let (_, runs) = pipeline.admin("GET", "/v1/runs?agent=coder", Value::Null).await;
        match runs["items"][0]["status"].as_str() {
            Some("running") => Ok(runs["items"][0]["run_id"].as_str().unwrap_or_default().to_owned()),
            _ => Err(runs.to_string()),
        }
    })
    .await;
    // A real agent starting in its sandbox beside three others on a loaded
    // 2-core machine: its start-up is not what is measured here.
    hookline_tests::eventually_within(
        std::time::Duration::from_secs(90),
        "the agent's first model call",
        || async { (model.arrived() > 0).then_some(()).ok_or_else(|| "not yet".to_owned()) },
    )
    .await;
    let asked = std::time::Instant::now();
    let (status, answer) = pipeline
        .admin("POST", &format!("/v1/runs/{run_id}/cancel"), Value::Null)
        .await;
    assert!(status == 200 || status == 202, "{status} {answer}");
    let records = hookline_bus::runs::Records::new(&pipeline.nats);
    let record = eventually("the run to end", || async {
        match records.get(&run_id).await {
            Ok(Some(r)) if r.is_done() => Ok(r),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let took = asked.elapsed();
    assert_eq!(record.status, RunStatus::Cancelled, "{record:?}");
    assert!(took < PROMPTLY, "the cancel took {took:?}");
    // Its processes run in the run's folder, which is named after the run.
    hookline_tests::until_no_process("the agent after its cancel", |line| line.contains(run_id.as_str())).await;
}

/// A tool in `deny_tools` is refused when the agent asks to use it: the
/// transcript says so, and what it would have done (the commit) is not done.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_denied_tool_is_refused_and_the_agent_carries_on_without_it() {
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    let model = ScriptedModel::start(write_and_commit()).await;
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let denying = catalog(
        r#"{ type = "claude-code", model = "claude-sonnet-4-5", deny_tools = ["Bash"] }"#,
        &model.url,
        &origin,
    );
    let pipeline = Pipeline::start(&denying, &allow).await;
    let (record, lines) = run_by_webhook(&pipeline, "d-deny").await;
    let entries = transcript(&lines);
    let refused = entries.iter().any(|e| {
        matches!(e, Entry::ToolCall { name, status: ToolStatus::Failed, output, .. }
            if name == "Bash" && output.to_string().contains("refused by the agent's policy"))
    });
    assert!(refused, "{entries:#?}");
    let wrote = entries
        .iter()
        .any(|e| matches!(e, Entry::ToolCall { name, status: ToolStatus::Completed, .. } if name == "Write"));
    assert!(wrote, "the allowed tool ran: {entries:#?}");
    assert_eq!(record.status, RunStatus::Succeeded, "{lines:?}");
    let branches = git(&origin, &["branch", "--list", "hookline/*"]);
    assert_eq!(branches, "", "nothing was committed, so nothing pushed");
}

async fn outside_the_allow_list(agent: &Agent) {
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    let model = ScriptedModel::start(write_and_commit()).await;
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let text = catalog_text(agent.outside, &model.url, &origin, "");
    let outside = parsed(&text.replace(agent.allow.0, agent.allow.1));
    let pipeline = Pipeline::start(&outside, &allow).await;
    let (record, lines) = run_by_webhook(&pipeline, "d-allow").await;
    assert!(
        model.seen().iter().all(|s| s.model != agent.model),
        "{:?}",
        model.seen()
    );
    let noted = format!("call for `{}` refused: not in the profile's allow list", agent.model);
    assert!(lines.iter().any(|(_, l)| l.contains(&noted)), "{lines:?}");
    // The agent got the gateway's answer and said so, in its transcript,
    // its stderr, or its failure.
    let told = lines.iter().any(|(stream, l)| {
        stream != "hookline" && l.contains("model_not_allowed") || l.starts_with("the agent failed the prompt")
    });
    assert!(told, "the agent shows the gateway's error: {lines:?}");
    assert_ne!(record.status, RunStatus::Succeeded, "{lines:?}");
}

/// Runs agent `hostile` once by hand; its record and log lines.
async fn run_fake(runner: &str, timeout: &str) -> (hookline_bus::runs::RunRecord, Vec<String>) {
    let text = format!(
        r#"
[profiles.p]
models = {{ anthropic = {{ upstream = "http://127.0.0.1:9", secret = "k" }} }}

[agents.hostile]
prompt = "x"
runner = {runner}
profile = "p"
timeout = "{timeout}"
"#
    );
    let catalog = parsed(&text);
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let pipeline = Pipeline::start_services(&catalog, &allow, &[Service::Admin, Service::Executor]).await;
    crate::sandbox::run_once(&pipeline).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_that_cannot_start_or_answer_ends_with_a_clear_reason() {
    let dir = tempfile::tempdir().expect("dir");
    // Not installed: where Hookline looked.
    let (record, lines) = run_fake(
        r#"{ type = "claude-code", bin = "/opt/nowhere/claude-code-acp" }"#,
        "30s",
    )
    .await;
    assert_eq!(record.reason.as_str(), "agent_not_found", "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`/opt/nowhere/claude-code-acp` was not found")),
        "{lines:?}"
    );
    // Dies before the handshake: the end of its stderr.
    let dies = script(dir.path(), "dies.sh", "echo 'Not logged in: run /login' >&2; exit 3");
    let (record, lines) = run_fake(&format!(r#"{{ type = "acp", command = ["{dies}"] }}"#), "30s").await;
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::Failed, "protocol_error"),
        "{lines:?}"
    );
    let said = lines.iter().any(|l| {
        l.contains("the agent exited (code 3) before the ACP handshake") && l.contains("Not logged in: run /login")
    });
    assert!(said, "{lines:?}");
    // Answers the handshake with nonsense: which message.
    let garbles = script(
        dir.path(),
        "garbles.sh",
        r#"read line; id=$(echo "$line" | sed 's/.*"id":\("[^"]*"\|[0-9]*\).*/\1/')
echo '{"jsonrpc":"2.0","id":'"$id"',"result":{"protocolVersion":"not a number"}}'; sleep 600"#,
    );
    let (record, lines) = run_fake(&format!(r#"{{ type = "acp", command = ["{garbles}"] }}"#), "30s").await;
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::Failed, "protocol_error"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("protocol error during initialize")),
        "{lines:?}"
    );
    // Never answers: the run ends at its timeout, saying so.
    let silent = script(dir.path(), "silent.sh", "exec sleep 600");
    let (record, lines) = run_fake(&format!(r#"{{ type = "acp", command = ["{silent}"] }}"#), "3s").await;
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::TimedOut, "agent_unresponsive"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("the agent stopped answering during initialize")),
        "{lines:?}"
    );
}

/// `max_turns` counts the run's model calls at the gateway: the call past
/// it is refused and the agent stopped, the run ends `turn_limit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_preset_run_past_its_max_turns_ends_turn_limit() {
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    let model = ScriptedModel::start(write_and_commit()).await;
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let limited = catalog(
        r#"{ type = "opencode", model = "claude-sonnet-4-5", max_turns = 1 }"#,
        &model.url,
        &origin,
    );
    let pipeline = Pipeline::start(&limited, &allow).await;
    let (record, lines) = run_by_webhook(&pipeline, "d-turns").await;
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::Failed, "turn_limit"),
        "{lines:?}"
    );
    let refused = lines
        .iter()
        .any(|(_, l)| l.contains("model call refused: the run's turn limit of 1 model calls is reached"));
    assert!(refused, "{lines:?}");
    assert_eq!(
        model.seen().iter().filter(|s| s.answered).count(),
        1,
        "one call answered"
    );
}
