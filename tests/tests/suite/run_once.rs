//! A run happens once: its id is a pure function of (event, agent), and a
//! request for a run that already ended never runs the agent again.

use hookline_bus::runs::{self, Records, RunStatus};
use hookline_model::catalog::Catalog;
use hookline_model::clock;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Event, InboundEvent, Message as _, RunRequest, Trigger};
use hookline_tests::{Pipeline, Service, eventually, script};

fn request(run_id: &str, event_id: &str) -> RunRequest {
    RunRequest {
        run_id: run_id.to_owned(),
        agent: "once".to_owned(),
        trigger: Trigger::Webhook as i32,
        event: Some(InboundEvent {
            event_id: event_id.to_owned(),
            body: b"{}".to_vec().into(),
            ..Default::default()
        }),
        context: None,
        requested_at_ms: clock::now_ms(),
        follow_up: None,
        preview: false,
        forge_trust: None,
    }
}

/// The agent `once`, which records each start in `<out>/starts` (a folder
/// its sandbox may write).
fn once_agent() -> (tempfile::TempDir, Catalog) {
    let out = tempfile::tempdir().expect("out");
    let agent = script(
        out.path(),
        "agent.sh",
        &format!("echo \"$HOOKLINE_RUN_ID\" >> {}/starts", out.path().display()),
    );
    let text = format!(
        "[agents.once]\nprompt = \"x\"\nrunner = {{ type = \"command\", command = [\"{agent}\"] }}\nsandbox_paths = {{ write = [\"{}\"] }}\n",
        out.path().display()
    );
    (out, Catalog::parse(&text).expect("catalog"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_for_a_run_that_already_ended_does_not_run_the_agent_again() {
    let (out, catalog) = once_agent();
    let pipeline = Pipeline::start_services(&catalog, &[], &[Service::Executor]).await;
    let records = Records::new(&pipeline.nats);
    let event_id = clock::new_id();
    let run_id = runs::webhook_run_id(&event_id, clock::now_ms(), "once");

    // The first request runs the agent.
    let first = runs::Request {
        run: request(&run_id, &event_id),
        msg_id: "first".to_owned(),
    };
    runs::request(&pipeline.nats, &records, vec![first], None, "")
        .await
        .expect("requested");
    eventually("the run to succeed", || async {
        match records.get(&run_id).await {
            Ok(Some(r)) if r.status == RunStatus::Succeeded => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // The same run asked for again under a dedupe id JetStream no longer
    // remembers (as after a server restart): settled, not run.
    let again = runs::Request {
        run: request(&run_id, &event_id),
        msg_id: "second".to_owned(),
    };
    let fresh = runs::request(&pipeline.nats, &records, vec![again], None, "")
        .await
        .expect("requested");
    assert_eq!(fresh, [true], "JetStream took it as a new message");
    pipeline
        .wait_until_settled(StreamKind::Runs, "the second request to be settled")
        .await;
    let starts = std::fs::read_to_string(out.path().join("starts")).expect("starts");
    assert_eq!(
        starts.lines().collect::<Vec<_>>(),
        [run_id.as_str()],
        "the agent ran once"
    );
    let completed = pipeline
        .stream_messages(StreamKind::Events)
        .await
        .iter()
        .filter_map(|m| Event::decode(m.payload.as_ref()).ok())
        .filter(|e| e.r#type == "run.completed" && e.run_id == run_id)
        .count();
    assert_eq!(completed, 1, "one run.completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_executor_that_starts_removes_the_folders_nobody_uses() {
    let catalog =
        Catalog::parse("[agents.once]\nprompt = \"x\"\nrunner = { type = \"command\", command = [\"true\"] }\n")
            .expect("catalog");
    let mut pipeline = Pipeline::start_services(&catalog, &[], &[]).await;
    let work = tempfile::tempdir().expect("workdir");
    pipeline.set("HOOKLINE_EXECUTOR_WORKDIR", work.path().display().to_string());
    let records = Records::new(&pipeline.nats);
    let (ended, live, orphan, unknown) = (clock::new_id(), clock::new_id(), clock::new_id(), clock::new_id());
    let mut done = runs::RunRecord::queued(&ended, "once", "", clock::now_ms());
    done.status = RunStatus::Succeeded;
    records.write(&done, None).await.expect("record");
    let lease = |expires_at_ms| runs::Lease {
        owner: "another-copy".into(),
        expires_at_ms,
        ..Default::default()
    };
    let mut running = runs::RunRecord::queued(&live, "once", "", clock::now_ms());
    running.status = RunStatus::Running;
    running.lease = Some(lease(clock::now_ms() + 60_000));
    records.write(&running, None).await.expect("record");
    let mut abandoned = runs::RunRecord::queued(&orphan, "once", "", clock::now_ms());
    abandoned.status = RunStatus::Running;
    abandoned.lease = Some(lease(clock::now_ms() - 1));
    records.write(&abandoned, None).await.expect("record");
    // As a killed executor leaves them.
    for id in [&ended, &live, &orphan, &unknown] {
        std::fs::create_dir_all(work.path().join(format!("run-{id}-left")).join("repo")).expect("folder");
    }
    pipeline.start_service(Service::Executor).await;
    let folder = |id: &str| work.path().join(format!("run-{id}-left"));
    eventually("the folders nobody uses to go", || async {
        match [&ended, &orphan, &unknown].into_iter().find(|id| folder(id).exists()) {
            Some(id) => Err(format!("run-{id}-left is still there")),
            None => Ok(()),
        }
    })
    .await;
    assert!(
        folder(&live).exists(),
        "a run another copy holds a fresh lease on keeps its folder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_copies_given_one_run_at_once_take_one_lease_and_the_second_waits_for_it_to_expire_and_its_notice() {
    use hookline_executor::attempt::lease::{self, Claim};
    let pipeline = Pipeline::start_services(&Catalog::default(), &[], &[]).await;
    let records = Records::new(&pipeline.nats);
    let event_id = clock::new_id();
    let run = request(&runs::webhook_run_id(&event_id, clock::now_ms(), "once"), &event_id);
    let ttl = std::time::Duration::from_secs(1);

    // Both copies ask at the same moment: one lease, one waiter.
    let (a, b) = tokio::join!(
        lease::claim(&records, &run, "copy-a", ttl),
        lease::claim(&records, &run, "copy-b", ttl)
    );
    let (held, waited) = match (a.expect("claim a"), b.expect("claim b")) {
        (Claim::Taken(held), Claim::HeldElsewhere(wait)) | (Claim::HeldElsewhere(wait), Claim::Taken(held)) => {
            (held, wait)
        }
        _ => panic!("exactly one copy must take the lease"),
    };
    assert_eq!(held.record().await.attempt, 1);
    assert!(
        waited <= std::time::Duration::from_millis(1200),
        "{waited:?}: about the lease's time"
    );
    let holder = held.record().await.lease.expect("a lease").owner;
    let other = if holder == "copy-a" { "copy-b" } else { "copy-a" };

    // While the lease is fresh, the other copy keeps waiting, and so does
    // the holder itself when the run is redelivered to it.
    assert!(matches!(
        lease::claim(&records, &run, other, ttl).await.expect("claim"),
        Claim::HeldElsewhere(_)
    ));
    assert!(matches!(
        lease::claim(&records, &run, &holder, ttl).await.expect("claim"),
        Claim::HeldElsewhere(_)
    ));
    // The holder dies without renewing: after its lease, the other copy
    // gives notice (the holder might be alive and about to write), and
    // once the notice has run out takes the run over as attempt 2.
    drop(held);
    tokio::time::sleep(ttl + std::time::Duration::from_millis(200)).await;
    let notice = match lease::claim(&records, &run, other, ttl).await.expect("claim") {
        Claim::HeldElsewhere(wait) => wait,
        _ => panic!("an expired lease is not taken over before its notice"),
    };
    assert!(notice >= lease::TAKEOVER_GRACE, "{notice:?}");
    tokio::time::sleep(notice).await;
    match lease::claim(&records, &run, other, ttl).await.expect("claim") {
        Claim::Taken(took) => {
            let record = took.record().await;
            assert_eq!(
                (record.attempt, record.lease.as_ref().map(|l| l.owner.as_str())),
                (2, Some(other))
            );
            let mut done = record.clone();
            done.status = RunStatus::Succeeded;
            took.finish(done).await.expect("released with the final record");
        }
        _ => panic!("the expired lease was not taken over"),
    }
    // A run that ended is never taken again.
    assert!(matches!(
        lease::claim(&records, &run, "copy-c", ttl).await.expect("claim"),
        Claim::Done
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_completion_redone_after_a_crash_publishes_the_same_events_under_the_same_ids() {
    use hookline_model::outbox::PendingEvent;
    let (out, catalog) = once_agent();
    let pipeline = Pipeline::start_services(&catalog, &[], &[Service::Executor]).await;
    let records = Records::new(&pipeline.nats);
    let event_id = clock::new_id();
    let run_id = runs::webhook_run_id(&event_id, clock::now_ms(), "once");

    // An executor wrote the final record with its outbox, then died before
    // publishing it (or before clearing it).
    let mut ended = runs::RunRecord::queued(&run_id, "once", &event_id, clock::now_ms());
    ended.status = RunStatus::Succeeded;
    ended.attempt = 1;
    let at = clock::now_ms();
    let mut data = serde_json::Map::new();
    data.insert("service".into(), "api".into());
    ended.outbox = vec![
        PendingEvent::new(&run_id, "deployment.failed", data, "1/agent/0", at),
        PendingEvent::new(&run_id, "run.completed", serde_json::Map::new(), "1/run.finished", at),
    ];
    let ids: Vec<String> = ended.outbox.iter().map(|e| e.id.clone()).collect();
    records.write(&ended, None).await.expect("record");

    // Its request is redelivered, and later asked for once more under a
    // dedupe id JetStream has forgotten.
    for msg_id in ["redelivered", "again"] {
        let redo = runs::Request {
            run: request(&run_id, &event_id),
            msg_id: msg_id.to_owned(),
        };
        runs::request(&pipeline.nats, &records, vec![redo], None, "")
            .await
            .expect("requested");
        eventually("the outbox to be published and cleared", || async {
            match records.get(&run_id).await {
                Ok(Some(r)) if r.outbox.is_empty() && r.status == RunStatus::Succeeded => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    pipeline
        .wait_until_settled(StreamKind::Runs, "both requests to be settled")
        .await;
    let published: Vec<(String, String)> = pipeline
        .stream_messages(StreamKind::Events)
        .await
        .iter()
        .filter_map(|m| Event::decode(m.payload.as_ref()).ok())
        .filter(|e| e.run_id == run_id)
        .map(|e| (e.id, e.r#type))
        .collect();
    assert_eq!(
        published,
        [
            (ids[0].clone(), "deployment.failed".to_owned()),
            (ids[1].clone(), "run.completed".to_owned())
        ],
        "the outbox's events, once each, under the ids the record fixed"
    );
    assert!(!out.path().join("starts").exists(), "the agent was not run again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_cancelled_before_any_executor_took_it_never_starts() {
    let (out, catalog) = once_agent();
    let mut pipeline = Pipeline::start_services(&catalog, &[], &[Service::Admin]).await;
    let records = Records::new(&pipeline.nats);
    let event_id = clock::new_id();
    let run_id = runs::webhook_run_id(&event_id, clock::now_ms(), "once");
    let queued = runs::Request {
        run: request(&run_id, &event_id),
        msg_id: "queued".to_owned(),
    };
    runs::request(&pipeline.nats, &records, vec![queued], None, "")
        .await
        .expect("requested");

    // No executor runs yet: the cancel is decided in the record, at once.
    let (status, answer) = pipeline
        .admin("POST", &format!("/v1/runs/{run_id}/cancel"), serde_json::Value::Null)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        records.get(&run_id).await.expect("read").map(|r| r.status),
        Some(RunStatus::Cancelled)
    );
    // An executor that starts now settles the request without running it.
    pipeline.start_service(Service::Executor).await;
    pipeline
        .wait_until_settled(StreamKind::Runs, "the request to be settled")
        .await;
    assert!(!out.path().join("starts").exists(), "the agent never ran");
    let (status, _) = pipeline
        .admin("POST", &format!("/v1/runs/{run_id}/cancel"), serde_json::Value::Null)
        .await;
    assert_eq!(status, 409, "cancelled already");
}
