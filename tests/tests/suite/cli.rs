//! The `hookline` binary as an operator uses it, against the whole pipeline:
//! configuration created from the command line, a test event, a manual run
//! followed to its end, what happened read back, a failed delivery found
//! and replayed, events tailed from NATS, and the exit codes scripts rely on.

use std::time::{Duration, Instant};

use hookline_model::catalog::Catalog;
use hookline_tests::{ADMIN_TOKEN, Pipeline, Receiver, WAIT, eventually, post, script, workspace_binary};
use serde_json::Value;

/// What one `hookline` invocation did.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Runs the `hookline` CLI against `pipeline`'s admin service and NATS.
pub(crate) async fn hookline(pipeline: &Pipeline, token: &str, args: &[&str]) -> Run {
    let output = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(workspace_binary("hookline"))
            .args(args)
            .env("HOOKLINE_ADMIN_URL", format!("http://{}", pipeline.admin))
            .env("HOOKLINE_ADMIN_TOKEN", token)
            .env("HOOKLINE_NATS_URL", pipeline.server.url())
            .output(),
    )
    .await
    .expect("the CLI ends in time")
    .expect("the CLI runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn ok(pipeline: &Pipeline, args: &[&str]) -> Run {
    let run = hookline(pipeline, ADMIN_TOKEN, args).await;
    assert_eq!(run.code, 0, "hookline {args:?}: {}{}", run.stdout, run.stderr);
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operators_day_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(
        dir.path(),
        "agent.sh",
        "echo \"prompt: $(cat)\"\nprintf '\\033[31mwarning\\033[0m: on stderr\\n' >&2",
    );
    let agent_file = dir.path().join("echo.toml");
    std::fs::write(
        &agent_file,
        format!(
            "prompt = \"Hello {{{{body.who}}}}\"\nrunner = {{ type = \"command\", command = [\"{}\"] }}\ntriggers = [{{ source = \"gh\", events = [\"issues\"] }}]\n",
            agent
        ),
    )
    .expect("agent file");
    let failing = Receiver::start(|_, _| 503).await;
    let pipeline = Pipeline::start(&Catalog::default(), &[("HOOKLINE_RETRY_SCHEDULE", "50ms")]).await;

    // Create a trigger from the command line: source, agent, subscription.
    let saved = ok(
        &pipeline,
        &[
            "create",
            "source",
            "gh",
            "--data",
            r#"{"provider": "github", "secrets": ["cli-source-secret-1234"]}"#,
        ],
    )
    .await;
    assert!(saved.stdout.contains("sources/gh saved"), "{}", saved.stdout);
    ok(
        &pipeline,
        &["create", "agent", "echo", "-f", &agent_file.display().to_string()],
    )
    .await;
    let sub = format!(
        r#"{{"url": "{}", "events": ["run.completed"], "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}}"#,
        failing.url()
    );
    ok(&pipeline, &["create", "subscription", "ops", "--data", &sub]).await;
    let listed = ok(&pipeline, &["list", "sources"]).await;
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with("gh") && l.contains("github")),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains("cli-source-secret"), "secrets never shown");
    let as_json = ok(&pipeline, &["list", "agents", "--json"]).await.json();
    assert_eq!(as_json["items"][0]["id"], "echo");

    // A test event the source verifies, and a manual run followed to its end.
    eventually("the new source takes effect", || async {
        let sent = hookline(&pipeline, ADMIN_TOKEN, &["send-test", "gh", "--event", "ping"]).await;
        if sent.code == 0 { Ok(()) } else { Err(sent.stderr) }
    })
    .await;
    let followed = ok(&pipeline, &["run", "echo", "--data", r#"{"who": "cli"}"#, "--follow"]).await;
    assert!(followed.stdout.contains("prompt: Hello cli"), "{}", followed.stdout);
    assert!(followed.stdout.contains("# run succeeded"), "{}", followed.stdout);
    let runs = ok(&pipeline, &["runs", "--agent", "echo", "--json"]).await.json();
    let run_id = runs["items"][0]["run_id"].as_str().expect("a run").to_owned();
    let shown = ok(&pipeline, &["runs", &run_id]).await;
    assert!(shown.stdout.contains("status: succeeded"), "{}", shown.stdout);
    let log = ok(&pipeline, &["logs", &run_id]).await;
    assert!(log.stdout.contains("prompt: Hello cli"), "{}", log.stdout);
    // Redirected (here, a pipe), the agent's stderr is kept, marked and
    // without its colour codes.
    assert!(
        log.stdout.lines().any(|l| l == "! warning: on stderr"),
        "{:?}",
        log.stdout
    );
    assert!(!log.stdout.contains('\u{1b}'), "{:?}", log.stdout);
    let invocations = ok(&pipeline, &["invocations", "gh"]).await;
    assert!(invocations.stdout.contains("stored"), "{}", invocations.stdout);

    // The delivery failed: read why, then replay it.
    let seq = eventually("a dead letter", || async {
        let letters = ok(&pipeline, &["dlq", "list", "--subscription", "ops", "--json"])
            .await
            .json();
        letters["items"][0]["seq"].as_u64().ok_or_else(|| letters.to_string())
    })
    .await;
    let failed = eventually("a header and two failed attempts", || async {
        let failed = ok(&pipeline, &["deliveries", "ops", "--failed"]).await;
        if failed.stdout.lines().count() >= 3 {
            Ok(failed)
        } else {
            Err(failed.stdout)
        }
    })
    .await;
    assert!(
        failed.stdout.lines().skip(1).all(|l| l.contains("503")),
        "{}",
        failed.stdout
    );
    let health = ok(&pipeline, &["health", "subscription", "ops", "--json"]).await.json();
    assert_eq!(health["success_rate"], 0.0);
    let replayed = ok(&pipeline, &["dlq", "replay", "--seq", &seq.to_string()]).await;
    assert!(
        replayed.stdout.contains("1 dead letter(s) replayed"),
        "{}",
        replayed.stdout
    );

    // Events straight from NATS.
    let tail = ok(
        &pipeline,
        &[
            "events", "tail", "--type", "run.*", "--since", "1h", "--count", "2", "--json",
        ],
    )
    .await;
    let first: Value = serde_json::from_str(tail.stdout.lines().next().expect("an event")).expect("JSON line");
    assert!(first["type"].as_str().is_some_and(|t| t.starts_with("run.")), "{first}");

    // Disable: the webhook port answers 403; delete is refused while used.
    ok(&pipeline, &["disable", "source", "gh"]).await;
    let deadline = Instant::now() + Duration::from_secs(1);
    while post(
        &pipeline.webhook_url("gh"),
        &[("content-type", "application/json")],
        "{}",
    )
    .await
    .0 != 403
    {
        assert!(Instant::now() < deadline, "still open a second after disabling");
    }
    let refused = hookline(&pipeline, ADMIN_TOKEN, &["delete", "source", "gh"]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("unknown source `gh`"), "{}", refused.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exit_codes_tell_scripts_what_went_wrong() {
    let pipeline = Pipeline::start_services(&Catalog::default(), &[], &[hookline_tests::Service::Admin]).await;
    let missing = hookline(&pipeline, ADMIN_TOKEN, &["get", "source", "nope"]).await;
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("not_found"), "{}", missing.stderr);
    let unauthorized = hookline(&pipeline, "wrong-token-wrong-token", &["list", "sources"]).await;
    assert_eq!(unauthorized.code, 1);
    assert!(
        unauthorized.stderr.contains("HOOKLINE_ADMIN_TOKEN"),
        "{}",
        unauthorized.stderr
    );
    let invalid = hookline(
        &pipeline,
        ADMIN_TOKEN,
        &["create", "source", "x", "--data", r#"{"provider": "github"}"#],
    )
    .await;
    assert_eq!(invalid.code, 1);
    assert!(
        invalid.stderr.contains("needs at least one secret"),
        "{}",
        invalid.stderr
    );
    assert_eq!(
        hookline(&pipeline, ADMIN_TOKEN, &["list", "widgets"]).await.code,
        2,
        "usage"
    );
    assert_eq!(hookline(&pipeline, ADMIN_TOKEN, &["list"]).await.code, 2, "usage");
    let down = tokio::process::Command::new(workspace_binary("hookline"))
        .args(["list", "sources", "--admin-url", "http://127.0.0.1:9"])
        .env("HOOKLINE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .await
        .expect("runs");
    assert_eq!(down.status.code(), Some(3), "{}", String::from_utf8_lossy(&down.stderr));
    let help = hookline(&pipeline, ADMIN_TOKEN, &["deliveries", "--help"]).await;
    assert!(help.stdout.contains("Examples:"), "{}", help.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_event_catalog_is_served_with_the_types_agents_declare() {
    let catalog = Catalog::parse(
        r#"
[agents.reporter]
prompt = "x"
runner = { type = "command", command = ["true"] }
emits = { "acme.report" = { description = "A weekly report", schema = { type = "object", required = ["title"] } } }
"#,
    )
    .expect("parse");
    let pipeline = Pipeline::start_services(&catalog, &[], &[hookline_tests::Service::Admin]).await;
    let list = hookline(&pipeline, ADMIN_TOKEN, &["event-types", "--json"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let items = list.json()["items"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = items.iter().filter_map(|t| t["type"].as_str()).collect();
    for expected in [
        "run.started",
        "run.completed",
        "pull_request.opened",
        "deployment.failed",
        "acme.report",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let table = hookline(&pipeline, ADMIN_TOKEN, &["event-types"]).await;
    assert!(
        table.stdout.contains("security.vulnerability_detected"),
        "{}",
        table.stdout
    );
    let one = hookline(&pipeline, ADMIN_TOKEN, &["event-types", "deployment.failed", "--json"]).await;
    let def = one.json();
    assert_eq!(def["source"], "agent");
    assert_eq!(def["schema"]["required"], serde_json::json!(["service", "reason"]));
    let declared = hookline(&pipeline, ADMIN_TOKEN, &["event-types", "acme.report", "--json"]).await;
    assert_eq!(declared.json()["source"], "operator");
    let missing = hookline(&pipeline, ADMIN_TOKEN, &["event-types", "no.such"]).await;
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("not_found"), "{}", missing.stderr);
}
