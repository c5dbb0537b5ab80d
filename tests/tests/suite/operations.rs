//! The admin API's operational side against the whole pipeline: what each
//! webhook, run and delivery did, read back with filters and paging; health
//! figures; test events signed as the provider signs; manual runs; a run's
//! log followed while it is written; dead letters listed and replayed.

use hookline_model::catalog::Catalog;
use hookline_tests::{Pipeline, Receiver, eventually, post_github, script};
use serde_json::{Value, json};

pub(crate) const SECRET: &str = "operations-test-secret";
pub(crate) const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(crate) fn catalog(agent: &str, good: &str, bad: &str) -> Catalog {
    let text = format!(
        r#"
[sources.gh]
provider = "github"
secrets = ["{SECRET}"]

[agents.echo]
prompt = "Hello {{{{body.who}}}}"
runner = {{ type = "command", command = ["{agent}"] }}
triggers = [{{ source = "gh", events = ["issues"] }}]

[subscriptions.good]
url = "{good}"
events = ["run.completed"]
secrets = ["{WHSEC}"]

[subscriptions.bad]
url = "{bad}"
events = ["run.completed"]
secrets = ["{WHSEC}"]
"#
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

pub(crate) async fn send_issue(pipeline: &Pipeline, delivery: &str, secret: &str) -> u16 {
    let body = json!({
        "action": "opened", "who": "webhook",
        "issue": {"number": 1, "user": {"login": "ann"}, "author_association": "MEMBER"},
        "sender": {"login": "ann"}
    })
    .to_string();
    post_github(&pipeline.webhook_url("gh"), secret, "issues", delivery, &body)
        .await
        .0
}

/// Polls `path` until `done` holds for its answer.
pub(crate) async fn wait_for(pipeline: &Pipeline, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually(what, || async {
        let (status, answer) = pipeline.admin("GET", path, Value::Null).await;
        if status == 200 && done(&answer) {
            Ok(answer)
        } else {
            Err(format!("last answer {status} {answer}"))
        }
    })
    .await
}

pub(crate) fn items(answer: &Value) -> Vec<Value> {
    answer["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_sees_every_webhook_run_and_delivery() {
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(dir.path(), "agent.sh", "echo \"prompt: $(cat)\"\necho working >&2");
    let good = Receiver::start(|_, _| 200).await;
    let bad = Receiver::start(|_, _| 500).await;
    let pipeline = Pipeline::start(
        &catalog(&agent, &good.url(), &bad.url()),
        &[("HOOKLINE_RETRY_SCHEDULE", "50ms")],
    )
    .await;

    // One real webhook, one forged, and a test event signed by Hookline.
    assert_eq!(send_issue(&pipeline, "real-1", SECRET).await, 202);
    assert_eq!(send_issue(&pipeline, "forged-1", "not-the-secret").await, 401);
    let (status, test) = pipeline
        .admin(
            "POST",
            "/v1/sources/gh/test",
            json!({"event": "issues", "payload": {
                "who": "test", "issue": {"user": {"login": "ann"}, "author_association": "OWNER"}, "sender": {"login": "ann"}
            }}),
        )
        .await;
    assert_eq!((status, test["status"].as_u64()), (200, Some(202)), "{test}");
    assert!(test["answer"]["event_id"].is_string(), "{test}");

    // A manual run with a payload of our own.
    let (status, manual) = pipeline
        .admin("POST", "/v1/agents/echo/run", json!({"payload": {"who": "operator"}}))
        .await;
    assert_eq!(status, 202, "{manual}");
    let run_id = manual["run_id"].as_str().expect("run id").to_owned();
    let run = wait_for(&pipeline, &format!("/v1/runs/{run_id}"), "manual run ends", |r| {
        r["status"] == "succeeded"
    })
    .await;
    assert_eq!(run["agent"], "echo");
    let (status, log) = pipeline
        .admin("GET", &format!("/v1/runs/{run_id}/log"), Value::Null)
        .await;
    assert_eq!(status, 200, "{log}");
    let lines: Vec<(String, String)> = log["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["stream"].as_str().unwrap_or("").to_owned(),
                l["line"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|(s, l)| s == "stdout" && l.contains("prompt: Hello operator")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|(s, l)| s == "stderr" && l == "working"), "{lines:?}");

    // Runs: three (real webhook, test event, manual), filtered and paged.
    let all = wait_for(
        &pipeline,
        "/v1/runs?agent=echo&status=succeeded",
        "three runs end",
        |a| items(a).len() == 3,
    )
    .await;
    let ids: Vec<String> = items(&all)
        .iter()
        .map(|r| r["run_id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(ids.contains(&run_id), "{ids:?}");
    // Run ids are UUIDv7, so newest first is descending ids. (The manual run
    // need not be the newest: the test event's run is requested by the
    // router, possibly after it.)
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let (_, first) = pipeline.admin("GET", "/v1/runs?agent=echo&limit=2", Value::Null).await;
    assert_eq!(items(&first).len(), 2);
    let cursor = first["next_before"].as_str().expect("a next page").to_owned();
    let (_, second) = pipeline
        .admin(
            "GET",
            &format!("/v1/runs?agent=echo&limit=2&before={cursor}"),
            Value::Null,
        )
        .await;
    assert_eq!(items(&second).len(), 1);
    assert_eq!(items(&second)[0]["run_id"], ids[2].as_str());
    assert!(second["next_before"].is_null());
    let (_, none) = pipeline.admin("GET", "/v1/runs?agent=nobody", Value::Null).await;
    assert!(items(&none).is_empty());

    // Invocations: three, the forged one refused, paged one at a time.
    // Invocation records are written beside the answer, never before it.
    wait_for(&pipeline, "/v1/sources/gh/invocations", "three invocations", |a| {
        items(a).len() == 3
    })
    .await;
    let (_, refused) = pipeline
        .admin("GET", "/v1/sources/gh/invocations?outcome=refused", Value::Null)
        .await;
    assert_eq!(items(&refused).len(), 1);
    assert_eq!(items(&refused)[0]["status"], 401);
    assert_eq!(items(&refused)[0]["reason"], "signature_invalid");
    let (_, page) = pipeline
        .admin("GET", "/v1/sources/gh/invocations?limit=2", Value::Null)
        .await;
    let before = page["next_before"].as_u64().expect("cursor");
    let (_, rest) = pipeline
        .admin(
            "GET",
            &format!("/v1/sources/gh/invocations?limit=2&before={before}"),
            Value::Null,
        )
        .await;
    assert_eq!(items(&rest).len(), 1);
    assert_eq!(items(&rest)[0]["reason"], "stored", "the oldest is the real webhook");
    let (status, bad_filter) = pipeline
        .admin("GET", "/v1/sources/gh/invocations?status=teapot", Value::Null)
        .await;
    assert_eq!(status, 400, "{bad_filter}");

    let source = wait_for(&pipeline, "/v1/sources/gh/health", "source health", |h| {
        h["last_triggered_at"].is_string()
    })
    .await;
    assert_eq!(
        (source["accepted"].as_u64(), source["refused"].as_u64()),
        (Some(2), Some(1)),
        "{source}"
    );
    assert_eq!(source["by_reason"]["signature_invalid"], 1);

    // Deliveries: the good subscription got three, the bad one dead-lettered three.
    let dead = wait_for(&pipeline, "/v1/dlq?subscription=bad", "three dead letters", |d| {
        items(d).len() == 3
    })
    .await;
    let letter = &items(&dead)[0];
    assert_eq!(
        (letter["event_type"].as_str(), letter["attempts"].as_u64()),
        (Some("run.completed"), Some(2))
    );
    let failed = wait_for(
        &pipeline,
        "/v1/subscriptions/bad/attempts?outcome=failed&status=5xx",
        "two attempts for each of three events",
        |a| items(a).len() == 6,
    )
    .await;
    assert_eq!(items(&failed)[0]["status"], 500);
    let (_, succeeded) = pipeline
        .admin("GET", "/v1/subscriptions/bad/attempts?outcome=succeeded", Value::Null)
        .await;
    assert!(items(&succeeded).is_empty());
    let bad_health = wait_for(&pipeline, "/v1/subscriptions/bad/health", "failing since", |h| {
        h["failing_since"].is_string()
    })
    .await;
    assert_eq!(bad_health["success_rate"], 0.0, "{bad_health}");
    assert_eq!(
        (bad_health["attempts"].as_u64(), bad_health["dead_letters"].as_u64()),
        (Some(6), Some(3))
    );
    assert!(bad_health["failing_since"].is_string(), "{bad_health}");
    let good_health = wait_for(&pipeline, "/v1/subscriptions/good/health", "good deliveries", |h| {
        h["succeeded"] == 3 && h["pending"] == 0
    })
    .await;
    assert_eq!(good_health["success_rate"], 1.0);
    assert!(good_health["latency_ms"]["p50"].is_u64(), "{good_health}");

    // Replay one letter: it leaves the DLQ, is tried again, and dies again.
    let seq = letter["seq"].as_u64().expect("seq");
    let (status, replayed) = pipeline.admin("POST", "/v1/dlq/replay", json!({"seq": seq})).await;
    assert_eq!((status, replayed["replayed"].as_u64()), (200, Some(1)));
    wait_for(
        &pipeline,
        "/v1/subscriptions/bad/attempts",
        "the replay is tried",
        |a| items(a).len() == 8,
    )
    .await;
    let dead = wait_for(&pipeline, "/v1/dlq?subscription=bad", "back in the DLQ", |d| {
        items(d).len() == 3
    })
    .await;
    assert!(items(&dead)[0]["seq"].as_u64() > Some(seq), "a new letter");
}
