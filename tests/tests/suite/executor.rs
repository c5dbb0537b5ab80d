//! The executor against real parts: git repositories, agent processes, two
//! executor copies, cancels, and an executor killed with SIGKILL.

use std::path::Path;
use std::time::{Duration, Instant};

use super::executor_crash::*;
use hookline_model::catalog::Catalog;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Event, Message as _};
use hookline_tests::git::{bare_origin, git};
use hookline_tests::{Pipeline, Service, WAIT, post_github, script};

pub(crate) const SECRET: &str = "executor-test-secret";

pub(crate) fn catalog(agent: &str, out: &Path, extra: &str) -> Catalog {
    let text = format!(
        r#"
[sources.gh]
provider = "github"
secrets = ["{SECRET}"]
rate_limit_per_minute = 0

[profiles.p]
env = {{ OUT_DIR = "{out}" }}
secrets = {{ API_TOKEN = "tok-very-secret-123" }}

[agents.worker]
prompt = "Fix {{{{body.issue.title}}}} in {{{{repo}}}}"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "p"
triggers = [{{ source = "gh", events = ["issues"] }}]
sandbox_paths = {{ write = ["{out}"] }}
{extra}
"#,
        out = out.display()
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

pub(crate) async fn send_issue(pipeline: &Pipeline, delivery: &str, title: &str) {
    let body =
        serde_json::json!({"action": "labeled", "issue": {"title": title}, "repository": {"full_name": "acme/api"}})
            .to_string();
    let (status, answer) = post_github(&pipeline.webhook_url("gh"), SECRET, "issues", delivery, &body).await;
    assert_eq!(status, 202, "{answer}");
}

pub(crate) async fn wait_for_events(pipeline: &Pipeline, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + WAIT;
    loop {
        let events: Vec<Event> = pipeline
            .stream_messages(StreamKind::Events)
            .await
            .iter()
            .map(|m| Event::decode(m.payload.as_ref()).expect("event"))
            .collect();
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "timed out; events: {:?}",
            events.iter().map(|e| &e.r#type).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn data(event: &Event) -> serde_json::Value {
    serde_json::from_slice(&event.data_json).expect("data")
}

pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.split_whitespace().nth(2).is_none_or(|state| state != "Z"))
        .unwrap_or(false)
}

pub(crate) async fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_commit_lands_on_its_branch_in_the_repository() {
    let dir = tempfile::tempdir().expect("tmp");
    let bare = bare_origin(dir.path(), "repo");

    let agent = script(
        dir.path(),
        "agent.sh",
        r#"cp "$HOOKLINE_PROMPT_FILE" "$OUT_DIR/prompt.txt"
cd "$HOOKLINE_WORKSPACE"
echo "fixed" > FIX.md
git add FIX.md
git commit --quiet -m "Fix the crash""#,
    );
    let extra = format!("repository = \"{}\"\npush = true\n", bare.display());
    let pipeline = Pipeline::start_services(
        &catalog(&agent, dir.path(), &extra),
        &[],
        &[Service::Ingest, Service::Router, Service::Executor],
    )
    .await;
    // The payload names a placeholder and the secret's variable; neither expands.
    send_issue(&pipeline, "git-1", "crash {{headers}} $API_TOKEN {{API_TOKEN}}").await;

    let events = wait_for_events(&pipeline, |e| e.iter().any(|e| e.r#type == "run.completed")).await;
    let generated = events
        .iter()
        .find(|e| e.r#type == "code.generated")
        .expect("code.generated");
    let d = data(generated);
    let branch = d["branch"].as_str().expect("branch").to_owned();
    assert_eq!(branch, format!("hookline/worker/{}", generated.run_id));
    assert_eq!(d["base"], "main");
    assert_eq!(d["files"], serde_json::json!(["FIX.md"]));
    assert_eq!(d["pushed"], true);
    let commit = d["commits"][0]["sha"].as_str().expect("sha").to_owned();
    assert_eq!(d["commits"][0]["message"], "Fix the crash");
    assert_eq!(
        git(&bare, &["rev-parse", &branch]),
        commit,
        "the branch is in the bare repository at the agent's commit"
    );
    assert_eq!(git(&bare, &["log", "-1", "--format=%s", &branch]), "Fix the crash");

    let prompt = std::fs::read_to_string(dir.path().join("prompt.txt")).expect("prompt");
    assert_eq!(
        prompt,
        format!(
            "{}Fix <untrusted-webhook-data>crash {{{{headers}}}} $API_TOKEN {{{{API_TOKEN}}}}</untrusted-webhook-data> in acme/api",
            hookline_executor::agent::prompt::NOTICE
        ),
        "free text fenced on its line, never rendered again; identifiers bare"
    );
    assert!(!prompt.contains("tok-very-secret-123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_concurrency_holds_across_two_executor_copies() {
    let dir = tempfile::tempdir().expect("tmp");
    let agent = script(
        dir.path(),
        "agent.sh",
        r#"echo "start $(date +%s%N)" >> "$OUT_DIR/run-$HOOKLINE_RUN_ID"
sleep 0.3
echo "end $(date +%s%N)" >> "$OUT_DIR/run-$HOOKLINE_RUN_ID""#,
    );
    let mut pipeline = Pipeline::start_services(
        &catalog(&agent, dir.path(), "max_concurrency = 2"),
        &[],
        &[Service::Ingest, Service::Router, Service::Executor],
    )
    .await;
    pipeline.start_service(Service::Executor).await;
    for n in 0..10 {
        send_issue(&pipeline, &format!("conc-{n}"), "load").await;
    }
    wait_for_events(&pipeline, |e| {
        e.iter().filter(|e| e.r#type == "run.completed").count() == 10
    })
    .await;
    let mut edges = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("run-") {
            continue;
        }
        for line in std::fs::read_to_string(entry.path()).expect("read").lines() {
            let (kind, at) = line.split_once(' ').expect("line");
            let at: u128 = at.parse().expect("ns");
            edges.push((at, if kind == "start" { 1i32 } else { -1 }));
        }
    }
    assert_eq!(edges.len(), 20, "ten runs, each started and ended once");
    edges.sort_by_key(|(at, delta)| (*at, *delta));
    let (mut running, mut most) = (0, 0);
    for (_, delta) in edges {
        running += delta;
        most = most.max(running);
    }
    assert!(most <= 2, "{most} runs at once");
    assert_eq!(most, 2, "both slots were used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_run_is_killed_with_its_process_group() {
    let dir = tempfile::tempdir().expect("tmp");
    let agent = script(
        dir.path(),
        "agent.sh",
        r#"echo "$HOOKLINE_RUN_ID" > "$OUT_DIR/run_id"
sleep 300 &
echo $! > "$OUT_DIR/child.pid"
wait"#,
    );
    let pipeline = Pipeline::start_services(
        // Host pids are checked: the runner's own process-group handling,
        // outside any PID namespace.
        &catalog(&agent, dir.path(), "sandbox = \"none\""),
        &[],
        &[Service::Ingest, Service::Router, Service::Executor],
    )
    .await;
    send_issue(&pipeline, "cancel-1", "long").await;
    let child: u32 = wait_for_file(&dir.path().join("child.pid")).await.parse().expect("pid");
    let run_id = wait_for_file(&dir.path().join("run_id")).await;
    assert!(alive(child));
    assert!(
        !hookline_bus::control::cancel_run(&pipeline.nats, "no-such-run", Duration::from_millis(300))
            .await
            .expect("request")
    );
    assert!(
        hookline_bus::control::cancel_run(&pipeline.nats, &run_id, Duration::from_secs(5))
            .await
            .expect("request")
    );
    let events = wait_for_events(&pipeline, |e| e.iter().any(|e| e.r#type == "run.failed")).await;
    let failed = data(events.iter().find(|e| e.r#type == "run.failed").expect("failed"));
    assert_eq!(
        (failed["status"].as_str(), failed["reason"].as_str()),
        (Some("cancelled"), Some("cancelled"))
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(child) {
        assert!(Instant::now() < deadline, "the agent's child survived the cancel");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_interrupted_by_sigkill_completes_on_another_copy() {
    let dir = tempfile::tempdir().expect("tmp");
    let agent = script(
        dir.path(),
        "agent.sh",
        r#"echo "$HOOKLINE_ATTEMPT" >> "$OUT_DIR/attempts"
if [ "$HOOKLINE_ATTEMPT" = 1 ]; then
  echo $$ > "$OUT_DIR/first.pid"
  exec sleep 300
fi"#,
    );
    let settings = [("HOOKLINE_EXECUTOR_ACK_WAIT", "2s")];
    let mut pipeline = Pipeline::start_services(
        // Host pids are checked: the runner's own process-group handling,
        // outside any PID namespace.
        &catalog(&agent, dir.path(), "sandbox = \"none\""),
        &settings,
        &[Service::Ingest, Service::Router],
    )
    .await;
    let workdir = tempfile::tempdir().expect("workdir");
    let mut child = executor_process(&pipeline, workdir.path());
    send_issue(&pipeline, "kill-1", "crash").await;
    let first: u32 = wait_for_file(&dir.path().join("first.pid")).await.parse().expect("pid");
    // SIGKILL: no shutdown, no cleanup.
    child.kill().expect("kill");
    child.wait().expect("reaped");
    pipeline.start_service(Service::Executor).await;

    let events = wait_for_events(&pipeline, |e| e.iter().any(|e| e.r#type == "run.completed")).await;
    let completed = data(events.iter().find(|e| e.r#type == "run.completed").expect("completed"));
    assert_eq!(completed["attempt"], 2, "the same run, second attempt");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("attempts"))
            .expect("attempts")
            .lines()
            .collect::<Vec<_>>(),
        ["1", "2"]
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(first) {
        assert!(
            Instant::now() < deadline,
            "the first attempt's agent outlived its executor"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
