//! What R3 costs: the whole pipeline (signed webhook → ingest → router →
//! executor, agent `true` unsandboxed → notifier → a local subscriber's
//! `run.completed`) on one nats-server with one copy of each service,
//! against a three-node JetStream cluster with `HOOKLINE_REPLICAS=3` and
//! two copies of each service (webhooks spread over both ingest copies),
//! alternately in the same run. Throughput: `BENCH_WEBHOOKS` webhooks sent
//! by 32 senders at once, timed until the subscriber has every
//! `run.completed`. Latency: `BENCH_RUNS` webhooks one at a time, p50/p99.
//!
//!     cargo bench -p hookline-tests --bench scaleout   # BENCH_WEBHOOKS=1000 BENCH_RUNS=100 BENCH_ROUNDS=2

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures::StreamExt as _;
use hookline_model::catalog::Catalog;
use hookline_tests::NatsCluster;
use hookline_tests::stats::{median, percentile};
use hookline_tests::{Pipeline, Receiver, Service, post_github};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-github-secret";
const SUB_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    hookline_tests::stats::run_bench("scaleout", bench);
}

fn catalog(subscriber: &str) -> Catalog {
    let text = format!(
        r#"
[sources.github]
provider = "github"
secrets = ["{SECRET}"]
rate_limit_per_minute = 0
max_in_flight = 0

[agents.plain]
prompt = "nothing"
runner = {{ type = "command", command = ["true"] }}
sandbox = "none"
max_concurrency = 64
trust = {{ allow = ["bench"] }}
triggers = [{{ source = "github", events = ["issues"] }}]

[subscriptions.local]
url = "{subscriber}"
events = ["run.completed"]
secrets = ["{SUB_SECRET}"]
"#
    );
    Catalog::parse(&text).expect("catalog")
}

/// One set-up's figures: webhooks/s end to end, and one-at-a-time p50/p99.
struct Figures {
    throughput: f64,
    p50: f64,
    p99: f64,
}

fn body(n: usize) -> String {
    serde_json::json!({
        "action": "opened",
        "issue": {"number": n, "title": "bench"},
        "repository": {"full_name": "acme/api"}, "sender": {"login": "bench"}
    })
    .to_string()
}

async fn measure(clustered: bool, round: usize, webhooks: usize, runs: usize) -> Figures {
    let receiver = Receiver::start(|_, _| 200).await;
    let catalog = catalog(&receiver.url());
    let settings = [
        ("HOOKLINE_GLOBAL_RATE_LIMIT", "0"),
        ("HOOKLINE_DELIVERY_CONCURRENCY", "64"),
    ];
    let pipeline = if clustered {
        let mut p = Pipeline::start_on_cluster(NatsCluster::start(3), &catalog, &settings, &Service::ALL).await;
        for service in [Service::Ingest, Service::Router, Service::Executor, Service::Notifier] {
            p.start_service(service).await;
        }
        p
    } else {
        Pipeline::start(&catalog, &settings).await
    };
    let urls: Vec<String> = pipeline
        .ingests
        .iter()
        .map(|addr| format!("http://{addr}/webhooks/github"))
        .collect();

    // Warm up, then one at a time.
    let mut latencies = Vec::with_capacity(runs);
    for n in 0..runs + 10 {
        let url = &urls[n % urls.len()];
        let started = Instant::now();
        let (status, answer) = post_github(url, SECRET, "issues", &format!("lat-{round}-{n}"), &body(n)).await;
        assert_eq!(status, 202, "{answer}");
        let event_id = answer["event_id"].as_str().expect("event id").to_owned();
        receiver
            .wait_until("run.completed", |all| {
                all.iter().any(|r| r.json()["event_id"] == event_id.as_str())
            })
            .await;
        if n >= 10 {
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }

    // Many at once.
    let before = receiver.received().len();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    futures::stream::iter(0..32)
        .for_each_concurrent(32, |_| {
            let (next, urls) = (next.clone(), urls.clone());
            async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= webhooks {
                        return;
                    }
                    let url = &urls[n % urls.len()];
                    let (status, answer) =
                        post_github(url, SECRET, "issues", &format!("load-{round}-{n}"), &body(n)).await;
                    assert_eq!(status, 202, "{answer}");
                }
            }
        })
        .await;
    receiver
        .wait_until("every run.completed", |all| all.len() >= before + webhooks)
        .await;
    let throughput = webhooks as f64 / started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    Figures {
        throughput,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    }
}

async fn bench() {
    let webhooks = env("BENCH_WEBHOOKS", 1000);
    let runs = env("BENCH_RUNS", 100);
    let rounds = env("BENCH_ROUNDS", 2);
    let mut single = Vec::new();
    let mut cluster = Vec::new();
    for round in 0..rounds {
        // Alternate which goes first, so neither always meets a warmer machine.
        for clustered in if round % 2 == 0 { [false, true] } else { [true, false] } {
            let f = measure(clustered, round, webhooks, runs).await;
            let name = if clustered {
                "R3 cluster, 2 copies"
            } else {
                "single node, 1 copy "
            };
            println!(
                "round {round}: {name}: {:7.1} webhooks/s end to end | one at a time p50 {:6.2} ms, p99 {:6.2} ms",
                f.throughput, f.p50, f.p99
            );
            if clustered { &mut cluster } else { &mut single }.push(f);
        }
    }
    let summary = |v: &[Figures]| {
        (
            median(v.iter().map(|f| f.throughput).collect()),
            median(v.iter().map(|f| f.p50).collect()),
            median(v.iter().map(|f| f.p99).collect()),
        )
    };
    let (s, c) = (summary(&single), summary(&cluster));
    println!("\nmedian of {rounds} rounds, {webhooks} webhooks by 32 senders, {runs} one at a time");
    println!(
        "  single node, one copy each:      {:7.1} webhooks/s, p50 {:.2} ms, p99 {:.2} ms",
        s.0, s.1, s.2
    );
    println!(
        "  R3 cluster, two copies each:     {:7.1} webhooks/s, p50 {:.2} ms, p99 {:.2} ms",
        c.0, c.1, c.2
    );
    println!("  cluster / single throughput:     {:.2}", c.0 / s.0);
}
