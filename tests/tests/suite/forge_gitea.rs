//! Closing the loop on Gitea (and Forgejo, the same API), offline: a
//! stateful Gitea in the harness (REST v1, Gitea's shapes and statuses),
//! webhooks in Gitea's payload format signed as Gitea signs them (hex
//! HMAC-SHA256 of the body, computed here, not by Hookline's code), real
//! git and a real agent process in the sandbox.

use std::collections::HashMap;

use hmac::Mac;
use hookline_bus::runs::{Records, RunRecord, RunStatus};
use hookline_model::catalog::Catalog;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Event, Message as _};
use hookline_tests::git::{bare_origin, git};
use hookline_tests::github::FakeForge;
use hookline_tests::{Pipeline, eventually, post, script};
use serde_json::{Value, json};

use crate::forge::AGENT;

const SECRET: &str = "gitea-webhook-secret";
const TOKEN: &str = "gitea-token-never-in-the-agent-0123";
const REPO: &str = "acme/api";
const BOT: &str = "hookline-bot";

/// POSTs `body` as Gitea (or Forgejo, `forge`) delivers event `event`.
async fn deliver(pipeline: &Pipeline, forge: &str, event: &str, delivery: &str, body: &Value) -> String {
    let text = body.to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(text.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let headers = [
        (format!("x-{forge}-signature"), signature),
        (format!("x-{forge}-delivery"), delivery.to_owned()),
        (format!("x-{forge}-event"), event.to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, answer) = post(&pipeline.webhook_url(forge), &headers, text).await;
    assert!(
        status == 202 || (status == 200 && answer["duplicate"] == true),
        "{status} {answer}"
    );
    answer["event_id"].as_str().expect("event id").to_owned()
}

fn repository() -> Value {
    json!({"id": 1, "name": "api", "full_name": REPO, "owner": {"id": 1, "login": "acme", "username": "acme"},
           "html_url": format!("https://gitea.example/{REPO}"), "default_branch": "main"})
}

fn person(login: &str) -> Value {
    json!({"id": 12, "login": login, "username": login, "email": format!("{login}@example.com")})
}

/// Gitea's `issues` payload when labels change (`X-Gitea-Event-Type:
/// issue_label`, action `label_updated`).
fn labelled(number: u64) -> Value {
    json!({"action": "label_updated", "number": number,
           "issue": {"id": 100 + number, "number": number, "title": "Crash on start", "body": "It crashes.",
                     "user": person("ann"), "labels": [{"id": 1, "name": "bug"}], "state": "open", "pull_request": null},
           "repository": repository(), "sender": person("ann")})
}

fn catalog(out: &std::path::Path, origin: &std::path::Path, forge: &FakeForge, kind: &str) -> Catalog {
    let agent = script(out, "agent.sh", AGENT);
    let text = format!(
        r#"
[sources.{kind}]
provider = "{kind}"
secrets = ["{SECRET}"]

[profiles.forge]
env = {{ OUT_DIR = "{out}", AGENT_SLEEP = "0" }}
secrets = {{ FORGE_TOKEN = {{ secret = "{TOKEN}", scope = "forge" }} }}
forge = {{ type = "{kind}", api_url = "http://{addr}/api/v1", token = "FORGE_TOKEN", login = "{BOT}" }}

[agents.fixer]
prompt = "Fix issue {{{{body.issue.number}}}}. Before: {{{{previous.summary}}}}"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "forge"
repository = "{origin}"
push = true
pull_request = {{ draft = true, title = "Fix #{{{{body.issue.number}}}}: {{{{body.issue.title}}}}" }}
status_comment = true
mention = "@hookline"
triggers = [{{ source = "{kind}", events = ["issues"], actions = ["label_updated"], labels = ["bug"] }}]
sandbox_paths = {{ write = ["{out}"] }}
"#,
        out = out.display(),
        origin = origin.display(),
        addr = forge.addr,
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

async fn run_for(pipeline: &Pipeline, event_id: &str, done: impl Fn(&RunRecord) -> bool) -> RunRecord {
    crate::forge::run_of(pipeline, event_id, "the run, final on Gitea", done).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_labelled_gitea_issue_gets_one_wip_pull_request_one_final_comment_a_follow_up_and_its_outcome() {
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    // Who is who on the project, as only Gitea can say.
    let permissions = HashMap::from([
        ("ann".to_owned(), "write".to_owned()),
        ("mallory".to_owned(), "read".to_owned()),
    ]);
    let repos = HashMap::from([(REPO.to_owned(), origin.clone())]);
    let forge = FakeForge::start_gitea(TOKEN, BOT, repos, permissions).await;
    let pipeline = Pipeline::start(&catalog(dir.path(), &origin, &forge, "gitea"), &[]).await;

    // The same delivery twice: one run, one pull request, one comment.
    let event_id = deliver(&pipeline, "gitea", "issues", "delivery-1", &labelled(1)).await;
    assert_eq!(
        deliver(&pipeline, "gitea", "issues", "delivery-1", &labelled(1)).await,
        event_id
    );
    let record = run_for(&pipeline, &event_id, crate::forge::finished).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:?}");
    let branch = format!("hookline/fixer/{}", record.run_id);
    let pulls = forge.with(|s| s.pulls.clone());
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert!(
        pulls[0].title.starts_with("WIP: Fix #1: Crash on start"),
        "a draft: {:?}",
        pulls[0]
    );
    assert_eq!(
        (pulls[0].head.as_str(), pulls[0].base.as_str()),
        (branch.as_str(), "main")
    );
    let comments = forge.comments(REPO, 1);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let last = comments[0].history.last().expect("final text");
    assert!(last.contains("✅ Succeeded"), "{last}");
    assert!(
        last.contains(&format!("https://gitea.example/{REPO}/pulls/{}", pulls[0].number)),
        "{last}"
    );
    assert!(
        forge.with(|s| s.requests.iter().all(|r| r.authorization == format!("token {TOKEN}"))),
        "every call carried the token as Gitea takes it"
    );
    let env = std::fs::read_to_string(dir.path().join(format!("env-{}-1", record.run_id))).expect("env");
    let prompt = std::fs::read_to_string(dir.path().join(format!("prompt-{}", record.run_id))).expect("prompt");
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{}/log", record.run_id), Value::Null)
        .await;
    for (what, text) in [("environment", env), ("prompt", prompt), ("log", log.to_string())] {
        assert!(!text.contains(TOKEN), "the forge token is in the {what}");
    }

    // A mention on the pull request by someone Gitea says may only read
    // ends before anything is done for them (Gitea's payloads say nothing
    // of who someone is: the executor asks the forge); one by someone who
    // may write continues the same branch.
    let mention = |by: &str| {
        json!({"action": "created", "is_pull": true,
            "issue": {"id": 900, "number": pulls[0].number, "title": pulls[0].title, "user": person(BOT),
                      "labels": [], "state": "open", "pull_request": {"merged": false}},
            "comment": {"id": 77, "body": "@hookline please also note the docs", "user": person(by)},
            "repository": repository(), "sender": person(by)})
    };
    let stranger = deliver(
        &pipeline,
        "gitea",
        "issue_comment",
        "delivery-stranger",
        &mention("mallory"),
    )
    .await;
    let refused = run_for(&pipeline, &stranger, |r| r.is_done()).await;
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (RunStatus::Failed, "untrusted"),
        "{refused:?}"
    );
    assert!(!refused.will_retry);
    let decision = pipeline.explain(&stranger).await;
    assert!(
        decision
            .to_string()
            .contains("the forge is asked who mallory is before the agent starts"),
        "{decision}"
    );
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{}/log", refused.run_id), Value::Null)
        .await;
    assert!(
        log.to_string()
            .contains("the forge says mallory has read access to acme/api, association NONE"),
        "{log}"
    );
    assert!(
        forge.comments(REPO, pulls[0].number).is_empty(),
        "nothing was written for an actor the forge did not vouch for"
    );
    let follow_event = deliver(&pipeline, "gitea", "issue_comment", "delivery-2", &mention("ann")).await;
    let follow = run_for(&pipeline, &follow_event, crate::forge::finished).await;
    assert_eq!(follow.status, RunStatus::Succeeded, "{follow:?}");
    let log = git(&origin, &["log", "--format=%s", &branch]);
    assert_eq!(log.lines().count(), 3, "two runs' commits on the one branch: {log}");
    assert_eq!(forge.with(|s| s.pulls.len()), 1, "the same pull request");

    // Merged: its outcome, once, however often Gitea says so.
    let merged = json!({"action": "closed", "number": pulls[0].number,
        "pull_request": {"id": 1, "number": pulls[0].number, "html_url": format!("https://gitea.example/{REPO}/pulls/{}", pulls[0].number),
                         "title": pulls[0].title, "user": person(BOT), "state": "closed", "merged": true,
                         "head": {"ref": branch, "label": branch}, "base": {"ref": "main"},
                         "created_at": "2026-12-01T10:00:00Z", "merged_at": "2026-12-01T10:30:00Z", "closed_at": "2026-12-01T10:30:00Z"},
        "repository": repository(), "sender": person("ann")});
    let once = deliver(&pipeline, "gitea", "pull_request", "delivery-3", &merged).await;
    let again = deliver(&pipeline, "gitea", "pull_request", "delivery-4", &merged).await;
    let records = Records::new(&pipeline.nats);
    let opener = eventually("the outcome on the run that opened it", || async {
        match records.get(&record.run_id).await {
            Ok(Some(r)) if r.outcome.is_some() && r.outbox.is_empty() => Ok(r),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let outcome = opener.outcome.expect("outcome");
    assert_eq!(
        outcome.runs,
        [record.run_id.clone(), follow.run_id.clone()],
        "both runs behind it"
    );
    crate::forge_outcomes::routed(&pipeline, &[&once, &again]).await;
    let merged_events: Vec<Event> = pipeline
        .stream_messages(StreamKind::Events)
        .await
        .iter()
        .filter_map(|m| Event::decode(m.payload.as_ref()).ok())
        .filter(|e| e.r#type == "pull_request.merged")
        .collect();
    assert_eq!(merged_events.len(), 1, "{merged_events:?}");
    let data: Value = serde_json::from_slice(&merged_events[0].data_json).expect("json");
    assert_eq!(
        (data["forge"].as_str(), data["time_to_merge_s"].as_i64()),
        (Some("gitea"), Some(1800))
    );
}
