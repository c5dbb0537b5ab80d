//! Inbound events after the fact: listed with what each started, read as
//! stored, and replayed to an agent; a preview replay runs the agent and
//! keeps its diff, but pushes nothing to the origin.

use hookline_bus::runs::RunStatus;
use hookline_tests::git::{bare_origin, git};
use hookline_tests::{Pipeline, eventually, script};
use serde_json::{Value, json};

use super::executor::{catalog, send_issue, wait_for_events};

/// A pipeline whose agent commits `FIX.md` on its branch and pushes it,
/// and its origin, after one issue's run completed.
pub(crate) async fn one_fix(dir: &std::path::Path, delivery: &str) -> (Pipeline, std::path::PathBuf) {
    let origin = bare_origin(dir, "repo");
    let agent = script(
        dir,
        "agent.sh",
        r#"cd "$HOOKLINE_WORKSPACE"
echo "fixed" > FIX.md
git add FIX.md
git commit --quiet -m "Fix the crash""#,
    );
    let extra = format!("repository = \"{}\"\npush = true\n", origin.display());
    let pipeline = Pipeline::start(&catalog(&agent, dir, &extra), &[]).await;
    send_issue(&pipeline, delivery, "Crash on start").await;
    wait_for_events(&pipeline, |e| e.iter().any(|e| e.r#type == "run.completed")).await;
    (pipeline, origin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stored_event_is_listed_read_and_replayed_as_a_preview_that_pushes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (pipeline, origin) = one_fix(dir.path(), "replay-1").await;

    // Listed, with the agent it started; read back as stored.
    let (status, events) = pipeline.admin("GET", "/v1/events", Value::Null).await;
    assert_eq!(status, 200, "{events}");
    let listed = &events["items"][0];
    assert_eq!(listed["source"], "gh");
    assert_eq!(listed["started"], json!(["worker"]), "{events}");
    assert_eq!(listed["context"]["event"], "issues");
    let event_id = listed["event_id"].as_str().expect("event id").to_owned();
    let (status, stored) = pipeline
        .admin("GET", &format!("/v1/events/{event_id}"), Value::Null)
        .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["body"]["issue"]["title"], "Crash on start");
    let headers = stored["headers"].to_string().to_ascii_lowercase();
    assert!(
        headers.contains("x-github-event") && !headers.contains("x-hub-signature"),
        "the signature was never stored: {headers}"
    );

    // A preview replay: the agent runs and its diff is kept; the origin
    // gets nothing.
    let refs_before = git(&origin, &["for-each-ref", "--format=%(refname) %(objectname)"]);
    let (status, replayed) = pipeline
        .admin(
            "POST",
            &format!("/v1/events/{event_id}/replay"),
            json!({"agent": "worker", "preview": true}),
        )
        .await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(replayed["preview"], true);
    let run_id = replayed["run_id"].as_str().expect("run id").to_owned();
    let records = hookline_bus::runs::Records::new(&pipeline.nats);
    let record = eventually("the replay to end", || async {
        match records.get(&run_id).await {
            Ok(Some(r)) if r.is_done() => Ok(r),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(record.status, RunStatus::Succeeded, "{record:?}");
    assert_eq!(record.event_id, event_id, "the replay names the event it replays");
    assert!(record.forge.is_none());
    // Its artifacts are stored a moment after its record is final.
    crate::sessions::kept(&pipeline, &run_id).await;
    let (status, diff) = pipeline
        .admin_raw("GET", &format!("/v1/runs/{run_id}/diff"), Value::Null)
        .await;
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&diff).contains("+fixed"),
        "the preview's diff is kept"
    );
    assert_eq!(
        git(&origin, &["for-each-ref", "--format=%(refname) %(objectname)"]),
        refs_before,
        "nothing was pushed"
    );
    let (_, log) = pipeline
        .admin("GET", &format!("/v1/runs/{run_id}/log"), Value::Null)
        .await;
    assert!(log.to_string().contains("preview: nothing is pushed"), "{log}");

    // A replay names an agent that exists, and only known fields.
    let (status, _) = pipeline
        .admin(
            "POST",
            &format!("/v1/events/{event_id}/replay"),
            json!({"agent": "nobody"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = pipeline
        .admin(
            "POST",
            &format!("/v1/events/{event_id}/replay"),
            json!({"agent": "worker", "push": true}),
        )
        .await;
    assert_eq!(status, 400);
}
