//! Router matching throughput: events read into a context and matched
//! against 1,000 agents, with reading alone (parse + context) measured in the
//! same run as the baseline.
//!
//!     cargo bench -p hookline-tests --bench router
//!
//! Two layouts: the worst case, all 1,000 agents listening to the event's
//! source; and 1,000 agents spread over 20 sources.

use std::time::{Duration, Instant};

use hookline_model::catalog::Catalog;
use hookline_proto::{Header, InboundEvent};

use hookline_router::routes::Routes;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn catalog(agents: usize, sources: usize) -> Catalog {
    let mut text = String::new();
    for s in 0..sources {
        text.push_str(&format!("[sources.s{s}]\nprovider = \"github\"\nsecrets = [\"x\"]\n"));
    }
    let events = ["issues", "pull_request", "push", "workflow_run", "release"];
    let actions = ["opened", "labeled", "closed", "completed", "published"];
    for a in 0..agents {
        let source = a % sources;
        let (event, action) = (events[a % events.len()], actions[(a / 5) % actions.len()]);
        let branches = if event == "push" {
            ", branches = [\"release/*\"]"
        } else {
            ""
        };
        text.push_str(&format!(
            "[agents.a{a}]\nprompt = \"x\"\nrunner = {{ type = \"command\", command = [\"true\"] }}\n\
             triggers = [{{ source = \"s{source}\", events = [\"{event}\"], actions = [\"{action}\"], labels = [\"l{}\"], \
             repos = [\"acme/r{}\"]{branches} }}]\n",
            a % 7,
            a % 3
        ));
    }
    Catalog::parse(&text).expect("catalog")
}

fn event() -> InboundEvent {
    let body = serde_json::json!({
        "action": "labeled", "label": {"name": "l3"},
        "issue": {"number": 7, "title": "Crash", "labels": [{"name": "l3"}, {"name": "bug"}], "user": {"login": "alice"}},
        "repository": {"full_name": "acme/r1", "owner": {"login": "acme"}}, "sender": {"login": "alice"}
    });
    InboundEvent {
        source: "s0".into(),
        provider: "github".into(),
        headers: vec![Header {
            name: "x-github-event".into(),
            value: "issues".into(),
        }],
        body: body.to_string().into_bytes().into(),
        ..Default::default()
    }
}

fn rate(secs: f64, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let (mut n, mut matched) = (0u64, 0);
    while Instant::now() < deadline {
        for _ in 0..100 {
            matched = std::hint::black_box(f());
            n += 1;
        }
    }
    (n as f64 / started.elapsed().as_secs_f64(), matched)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("router benchmark skipped: run it with `cargo bench -p hookline-tests --bench router`");
        return;
    }
    let secs = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    let rounds = 5;
    let event = event();
    println!("router matching: one thread, {secs} s per measurement, median of {rounds} rounds\n");
    for (label, sources) in [
        ("1,000 agents on the event's source", 1),
        ("1,000 agents over 20 sources", 20),
    ] {
        let catalog = catalog(1000, sources);
        let routes = Routes::build(&catalog);
        let (mut baseline, mut full, mut matched) = (vec![], vec![], 0);
        for _ in 0..rounds {
            baseline.push(
                rate(secs, || {
                    let body: serde_json::Value = serde_json::from_slice(&event.body).unwrap_or_default();
                    hookline_providers::context(&event, &body, None).labels.len()
                })
                .0,
            );
            let (r, m) = rate(secs, || {
                let body: serde_json::Value = serde_json::from_slice(&event.body).unwrap_or_default();
                let ctx = hookline_providers::context(&event, &body, None);
                routes.decide(&ctx, &body).matched.len()
            });
            full.push(r);
            matched = m;
        }
        let (baseline, full) = (median(baseline), median(full));
        println!("{label}:");
        println!("  read only (parse + context):   {baseline:>10.0} events/s");
        println!("  read + match ({matched} matched):     {full:>10.0} events/s");
        println!("  ratio:                         {:>10.2}\n", full / baseline);
    }
}
