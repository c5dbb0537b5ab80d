//! What recording a session costs: a signed webhook to `run.completed` for
//! a real agent (Claude Code through its preset) whose scripted model makes
//! it call 50 tools, with recording on (every transcript entry logged as it
//! comes, the artifacts stored at the end: prompt, transcript, diff,
//! commits, model calls, the agent's session state) and off
//! (`HOOKLINE_RECORD=off`), on two installations side by side, alternately,
//! in the same run.
//!
//!     cargo bench -p hookline-tests --bench sessions     # BENCH_RUNS=7 by default

use std::time::{Duration, Instant};

use futures::StreamExt;
use hookline_model::catalog::{Catalog, Provider};
use hookline_proto::{Event, Message as _};
use hookline_tests::git::bare_origin;
use hookline_tests::scripted_model::{ScriptedModel, Step};
use hookline_tests::stats::percentile;
use hookline_tests::{Pipeline, post_signed, workspace_root};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-webhook-secret";
const TOOL_CALLS: usize = 50;

fn script() -> Vec<Step> {
    let mut steps: Vec<Step> = (0..TOOL_CALLS)
        .map(|n| {
            Step::tool(&[(
                "Bash",
                json!({"command": format!("echo step {n} >> steps.txt"), "description": "One step"}),
            )])
        })
        .collect();
    steps.push(Step::Say("Done.".to_owned()));
    steps
}

/// One installation: its own NATS, services, model server and origin.
struct Side {
    pipeline: Pipeline,
    events: async_nats::Subscriber,
    _model: ScriptedModel,
    _dir: tempfile::TempDir,
}

async fn side(record: &str) -> Side {
    let bin = workspace_root().join(".tools/agents/node_modules/.bin");
    assert!(bin.join("claude-code-acp").exists(), "run scripts/install-agents first");
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    let model = ScriptedModel::start(script()).await;
    let catalog = Catalog::parse(&format!(
        r#"
[sources.github]
provider = "github"
secrets = ["{SECRET}"]

[profiles.agents]
env = {{ PATH = "{bin}:/usr/local/bin:/usr/bin:/bin" }}
models = {{ anthropic = {{ upstream = "{url}", header = "x-api-key", secret = "sk-ant-bench" }} }}

[agents.coder]
prompt = "Take {TOOL_CALLS} steps."
runner = {{ type = "claude-code", model = "claude-sonnet-4-5" }}
profile = "agents"
repository = "{origin}"
timeout = "300s"
max_concurrency = 1
triggers = [{{ source = "github", events = ["issues"], actions = ["labeled"] }}]
"#,
        bin = bin.display(),
        url = model.url,
        origin = origin.display(),
    ))
    .expect("catalog");
    catalog.validate().expect("valid");
    let pipeline = Pipeline::start(
        &catalog,
        &[("HOOKLINE_EGRESS_ALLOW", "127.0.0.1"), ("HOOKLINE_RECORD", record)],
    )
    .await;
    let events = pipeline
        .nats
        .client
        .subscribe("hookline.events.run.>")
        .await
        .expect("subscribe");
    tokio::time::sleep(Duration::from_millis(300)).await;
    Side {
        pipeline,
        events,
        _model: model,
        _dir: dir,
    }
}

/// Webhook to `run.completed`, in ms.
async fn one_run(side: &mut Side, n: usize) -> f64 {
    let t = Instant::now();
    let body = json!({"action": "labeled", "label": {"name": "agent"},
                      "issue": {"number": n, "title": "t", "labels": [{"name": "agent"}], "user": {"login": "alice"}},
                      "repository": {"full_name": "acme/api", "owner": {"login": "acme"}},
                      "sender": {"login": "alice"}})
    .to_string();
    let (status, answer) = post_signed(
        Provider::Github,
        &side.pipeline.webhook_url("github"),
        SECRET,
        "issues",
        &format!("bench-{n}"),
        &body,
        &[],
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    loop {
        let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(300), side.events.next()).await else {
            panic!("no run ended in 300 s");
        };
        let event = Event::decode(msg.payload.as_ref()).expect("event");
        match event.r#type.as_str() {
            "run.completed" => return t.elapsed().as_secs_f64() * 1000.0,
            "run.failed" => panic!("the run failed: {}", String::from_utf8_lossy(&event.data_json)),
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("sessions benchmark skipped: run it with `cargo bench -p hookline-tests --bench sessions`");
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut on = side("on").await;
    let mut off = side("off").await;
    let (mut on_ms, mut off_ms) = (Vec::new(), Vec::new());
    // One warm-up round each: the page cache, node's compile cache.
    for n in 0..=runs {
        // Alternate which goes first, so neither always runs on a warmer box.
        let (a, b) = if n % 2 == 0 {
            (one_run(&mut on, n).await, one_run(&mut off, n).await)
        } else {
            let b = one_run(&mut off, n).await;
            (one_run(&mut on, n).await, b)
        };
        if n > 0 {
            on_ms.push(a);
            off_ms.push(b);
        }
    }
    for v in [&mut on_ms, &mut off_ms] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    let (on50, off50) = (percentile(&on_ms, 0.5), percentile(&off_ms, 0.5));
    println!("a real agent (Claude Code over ACP) making {TOOL_CALLS} tool calls, {runs} runs each, alternately\n");
    println!("  webhook -> run.completed, recording off:  p50 {off50:.0} ms");
    println!("  webhook -> run.completed, recording on:   p50 {on50:.0} ms");
    println!(
        "  recording costs:                          p50 {:+.0} ms ({:+.1} %)",
        on50 - off50,
        (on50 / off50 - 1.0) * 100.0
    );
}
