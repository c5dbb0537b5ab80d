//! What a run recorded survives the executor's `kill -9` (the next
//! attempt's entries follow it in the kept transcript), and leaves with
//! the run's log when retention removes it.

use std::path::Path;

use hookline_bus::runs::{RunRecord, RunStatus};
use hookline_model::catalog::Catalog;
use hookline_model::transcript::Entry;
use hookline_tests::git::bare_origin;
use hookline_tests::{Pipeline, Service, eventually, script};
use serde_json::Value;

use super::executor::{SECRET, send_issue};
use super::executor_crash::executor_process;

/// An agent that speaks ACP, written for the test: it says which attempt
/// it is; a first attempt then hangs when `$OUT_DIR/hang` exists (to be
/// killed), any other ends its turn.
const AGENT: &str = r#"exec python3 -u -c '
import json, os, sys, time
attempt = os.environ.get("HOOKLINE_ATTEMPT", "?")
def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()
def say(session, text):
    send({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": session,
          "update": {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}}})
for line in sys.stdin:
    request = json.loads(line)
    method, rid = request.get("method"), request.get("id")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": rid, "result": {"protocolVersion": 1, "agentCapabilities": {}}})
    elif method == "session/new":
        send({"jsonrpc": "2.0", "id": rid, "result": {"sessionId": "s" + attempt}})
    elif method == "session/prompt":
        session = request["params"]["sessionId"]
        say(session, "attempt " + attempt + " working")
        # A plan after the message: the message is whole, so it is recorded.
        send({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": session,
              "update": {"sessionUpdate": "plan", "entries": [{"content": "fix it", "priority": "high", "status": "in_progress"}]}}})
        if attempt == "1" and os.path.exists(os.environ["OUT_DIR"] + "/hang"):
            open(os.environ["OUT_DIR"] + "/first", "w").write("started")
            time.sleep(600)
        send({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": session,
              "update": {"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": "thinking again"}}}})
        send({"jsonrpc": "2.0", "id": rid, "result": {"stopReason": "end_turn"}})
'"#;

