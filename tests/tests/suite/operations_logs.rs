//! A run's log followed live, and log records stored in batches, listed and
//! paged one by one.

use super::operations::*;
use hookline_tests::{Pipeline, script};
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_followed_log_streams_lines_as_written_and_ends_with_the_run() {
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(dir.path(), "agent.sh", "echo first\nseq 1 300\nsleep 1\necho second");
    let nowhere = "http://127.0.0.1:9/";
    let pipeline = Pipeline::start(&catalog(&agent, nowhere, nowhere), &[]).await;
    let (status, manual) = pipeline.admin("POST", "/v1/agents/echo/run", Value::Null).await;
    assert_eq!(status, 202, "{manual}");
    let run_id = manual["run_id"].as_str().expect("run id");
    let started = Instant::now();
    let (status, body) = pipeline
        .admin_raw("GET", &format!("/v1/runs/{run_id}/log?follow=true"), Value::Null)
        .await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited for the run");
    let lines: Vec<Value> = String::from_utf8_lossy(&body)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON value per line"))
        .collect();
    let printed: Vec<&str> = lines.iter().filter_map(|l| l["line"].as_str()).collect();
    let first = printed.iter().position(|l| *l == "first").expect("first line");
    let second = printed.iter().position(|l| *l == "second").expect("second line");
    assert!(first < second, "{printed:?}");
    let numbers: Vec<&str> = printed[first + 1..second].to_vec();
    let expected: Vec<String> = (1..=300).map(|n| n.to_string()).collect();
    assert_eq!(numbers, expected, "every line, in the order printed");
    assert_eq!(
        lines.last().expect("lines")["run"]["status"],
        "succeeded",
        "ends with the run"
    );

    let (status, missing) = pipeline.admin("GET", "/v1/runs/no-such-run/log", Value::Null).await;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("not_found")));
}

/// A follower is not left waiting on a run that cannot move without an
/// operator: the stream ends with the record, whose status says why; the
/// same run followed after the operator acts ends with its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_followed_log_ends_when_the_run_waits_on_an_operator() {
    use hookline_tests::Service;
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(dir.path(), "agent.sh", "echo ran");
    let nowhere = "http://127.0.0.1:9/";
    let without_executor: Vec<Service> = Service::ALL.into_iter().filter(|s| *s != Service::Executor).collect();
    let mut pipeline = Pipeline::start_services(&catalog(&agent, nowhere, nowhere), &[], &without_executor).await;
    let (status, manual) = pipeline.admin("POST", "/v1/agents/echo/run", Value::Null).await;
    assert_eq!(status, 202, "{manual}");
    let run_id = manual["run_id"].as_str().expect("run id").to_owned();
    let path = format!("/v1/runs/{run_id}/log?follow=true");

    // Queued for an enabled agent: it will start when an executor comes,
    // so the follower keeps waiting.
    let (status, body) = {
        let follow = pipeline.admin_raw("GET", &path, Value::Null);
        let mut follow = std::pin::pin!(follow);
        assert!(
            tokio::time::timeout(Duration::from_secs(1), &mut follow).await.is_err(),
            "a run that will start is followed until it does"
        );
        // Its agent disabled, the run waits on an operator: the stream ends.
        let (status, _) = pipeline.admin("POST", "/v1/agents/echo/disable", Value::Null).await;
        assert_eq!(status, 200);
        tokio::time::timeout(Duration::from_secs(10), follow)
            .await
            .expect("the stream ends once the agent is disabled")
    };
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    let last: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("JSON");
    assert_eq!(last["run"]["status"], "queued", "the record says why: {last}");

    // Enabled again, with an executor: followed again, it ends with the run.
    let (status, _) = pipeline.admin("POST", "/v1/agents/echo/enable", Value::Null).await;
    assert_eq!(status, 200);
    pipeline.start_service(Service::Executor).await;
    let (status, body) = pipeline.admin_raw("GET", &path, Value::Null).await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains(r#""line":"ran""#), "{text}");
    let last: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("JSON");
    assert_eq!(last["run"]["status"], "succeeded", "{last}");
}

/// Log records queued together are stored as one message per subject, and
/// read back one by one: every record listed once, newest first, paged
/// across batch boundaries without a gap or a repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_records_stored_in_batches_are_listed_and_paged_one_by_one() {
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(dir.path(), "agent.sh", "true");
    let pipeline = Pipeline::start(&catalog(&agent, "http://127.0.0.1:9/a", "http://127.0.0.1:9/b"), &[]).await;
    let subject = pipeline.nats.subjects.log_invocation("gh");
    // Queued without a pause on a runtime of one thread, so the sink's
    // task finds them all at once when it first runs.
    let client = pipeline.nats.client.clone();
    let queued = std::thread::spawn({
        let subject = subject.clone();
        move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let sink = hookline_bus::log_sink::LogSink::start(client);
                for n in 0..100u32 {
                    let record = hookline_proto::Invocation {
                        at_ms: hookline_model::clock::now_ms(),
                        source: "gh".to_owned(),
                        status: 202,
                        reason: "stored".to_owned(),
                        delivery_id: format!("batched-{n:03}"),
                        ..Default::default()
                    };
                    sink.record(subject.clone(), hookline_proto::Message::encode_to_vec(&record));
                }
                sink.flush().await;
            });
        }
    });
    queued.join().expect("queued");
    let stored = pipeline
        .stream_messages(hookline_model::subjects::StreamKind::Log)
        .await
        .into_iter()
        .filter(|m| m.subject.as_str() == subject)
        .count();
    assert_eq!(pipeline.log_records(&subject).await.len(), 100);
    assert!(stored < 10, "100 records in {stored} stored messages");

    let mut seen = Vec::new();
    let mut path = "/v1/sources/gh/invocations?limit=30".to_owned();
    loop {
        let (status, page) = pipeline.admin("GET", &path, Value::Null).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(items(&page).iter().map(|i| {
            (
                i["seq"].as_u64().expect("seq"),
                i["delivery_id"].as_str().unwrap_or("").to_owned(),
            )
        }));
        match page["next_before"].as_u64() {
            Some(before) => path = format!("/v1/sources/gh/invocations?limit=30&before={before}"),
            None => break,
        }
    }
    let ids: Vec<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    let expected: Vec<String> = (0..100).rev().map(|n| format!("batched-{n:03}")).collect();
    assert_eq!(ids, expected, "newest first, each once");
    assert!(seen.windows(2).all(|w| w[0].0 > w[1].0), "positions strictly falling");
    let (_, health) = pipeline.admin("GET", "/v1/sources/gh/health", Value::Null).await;
    assert_eq!(health["accepted"], 100, "{health}");
}
