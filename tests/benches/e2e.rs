//! The figure a user feels: a signed webhook POSTed to ingest → router →
//! executor (an agent that exits at once, `true`, unsandboxed and in the
//! bubblewrap sandbox, alternately) → notifier → a local subscriber's
//! `run.completed`, one webhook at a time. p50 and p99 of the whole, and
//! each hop's share from the spans the services export over OTLP to a
//! receiver in this process (every webhook carries its own trace id).
//!
//!     cargo bench -p hookline-tests --bench e2e       # BENCH_RUNS=200
//!     BENCH_STORAGE=memory cargo bench -p hookline-tests --bench e2e   # streams in memory

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hookline_model::catalog::Catalog;
use hookline_tests::otlp::{Collector, ReceivedSpan};
use hookline_tests::stats::percentile;
use hookline_tests::{Pipeline, Receiver, post_signed};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-github-secret";
const SUB_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The hops of one trace, in ms, each from one stage's start to the next
/// one's: ingest, to the router, routing to the run starting, the run to
/// its `run.completed` delivery starting, the delivery.
fn hops(spans: &[&ReceivedSpan]) -> Option<[f64; 5]> {
    let one = |name: &str| spans.iter().find(|s| s.name == name);
    let (ingest, route, run) = (one("ingest webhook")?, one("route")?, one("run")?);
    let deliver = spans
        .iter()
        .find(|s| s.name == "deliver" && s.attribute("hookline.event_type") == Some("run.completed"))?;
    let ms = |a: u64, b: u64| (b as f64 - a as f64) / 1e6;
    Some([
        ms(ingest.start_ns, ingest.end_ns),
        ms(ingest.end_ns, route.start_ns),
        ms(route.start_ns, run.start_ns),
        ms(run.start_ns, deliver.start_ns),
        ms(deliver.start_ns, deliver.end_ns),
    ])
}

fn main() {
    hookline_tests::stats::run_bench("e2e", bench);
}