fn catalog(agent: &str, out: &Path, origin: &Path) -> Catalog {
    let text = format!(
        r#"
[sources.gh]
provider = "github"
secrets = ["{SECRET}"]

[profiles.p]
env = {{ OUT_DIR = "{out}", PATH = "/usr/bin:/bin" }}

[agents.worker]
prompt = "Fix {{{{body.issue.title}}}}"
runner = {{ type = "acp", command = ["{agent}"] }}
profile = "p"
repository = "{origin}"
sandbox = "none"
triggers = [{{ source = "gh", events = ["issues"] }}]
"#,
        out = out.display(),
        origin = origin.display(),
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

async fn the_run(pipeline: &Pipeline) -> RunRecord {
    let records = hookline_bus::runs::Records::new(&pipeline.nats);
    eventually("the run", || async {
        let (_, runs) = pipeline.admin("GET", "/v1/runs", Value::Null).await;
        let run_id = runs["items"][0]["run_id"]
            .as_str()
            .ok_or_else(|| runs.to_string())?
            .to_owned();
        records
            .get(&run_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no record".to_owned())
    })
    .await
}

fn messages(transcript: &Value) -> Vec<String> {
    let entries: Vec<Entry> = serde_json::from_value(transcript["entries"].clone()).expect("entries");
    entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::AgentMessage { text } => Some(text),
            Entry::Thought { text } => Some(format!("({text})")),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_executor_killed_mid_run_keeps_what_was_recorded_and_the_next_attempt_follows_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let origin = bare_origin(dir.path(), "repo");
    let agent = script(dir.path(), "acp-agent.sh", AGENT);
    std::fs::write(dir.path().join("hang"), "").expect("hang");
    let mut pipeline = Pipeline::start_services(
        &catalog(&agent, dir.path(), &origin),
        &[("HOOKLINE_EXECUTOR_ACK_WAIT", "2s")],
        &[Service::Ingest, Service::Router, Service::Admin],
    )
    .await;
    let workdir = tempfile::tempdir().expect("workdir");
    let mut executor = executor_process(&pipeline, workdir.path());
    send_issue(&pipeline, "kept-1", "the crash").await;
    hookline_tests::eventually("the first attempt to be working", || async {
        std::fs::metadata(dir.path().join("first")).map_err(|e| e.to_string())
    })
    .await;
    let run = the_run(&pipeline).await;
    // What the first attempt recorded is readable while it runs.
    let path = format!("/v1/runs/{}/transcript", run.run_id);
    eventually("the first attempt's entry", || async {
        let (_, transcript) = pipeline.admin("GET", &path, Value::Null).await;
        let said = messages(&transcript);
        if said == ["attempt 1 working"] {
            Ok(())
        } else {
            Err(format!("{said:?}"))
        }
    })
    .await;
    executor.kill().expect("kill -9");
    executor.wait().expect("reaped");
    pipeline.start_service(Service::Executor).await;
    let done = eventually("the second attempt to finish", || async {
        match the_run(&pipeline).await {
            r if r.is_done() => Ok(r),
            r => Err(format!("{:?} attempt {}", r.status, r.attempt)),
        }
    })
    .await;
    assert_eq!((done.status, done.attempt), (RunStatus::Succeeded, 2));
    let done = super::sessions::kept(&pipeline, &done.run_id).await;
    assert!(done.artifacts.iter().any(|a| a.name == "transcript.jsonl"), "{done:?}");
    // The kept transcript: the first attempt's entries, then the second's.
    let (_, transcript) = pipeline.admin("GET", &path, Value::Null).await;
    assert_eq!(
        messages(&transcript),
        ["attempt 1 working", "attempt 2 working", "(thinking again)"],
        "{transcript}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_removes_a_runs_artifacts_with_its_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let origin = bare_origin(dir.path(), "repo");
    let agent = script(dir.path(), "acp-agent.sh", AGENT);
    let pipeline = Pipeline::start(&catalog(&agent, dir.path(), &origin), &[("HOOKLINE_RETENTION", "4s")]).await;
    send_issue(&pipeline, "kept-2", "the crash").await;
    let run = eventually("the run to end", || async {
        match the_run(&pipeline).await {
            r if r.is_done() => Ok(r),
            r => Err(format!("{:?}", r.status)),
        }
    })
    .await;
    assert_eq!(run.status, RunStatus::Succeeded);
    let run = super::sessions::kept(&pipeline, &run.run_id).await;
    let artifact = format!("/v1/runs/{}/artifacts/transcript.jsonl", run.run_id);
    let log = format!("/v1/runs/{}/log", run.run_id);
    let (status, _) = pipeline.admin_raw("GET", &artifact, Value::Null).await;
    assert_eq!(status, 200, "kept while within retention");
    let (_, lines) = pipeline.admin("GET", &log, Value::Null).await;
    assert!(lines["lines"].as_array().is_some_and(|l| !l.is_empty()), "{lines}");
    // Past retention: both gone, the record still says what was kept.
    eventually("the artifacts and the log to age out", || async {
        let (status, _) = pipeline.admin_raw("GET", &artifact, Value::Null).await;
        let (_, lines) = pipeline.admin("GET", &log, Value::Null).await;
        let logged = lines["lines"].as_array().map_or(0, Vec::len);
        if status == 404 && logged == 0 {
            Ok(())
        } else {
            Err(format!("artifact {status}, {logged} log lines"))
        }
    })
    .await;
    let (status, listed) = pipeline
        .admin("GET", &format!("/v1/runs/{}/artifacts", run.run_id), Value::Null)
        .await;
    assert_eq!(status, 200);
    assert!(!listed["artifacts"].as_array().expect("list").is_empty());
}
