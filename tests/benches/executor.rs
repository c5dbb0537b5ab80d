//! Executor overhead: from a `RunRequest` published to `run.completed`
//! received, for an agent that exits at once (`true`), one run at a time,
//! with the bare process spawn of the same program measured in the same run
//! as the baseline; and the same agent in the bubblewrap sandbox, run
//! alternately with the unsandboxed one, for the sandbox's cost.
//!
//!     cargo bench -p hookline-tests --bench executor

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use futures::StreamExt;
use hookline_model::catalog::Catalog;
use hookline_model::clock;
use hookline_model::subjects::MSG_ID;
use hookline_proto::{Event, Message as _, RunRequest, Trigger};
use hookline_tests::stats::percentile;
use hookline_tests::{Pipeline, Service};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("executor benchmark skipped: run it with `cargo bench -p hookline-tests --bench executor`");
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let catalog = Catalog::parse(
        "[agents.noop]\nprompt = \"nothing to do\"\nrunner = { type = \"command\", command = [\"true\"] }\n\
         sandbox = \"none\"\n\
         [agents.boxed]\nprompt = \"nothing to do\"\nrunner = { type = \"command\", command = [\"true\"] }\n",
    )
    .expect("catalog");
    let pipeline = Pipeline::start_services(&catalog, &[], &[Service::Executor]).await;
    let mut completed = pipeline
        .nats
        .client
        .subscribe("hookline.events.run.completed")
        .await
        .expect("subscribe");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut spawn_ms = Vec::with_capacity(runs);
    let mut run_ms = Vec::with_capacity(runs);
    let mut boxed_ms = Vec::with_capacity(runs);
    for n in 0..runs + 20 {
        let t = Instant::now();
        let status = tokio::process::Command::new("true").status().await.expect("spawn true");
        assert!(status.success());
        let spawn = t.elapsed().as_secs_f64() * 1000.0;
        let plain = one_run(&pipeline, &mut completed, "noop").await;
        let boxed = one_run(&pipeline, &mut completed, "boxed").await;
        // The first runs warm up the consumers and the page cache.
        if n >= 20 {
            run_ms.push(plain);
            boxed_ms.push(boxed);
            spawn_ms.push(spawn);
        }
    }
    boxed_ms.sort_by(|a, b| a.total_cmp(b));
    let b50 = percentile(&boxed_ms, 0.5);
    spawn_ms.sort_by(|a, b| a.total_cmp(b));
    run_ms.sort_by(|a, b| a.total_cmp(b));
    let (s50, r50) = (percentile(&spawn_ms, 0.5), percentile(&run_ms, 0.5));
    println!("executor overhead, {runs} runs one at a time, agent `true`, file-storage JetStream\n");
    println!(
        "  bare spawn of `true`:                p50 {s50:.2} ms, p99 {:.2} ms",
        percentile(&spawn_ms, 0.99)
    );
    println!(
        "  RunRequest -> run.completed:         p50 {r50:.2} ms, p99 {:.2} ms",
        percentile(&run_ms, 0.99)
    );
    println!(
        "  executor overhead over the spawn:    p50 {:.2} ms (ratio {:.1})",
        r50 - s50,
        r50 / s50
    );
    println!(
        "  the same in the bubblewrap sandbox:  p50 {b50:.2} ms, p99 {:.2} ms (sandbox adds {:.2} ms at p50)",
        percentile(&boxed_ms, 0.99),
        b50 - r50
    );
}

/// Publishes a run of `agent` and waits for its `run.completed`; answers
/// the milliseconds it took.
async fn one_run(pipeline: &Pipeline, completed: &mut async_nats::Subscriber, agent: &str) -> f64 {
    let request = RunRequest {
        run_id: clock::new_id(),
        agent: agent.into(),
        trigger: Trigger::Manual as i32,
        requested_at_ms: clock::now_ms(),
        ..Default::default()
    };
    let mut headers = HeaderMap::new();
    headers.insert(MSG_ID, request.run_id.as_str());
    let t = Instant::now();
    pipeline
        .nats
        .js
        .send_publish(
            format!("hookline.runs.{agent}"),
            PublishMessage::build()
                .payload(Bytes::from(request.encode_to_vec()))
                .headers(headers),
        )
        .await
        .expect("publish")
        .await
        .expect("ack");
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), completed.next())
            .await
            .expect("in time")
            .expect("message");
        let event = Event::decode(msg.payload.as_ref()).expect("event");
        if event.run_id == request.run_id {
            return t.elapsed().as_secs_f64() * 1000.0;
        }
    }
}
