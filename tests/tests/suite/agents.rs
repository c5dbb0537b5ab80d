//! Real agents from npm (pinned, installed by `scripts/test` into
//! `.tools/agents`), each started by a signed webhook through its preset,
//! in the real sandbox, against the scripted model server behind the
//! gateway: the agent writes a file and commits it with its own tools, the
//! transcript holds those calls in order, usage is exact, the model server
//! sees the key and the sandbox never holds it.

use std::path::{Path, PathBuf};

use hookline_bus::runs::{RunRecord, RunStatus};
use hookline_model::catalog::Catalog;
use hookline_model::transcript::{Entry, ToolStatus};
use hookline_tests::git::{bare_origin, git};
use hookline_tests::scripted_model::{Api, ScriptedModel, Step};
use hookline_tests::{Pipeline, eventually, workspace_root};
use serde_json::{Value, json};

use crate::e2e::{GITHUB_SECRET, issue_labeled, send_github};

/// The real key: only the gateway and the model server ever see it.
pub(crate) const MODEL_KEY: &str = "sk-ant-real-key-4417";

/// Where `scripts/test` installs the agents.
pub(crate) fn agents_bin() -> PathBuf {
    let bin = workspace_root().join(".tools/agents/node_modules/.bin");
    assert!(
        bin.join("claude-code-acp").exists(),
        "the agents are not installed in {}: run scripts/test (it installs them)",
        bin.display()
    );
    bin
}

/// The script: write `hello.txt`, commit it, say done. Each step names the
/// tool in each agent's own vocabulary.
pub(crate) fn write_and_commit() -> Vec<Step> {
    // The key's text is put together in the shell, so that the command
    // (which is in the transcript) never holds it.
    // (Gemini CLI refuses command substitution, so plain variables.)
    // What it finds is committed beside the file and read from the pushed
    // branch (Gemini CLI reports no shell output over ACP).
    let commit = "a=sk-ant-real-key-; b=4417; \
                  if env | grep -q \"$a$b\" || grep -rqs \"$a$b\" \"$HOME\" /tmp \"$HOOKLINE_WORKSPACE/..\"; \
                  then echo KEY-IN-SANDBOX > key-check.txt; else echo key-absent > key-check.txt; fi; \
                  git add hello.txt key-check.txt && git commit -q -m 'Add hello.txt' && git log --oneline | head -1";
    vec![
        Step::tool(&[
            (
                "Write",
                json!({"file_path": "{cwd}/hello.txt", "content": "hello from the agent\n"}),
            ),
            (
                "write",
                json!({"filePath": "{cwd}/hello.txt", "content": "hello from the agent\n"}),
            ),
            (
                "write_file",
                json!({"file_path": "hello.txt", "content": "hello from the agent\n"}),
            ),
            (
                "exec_command",
                json!({"cmd": "printf 'hello from the agent\\n' > hello.txt", "workdir": "{cwd}", "login": false}),
            ),
        ]),
        Step::tool(&[
            ("Bash", json!({"command": commit, "description": "Commit hello.txt"})),
            ("bash", json!({"command": commit, "description": "Commit hello.txt"})),
            (
                "run_shell_command",
                json!({"command": commit, "description": "Commit hello.txt"}),
            ),
            (
                "exec_command",
                json!({"cmd": commit, "workdir": "{cwd}", "login": false}),
            ),
        ]),
        Step::Say("I wrote hello.txt and committed it.".to_owned()),
    ]
}

/// Dollars per million tokens: 120 in, 30 out, 40 cache read and 10 cache
/// write cost 859.5 micro-dollars, rounded to 860 per call.
pub(crate) const PRICES: &str =
    r#"{ "claude-*" = { input = 3.0, output = 15.0, cache_read = 0.3, cache_write = 3.75 } }"#;
pub(crate) const CALL_MICROS: u64 = 860;
/// The same without cache writes (OpenAI and Gemini report none): 822.
const CALL_MICROS_NO_CACHE_WRITE: u64 = 822;

pub(crate) fn catalog(runner: &str, model_url: &str, origin: &Path) -> Catalog {
    catalog_with(runner, model_url, origin, "")
}

