//! Configuration applied idempotently and live, and an agent's event that
//! breaks its schema refused at the source.

use super::e2e::*;
use hookline_tests::{Pipeline, Receiver, script};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configuration_applies_idempotently_and_live() {
    let dir = tempfile::tempdir().expect("tmp");
    let subscriber = Receiver::start(|_, _| 200).await;
    let mut catalog = catalog("/bin/true", dir.path(), &subscriber.url());
    let pipeline = Pipeline::start(&catalog, &[]).await;
    let again = hookline_bus::store::apply(&pipeline.nats, &catalog, false)
        .await
        .expect("apply");
    assert!(
        again.created.is_empty() && again.updated.is_empty() && again.removed.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.unchanged, 4);

    // Disabled and enabled again through the API: the object equals the
    // file again, whatever order the API wrote its fields in.
    for action in ["disable", "enable"] {
        let (status, answer) = pipeline
            .admin("POST", &format!("/v1/sources/github/{action}"), serde_json::Value::Null)
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let after_toggle = hookline_bus::store::apply(&pipeline.nats, &catalog, true)
        .await
        .expect("dry run");
    assert!(after_toggle.updated.is_empty(), "{after_toggle:?}");
    assert_eq!(after_toggle.unchanged, 4);

    // Disabling the source in the bucket takes effect without a restart.
    catalog.sources.get_mut("github").expect("github").enabled = false;
    let report = hookline_bus::store::apply(&pipeline.nats, &catalog, false)
        .await
        .expect("apply");
    assert_eq!(report.updated, ["source.github"]);
    assert_eq!(
        report.changed_fields["source.github"],
        ["enabled"],
        "the diff names the field"
    );
    let body = issue_labeled("live");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let (status, answer) = send_github(&pipeline, "d-live", &body, GITHUB_SECRET).await;
        if status == 403 {
            assert_eq!(answer["error"]["code"], "source_disabled");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {status} a second after disabling"
        );
    }
    catalog.sources.clear();
    catalog.agents.clear();
    let dry = hookline_bus::store::apply(&pipeline.nats, &catalog, true)
        .await
        .expect("dry run");
    assert_eq!(dry.removed, ["agent.triage", "source.github"]);
    let (status, _) = send_github(&pipeline, "d-live-2", &body, GITHUB_SECRET).await;
    assert_eq!(status, 403, "a dry run changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_that_breaks_its_schema_is_refused_at_the_source_and_the_run_goes_on() {
    let dir = tempfile::tempdir().expect("tmp");
    let agent = script(
        dir.path(),
        "agent.sh",
        r#"echo '{"type":"deployment.failed","data":{"service":"api"}}' >> "$HOOKLINE_EVENTS_FILE"
echo '{"type":"deployment.rollback","data":{"service":"api","to_version":"1.2.2"}}' >> "$HOOKLINE_EVENTS_FILE"
echo '{"type":"run.completed","data":{"forged":true}}' >> "$HOOKLINE_EVENTS_FILE""#,
    );
    let subscriber = Receiver::start(|_, _| 200).await;
    let pipeline = Pipeline::start(&catalog(&agent, dir.path(), &subscriber.url()), &[]).await;
    let (status, answer) = send_github(&pipeline, "bad-1", &issue_labeled("x"), GITHUB_SECRET).await;
    assert_eq!(status, 202, "{answer}");
    let received = subscriber
        .wait_until("run.completed and the valid rollback", |all| {
            let has = |t: &str| all.iter().any(|r| r.json()["type"] == t);
            has("run.completed") && has("deployment.rollback")
        })
        .await;
    let completed = received
        .iter()
        .map(|r| r.json())
        .find(|b| b["type"] == "run.completed")
        .expect("completed");
    assert_eq!(completed["data"]["status"], "succeeded", "the run is not failed for it");
    assert!(
        completed["data"].get("forged").is_none(),
        "an agent cannot emit Hookline's own events"
    );
    assert!(
        received.iter().all(|r| r.json()["type"] != "deployment.failed"),
        "the invalid event is never delivered"
    );
    subscriber.assert_events_match_catalog();
    let run_id = completed["data"]["run_id"].as_str().expect("run id");
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{run_id}/log"), serde_json::Value::Null)
        .await;
    let lines: Vec<String> = log["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["line"].as_str().map(str::to_owned))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("event refused: deployment.failed does not match its schema") && l.contains("reason")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("run.completed is emitted by Hookline only")),
        "{lines:#?}"
    );
}
