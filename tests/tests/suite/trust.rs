//! Who may start a run: GitHub-signed fixtures from trusted and untrusted
//! actors and bots, the approval gate (two approvals at once, rejection,
//! expiry, a restart of every service in between), and the reasons in
//! explain.

use std::path::Path;
use std::time::Duration;

use hookline_bus::runs::{Records, RunRecord, RunStatus};
use hookline_model::catalog::Catalog;
use hookline_tests::{ADMIN_TOKEN, Pipeline, Receiver, Service, eventually, post_github, script};
use serde_json::{Value, json};

use crate::cli::hookline;

const SECRET: &str = "trust-test-github-secret";
const SUB_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn catalog(dir: &Path, subscriber: &str, agent_extra: &str) -> Catalog {
    let agent = script(dir, "agent.sh", r#"echo "$HOOKLINE_RUN_ID" >> "$OUT_DIR/runs""#);
    let text = format!(
        r#"
[sources.github]
provider = "github"
secrets = ["{SECRET}"]

[profiles.p]
env = {{ OUT_DIR = "{out}" }}

[agents.answer]
prompt = "Answer {{{{body.comment.body}}}}"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "p"
trust = {{ allow = ["renovate[bot]"] }}
triggers = [{{ source = "github", events = ["issue_comment"], actions = ["created"] }}]
sandbox_paths = {{ write = ["{out}"] }}
{agent_extra}

[subscriptions.ops]
url = "{subscriber}"
events = ["run.*"]
secrets = ["{SUB_SECRET}"]
"#,
        out = dir.display()
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

/// An `issue_comment` `created` by `login` with `association`.
fn comment(login: &str, association: &str, bot: bool) -> String {
    json!({
        "action": "created",
        "issue": {"number": 7, "title": "Crash", "user": {"login": "someone"}, "author_association": "OWNER"},
        "comment": {"id": 1, "body": "please fix", "user": {"login": login}, "author_association": association},
        "repository": {"full_name": "acme/api", "owner": {"login": "acme"}},
        "sender": {"login": login, "id": 42, "type": if bot { "Bot" } else { "User" }}
    })
    .to_string()
}

async fn send(pipeline: &Pipeline, delivery: &str, body: &str) -> String {
    let (status, answer) = post_github(&pipeline.webhook_url("github"), SECRET, "issue_comment", delivery, body).await;
    assert_eq!(status, 202, "{answer}");
    answer["event_id"].as_str().expect("event id").to_owned()
}

fn runs_started(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("runs"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_trusted_actors_and_listed_bots_start_runs() {
    let dir = tempfile::tempdir().expect("dir");
    let receiver = Receiver::start(|_, _| 200).await;
    let pipeline = Pipeline::start(&catalog(dir.path(), &receiver.url(), ""), &[]).await;
    let cases = [
        ("none", comment("octocat", "NONE", false), None),
        ("collaborator", comment("alice", "COLLABORATOR", false), Some(())),
        ("dependabot", comment("dependabot[bot]", "CONTRIBUTOR", true), None),
        ("evil-bot", comment("evil[bot]", "OWNER", true), None),
        ("renovate", comment("renovate[bot]", "NONE", true), Some(())),
    ];
    let mut decisions = Vec::new();
    for (name, body, _) in &cases {
        let event_id = send(&pipeline, name, body).await;
        decisions.push(pipeline.explain(&event_id).await);
    }
    let expected_reasons = [
        Some("skipped: untrusted actor octocat (association NONE)"),
        None,
        Some("skipped: bot dependabot[bot] is not allowed by its exact login"),
        Some("skipped: bot evil[bot] is not allowed by its exact login"),
        None,
    ];
    for ((name, _, runs), (decision, reason)) in cases.iter().zip(decisions.iter().zip(expected_reasons)) {
        let matched = decision["matched"].as_array().map_or(0, Vec::len);
        assert_eq!(matched, usize::from(runs.is_some()), "{name}: {decision}");
        match reason {
            Some(reason) => assert_eq!(decision["untrusted"][0]["explain"], reason, "{name}: {decision}"),
            None => assert_eq!(decision["untrusted"], json!([]), "{name}: {decision}"),
        }
    }
    eventually("the two trusted runs", || async {
        match runs_started(dir.path()).len() {
            2 => Ok(()),
            n => Err(format!("{n} runs")),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs_started(dir.path()).len(), 2, "no run for an untrusted actor");
}

async fn record(records: &Records, run_id: &str) -> Option<RunRecord> {
    records.get(run_id).await.ok().flatten()
}

async fn held_run(receiver: &Receiver) -> String {
    let got = receiver
        .wait_until("run.awaiting_approval", |all| {
            all.iter().any(|r| r.json()["type"] == "run.awaiting_approval")
        })
        .await;
    let held = got
        .iter()
        .find(|r| r.json()["type"] == "run.awaiting_approval")
        .expect("held")
        .json();
    assert_eq!(held["data"]["actor"], "octocat");
    assert_eq!(held["data"]["reason"], "untrusted actor octocat (association NONE)");
    held["data"]["run_id"].as_str().expect("run id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_starts_one_run_even_when_two_race_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let receiver = Receiver::start(|_, _| 200).await;
    let catalog = catalog(dir.path(), &receiver.url(), "untrusted = \"approve\"");
    let mut pipeline = Pipeline::start(&catalog, &[]).await;
    let records = Records::new(&pipeline.nats);
    let event_id = send(&pipeline, "held", &comment("octocat", "NONE", false)).await;
    let run_id = held_run(&receiver).await;
    let held = record(&records, &run_id).await.expect("record");
    assert_eq!(
        (held.status, held.event_id.as_str()),
        (RunStatus::AwaitingApproval, event_id.as_str())
    );
    let decision = pipeline.explain(&event_id).await;
    assert_eq!(
        decision["untrusted"][0]["explain"],
        "awaiting approval: untrusted actor octocat (association NONE)"
    );

    // Every service restarts: the held run is still there, still held.
    for service in Service::ALL {
        pipeline.stop_service(service).await;
    }
    for service in Service::ALL {
        pipeline.start_service(service).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        record(&records, &run_id).await.map(|r| r.status),
        Some(RunStatus::AwaitingApproval)
    );
    assert!(runs_started(dir.path()).is_empty(), "no run before approval");

    // Two approvals at once: one run, one 409 naming the first approver.
    let path = format!("/v1/runs/{run_id}/approve");
    let (a, b) = tokio::join!(
        pipeline.admin("POST", &path, json!({"by": "alice"})),
        pipeline.admin("POST", &path, json!({"by": "bob"}))
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "{a:?} {b:?}");
    let (winner, loser) = if a.0 == 202 { (&a.1, &b.1) } else { (&b.1, &a.1) };
    let fingerprint = winner["decided_by"].as_str().expect("decided_by").to_owned();
    // The second says the run was approved already, by whom and when.
    let message = loser["error"]["message"].as_str().expect("a message");
    assert!(
        message.starts_with(&format!("run `{run_id}` was already approved by {fingerprint} at 20")),
        "{loser}"
    );
    assert!(fingerprint.contains("(token:"), "{fingerprint}");
    assert!(!fingerprint.contains(ADMIN_TOKEN), "never the token itself");
    eventually("the approved run to succeed", || async {
        match record(&records, &run_id).await {
            Some(r) if r.status == RunStatus::Succeeded => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs_started(dir.path()), [run_id.as_str()], "exactly one run");
    let approval = record(&records, &run_id)
        .await
        .and_then(|r| r.approval)
        .expect("approval");
    assert_eq!(approval.decided_by.as_deref(), Some(fingerprint.as_str()));
    let (status, again) = pipeline.admin("POST", &path, Value::Null).await;
    assert_eq!(status, 409, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_or_expired_run_never_starts() {
    let dir = tempfile::tempdir().expect("dir");
    let receiver = Receiver::start(|_, _| 200).await;
    let catalog = catalog(
        dir.path(),
        &receiver.url(),
        "untrusted = \"approve\"\napproval_timeout = \"1s\"",
    );
    let mut pipeline = Pipeline::start(&catalog, &[]).await;
    let records = Records::new(&pipeline.nats);

    send(&pipeline, "to-reject", &comment("octocat", "NONE", false)).await;
    let rejected = held_run(&receiver).await;
    let run = hookline(&pipeline, ADMIN_TOKEN, &["reject", &rejected, "--as", "carol"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("rejected"), "{}", run.stdout);
    let approval = record(&records, &rejected)
        .await
        .and_then(|r| r.approval)
        .expect("approval");
    assert!(
        approval
            .decided_by
            .as_deref()
            .is_some_and(|by| by.starts_with("carol (token:")),
        "{approval:?}"
    );
    let run = hookline(&pipeline, ADMIN_TOKEN, &["approve", &rejected]).await;
    assert_ne!(run.code, 0, "a rejected run cannot be approved");
    assert!(
        run.stderr.contains("was already rejected by carol (token:") && run.stderr.contains("; it is rejected"),
        "{}",
        run.stderr
    );

    // A second held run, left alone past its timeout; a router starting
    // settles held runs at once.
    let body = comment("mallory", "FIRST_TIMER", false);
    send(&pipeline, "to-expire", &body).await;
    let expiring = eventually("a second held run", || async {
        let got = receiver.received();
        got.iter()
            .map(|r| r.json())
            .find(|j| j["type"] == "run.awaiting_approval" && j["data"]["actor"] == "mallory")
            .map(|j| j["data"]["run_id"].as_str().unwrap_or_default().to_owned())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    pipeline.stop_service(Service::Router).await;
    pipeline.start_service(Service::Router).await;
    eventually("the held run to expire", || async {
        match record(&records, &expiring).await {
            Some(r) if r.status == RunStatus::Expired => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (status, _) = pipeline
        .admin("POST", &format!("/v1/runs/{expiring}/approve"), Value::Null)
        .await;
    assert_eq!(status, 409, "an expired run cannot be approved");
    assert_eq!(
        record(&records, &rejected).await.map(|r| r.status),
        Some(RunStatus::Rejected)
    );
    assert!(runs_started(dir.path()).is_empty(), "neither ran");
}

/// Sentry's alerts are Sentry speaking (`actor.type` `application`, id
/// `sentry`): a signed `event_alert` starts a run by default, while a
/// change by another Sentry integration is a bot's and starts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sentry_alert_starts_a_run_by_default() {
    let dir = tempfile::tempdir().expect("dir");
    let agent = script(dir.path(), "agent.sh", r#"echo "$HOOKLINE_RUN_ID" >> "$OUT_DIR/runs""#);
    let text = format!(
        r#"
[sources.sentry]
provider = "sentry"
secrets = ["sentry-client-secret"]

[profiles.p]
env = {{ OUT_DIR = "{out}" }}

[agents.fixer]
prompt = "Look at {{{{body.data.event.title}}}}"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "p"
triggers = [{{ source = "sentry", resources = ["event_alert", "issue"] }}]
sandbox_paths = {{ write = ["{out}"] }}
"#,
        out = dir.path().display()
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    let pipeline = Pipeline::start(&catalog, &[]).await;
    // As Sentry documents an alert rule's webhook.
    let alert = json!({
        "action": "triggered",
        "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"},
        "data": {"event": {"event_id": "e1", "title": "ZeroDivisionError", "project": 1, "level": "error"},
                 "triggered_rule": "Send a notification for new issues"},
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"}
    })
    .to_string();
    let by_integration = json!({
        "action": "assigned",
        "data": {"issue": {"id": "1", "project": {"slug": "web"}}},
        "actor": {"type": "application", "id": "acme-triage", "name": "Acme Triage"}
    })
    .to_string();
    let url = pipeline.webhook_url("sentry");
    let mut events = Vec::new();
    for (resource, delivery, body) in [("event_alert", "s-1", &alert), ("issue", "s-2", &by_integration)] {
        let (status, answer) = hookline_tests::post_signed(
            hookline_providers::Provider::Sentry,
            &url,
            "sentry-client-secret",
            resource,
            delivery,
            body,
            &[],
        )
        .await;
        assert_eq!(status, 202, "{answer}");
        events.push(answer["event_id"].as_str().expect("event id").to_owned());
    }
    let decision = pipeline.explain(&events[0]).await;
    assert_eq!(decision["matched"], json!(["fixer"]), "{decision}");
    eventually("the alert's run", || async {
        match runs_started(dir.path()).len() {
            1 => Ok(()),
            n => Err(format!("{n} runs")),
        }
    })
    .await;
    let decision = pipeline.explain(&events[1]).await;
    assert_eq!(decision["matched"], json!([]), "{decision}");
    assert!(
        decision
            .to_string()
            .contains("bot Acme Triage is not allowed by its exact login"),
        "{decision}"
    );
}