/// The profile's model entry for `api`, behind which the server runs.
pub(crate) fn model_entry(api: Api, model_url: &str) -> String {
    let (entry, header, family) = match api {
        Api::Anthropic => ("anthropic", "x-api-key", "claude-*"),
        Api::OpenAiResponses => ("openai", "authorization", "gpt-*"),
        Api::Gemini => ("gemini", "x-goog-api-key", "gemini-*"),
    };
    let prices = PRICES.replace("claude-*", family);
    format!(
        r#"{entry} = {{ upstream = "{model_url}", header = "{header}", secret = "{MODEL_KEY}", allow = ["{family}"], prices = {prices} }}"#
    )
}

pub(crate) fn catalog_with(runner: &str, model_url: &str, origin: &Path, extra: &str) -> Catalog {
    parsed(&catalog_text(runner, model_url, origin, extra))
}

/// A catalog's text, valid.
pub(crate) fn parsed(text: &str) -> Catalog {
    let catalog = Catalog::parse(text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

/// The catalog's text: the webhook source, the profile with the model
/// entry behind which `model_url` runs, the agent with `runner`.
pub(crate) fn catalog_text(runner: &str, model_url: &str, origin: &Path, extra: &str) -> String {
    let api = if runner.contains("codex") {
        Api::OpenAiResponses
    } else if runner.contains("gemini") {
        Api::Gemini
    } else {
        Api::Anthropic
    };
    let models = model_entry(api, model_url);
    format!(
        r#"
[sources.github]
provider = "github"
secrets = ["{GITHUB_SECRET}"]

[profiles.agents]
env = {{ PATH = "{bin}:/usr/local/bin:/usr/bin:/bin" }}
models = {{ {models} }}

[agents.coder]
prompt = "Add hello.txt for issue {{{{body.issue.title}}}} and commit it."
runner = {runner}
profile = "agents"
repository = "{origin}"
push = true
timeout = "120s"
triggers = [{{ source = "github", events = ["issues"], actions = ["labeled"] }}]
{extra}
"#,
        bin = agents_bin().display(),
        origin = origin.display(),
    )
}

/// Sends the webhook and waits for the run to end: its record and log.
pub(crate) async fn run_by_webhook(pipeline: &Pipeline, delivery: &str) -> (RunRecord, Vec<(String, String)>) {
    let (status, answer) = send_github(pipeline, delivery, &issue_labeled("Greet"), GITHUB_SECRET).await;
    assert_eq!(status, 202, "{answer}");
    let run_id = eventually("the run to be requested", || async {
        let (_, runs) = pipeline.admin("GET", "/v1/runs?agent=coder", Value::Null).await;
        runs["items"][0]["run_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| runs.to_string())
    })
    .await;
    let records = hookline_bus::runs::Records::new(&pipeline.nats);
    // A real agent's run on a loaded 2-core machine: within its own 120 s
    // timeout, which is what holds it; how fast is the benchmarks' to say.
    let record = hookline_tests::eventually_within(
        std::time::Duration::from_secs(150),
        "the agent's run to end",
        || async {
            match records.get(&run_id).await {
                Ok(Some(r)) if r.is_done() => Ok(r),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{}/log", record.run_id), Value::Null)
        .await;
    let lines = log["lines"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|x| {
                    (
                        x["stream"].as_str().unwrap_or("").to_owned(),
                        x["line"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (record, lines)
}

pub(crate) fn transcript(lines: &[(String, String)]) -> Vec<Entry> {
    lines
        .iter()
        .filter(|(stream, _)| stream == "transcript")
        .map(|(_, line)| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The whole check for one preset.
async fn writes_and_commits(runner: &str, tools: [&str; 2], api: Api) {
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    let model = ScriptedModel::start(write_and_commit()).await;
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let pipeline = Pipeline::start(&catalog(runner, &model.url, &origin), &allow).await;
    let (record, lines) = run_by_webhook(&pipeline, &format!("d-{}", tools[0])).await;
    let shown = || {
        lines
            .iter()
            .map(|(s, l)| format!("[{s}] {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        (record.status, record.reason.as_str()),
        (RunStatus::Succeeded, "exit"),
        "{}",
        shown()
    );
    // The agent's own tools, in order, with their inputs.
    let entries = transcript(&lines);
    assert!(
        matches!(&entries[0], Entry::Prompt { text } if text.contains("Greet")),
        "{entries:?}"
    );
    let completed: Vec<(String, Value, String)> = entries
        .iter()
        .filter_map(|e| match e {
            // Its input as the agent reported it: the arguments, or for an
            // agent that sends none (Gemini CLI) its title.
            Entry::ToolCall {
                name,
                title,
                input,
                output,
                status: ToolStatus::Completed,
                ..
            } => Some((name.clone(), json!([input, title]), output.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        completed.len(),
        2,
        "two tool calls completed: {entries:#?}\n{}",
        shown()
    );
    assert_eq!(completed[0].0, tools[0], "first the write: {completed:?}");
    assert!(completed[0].1.to_string().contains("hello.txt"), "{completed:?}");
    assert_eq!(completed[1].0, tools[1], "then the commit: {completed:?}");
    assert!(completed[1].1.to_string().contains("git commit"), "{completed:?}");
    // Committed with its own tools, and pushed by Hookline.
    let branch = format!("hookline/coder/{}:", record.run_id);
    let show = |file: &str| git(&origin, &["show", &format!("{branch}{file}")]);
    assert_eq!(show("hello.txt"), "hello from the agent");
    assert_eq!(
        show("key-check.txt"),
        "key-absent",
        "the key is in neither the agent's environment nor its files"
    );
    assert!(
        entries
            .iter()
            .any(|e| matches!(e, Entry::FileEdit { path, .. } if path.ends_with("hello.txt")))
            || tools[0] != "Write",
        "Claude Code reports its edit as a diff: {entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| matches!(e, Entry::AgentMessage { text } if text.contains("committed it"))),
        "{entries:?}"
    );
    let seen = model.seen();
    // Usage is exactly what the model server reported, cache included.
    let answered = seen.iter().filter(|s| s.answered).count() as u64;
    let usage = record.usage.expect("usage");
    let (input, output, cache_read, cache_write) = api.per_call();
    let counted = (usage.calls, usage.input_tokens, usage.output_tokens);
    assert_eq!(counted, (answered, answered * input, answered * output), "{seen:?}");
    let cached = (usage.cache_read_tokens, usage.cache_write_tokens);
    assert_eq!(cached, (answered * cache_read, answered * cache_write), "{seen:?}");
    let call_micros = if api == Api::Anthropic {
        CALL_MICROS
    } else {
        CALL_MICROS_NO_CACHE_WRITE
    };
    assert!(seen.iter().filter(|s| s.scripted).count() >= 3, "{seen:?}");
    // Cost follows the price table, per call and in all.
    assert_eq!(usage.cost_micros, answered * call_micros, "{usage:?}");
    assert_eq!(record.model_calls.len() as u64, answered, "{:?}", record.model_calls);
    assert!(
        record.model_calls.iter().all(|c| c.usage.cost_micros == call_micros),
        "{:?}",
        record.model_calls
    );
    assert!(
        seen.iter().all(|s| s.key == MODEL_KEY),
        "the key was added to every call: {seen:?}"
    );
    assert!(
        !lines.iter().any(|(_, l)| l.contains(MODEL_KEY)),
        "the key is nowhere in the run's log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claude_code_writes_and_commits_a_file_through_its_preset() {
    writes_and_commits(
        r#"{ type = "claude-code", model = "claude-sonnet-4-5" }"#,
        ["Write", "Bash"],
        Api::Anthropic,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codex_writes_and_commits_a_file_through_its_preset() {
    writes_and_commits(
        r#"{ type = "codex", model = "gpt-5-codex" }"#,
        ["execute", "execute"],
        Api::OpenAiResponses,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gemini_writes_and_commits_a_file_through_its_preset() {
    writes_and_commits(
        r#"{ type = "gemini", model = "gemini-2.5-pro" }"#,
        ["edit", "execute"],
        Api::Gemini,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opencode_writes_and_commits_a_file_through_its_preset() {
    writes_and_commits(
        r#"{ type = "opencode", model = "claude-sonnet-4-5" }"#,
        ["edit", "execute"],
        Api::Anthropic,
    )
    .await;
}
