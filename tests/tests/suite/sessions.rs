//! A real agent's run kept as its session (Claude Code through its preset,
//! against the scripted model server): the transcript read back through
//! the API is what the model made it do, call by call; the diff is `git
//! diff` of the pushed branch; the artifacts hold no secret the agent was
//! given (the model calls' bodies, kept as asked, included); and a fork
//! with a new prompt resumes the agent's own session (the
//! model server's first request of the fork carries the earlier
//! conversation) and adds a commit on the same branch.

use hookline_bus::runs::{RunRecord, RunStatus};
use hookline_model::transcript::{self, Entry, ToolStatus};
use hookline_tests::git::{bare_origin, git};
use hookline_tests::scripted_model::{ScriptedModel, Step};
use hookline_tests::{Pipeline, eventually};
use serde_json::{Value, json};

use crate::agents::{catalog_text, parsed, run_by_webhook};

/// A secret of the profile the agent may read (scope `agent`), which it
/// prints and writes into a file it leaves for keeping.
const PLANTED: &str = "planted-secret-9931";

fn script() -> Vec<Step> {
    let leak = "echo \"token: $DEPLOY_TOKEN\" > \"$HOOKLINE_ARTIFACTS_DIR/report.md\"; echo \"leak $DEPLOY_TOKEN\"; \
                git add hello.txt && git commit -q -m 'Add hello.txt'";
    let more = "printf 'more\\n' > more.txt && git add more.txt && git commit -q -m 'Add more.txt'";
    vec![
        Step::tool(&[(
            "Write",
            json!({"file_path": "{cwd}/hello.txt", "content": "hello from the agent\n"}),
        )]),
        Step::tool(&[("Bash", json!({"command": leak, "description": "Commit hello.txt"}))]),
        Step::Say("I wrote hello.txt and committed it.".to_owned()),
        // The fork's prompt: the same conversation, one step on.
        Step::tool(&[("Bash", json!({"command": more, "description": "Commit more.txt"}))]),
        Step::Say("Added more.txt.".to_owned()),
    ]
}

