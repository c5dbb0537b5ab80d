//! End to end, all parts real: nats-server, the four services, the agent as a
//! real process, real local HTTP subscribers.

use std::path::Path;

use hookline_model::catalog::{Catalog, Provider};
use hookline_model::signing;
use hookline_model::subjects::StreamKind;
use hookline_proto::{DeadLetter, Message as _};
use hookline_tests::{Pipeline, Receiver, Service, post, post_signed, script};

pub(crate) const GITHUB_SECRET: &str = "gh-webhook-secret";
pub(crate) const SUB_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A real agent: saves its stdin and prompt file, emits deployment.failed.
pub(crate) fn write_agent(dir: &Path) -> String {
    script(
        dir,
        "agent.sh",
        r#"cat > "$OUT_DIR/stdin-$HOOKLINE_RUN_ID.txt"
cp "$HOOKLINE_PROMPT_FILE" "$OUT_DIR/prompt-$HOOKLINE_RUN_ID.txt"
echo '{"type":"deployment.failed","data":{"service":"api","reason":"smoke test"}}' >> "$HOOKLINE_EVENTS_FILE"
echo "agent done""#,
    )
}

pub(crate) fn catalog(agent: &str, out_dir: &Path, subscriber: &str) -> Catalog {
    let text = format!(
        r#"
[sources.github]
provider = "github"
secrets = ["{GITHUB_SECRET}"]

[profiles.test]
env = {{ OUT_DIR = "{out}" }}

[agents.triage]
prompt = "Issue {{{{body.issue.title}}}} in {{{{repo}}}} ({{{{event}}}}/{{{{action}}}}).\n{{{{bodyJson}}}}"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "test"
timeout = "30s"
triggers = [{{ source = "github", events = ["issues"], actions = ["labeled"], labels = ["agent"] }}]
sandbox_paths = {{ write = ["{out}"] }}

[subscriptions.ops]
url = "{subscriber}"
events = ["run.*", "deployment.>"]
secrets = ["{SUB_SECRET}"]
"#,
        out = out_dir.display()
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

pub(crate) fn issue_labeled(title: &str) -> Vec<u8> {
    serde_json::json!({
        "action": "labeled",
        "label": {"name": "agent"},
        "issue": {"number": 7, "title": title, "labels": [{"name": "agent"}], "user": {"login": "alice"}},
        "repository": {"full_name": "acme/api", "owner": {"login": "acme"}},
        "sender": {"login": "alice"}
    })
    .to_string()
    .into_bytes()
}

/// The trace every webhook in these tests starts.
pub(crate) const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

pub(crate) async fn send_github(
    pipeline: &Pipeline,
    delivery: &str,
    body: &[u8],
    secret: &str,
) -> (u16, serde_json::Value) {
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let body = std::str::from_utf8(body).expect("JSON text");
    let url = pipeline.webhook_url("github");
    let trace = [("traceparent", traceparent.as_str())];
    post_signed(Provider::Github, &url, secret, "issues", delivery, body, &trace).await
}

pub(crate) fn verify_signed(received: &hookline_tests::Received) {
    let webhook = standardwebhooks::Webhook::new(SUB_SECRET).expect("secret");
    webhook
        .verify(&received.body, &received.headers)
        .unwrap_or_else(|e| panic!("signature of {} does not verify: {e:?}", received.json()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_labeled_issue_runs_the_agent_and_the_subscriber_gets_signed_events() {
    let dir = tempfile::tempdir().expect("tmp");
    let agent = write_agent(dir.path());
    // deployment.failed is refused twice, then accepted.
    let subscriber = Receiver::start(|r, before| {
        if r.json()["type"] == "deployment.failed" && before < 2 {
            500
        } else {
            200
        }
    })
    .await;
    let pipeline = Pipeline::start(
        &catalog(&agent, dir.path(), &subscriber.url()),
        &[("HOOKLINE_RETRY_SCHEDULE", "200ms,400ms,800ms")],
    )
    .await;

    let title = "Crash when the title has {{bodyJson}} in it";
    let (status, answer) = send_github(&pipeline, "d-1", &issue_labeled(title), GITHUB_SECRET).await;
    assert_eq!(status, 202, "{answer}");
    let event_id = answer["event_id"].as_str().expect("event id").to_owned();

    let received = subscriber
        .wait_until("run.started, deployment.failed (third try) and run.completed", |all| {
            let ok = |t: &str| all.iter().any(|r| r.json()["type"] == t && r.status == 200);
            ok("run.started") && ok("deployment.failed") && ok("run.completed")
        })
        .await;
    for r in &received {
        verify_signed(r);
        assert!(r.headers.get("x-hookline-signature").is_some());
        assert!(
            r.header("traceparent").contains(TRACE_ID),
            "one webhook is one trace: {:?}",
            r.headers
        );
        assert!(r.header("user-agent").starts_with("Hookline/"));
    }
    let failed: Vec<_> = received
        .iter()
        .filter(|r| r.json()["type"] == "deployment.failed")
        .collect();
    assert_eq!(
        failed.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 200],
        "three attempts"
    );
    let ids: Vec<_> = failed.iter().map(|r| r.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0] && !id.is_empty()),
        "same webhook-id: {ids:?}"
    );
    assert_eq!(failed[2].json()["data"]["service"], "api");
    let completed = received
        .iter()
        .find(|r| r.json()["type"] == "run.completed")
        .expect("completed");
    assert_eq!(completed.json()["data"]["exit_code"], 0);
    assert_eq!(completed.json()["data"]["event_id"], event_id.as_str());
    assert!(completed.json()["data"]["duration_ms"].is_u64());
    let run_id = completed.json()["data"]["run_id"].as_str().expect("run id").to_owned();

    // Every event matches its schema, and the envelope names the run, its
    // agent and the webhook that started it (the agent's own event too).
    subscriber.assert_events_match_catalog();
    for r in &received {
        let body = r.json();
        assert_eq!(
            (&body["run_id"], &body["agent"], &body["event_id"]),
            (
                &serde_json::json!(run_id),
                &serde_json::json!("triage"),
                &serde_json::json!(event_id)
            ),
            "{body}"
        );
    }

    // The agent got the rendered prompt on stdin and in its prompt file.
    let stdin = std::fs::read_to_string(dir.path().join(format!("stdin-{run_id}.txt"))).expect("stdin saved");
    let file = std::fs::read_to_string(dir.path().join(format!("prompt-{run_id}.txt"))).expect("prompt saved");
    assert_eq!(stdin, file);
    assert!(
        stdin.contains(
            "Issue <untrusted-webhook-data>Crash when the title has {{bodyJson}} in it</untrusted-webhook-data> in acme/api (issues/labeled)."
        ),
        "{stdin}"
    );
    assert!(
        stdin.contains("<untrusted-webhook-data>\n{\n  \"action\": \"labeled\""),
        "{stdin}"
    );
    assert_eq!(
        stdin.matches("\"number\": 7").count(),
        1,
        "bodyJson rendered once, never re-expanded: {stdin}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_request_cannot_make_the_genuine_delivery_a_duplicate() {
    let dir = tempfile::tempdir().expect("tmp");
    let subscriber = Receiver::start(|_, _| 200).await;
    let pipeline = Pipeline::start(&catalog("/bin/true", dir.path(), &subscriber.url()), &[]).await;
    let body = issue_labeled("forgery");

    let (status, answer) = send_github(&pipeline, "real-delivery", &body, "not-the-secret").await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "signature_invalid");

    let (status, first) = send_github(&pipeline, "real-delivery", &body, GITHUB_SECRET).await;
    assert_eq!(status, 202, "the genuine delivery is stored: {first}");
    let (status, again) = send_github(&pipeline, "real-delivery", &body, GITHUB_SECRET).await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicate"], true);
    assert_eq!(
        again["event_id"], first["event_id"],
        "the duplicate names the stored event"
    );
    assert_eq!(
        pipeline.stream_messages(StreamKind::Ingest).await.len(),
        1,
        "stored once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_answers_bad_requests_with_json_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let subscriber = Receiver::start(|_, _| 200).await;
    let pipeline = Pipeline::start(&catalog("/bin/true", dir.path(), &subscriber.url()), &[]).await;
    let url = |s: &str| format!("http://{}/webhooks/{s}", pipeline.ingest);
    let good_sig = signing::github_signature(GITHUB_SECRET, b"{not json");
    let big = vec![b'x'; 300 * 1024];
    let big_sig = signing::github_signature(GITHUB_SECRET, &big);
    // (url, headers, body, status, error code, why)
    type Row<'a> = (String, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str, &'a str);
    let rows: Vec<Row> = vec![
        (
            url("nope"),
            vec![],
            b"{}".to_vec(),
            404,
            "source_not_found",
            "unknown source",
        ),
        (
            url("Bad%20Id"),
            vec![],
            b"{}".to_vec(),
            400,
            "invalid_source_id",
            "bad identifier",
        ),
        (
            url("github"),
            vec![("content-type", "application/json")],
            b"{}".to_vec(),
            401,
            "signature_missing",
            "unsigned",
        ),
        (
            url("github"),
            vec![
                ("content-type", "application/json"),
                ("x-hub-signature-256", good_sig.as_str()),
            ],
            b"{not json".to_vec(),
            400,
            "malformed_body",
            "JSON source with a broken body",
        ),
        (
            url("github"),
            vec![
                ("content-type", "application/json"),
                ("x-hub-signature-256", big_sig.as_str()),
            ],
            big.clone(),
            413,
            "payload_too_large",
            "over 256 KiB",
        ),
        (
            url("github"),
            vec![("content-type", "multipart/form-data; boundary=x")],
            b"--x--".to_vec(),
            415,
            "unsupported_media_type",
            "multipart",
        ),
    ];
    for (url, headers, body, status, code, why) in rows {
        let (got, answer) = post(&url, &headers, body).await;
        assert_eq!(got, status, "{why}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{why}");
        assert!(answer["error"]["message"].is_string(), "{why}");
    }
    assert_eq!(
        pipeline.stream_messages(StreamKind::Ingest).await.len(),
        0,
        "nothing stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_waiting_while_the_notifier_restarts_is_still_delivered() {
    let dir = tempfile::tempdir().expect("tmp");
    let agent = write_agent(dir.path());
    // The first attempt of every event fails; the retry comes 2 s later.
    let subscriber = Receiver::start(|_, before| if before == 0 { 503 } else { 200 }).await;
    let mut pipeline = Pipeline::start(
        &catalog(&agent, dir.path(), &subscriber.url()),
        &[("HOOKLINE_RETRY_SCHEDULE", "2s,2s")],
    )
    .await;
    let (status, _) = send_github(&pipeline, "d-restart", &issue_labeled("restart"), GITHUB_SECRET).await;
    assert_eq!(status, 202);
    subscriber
        .wait_until("first attempts of all three events", |all| all.len() >= 3)
        .await;
    pipeline.stop_service(Service::Notifier).await;
    let while_down = subscriber.received().len();
    pipeline.start_service(Service::Notifier).await;
    let received = subscriber
        .wait_until("every event delivered after the restart", |all| {
            all.iter().filter(|r| r.status == 200).count() >= 3
        })
        .await;
    assert!(while_down < received.len());
    for delivered in received.iter().filter(|r| r.status == 200) {
        verify_signed(delivered);
        let id = delivered.header("webhook-id");
        let tries: Vec<_> = received
            .iter()
            .filter(|r| r.header("webhook-id") == id)
            .map(|r| r.status)
            .collect();
        assert_eq!(tries, [503, 200], "one failed try, then exactly one delivery for {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exhausted_deliveries_land_in_the_dead_letter_queue() {
    let dir = tempfile::tempdir().expect("tmp");
    let subscriber = Receiver::start(|_, _| 500).await;
    let mut catalog = catalog("/bin/true", dir.path(), &subscriber.url());
    catalog.subscriptions.get_mut("ops").expect("ops").events =
        vec![hookline_model::written::Written::parse("run.started").expect("a pattern")];
    let pipeline = Pipeline::start(&catalog, &[("HOOKLINE_RETRY_SCHEDULE", "100ms,100ms")]).await;
    let (status, _) = send_github(&pipeline, "d-dlq", &issue_labeled("dlq"), GITHUB_SECRET).await;
    assert_eq!(status, 202);
    subscriber.wait_until("three attempts", |all| all.len() >= 3).await;
    let deadline = std::time::Instant::now() + hookline_tests::WAIT;
    let letters = loop {
        let letters = pipeline.stream_messages(StreamKind::Dlq).await;
        if !letters.is_empty() || std::time::Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(letters.len(), 1);
    let letter = DeadLetter::decode(letters[0].payload.as_ref()).expect("dead letter");
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.last_error, "HTTP 500");
    assert_eq!(
        letter.delivery.and_then(|d| d.event).map(|e| e.r#type).as_deref(),
        Some("run.started")
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(subscriber.received().len(), 3, "no attempt after the last");
}
