//! The web console, driven in a real headless Chromium: signing in, a
//! source's invocations after a webhook, a run's log followed live while the
//! agent prints, an approval, a dead letter replayed and delivered, a test
//! event, a manual run, explain. Screenshots of every page are written to
//! `$CARGO_TARGET_TMPDIR/console`. Then what stays closed: no page or
//! action without a session, no form from another origin (in the browser
//! and over plain HTTP), and no secret on any page.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hookline_model::catalog::Catalog;
use hookline_tests::browser::Browser;
use hookline_tests::{ADMIN_TOKEN, Pipeline, Receiver, eventually, post_github, script};
use serde_json::{Value, json};

pub(crate) const SECRET: &str = "console-test-github-secret";
pub(crate) const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub(crate) const URL_SECRET: &str = "query-credential-7f3a";

pub(crate) fn catalog(dir: &Path, subscriber: &str) -> Catalog {
    let gate = dir.join("gate");
    let agent = script(
        dir,
        "agent.sh",
        &format!(
            // Coloured, as agent CLIs print: the page shows the text only.
            "printf '\\033[1;32mstarting\\033[0m work\\n'\nwhile [ ! -e \"{}\" ]; do sleep 0.05; done\nprintf '\\033[33mgate opened\\033[0m, finishing\\n' >&2",
            gate.display()
        ),
    );
    let text = format!(
        r#"
[sources.gh]
provider = "github"
secrets = ["{SECRET}"]

[agents.worker]
prompt = "Work on {{{{body.issue.title}}}}"
runner = {{ type = "command", command = ["{agent}"] }}
triggers = [{{ source = "gh", events = ["issues"] }}]
untrusted = "approve"
sandbox_paths = {{ write = ["{dir}"] }}

[subscriptions.flaky]
url = "{subscriber}?token={URL_SECRET}"
events = ["run.completed"]
secrets = ["{WHSEC}"]
"#,
        dir = dir.display()
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

/// An issue opened by `login`, a `MEMBER` (trusted) or `NONE` (held).
pub(crate) async fn open_issue(pipeline: &Pipeline, delivery: &str, login: &str, association: &str) -> String {
    let body = json!({
        "action": "opened",
        "issue": {"number": 3, "title": "Flaky build", "user": {"login": login}, "author_association": association},
        "repository": {"full_name": "acme/api", "owner": {"login": "acme"}},
        "sender": {"login": login, "type": "User"}
    })
    .to_string();
    let (status, answer) = post_github(&pipeline.webhook_url("gh"), SECRET, "issues", delivery, &body).await;
    assert_eq!(status, 202, "{answer}");
    answer["event_id"].as_str().expect("event id").to_owned()
}

/// The newest run of `status`, once there is one.
pub(crate) async fn run_with(pipeline: &Pipeline, status: &str) -> String {
    eventually(&format!("a {status} run"), || async {
        let (_, runs) = pipeline
            .admin("GET", &format!("/v1/runs?status={status}"), Value::Null)
            .await;
        runs["items"][0]["run_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| runs.to_string())
    })
    .await
}

pub(crate) fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console")
}

pub(crate) async fn sign_in(browser: &Browser, console: &str) {
    browser.goto(&format!("{console}/runs")).await;
    assert_eq!(browser.path().await, "/console/login?next=%2Fconsole%2Fruns");
    browser.screenshot("login").await;
    browser.fill("#token", "not-an-admin-token-at-all").await;
    browser.submit("form button").await;
    assert!(
        browser
            .text("#login-error")
            .await
            .contains("not one of the admin tokens")
    );
    browser.fill("#token", ADMIN_TOKEN).await;
    browser.submit("form button").await;
    assert_eq!(browser.path().await, "/console/runs", "back where the login began");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_works_hookline_from_the_console() {
    let dir = tempfile::tempdir().expect("dir");
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let subscriber = Receiver::start(move |_, _| if flag.load(Ordering::SeqCst) { 200 } else { 500 }).await;
    let pipeline = Pipeline::start(
        &catalog(dir.path(), &subscriber.url()),
        &[("HOOKLINE_RETRY_SCHEDULE", "50ms")],
    )
    .await;
    let console = format!("http://{}/console", pipeline.admin);
    let browser = Browser::start(shots()).await;
    sign_in(&browser, &console).await;

    // A member opens an issue: the invocation is on the source's page.
    let first_event = open_issue(&pipeline, "console-delivery-1", "ann", "MEMBER").await;
    browser.goto(&format!("{console}/sources/gh")).await;
    let invocations = browser
        .reload_until("#invocations", "the webhook's invocation", |t| {
            t.contains("console-delivery-1")
        })
        .await;
    assert!(
        invocations.contains("202") && invocations.contains(&first_event),
        "{invocations}"
    );
    browser.screenshot("source").await;

    // Its run waits on a gate: the page follows the log as the agent prints.
    let run_id = run_with(&pipeline, "running").await;
    browser.goto(&format!("{console}/runs/{run_id}")).await;
    browser
        .wait_for_text("#log", "the first line", |t| t.contains("starting work"))
        .await;
    assert_eq!(browser.text("#run-status").await, "running");
    browser.goto(&console).await;
    assert_eq!(browser.text("#in-progress").await, "1");
    browser.screenshot("overview").await;
    browser.goto(&format!("{console}/runs/{run_id}")).await;
    browser
        .wait_for_text("#log", "the first line", |t| t.contains("starting work"))
        .await;
    std::fs::write(dir.path().join("gate"), "").expect("open the gate");
    let log = browser
        .wait_for_text("#log", "the line printed after the page loaded", |t| {
            t.contains("gate opened")
        })
        .await;
    assert_eq!(log.matches("starting work").count(), 1, "no line twice: {log}");
    assert!(
        log.contains("gate opened, finishing") && !log.contains('\u{1b}') && !log.contains("[0m"),
        "colour codes removed, rendered and followed lines alike: {log:?}"
    );
    browser
        .wait_for_text("#run-status", "the run's end, without a reload", |t| t == "succeeded")
        .await;
    browser.screenshot("run").await;

    // Someone outside the org opens one: it waits for approval.
    open_issue(&pipeline, "console-delivery-2", "mallory", "NONE").await;
    let held = run_with(&pipeline, "awaiting_approval").await;
    browser.goto(&console).await;
    assert_eq!(browser.text("#awaiting-count").await, "1");
    browser.goto(&format!("{console}/runs/{held}")).await;
    assert_eq!(browser.text("#run-status").await, "awaiting_approval");
    browser.fill("#approve-by", "ann").await;
    browser.submit("#approve button").await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("queued") && notice.contains("ann"), "{notice}");
    browser
        .reload_until("#run-status", "the approved run to finish", |t| t == "succeeded")
        .await;
    let (_, record) = pipeline.admin("GET", &format!("/v1/runs/{held}"), Value::Null).await;
    assert!(
        record["approval"]["decided_by"]
            .as_str()
            .is_some_and(|by| by.starts_with("ann (token:")),
        "{record}"
    );

    // Both runs' `run.completed` died at the failing endpoint; it recovers,
    // and the console replays one letter, then the rest.
    eventually("two dead letters", || async {
        let (_, dlq) = pipeline.admin("GET", "/v1/dlq?subscription=flaky", Value::Null).await;
        let n = dlq["items"].as_array().map_or(0, Vec::len);
        if n == 2 { Ok(()) } else { Err(format!("{n} letters")) }
    })
    .await;
    healthy.store(true, Ordering::SeqCst);
    browser.goto(&format!("{console}/subscriptions/flaky")).await;
    assert_eq!(browser.count("#dead-letters tbody tr").await, 2);
    browser.screenshot("subscription").await;
    browser.submit("#dead-letters .replay-one").await;
    assert_eq!(browser.text("#notice").await, "Replayed 1 dead letter.");
    subscriber
        .wait_until("the replayed letter delivered", |all| {
            all.iter().filter(|r| r.status == 200).count() == 1
        })
        .await;
    assert_eq!(browser.count("#dead-letters tbody tr").await, 1);
    browser.submit("#replay-all button").await;
    assert_eq!(browser.text("#notice").await, "Replayed 1 dead letter.");
    subscriber
        .wait_until("both delivered", |all| {
            all.iter().filter(|r| r.status == 200).count() == 2
        })
        .await;
    let attempts = browser
        .reload_until("#attempts", "the successful attempts", |t| {
            t.matches("200").count() >= 2
        })
        .await;
    assert!(attempts.contains("500"), "the failures stay listed: {attempts}");
    assert_eq!(browser.text("#no-dead-letters").await, "None.");

    // A test event, signed with the source's secret, goes through ingest.
    browser.goto(&format!("{console}/sources/gh")).await;
    browser.fill("#test-event", "ping").await;
    browser.submit("#send-test button").await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("ingest answered 202"), "{notice}");
    let delivery = notice
        .split("as delivery ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .expect("delivery id")
        .to_owned();
    browser
        .reload_until("#invocations", "the test event's invocation", |t| t.contains(&delivery))
        .await;

    // A manual run from the agent's page; explain for the first webhook.
    browser.goto(&format!("{console}/agents/worker")).await;
    browser.screenshot("agent").await;
    browser.fill("#run-payload", r#"{"issue": {"title": "by hand"}}"#).await;
    browser.submit("#run-now button").await;
    assert!(
        browser.path().await.starts_with("/console/runs/"),
        "{}",
        browser.path().await
    );
    assert!(browser.text("#notice").await.contains("requested for `worker`"));
    browser
        .reload_until("#run-status", "the manual run to finish", |t| t == "succeeded")
        .await;
    browser.goto(&format!("{console}/events?id={first_event}")).await;
    let decided = browser.text("#agents-decided").await;
    assert!(decided.contains("worker") && decided.contains("run"), "{decided}");
    browser.screenshot("explain").await;

    for (page, name) in [
        ("/sources", "sources"),
        ("/agents", "agents"),
        ("/runs?agent=worker", "runs"),
        ("/subscriptions", "subscriptions"),
    ] {
        browser.goto(&format!("{console}{page}")).await;
        browser.text("main h1").await;
        browser.screenshot(name).await;
    }
    browser.close().await;
}
