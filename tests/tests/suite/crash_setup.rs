//! What a crash scenario starts from: the agent, the catalog, and webhooks
//! sent until one is accepted.

use super::crash::*;
use hookline_model::catalog::Catalog;
use hookline_providers::Provider;
use hookline_tests::{script, signed_headers, try_call};
use std::path::Path;
use std::time::{Duration, Instant};

/// Holds a lock per run while it works, so a second process of the same
/// run at the same time is seen (the lock dies with its holder, `sleep`
/// does not inherit it); every start is recorded with its attempt.
pub(crate) fn write_agent(dir: &Path) -> String {
    script(
        dir,
        "agent.sh",
        r#"exec 9>"$OUT_DIR/lock-$HOOKLINE_RUN_ID"
if ! flock -n 9; then echo "$HOOKLINE_RUN_ID $HOOKLINE_ATTEMPT" >> "$OUT_DIR/overlaps"; fi
echo "$HOOKLINE_RUN_ID $HOOKLINE_ATTEMPT" >> "$OUT_DIR/starts"
sleep 1.5 9>&-
echo "$HOOKLINE_RUN_ID $HOOKLINE_ATTEMPT" >> "$OUT_DIR/ends""#,
    )
}

pub(crate) fn catalog(agent: &str, out: &Path, subscriber: &str) -> Catalog {
    let text = format!(
        r#"
[sources.github]
provider = "github"
secrets = ["{SECRET}"]

[profiles.crash]
env = {{ OUT_DIR = "{out}" }}

[agents.crash]
prompt = "Issue {{{{body.issue.title}}}}"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "crash"
timeout = "60s"
max_concurrency = 8
triggers = [{{ source = "github", events = ["issues"], actions = ["labeled"], labels = ["agent"] }}]
sandbox_paths = {{ write = ["{out}"] }}

[subscriptions.sink]
url = "{subscriber}"
events = ["run.*"]
secrets = ["{SUB_SECRET}"]
"#,
        out = out.display()
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

pub(crate) fn issue_labeled(n: usize) -> String {
    serde_json::json!({
        "action": "labeled",
        "label": {"name": "agent"},
        "issue": {"number": n, "title": format!("crash {n}"), "labels": [{"name": "agent"}],
                  "user": {"login": "alice"}, "author_association": "OWNER"},
        "repository": {"full_name": "acme/api", "owner": {"login": "acme"}},
        "sender": {"login": "alice"}
    })
    .to_string()
}

/// Sends webhook `n` until ingest answers 2xx, as a provider retries;
/// answers the event id ingest gave it.
pub(crate) async fn send_until_accepted(url: String, n: usize) -> String {
    let body = issue_labeled(n);
    let delivery = format!("crash-delivery-{n}");
    let deadline = Instant::now() + CONVERGE;
    loop {
        let signed = signed_headers(Provider::Github, SECRET, "issues", &delivery, &body);
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        headers.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Ok(answer) = try_call("POST", &url, &headers, body.clone()).await
            && (answer.status == 200 || answer.status == 202)
        {
            return answer.json()["event_id"].as_str().expect("an event id").to_owned();
        }
        assert!(Instant::now() < deadline, "webhook {n} never accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