/// `run_id`'s record once it lists its artifacts (a moment after it is
/// final, before its events are published), the agent's session state
/// among them when it names one (that comes a moment after the events).
pub(crate) async fn kept(pipeline: &Pipeline, run_id: &str) -> RunRecord {
    let records = hookline_bus::runs::Records::new(&pipeline.nats);
    let state_kept = |r: &RunRecord| r.agent_session.is_none() || r.artifacts.iter().any(|a| a.name == "session.tar");
    eventually("the run's artifacts to be listed", || async {
        match records.get(run_id).await {
            Ok(Some(r)) if r.is_done() && !r.artifacts.is_empty() && state_kept(&r) => Ok(r),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Checks that `run` resumed the agent's own session: its log says so and
/// the model server's first request since `asked_before` requests carries
/// the earlier conversation and the new prompt. Answers the scripted
/// requests since.
pub(crate) async fn resumed(
    pipeline: &Pipeline,
    model: &ScriptedModel,
    asked_before: usize,
    run: &RunRecord,
) -> Vec<hookline_tests::scripted_model::Seen> {
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{}/log", run.run_id), Value::Null)
        .await;
    assert_eq!(run.status, RunStatus::Succeeded, "{log}");
    assert!(log.to_string().contains("resumed the agent's session"), "{log}");
    let after: Vec<_> = model
        .seen()
        .into_iter()
        .skip(asked_before)
        .filter(|s| s.scripted)
        .collect();
    assert!(
        after.first().is_some_and(|s| s.prompts == 2),
        "the first model request carries the earlier conversation and the new prompt: {after:?}"
    );
    after
}

async fn wait_done(pipeline: &Pipeline, run_id: &str) -> RunRecord {
    let records = hookline_bus::runs::Records::new(&pipeline.nats);
    eventually("the run to end", || async {
        match records.get(run_id).await {
            Ok(Some(r)) if r.is_done() => Ok(r),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

async fn raw(pipeline: &Pipeline, path: &str) -> Vec<u8> {
    let (status, body) = pipeline.admin_raw("GET", path, Value::Null).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    body.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_is_kept_read_back_and_continued_by_a_fork() {
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    let model = ScriptedModel::start(script()).await;
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let text = catalog_text(
        r#"{ type = "claude-code", model = "claude-sonnet-4-5" }"#,
        &model.url,
        &origin,
        "record_model_calls = true",
    )
    .replace(
        "[profiles.agents]\n",
        &format!("[profiles.agents]\nsecrets = {{ DEPLOY_TOKEN = {{ secret = \"{PLANTED}\", scope = \"agent\" }} }}\n"),
    );
    let pipeline = Pipeline::start(&parsed(&text), &allow).await;
    let (record, lines) = run_by_webhook(&pipeline, "d-session").await;
    assert_eq!(record.status, RunStatus::Succeeded, "{lines:?}");
    let record = kept(&pipeline, &record.run_id).await;

    // The transcript, through the API: the calls the model made, in order.
    let (status, answer) = pipeline
        .admin("GET", &format!("/v1/runs/{}/transcript", record.run_id), Value::Null)
        .await;
    assert_eq!(status, 200, "{answer}");
    let entries: Vec<Entry> = serde_json::from_value(answer["entries"].clone()).expect("entries");
    let called: Vec<String> = model.seen().iter().filter_map(|s| s.called.clone()).collect();
    let completed: Vec<String> = transcript::folded(entries.clone())
        .into_iter()
        .filter_map(|e| match e {
            Entry::ToolCall {
                name,
                status: ToolStatus::Completed,
                ..
            } => Some(name),
            _ => None,
        })
        .collect();
    assert_eq!(completed, called, "{entries:#?}");
    assert_eq!(called, ["Write", "Bash"]);

    // The diff is git's, of the pushed branch against its base.
    let branch = format!("hookline/coder/{}", record.run_id);
    assert_eq!(record.branch, branch);
    let diff = String::from_utf8(raw(&pipeline, &format!("/v1/runs/{}/diff", record.run_id)).await).expect("utf-8");
    let expected = git(&origin, &["diff", "--no-color", "--find-renames", "main", &branch]);
    assert_eq!(diff.trim_end(), expected, "the kept diff is git's");
    assert!(diff.contains("+hello from the agent"), "{diff}");

    // Every artifact, none holding the planted secret.
    let (_, listed) = pipeline
        .admin("GET", &format!("/v1/runs/{}/artifacts", record.run_id), Value::Null)
        .await;
    let names: Vec<&str> = listed["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    for name in [
        "prompt.txt",
        "transcript.jsonl",
        "diff",
        "commits.json",
        "model-calls.json",
        "model-call-bodies.jsonl",
        "session.tar",
        "report.md",
    ] {
        assert!(names.contains(&name), "{name} kept: {listed}");
    }
    // Each model call's bodies, as the model server got and sent them: the
    // prompt in the first request, the secret the agent printed redacted
    // from the tool result the next one carried, the answers' text.
    let bodies = raw(
        &pipeline,
        &format!("/v1/runs/{}/artifacts/model-call-bodies.jsonl", record.run_id),
    )
    .await;
    let calls: Vec<Value> = String::from_utf8_lossy(&bodies)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(calls.len(), record.model_calls.len(), "one line per call");
    let messages = |c: &Value| c["path"].as_str().is_some_and(|p| p.starts_with("/v1/messages"));
    assert!(calls.iter().all(|c| c["status"] == 200 && messages(c)), "{calls:?}");
    let asked = |c: &Value| c["request"]["messages"].to_string();
    let answered = |c: &Value| c["response"].as_str().unwrap_or_default().to_owned();
    assert!(
        calls.iter().any(|c| asked(c).contains("Add hello.txt for issue Greet")),
        "{calls:?}"
    );
    assert!(calls.iter().any(|c| asked(c).contains("leak [redacted]")), "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|c| answered(c).contains("I wrote hello.txt and committed it.")),
        "{calls:?}"
    );
    for name in &names {
        let bytes = raw(&pipeline, &format!("/v1/runs/{}/artifacts/{name}", record.run_id)).await;
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(PLANTED), "{name} holds the secret");
    }
    let report = raw(&pipeline, &format!("/v1/runs/{}/artifacts/report.md", record.run_id)).await;
    assert_eq!(String::from_utf8_lossy(&report), "token: [redacted]\n");
    let commits: Value =
        serde_json::from_slice(&raw(&pipeline, &format!("/v1/runs/{}/artifacts/commits.json", record.run_id)).await)
            .expect("json");
    assert_eq!(commits[0]["subject"], "Add hello.txt", "{commits}");
    // The log as it ends: its last line says what was kept, after the record.
    let lines: Vec<(String, String)> = eventually("the log's note of what was kept", || async {
        let (_, log) = pipeline
            .admin("GET", &format!("/v1/runs/{}/log", record.run_id), Value::Null)
            .await;
        let lines: Vec<(String, String)> = log["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                let text = |key: &str| l[key].as_str().unwrap_or_default().to_owned();
                (text("stream"), text("line"))
            })
            .collect();
        if lines.iter().any(|(_, l)| l.starts_with("artifacts kept: ")) {
            Ok(lines)
        } else {
            Err(format!("{lines:?}"))
        }
    })
    .await;
    assert!(
        lines.iter().all(|(_, l)| !l.contains(PLANTED)),
        "the log holds no secret"
    );
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.starts_with("artifacts kept: ") && !l.ends_with("redacted from them: 0")),
        "the log counts what was redacted: {lines:?}"
    );

    // A fork continues the agent's own session on the same branch.
    let asked_before = model.seen().len();
    let (status, fork) = pipeline
        .admin(
            "POST",
            &format!("/v1/runs/{}/fork", record.run_id),
            json!({"prompt": "Now add more.txt and commit it."}),
        )
        .await;
    assert_eq!(status, 202, "{fork}");
    assert_eq!(fork["resumes_session"], true, "{fork}");
    let forked = wait_done(&pipeline, fork["run_id"].as_str().expect("run id")).await;
    let forked = kept(&pipeline, &forked.run_id).await;
    let after = resumed(&pipeline, &model, asked_before, &forked).await;
    assert_eq!(
        after.iter().filter_map(|s| s.called.clone()).collect::<Vec<_>>(),
        ["Bash"],
        "{after:#?}"
    );
    assert_eq!(forked.branch, branch, "the same branch");
    assert_eq!(git(&origin, &["show", &format!("{branch}:more.txt")]), "more");
    assert_eq!(
        git(&origin, &["show", &format!("{branch}:hello.txt")]),
        "hello from the agent"
    );
}
