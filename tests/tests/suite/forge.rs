//! Closing the loop on the forge, offline: a stateful GitHub in the
//! harness behind Prism with GitHub's own OpenAPI description (every
//! request and answer checked), GitHub's own example webhooks signed as
//! GitHub signs them, real git, real agent processes in the sandbox.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hookline_bus::runs::{Records, RunRecord, RunStatus};
use hookline_model::catalog::Catalog;
use hookline_tests::git::{bare_origin, git};
use hookline_tests::github::FakeGitHub;
use hookline_tests::prism::{Prism, github_examples, webhook_example};
use hookline_tests::{Pipeline, Receiver, eventually, post_github, script};
use serde_json::{Value, json};

const SECRET: &str = "forge-test-github-secret";
const SUB_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The forge token: it must never reach the agent, a prompt, a log or an
/// API answer.
const TOKEN: &str = "ghs_forgeTokenNeverInTheAgent0123456789";
pub(crate) const REPO: &str = "Codertocat/Hello-World";
pub(crate) const BOT: &str = "hookline-bot";

/// The agent: commits a line, asks for `outputs`, keeps its environment
/// and prompt for the test, and takes `AGENT_SLEEP` seconds.
pub(crate) const AGENT: &str = r#"cd "$HOOKLINE_WORKSPACE"
echo "change by $HOOKLINE_RUN_ID attempt $HOOKLINE_ATTEMPT" >> CHANGES.md
git add CHANGES.md
git commit -q -m "Note $HOOKLINE_RUN_ID"
env > "$OUT_DIR/env-$HOOKLINE_RUN_ID-$HOOKLINE_ATTEMPT"
cp "$HOOKLINE_PROMPT_FILE" "$OUT_DIR/prompt-$HOOKLINE_RUN_ID"
echo "$HOOKLINE_RUN_ID" >> "$OUT_DIR/runs"
[ ! -f "$OUT_DIR/outputs" ] || cat "$OUT_DIR/outputs" >> "$HOOKLINE_OUTPUTS_FILE"
echo '{"type":"summary","text":"Noted the change in CHANGES.md."}' >> "$HOOKLINE_OUTPUTS_FILE"
sleep "$AGENT_SLEEP""#;

/// The forge, its contract checker, a subscriber and a repository.
pub(crate) struct World {
    dir: tempfile::TempDir,
    origin: PathBuf,
    pub(crate) forge: FakeGitHub,
    prism: Prism,
    subscriber: Receiver,
}

impl World {
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let origin = bare_origin(dir.path(), "Hello-World");
        let repos = HashMap::from([(REPO.to_owned(), origin.clone())]);
        let forge = FakeGitHub::start(TOKEN, BOT, repos, github_examples()).await;
        let prism = Prism::start(&format!("http://{}", forge.addr));
        let subscriber = Receiver::start(|_, _| 200).await;
        Self {
            dir,
            origin,
            forge,
            prism,
            subscriber,
        }
    }

    pub(crate) fn out(&self) -> &Path {
        self.dir.path()
    }

    /// The catalog: agent `fixer` on labelled issues, with `extra` lines.
    pub(crate) fn catalog(&self, sleep: u32, extra: &str) -> Catalog {
        let agent = script(self.out(), "agent.sh", AGENT);
        let runner = format!(r#"{{ type = "command", command = ["{agent}"] }}"#);
        self.catalog_with(
            &runner,
            &format!(
                r#"env = {{ OUT_DIR = "{}", AGENT_SLEEP = "{sleep}" }}"#,
                self.out().display()
            ),
            extra,
        )
    }

    /// The catalog with agent `fixer`'s `runner` and the profile's `env`
    /// (and other) lines.
    pub(crate) fn catalog_with(&self, runner: &str, profile: &str, extra: &str) -> Catalog {
        let text = format!(
            r#"
[sources.github]
provider = "github"
secrets = ["{SECRET}"]

[profiles.forge]
{profile}
secrets = {{ FORGE_TOKEN = {{ secret = "{TOKEN}", scope = "forge" }} }}
forge = {{ api_url = "{api}", token = "FORGE_TOKEN", login = "{BOT}" }}

[agents.fixer]
prompt = "Fix issue {{{{body.issue.number}}}}. Before: {{{{previous.summary}}}} run {{{{previous.runId}}}} ({{{{previous.reason}}}})"
runner = {runner}
profile = "forge"
repository = "{origin}"
push = true
pull_request = {{ draft = true, title = "Fix #{{{{body.issue.number}}}}: {{{{body.issue.title}}}}" }}
status_comment = true
mention = "@hookline"
triggers = [{{ source = "github", events = ["issues"], actions = ["labeled"], labels = ["bug"] }}]
sandbox_paths = {{ write = ["{out}"] }}
{extra}

[subscriptions.all]
url = "{subscriber}"
secrets = ["{SUB_SECRET}"]
"#,
            out = self.out().display(),
            api = self.prism.url,
            origin = self.origin.display(),
            subscriber = self.subscriber.url(),
        );
        let catalog = Catalog::parse(&text).expect("parse");
        catalog.validate().expect("valid");
        catalog
    }

    /// The commits on `branch` in the origin, newest first.
    pub(crate) fn commits(&self, branch: &str) -> Vec<String> {
        let log = git(&self.origin, &["log", "--format=%s", branch]);
        log.lines().map(str::to_owned).collect()
    }

    pub(crate) fn assert_contract_kept(&self) {
        assert!(self.prism.forwarded() > 0, "nothing went through Prism");
        let violations = self.prism.violations();
        assert!(
            violations.is_empty(),
            "GitHub's contract broken:\n{}",
            violations.join("\n")
        );
    }
}

