//! The console's run page is the session, in a real Chromium: a real
//! agent (Claude Code through its preset) whose scripted model answers
//! slowly works for several seconds; its transcript entries appear on the
//! page while it runs, without a reload, and once it ends the page shows
//! the diff of its branch and what it cost. The runs board shows it.
//! Screenshots go beside the console test's (`session-live`,
//! `session-done`, `runs-board`).

use hookline_bus::runs::RunStatus;
use hookline_tests::browser::Browser;
use hookline_tests::git::bare_origin;
use hookline_tests::scripted_model::ScriptedModel;
use hookline_tests::{Pipeline, eventually};
use serde_json::Value;

use super::console::{shots, sign_in};
use crate::agents::{catalog_with, write_and_commit};
use crate::e2e::{GITHUB_SECRET, issue_labeled, send_github};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_run_page_shows_the_session_live_then_its_diff_and_cost() {
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    let model = ScriptedModel::start(write_and_commit()).await;
    // Each answer waits: the agent works for several seconds.
    model.slow_down(1500);
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let catalog = catalog_with(
        r#"{ type = "claude-code", model = "claude-sonnet-4-5" }"#,
        &model.url,
        &origin,
        "",
    );
    let pipeline = Pipeline::start(&catalog, &allow).await;
    let console = format!("http://{}/console", pipeline.admin);
    let browser = Browser::start(shots()).await;
    sign_in(&browser, &console).await;

    let (status, answer) = send_github(&pipeline, "d-console-agent", &issue_labeled("Greet"), GITHUB_SECRET).await;
    assert_eq!(status, 202, "{answer}");
    let run_id = eventually("the run to start", || async {
        let (_, runs) = pipeline
            .admin("GET", "/v1/runs?agent=coder&status=running", Value::Null)
            .await;
        runs["items"][0]["run_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| runs.to_string())
    })
    .await;
    browser.goto(&format!("{console}/runs/{run_id}")).await;
    // Entries arrive while the agent works, the page never reloaded.
    browser
        .wait_for_text("#session", "the agent's first tool call", |t| t.contains("Write"))
        .await;
    let status_now = browser.text("#run-status").await;
    let records = hookline_bus::runs::Records::new(&pipeline.nats);
    let record = records.get(&run_id).await.expect("record").expect("exists");
    assert!(
        !record.status.is_final(),
        "the entry was shown before the run ended ({status_now}, {:?})",
        record.status
    );
    browser.screenshot("session-live").await;

    // Once it ends: its diff, per file, and its cost.
    browser
        .wait_for_text("#run-status", "the run's end, without a reload", |t| t == "succeeded")
        .await;
    // The page reloads itself once the run ends; its artifacts are listed
    // a moment after the record is final, so a reload may be one too early.
    let diff = browser
        .reload_until("#diff", "the diff of the run's branch", |t| t.contains("hello.txt"))
        .await;
    assert!(diff.contains("+1") && diff.contains("key-check.txt"), "{diff}");
    let record = records.get(&run_id).await.expect("record").expect("exists");
    assert_eq!(record.status, RunStatus::Succeeded);
    // Its model calls are logged, their bodies only when the agent asks.
    let names: Vec<&str> = record.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert!(
        names.contains(&"model-calls.json") && !names.contains(&"model-call-bodies.jsonl"),
        "{names:?}"
    );
    let cost = browser.text("#run-cost").await;
    let usage = record.usage.expect("usage");
    assert_eq!(
        cost,
        format!(
            "${} for {} model calls",
            hookline_model::cost::dollars(usage.cost_micros),
            usage.calls
        )
    );
    let session = browser.text("#session").await;
    assert!(
        session.contains("Bash") && session.contains("committed it"),
        "{session}"
    );
    assert_eq!(browser.count("#fork").await, 1, "a finished run can be continued");
    browser.screenshot("session-done").await;

    browser.goto(&format!("{console}/runs?view=board")).await;
    let finished = browser.text("#board-finished").await;
    assert!(finished.contains(&run_id[..13]), "{finished}");
    browser.screenshot("runs-board").await;
    browser.close().await;
}
