//! The `http` runner against a real local chat-completions endpoint.

use std::time::{Duration, Instant};

use hookline_model::catalog::Catalog;
use hookline_proto::Message as _;
use hookline_tests::{Pipeline, Service, WAIT};

use super::executor::{SECRET, send_issue, wait_for_events};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_http_runner_asks_a_chat_completions_endpoint() {
    use http_body_util::BodyExt;
    use std::sync::{Arc, Mutex};

    // A local OpenAI-compatible endpoint that records what it was asked.
    let asked: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = hookline_runtime::shutdown::CancellationToken::new();
    let seen = asked.clone();
    tokio::spawn(hookline_runtime::serve::serve(
        listener,
        move |req: hyper::Request<hyper::body::Incoming>, _| {
            let seen = seen.clone();
            async move {
                let auth = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let body = req.into_body().collect().await.expect("body").to_bytes();
                seen.lock()
                    .expect("lock")
                    .push((auth, serde_json::from_slice(&body).expect("json")));
                hookline_runtime::serve::json(
                    200,
                    &serde_json::json!({"id": "c1", "object": "chat.completion",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Root cause: a nil map.\nFix: initialise it."}}],
                        "usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}}),
                )
            }
        },
        hookline_runtime::serve::Limits::default(),
        stop.clone(),
        Duration::from_secs(1),
    ));

    let text = format!(
        r#"
[sources.gh]
provider = "github"
secrets = ["{SECRET}"]

[agents.worker]
prompt = "Explain {{{{body.issue.title}}}}"
runner = {{ type = "http", url = "http://{addr}/v1/chat/completions", model = "small-1", api_key = "sk-test", system = "Be brief.", output_file = "notes/answer.md" }}
keep_failed_workspace = false
triggers = [{{ source = "gh" }}]
"#
    );
    let catalog = Catalog::parse(&text).expect("catalog");
    catalog.validate().expect("valid");
    let pipeline =
        Pipeline::start_services(&catalog, &[], &[Service::Ingest, Service::Router, Service::Executor]).await;
    send_issue(&pipeline, "http-1", "the crash").await;
    let events = wait_for_events(&pipeline, |e| {
        e.iter()
            .any(|e| e.r#type.starts_with("run.") && e.r#type != "run.started")
    })
    .await;
    assert!(
        events.iter().any(|e| e.r#type == "run.completed"),
        "{:?}",
        events.iter().map(|e| &e.r#type).collect::<Vec<_>>()
    );
    let asked = asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].0, "Bearer sk-test");
    assert_eq!(asked[0].1["model"], "small-1");
    assert_eq!(asked[0].1["messages"][0]["content"], "Be brief.");
    assert_eq!(
        asked[0].1["messages"][1]["content"],
        format!(
            "{}Explain <untrusted-webhook-data>the crash</untrusted-webhook-data>",
            hookline_executor::agent::prompt::NOTICE
        )
    );
    // The answer is the run's output, in its own log subject.
    let completed = events.iter().find(|e| e.r#type == "run.completed").expect("completed");
    let run_id = completed.run_id.clone();
    // Its usage is counted as the gateway counts it.
    let data: serde_json::Value = serde_json::from_slice(&completed.data_json).expect("data");
    assert_eq!(
        data["usage"],
        serde_json::json!({"calls": 1, "input_tokens": 21, "output_tokens": 9})
    );
    let deadline = Instant::now() + WAIT;
    let lines = loop {
        let lines: Vec<String> = pipeline
            .log_records(&format!("hookline.log.run.worker.{run_id}"))
            .await
            .iter()
            .map(|r| hookline_proto::RunLog::decode(r.as_slice()).expect("log"))
            // Hookline's own notes (what it kept of the run) aside.
            .filter(|line| line.stream != "hookline")
            .map(|line| line.line)
            .collect();
        if lines.len() >= 2 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(lines, ["Root cause: a nil map.", "Fix: initialise it."]);
    stop.cancel();
}