async fn bench() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let collector = Collector::start().await;
    set_exporter_env(&collector.endpoint());
    hookline_runtime::tracing_export::init("hookline");

    // The harness subscriber stamps each request as it arrives, so the
    // figure does not include how long the loop below takes to notice.
    let receiver = Receiver::start(|_, _| 200).await;
    let text = format!(
        r#"
[sources.github]
provider = "github"
secrets = ["{SECRET}"]
rate_limit_per_minute = 0

[agents.plain]
prompt = "nothing"
runner = {{ type = "command", command = ["true"] }}
sandbox = "none"
trust = {{ allow = ["bench"] }}
triggers = [{{ source = "github", labels = ["plain"] }}]

[agents.boxed]
prompt = "nothing"
runner = {{ type = "command", command = ["true"] }}
trust = {{ allow = ["bench"] }}
triggers = [{{ source = "github", labels = ["boxed"] }}]

[subscriptions.local]
url = "{subscriber}"
events = ["run.completed"]
secrets = ["{SUB_SECRET}"]
"#,
        subscriber = receiver.url()
    );
    let catalog = Catalog::parse(&text).expect("catalog");
    // `BENCH_STORAGE=memory` shows what JetStream's file writes cost.
    let storage = std::env::var("BENCH_STORAGE").unwrap_or_else(|_| "file".to_owned());
    let pipeline = Pipeline::start(
        &catalog,
        &[("HOOKLINE_GLOBAL_RATE_LIMIT", "0"), ("HOOKLINE_STORAGE", &storage)],
    )
    .await;
    let url = pipeline.webhook_url("github");

    let mut latency: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut traces: HashMap<&str, Vec<String>> = HashMap::new();
    for n in 0..runs + 20 {
        let label = if n % 2 == 0 { "plain" } else { "boxed" };
        let body = serde_json::json!({
            "action": "labeled", "label": {"name": label},
            "issue": {"number": n, "title": "bench", "labels": [{"name": label}]},
            "repository": {"full_name": "acme/api"}, "sender": {"login": "bench"}
        })
        .to_string();
        // A trace of its own per webhook: the sender's span is the root.
        let trace_id = hookline_model::clock::new_id().replace('-', "");
        let sender_span = &hookline_model::clock::new_id().replace('-', "")[16..];
        let traceparent = format!("00-{trace_id}-{sender_span}-01");
        let started = Instant::now();
        let (status, answer) = post_signed(
            hookline_providers::Provider::Github,
            &url,
            SECRET,
            "issues",
            &format!("bench-{n}"),
            &body,
            &[("traceparent", &traceparent)],
        )
        .await;
        assert_eq!(status, 202, "{answer}");
        let event_id = answer["event_id"].as_str().expect("event id").to_owned();
        let arrived = receiver
            .wait_until("run.completed", |all| {
                all.iter().any(|r| r.json()["event_id"] == event_id.as_str())
            })
            .await
            .into_iter()
            .find(|r| r.json()["event_id"] == event_id.as_str())
            .expect("run.completed")
            .at;
        if n >= 20 {
            latency
                .entry(label)
                .or_default()
                .push((arrived - started).as_secs_f64() * 1000.0);
            traces.entry(label).or_default().push(trace_id);
        }
    }
    // Let the last spans be exported.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    hookline_runtime::tracing_export::flush();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spans = collector.spans();
    let mut by_trace: HashMap<&str, Vec<&ReceivedSpan>> = HashMap::new();
    for span in &spans {
        by_trace.entry(span.trace_id.as_str()).or_default().push(span);
    }

    println!("webhook → ingest → router → executor (`true`) → notifier → subscriber's run.completed,");
    println!("one at a time, {runs} webhooks alternating unsandboxed and sandboxed agents\n");
    let names = [
        "ingest (arrival → stored)",
        "stored → routing starts",
        "routing → the run starts",
        "run (agent, records, events) → delivery starts",
        "delivery (POST → 2xx)",
    ];
    for label in ["plain", "boxed"] {
        let mut all = latency.remove(label).unwrap_or_default();
        all.sort_by(|a, b| a.total_cmp(b));
        let what = if label == "plain" {
            "sandbox off"
        } else {
            "sandbox on (bubblewrap)"
        };
        println!(
            "{what}: p50 {:.2} ms, p99 {:.2} ms",
            percentile(&all, 0.5),
            percentile(&all, 0.99)
        );
        let rows: Vec<[f64; 5]> = traces[label]
            .iter()
            .filter_map(|t| by_trace.get(t.as_str()).and_then(|s| hops(s)))
            .collect();
        // Where the tail goes: each hop in the slowest 5 % of the traces.
        let mut by_total = rows.clone();
        by_total.sort_by(|a, b| b.iter().sum::<f64>().total_cmp(&a.iter().sum::<f64>()));
        let slowest = &by_total[..by_total.len().div_ceil(20)];
        println!(
            "  each hop over {} traces: median, p99, and its mean in the slowest {}:",
            rows.len(),
            slowest.len()
        );
        for (i, name) in names.iter().enumerate() {
            let mut hop: Vec<f64> = rows.iter().map(|r| r[i]).collect();
            hop.sort_by(|a, b| a.total_cmp(b));
            let tail = slowest.iter().map(|r| r[i]).sum::<f64>() / slowest.len() as f64;
            println!(
                "    {name:<48} {:>7.2} ms  {:>7.2} ms  {:>7.2} ms",
                percentile(&hop, 0.5),
                percentile(&hop, 0.99),
                tail
            );
        }
    }
}

/// Points the span exporter at the in-process receiver.
#[allow(unsafe_code)]
fn set_exporter_env(endpoint: &str) {
    // SAFETY: nothing else in this process reads or writes the environment
    // while the benchmark sets it up (the services start afterwards).
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    }
}
