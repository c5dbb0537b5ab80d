//! The router against a real nats-server: schedules fire once per tick
//! across copies, and every event's decision is recorded.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hookline_model::catalog::Catalog;
use hookline_model::signing;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Message as _, RunRequest, Trigger};
use hookline_tests::{Pipeline, Service, WAIT, post};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_router_copies_fire_a_schedule_once_per_tick() {
    let catalog = Catalog::parse(
        r#"
[agents.nightly]
prompt = "tick"
runner = { type = "command", command = ["true"] }
schedule = "*/1 * * * * *"
"#,
    )
    .expect("catalog");
    let mut pipeline = Pipeline::start_services(&catalog, &[], &[Service::Router]).await;
    pipeline.start_service(Service::Router).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    pipeline.stop_service(Service::Router).await;

    let runs = pipeline.stream_messages(StreamKind::Runs).await;
    let requests: Vec<RunRequest> = runs
        .iter()
        .map(|m| RunRequest::decode(m.payload.as_ref()).expect("run"))
        .collect();
    let ticks: BTreeSet<String> = requests
        .iter()
        .map(|r| r.context.as_ref().map(|c| c.action.clone()).unwrap_or_default())
        .collect();
    assert!(requests.len() >= 3, "a tick a second for 3.5 s: {}", requests.len());
    assert_eq!(
        requests.len(),
        ticks.len(),
        "one run per tick, not one per copy: {ticks:?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.trigger == Trigger::Schedule as i32 && r.agent == "nightly")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_leaves_its_routing_decision() {
    let catalog = Catalog::parse(
        r#"
[sources.gh]
provider = "github"
secrets = ["s"]

[agents.bugs]
prompt = "x"
runner = { type = "command", command = ["true"] }
triggers = [{ source = "gh", events = ["issues"], labels = ["bug"] }]

[agents.docs]
prompt = "x"
runner = { type = "command", command = ["true"] }
triggers = [{ source = "gh", events = ["issues"], labels = ["docs"] }]
"#,
    )
    .expect("catalog");
    let pipeline = Pipeline::start_services(&catalog, &[], &[Service::Ingest, Service::Router]).await;
    let body = r#"{"action":"labeled","label":{"name":"bug"},"issue":{"labels":[{"name":"bug"}]}}"#;
    let sig = signing::github_signature("s", body.as_bytes());
    let headers = [
        ("content-type", "application/json"),
        ("x-github-event", "issues"),
        ("x-hub-signature-256", sig.as_str()),
    ];
    let (status, answer) = post(&pipeline.webhook_url("gh"), &headers, body).await;
    assert_eq!(status, 202);
    let event_id = answer["event_id"].as_str().expect("id").to_owned();

    let decisions = pipeline
        .nats
        .js
        .get_key_value("hookline_decisions")
        .await
        .expect("bucket");
    let deadline = Instant::now() + WAIT;
    let record = loop {
        if let Some(value) = decisions.get(&event_id).await.expect("kv") {
            break serde_json::from_slice::<serde_json::Value>(&value).expect("json");
        }
        assert!(Instant::now() < deadline, "no decision recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(record["matched"], serde_json::json!(["bugs"]));
    assert_eq!(
        record["unmatched"],
        serde_json::json!([{"agent": "docs", "failed": "labels"}])
    );
    assert_eq!(record["context"]["event"], "issues");
    // The decision is recorded before the run request is published.
    let deadline = Instant::now() + WAIT;
    let runs = loop {
        let runs = pipeline.stream_messages(StreamKind::Runs).await;
        if !runs.is_empty() || Instant::now() > deadline {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].subject.as_str(), "hookline.runs.bugs");
    let request = hookline_proto::RunRequest::decode(runs[0].payload.as_ref()).expect("run");
    let records = pipeline
        .nats
        .js
        .get_key_value("hookline_runs")
        .await
        .expect("runs bucket");
    // The queued record is written once the run request is acknowledged.
    let deadline = Instant::now() + WAIT;
    let record = loop {
        if let Some(record) = records.get(&request.run_id).await.expect("kv") {
            break record;
        }
        assert!(Instant::now() < deadline, "no record for the run");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let record: serde_json::Value = serde_json::from_slice(&record).expect("json");
    assert_eq!(
        (record["status"].as_str(), record["event_id"].as_str()),
        (Some("queued"), Some(event_id.as_str()))
    );
}

/// A router that cannot open a bucket it needs does not start without it
/// (it would route with no daily budgets and record no decisions): it exits
/// with an error that names the bucket.
#[tokio::test]
async fn a_router_that_cannot_open_a_bucket_refuses_to_start_and_names_it() {
    use async_nats::jetstream::{self, stream};
    let server = hookline_tests::NatsServer::start();
    let client = async_nats::connect(server.url()).await.expect("connect");
    // Another stream already holds the decisions bucket's subjects, so the
    // bucket can be neither found nor created.
    jetstream::new(client)
        .create_stream(stream::Config {
            name: "squatter".to_owned(),
            subjects: vec!["$KV.hookline_decisions.>".to_owned()],
            ..Default::default()
        })
        .await
        .expect("the squatting stream");

    let inherited = std::env::vars().filter(|(k, _)| !k.starts_with("HOOKLINE_"));
    let run = tokio::process::Command::new(hookline_tests::workspace_binary("hookline-router"))
        .env_clear()
        .envs(inherited)
        .env("HOOKLINE_NATS_URL", server.url())
        .env("HOOKLINE_STARTUP_TIMEOUT", "2s")
        .env("HOOKLINE_HEALTH_LISTEN", "127.0.0.1:0")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the router gave up instead of waiting forever")
        .expect("hookline-router ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the router started without its bucket: {stderr}");
    assert!(
        stderr.contains("cannot set up bucket hookline_decisions"),
        "the error names the bucket: {stderr}"
    );
}
