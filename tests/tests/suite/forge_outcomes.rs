//! What became of the pull requests runs opened: GitHub's own example
//! `pull_request` `closed` webhook (signed as GitHub signs it), set to the
//! run's branch and pull request, records the outcome on the run and
//! publishes `pull_request.merged` (or `.closed`) exactly once, even when
//! the same news arrives twice; the agent's health counts it.

use hookline_bus::runs::{Records, RunRecord, RunStatus};
use hookline_model::forge_state::PullState;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Event, Message as _};
use hookline_tests::browser::Browser;
use hookline_tests::prism::webhook_example;
use hookline_tests::{ADMIN_TOKEN, Pipeline, eventually};
use serde_json::{Value, json};

use crate::console::{shots, sign_in};
use crate::forge::{World, finished, labelled_issue, run_of, send};

/// GitHub's example of a closed pull request, on `record`'s branch and pull
/// request, merged or not.
fn closed(record: &RunRecord, merged: bool) -> Value {
    let mut body = webhook_example("pull_request", "closed");
    let pull = record
        .forge
        .as_ref()
        .and_then(|f| f.pull_request.clone())
        .expect("a pull request");
    body["number"] = json!(pull.number);
    body["pull_request"]["number"] = json!(pull.number);
    body["pull_request"]["html_url"] = json!(pull.url);
    body["pull_request"]["head"]["ref"] = json!(record.branch);
    body["pull_request"]["merged"] = json!(merged);
    body["pull_request"]["created_at"] = json!("2026-12-01T10:00:00Z");
    body["pull_request"]["closed_at"] = json!("2026-12-01T11:30:00Z");
    body["pull_request"]["merged_at"] = if merged {
        json!("2026-12-01T11:30:00Z")
    } else {
        Value::Null
    };
    body
}

