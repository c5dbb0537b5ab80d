//! What Hookline adds to a real agent's run: a signed webhook to
//! `run.completed` through the `claude-code` preset (ingest, router,
//! executor, the clone, the sandbox, the model gateway, the transcript,
//! the push), against starting the same agent by hand on a fresh clone of
//! the same repository, driven over ACP straight at the same scripted model
//! server, alternately, in the same run. Both do the same work: clone,
//! write a file, commit it, say so, push the branch.
//!
//!     cargo bench -p hookline-tests --bench agents     # BENCH_RUNS=15 by default

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hookline_model::catalog::Catalog;
use hookline_model::catalog::Provider;
use hookline_proto::{Event, Message as _};
use hookline_sandbox::acp::{self, AcpRun};
use hookline_sandbox::runner::Spawn;
use hookline_tests::git::{bare_origin, git};
use hookline_tests::scripted_model::{ScriptedModel, Step};
use hookline_tests::stats::percentile;
use hookline_tests::{Pipeline, post_signed, workspace_root};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-webhook-secret";
const KEY: &str = "sk-ant-bench";

fn script() -> Vec<Step> {
    vec![
        Step::tool(&[(
            "Write",
            json!({"file_path": "{cwd}/hello.txt", "content": "hello from the agent\n"}),
        )]),
        Step::tool(&[(
            "Bash",
            json!({"command": "git add hello.txt && git commit -q -m 'Add hello.txt'", "description": "Commit"}),
        )]),
        Step::Say("Done.".to_owned()),
    ]
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("agents benchmark skipped: run it with `cargo bench -p hookline-tests --bench agents`");
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
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
models = {{ anthropic = {{ upstream = "{url}", header = "x-api-key", secret = "{KEY}" }} }}

[agents.coder]
prompt = "Add hello.txt and commit it."
runner = {{ type = "claude-code", model = "claude-sonnet-4-5" }}
profile = "agents"
repository = "{origin}"
push = true
timeout = "120s"
max_concurrency = 1
triggers = [{{ source = "github", events = ["issues"], actions = ["labeled"] }}]
"#,
        bin = bin.display(),
        url = model.url,
        origin = origin.display(),
    ))
    .expect("catalog");
    catalog.validate().expect("valid");
    let pipeline = Pipeline::start(&catalog, &[("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")]).await;
    let mut completed = pipeline
        .nats
        .client
        .subscribe("hookline.events.run.>")
        .await
        .expect("subscribe");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (mut hookline_ms, mut hand_ms) = (Vec::new(), Vec::new());
    // Two warm-up rounds: the page cache, node's compile cache.
    for n in 0..runs + 2 {
        let t = Instant::now();
        let body = json!({"action": "labeled", "label": {"name": "agent"},
                          "issue": {"number": n, "title": "t", "labels": [{"name": "agent"}], "user": {"login": "alice"}},
                          "repository": {"full_name": "acme/api", "owner": {"login": "acme"}},
                          "sender": {"login": "alice"}})
        .to_string();
        let (status, answer) = post_signed(
            Provider::Github,
            &pipeline.webhook_url("github"),
            SECRET,
            "issues",
            &format!("bench-{n}"),
            &body,
            &[],
        )
        .await;
        assert_eq!(status, 202, "{answer}");
        if !wait_for_end(&mut completed).await {
            let id = answer["event_id"].as_str().unwrap_or_default();
            panic!("no run ended in 120 s: {}", pipeline.explain(id).await);
        }
        let through_hookline = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        by_hand(&bin, &origin, &model.url, dir.path()).await;
        let by_hand = t.elapsed().as_secs_f64() * 1000.0;
        if n >= 2 {
            hookline_ms.push(through_hookline);
            hand_ms.push(by_hand);
        }
    }
    for v in [&mut hookline_ms, &mut hand_ms] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    let (h50, b50) = (percentile(&hookline_ms, 0.5), percentile(&hand_ms, 0.5));
    println!("a real agent (Claude Code over ACP), {runs} runs each, alternately, scripted model server\n");
    println!(
        "  by hand: clone, agent over ACP, push:    p50 {b50:.0} ms, p90 {:.0} ms",
        percentile(&hand_ms, 0.9)
    );
    println!(
        "  webhook -> run.completed, preset:        p50 {h50:.0} ms, p90 {:.0} ms",
        percentile(&hookline_ms, 0.9)
    );
    println!(
        "  Hookline adds:                           p50 {:.0} ms (ratio {:.2})",
        h50 - b50,
        h50 / b50
    );
}

/// Waits for the next run's final event; panics on a failed run; false
/// when none came in 120 s.
async fn wait_for_end(events: &mut async_nats::Subscriber) -> bool {
    loop {
        let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(120), events.next()).await else {
            return false;
        };
        let event = Event::decode(msg.payload.as_ref()).expect("event");
        match event.r#type.as_str() {
            "run.completed" => return true,
            "run.failed" => panic!("the run failed: {}", String::from_utf8_lossy(&event.data_json)),
            _ => {}
        }
    }
}

/// The same agent by hand: a fresh clone, the agent pointed straight at
/// the model server, driven over ACP until its turn ends.
async fn by_hand(bin: &Path, origin: &Path, model_url: &str, dir: &Path) {
    let work = tempfile::tempdir_in(dir).expect("work");
    let workspace = work.path().join("workspace");
    git(
        dir,
        &[
            "clone",
            "--quiet",
            origin.to_str().expect("utf8"),
            workspace.to_str().expect("utf8"),
        ],
    );
    git(&workspace, &["config", "user.name", "by hand"]);
    git(&workspace, &["config", "user.email", "hand@example.invalid"]);
    let home = work.path().join("home");
    std::fs::create_dir_all(home.join(".claude")).expect("home");
    std::fs::write(home.join(".claude/settings.json"), r#"{"model": "claude-sonnet-4-5"}"#).expect("settings");
    let env = [
        ("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display())),
        ("HOME", home.display().to_string()),
        ("ANTHROPIC_BASE_URL", model_url.to_owned()),
        ("ANTHROPIC_API_KEY", KEY.to_owned()),
        ("IS_SANDBOX", "1".to_owned()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
        ("DISABLE_AUTOUPDATER", "1".to_owned()),
    ];
    let run = AcpRun {
        spawn: Spawn {
            argv: vec![bin.join("claude-code-acp").display().to_string()],
            cwd: workspace.clone(),
            env: env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            stdin: String::new(),
            timeout: Duration::from_secs(120),
            cancel: tokio_util::sync::CancellationToken::new(),
            limits: None,
            gate: None,
        },
        workspace: workspace.clone(),
        prompt: "Add hello.txt and commit it.".to_owned(),
        resume: None,
        state: Vec::new(),
        mcp: Vec::new(),
        deny_tools: Vec::new(),
    };
    let end = acp::run(run, |_| {}, |_| {}).await.expect("runs");
    assert!(end.exit.success() && end.failure.is_none(), "{end:?}");
    let log = git(&workspace, &["log", "--oneline", "-1"]);
    assert!(log.contains("Add hello.txt"), "{log}");
    // And pushed, as Hookline pushes the run's branch.
    let branch = format!("HEAD:refs/heads/by-hand/{}", hookline_model::clock::new_id());
    git(&workspace, &["push", "--quiet", "origin", &branch]);
}