pub(crate) async fn send(pipeline: &Pipeline, event: &str, delivery: &str, body: &Value) -> String {
    let url = pipeline.webhook_url("github");
    let (status, answer) = post_github(&url, SECRET, event, delivery, &body.to_string()).await;
    // 200 with `duplicate` for a delivery id seen before.
    assert!(
        status == 202 || (status == 200 && answer["duplicate"] == true),
        "{status} {answer}"
    );
    answer["event_id"].as_str().expect("event id").to_owned()
}

/// The run `agent` got for `event_id`, once its record satisfies `done`.
pub(crate) async fn run_of(
    pipeline: &Pipeline,
    event_id: &str,
    what: &str,
    done: impl Fn(&RunRecord) -> bool,
) -> RunRecord {
    let records = Records::new(&pipeline.nats);
    eventually(what, || async {
        let (_, page) = pipeline.admin("GET", "/v1/runs?limit=100", Value::Null).await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let Some(run_id) = items
            .iter()
            .find(|r| r["event_id"] == event_id)
            .and_then(|r| r["run_id"].as_str().map(str::to_owned))
        else {
            return Err(format!("no run yet: {page}"));
        };
        match records.get(&run_id).await {
            Ok(Some(record)) if done(&record) => Ok(record),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

pub(crate) fn finished(record: &RunRecord) -> bool {
    record.is_done() && record.forge.as_ref().is_some_and(|f| f.comment_final)
}

pub(crate) fn labelled_issue() -> Value {
    webhook_example("issues", "labeled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_labelled_issue_gets_one_draft_pull_request_and_one_comment_that_ends_final() {
    let world = World::start().await;
    let pipeline = Pipeline::start(&world.catalog(1, ""), &[]).await;
    let issue = labelled_issue();
    let event_id = send(&pipeline, "issues", "labeled-1", &issue).await;
    // GitHub redelivers with the same delivery id.
    assert_eq!(send(&pipeline, "issues", "labeled-1", &issue).await, event_id);
    let record = run_of(&pipeline, &event_id, "the run, final on the forge", finished).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:?}");
    let branch = format!("hookline/fixer/{}", record.run_id);

    let pulls = world.forge.with(|s| s.pulls.clone());
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{}/log", record.run_id), Value::Null)
        .await;
    assert_eq!(pulls.len(), 1, "{pulls:?} {log:#}");
    let pull = &pulls[0];
    assert!(pull.draft);
    assert_eq!((pull.head.as_str(), pull.base.as_str()), (branch.as_str(), "main"));
    assert_eq!(
        pull.title,
        format!("Fix #1: {}", issue["issue"]["title"].as_str().expect("title"))
    );
    assert!(pull.body.contains("For #1."), "linked to its issue: {}", pull.body);
    let comments = world.forge.comments(REPO, 1);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let history = &comments[0].history;
    assert!(history[0].contains("preparing the workspace"), "{history:#?}");
    assert!(
        history.iter().any(|t| t.contains("the agent is working")),
        "{history:#?}"
    );
    let last = history.last().expect("final text");
    assert!(last.contains("✅ Succeeded"), "{last}");
    assert!(
        last.contains(&format!("https://github.com/{REPO}/pull/{}", pull.number)),
        "{last} {log:#} {:?}",
        world.prism.violations()
    );
    assert!(
        last.contains("> Noted the change in CHANGES.md."),
        "the agent's summary: {last}"
    );
    let forge = record.forge.clone().expect("forge record");
    assert_eq!(forge.pull_request.map(|p| p.number), Some(pull.number));
    assert_eq!(forge.comment_id, Some(comments[0].id));

    let received = world
        .subscriber
        .wait_until("code.generated, pull_request.opened and run.completed", |r| {
            ["code.generated", "pull_request.opened", "run.completed"]
                .iter()
                .all(|t| r.iter().any(|x| x.json()["type"] == *t))
        })
        .await;
    let of = |t: &str| {
        received
            .iter()
            .filter(|x| x.json()["type"] == t)
            .map(|x| x.json()["data"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(of("pull_request.opened").len(), 1);
    world.subscriber.assert_events_match_catalog();
    assert_eq!(of("code.generated")[0]["pull_request"]["number"], pull.number);
    let url = format!("https://github.com/{REPO}/pull/{}", pull.number);
    assert_eq!(of("run.completed")[0]["pull_request_url"], url.as_str());

    // The token reached none of what the agent saw, nor the log, nor the API.
    let env = std::fs::read_to_string(world.out().join(format!("env-{}-1", record.run_id))).expect("env");
    assert!(
        env.contains("HOOKLINE_OUTPUTS_FILE="),
        "the dump is the agent's environment"
    );
    let prompt = std::fs::read_to_string(world.out().join(format!("prompt-{}", record.run_id))).expect("prompt");
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{}/log", record.run_id), Value::Null)
        .await;
    assert!(log.to_string().contains("pull request #"), "the run log: {log}");
    let (_, answer) = pipeline
        .admin("GET", &format!("/v1/runs/{}", record.run_id), Value::Null)
        .await;
    let (_, profile) = pipeline.admin("GET", "/v1/profiles/forge", Value::Null).await;
    for (what, text) in [
        ("environment", env),
        ("prompt", prompt),
        ("log", log.to_string()),
        ("run answer", answer.to_string()),
        ("profile answer", profile.to_string()),
    ] {
        assert!(!text.contains(TOKEN), "the forge token is in the {what}");
    }
    assert!(
        world
            .forge
            .with(|s| s.requests.iter().all(|r| r.authorization == format!("Bearer {TOKEN}"))),
        "every forge call carried the token"
    );
    world.assert_contract_kept();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outputs_beyond_the_policy_are_refused_and_recorded_and_a_preview_changes_nothing() {
    let world = World::start().await;
    let asks = [
        json!({"type": "comment", "body": "First finding, cc @octocat"}),
        json!({"type": "comment", "body": "Second"}),
        json!({"type": "comment", "body": "Third"}),
        json!({"type": "labels", "labels": ["admin"]}),
    ];
    let lines: Vec<String> = asks.iter().map(Value::to_string).collect();
    std::fs::write(world.out().join("outputs"), lines.join("\n") + "\n").expect("outputs");
    let extra = r#"outputs = { comments = 1, labels = ["bug"] }"#;
    let mut catalog = world.catalog(0, extra);
    let fixer = catalog.agents.get_mut("fixer").expect("fixer");
    fixer.status_comment = false;
    // The same agent again, previewing only, on another issue label.
    let mut preview = fixer.clone();
    preview.outputs_preview = true;
    preview.triggers[0].labels = vec!["preview".into()];
    catalog.agents.insert("previewer".into(), preview);
    let pipeline = Pipeline::start(&catalog, &[]).await;

    let event_id = send(&pipeline, "issues", "outputs-1", &labelled_issue()).await;
    let record = run_of(&pipeline, &event_id, "the run with outputs", RunRecord::is_done).await;
    let comments = world.forge.comments(REPO, 1);
    assert_eq!(comments.len(), 1, "exactly one comment: {comments:#?}");
    assert!(
        comments[0].body.starts_with("First finding, cc `@octocat`"),
        "{}",
        comments[0].body
    );
    assert!(world.forge.with(|s| s.labels.is_empty()), "no label");
    let outputs = record.forge.expect("forge record").outputs;
    let refused: Vec<(String, String)> = outputs
        .iter()
        .filter(|o| o.outcome == hookline_model::forge_state::OutputOutcome::Refused)
        .map(|o| (o.kind.clone(), o.reason.clone()))
        .collect();
    assert_eq!(
        refused,
        [
            ("comment".to_owned(), "the policy allows 1 comment(s)".to_owned()),
            ("comment".to_owned(), "the policy allows 1 comment(s)".to_owned()),
            ("labels".to_owned(), "not among the allowed labels (bug)".to_owned()),
        ]
    );

    let mut issue = labelled_issue();
    issue["issue"]["number"] = json!(2);
    issue["label"]["name"] = json!("preview");
    issue["issue"]["labels"] = json!([{"name": "preview"}]);
    let requests_before = world.forge.with(|s| s.requests.len());
    let event_id = send(&pipeline, "issues", "outputs-2", &issue).await;
    let record = run_of(&pipeline, &event_id, "the previewed run", RunRecord::is_done).await;
    let outputs = record.forge.expect("forge record").outputs;
    assert!(
        outputs
            .iter()
            .any(|o| o.kind == "comment" && o.outcome == hookline_model::forge_state::OutputOutcome::Previewed),
        "{outputs:?}"
    );
    assert!(world.forge.comments(REPO, 2).is_empty(), "a preview comments nothing");
    let writes: Vec<String> = world.forge.with(|s| {
        s.requests[requests_before..]
            .iter()
            .filter(|r| r.method != "GET" && !r.path.ends_with("/pulls"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    });
    assert!(writes.is_empty(), "a preview wrote only its pull request: {writes:?}");
    world.assert_contract_kept();
}