/// The outcome events stored so far.
async fn outcome_events(pipeline: &Pipeline) -> Vec<Event> {
    pipeline
        .stream_messages(StreamKind::Events)
        .await
        .iter()
        .filter(|m| m.subject.as_str().contains(".pull_request."))
        .filter_map(|m| Event::decode(m.payload.as_ref()).ok())
        .filter(|e| e.r#type != "pull_request.opened")
        .collect()
}

/// Waits until the router has decided on each of `events`.
pub(crate) async fn routed(pipeline: &Pipeline, events: &[&str]) {
    for event_id in events {
        eventually("the event to be routed", || async {
            let explained = pipeline.explain(event_id).await;
            explained["event_id"]
                .as_str()
                .map(|_| ())
                .ok_or_else(|| explained.to_string())
        })
        .await;
    }
}

/// A run for a new labelled issue `number`, final on the forge.
async fn a_run(pipeline: &Pipeline, number: u64) -> RunRecord {
    let mut issue = labelled_issue();
    issue["issue"]["number"] = json!(number);
    let event_id = send(pipeline, "issues", &format!("labeled-{number}"), &issue).await;
    let record = run_of(pipeline, &event_id, "the run, final on the forge", finished).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:?}");
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merged_pull_request_is_recorded_and_published_once_and_counted_in_the_agents_health() {
    let world = World::start().await;
    let pipeline = Pipeline::start(&world.catalog(0, ""), &[]).await;
    let records = Records::new(&pipeline.nats);
    let first = a_run(&pipeline, 1).await;
    let second = a_run(&pipeline, 2).await;

    // The first is merged (the news twice), the second closed unmerged.
    let merged = closed(&first, true);
    let once = send(&pipeline, "pull_request", "closed-1", &merged).await;
    let again = send(&pipeline, "pull_request", "closed-1-again", &merged).await;
    send(&pipeline, "pull_request", "closed-2", &closed(&second, false)).await;
    routed(&pipeline, &[&once, &again]).await;
    let outcome = |run_id: String| {
        let records = records.clone();
        async move {
            eventually("the outcome on the run", || async {
                match records.get(&run_id).await {
                    Ok(Some(r)) if r.outcome.is_some() && r.outbox.is_empty() => Ok(r),
                    other => Err(format!("{other:?}")),
                }
            })
            .await
        }
    };
    let first = outcome(first.run_id).await;
    let second = outcome(second.run_id).await;
    let recorded = first.outcome.clone().expect("outcome");
    assert_eq!(recorded.state, PullState::Merged);
    assert_eq!(recorded.runs, std::slice::from_ref(&first.run_id));
    assert_eq!(recorded.at_ms - recorded.opened_at_ms, 90 * 60 * 1000);
    assert_eq!(second.outcome.as_ref().map(|o| o.state), Some(PullState::Closed));

    let events = outcome_events(&pipeline).await;
    let of = |kind: &str| -> Vec<&Event> { events.iter().filter(|e| e.r#type == kind).collect() };
    assert_eq!(of("pull_request.merged").len(), 1, "exactly one: {events:?}");
    assert_eq!(of("pull_request.closed").len(), 1, "{events:?}");
    let data: Value = serde_json::from_slice(&of("pull_request.merged")[0].data_json).expect("json");
    assert_eq!(data["run_id"], first.run_id.as_str(), "{data}");
    assert_eq!(data["agent"], "fixer");
    assert_eq!(data["time_to_merge_s"], 5400);
    assert_eq!(data["merged_at"], "2026-12-01T11:30:00Z");
    assert_eq!(of("pull_request.merged")[0].run_id, first.run_id);

    let (status, health) = pipeline.admin("GET", "/v1/agents/fixer/health", Value::Null).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(
        health["pull_requests"],
        json!({"opened": 2, "merged": 1, "closed_unmerged": 1, "open": 0}),
        "{health}"
    );
    assert_eq!(health["merge_rate"], 0.5, "{health}");
    assert_eq!(health["median_time_to_merge_s"], 5400, "{health}");
    assert_eq!(health["runs"], 2, "{health}");
    // The same through the CLI.
    let cli = crate::cli::hookline(&pipeline, ADMIN_TOKEN, &["health", "agent", "fixer", "--json"]).await;
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    let shown: Value = serde_json::from_str(&cli.stdout).expect("JSON");
    assert_eq!(shown["pull_requests"], health["pull_requests"], "{shown}");
    // And on the agent's page in the console.
    let console = format!("http://{}/console", pipeline.admin);
    let browser = Browser::start(shots()).await;
    sign_in(&browser, &console).await;
    browser.goto(&format!("{console}/agents/fixer")).await;
    let line = browser.text("#agent-health").await;
    assert!(
        line.contains("2 opened, 1 merged, 1 closed unmerged, 0 open") && line.contains("merge rate 50 %"),
        "{line}"
    );
    browser.screenshot("agent-health").await;
    browser.close().await;

    // The second, reopened and merged after all: merged is what it came to.
    let later = send(&pipeline, "pull_request", "closed-2-merged", &closed(&second, true)).await;
    routed(&pipeline, &[&later]).await;
    let second = eventually("the second's outcome to become merged", || async {
        match records.get(&second.run_id).await {
            Ok(Some(r)) if r.outcome.as_ref().is_some_and(|o| o.state == PullState::Merged) && r.outbox.is_empty() => {
                Ok(r)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let opened = second
        .forge
        .as_ref()
        .and_then(|f| f.pull_request.as_ref())
        .map(|p| p.number);
    assert_eq!(second.outcome.map(|o| o.number), opened);
    let events = outcome_events(&pipeline).await;
    let merged: Vec<&Event> = events.iter().filter(|e| e.r#type == "pull_request.merged").collect();
    assert_eq!(merged.len(), 2, "{events:?}");
    let (_, health) = pipeline.admin("GET", "/v1/agents/fixer/health", Value::Null).await;
    assert_eq!(
        health["pull_requests"],
        json!({"opened": 2, "merged": 2, "closed_unmerged": 0, "open": 0}),
        "{health}"
    );
    world.assert_contract_kept();
}
