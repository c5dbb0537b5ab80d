//! `ordered = "run"`: 100 runs' events published at once, interleaved, to
//! a slow endpoint that also fails some first attempts: each run's events
//! arrive in the order they were emitted (a later one is never sent before
//! the earlier one got its 2xx), while the runs overlap.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use hookline_model::catalog::Catalog;
use hookline_model::clock;
use hookline_model::subjects::MSG_ID;
use hookline_proto::{Event, Message as _};
use hookline_tests::{Pipeline, Receiver, Service};
use serde_json::json;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const RUNS: usize = 100;
/// Each run's events, in the order its executor emits them.
const SEQUENCE: [&str; 3] = ["run.started", "code.reviewed", "run.completed"];

fn event(run: usize, step: usize) -> Event {
    let run_id = format!("run-{run:03}");
    let data = match step {
        0 => json!({"run_id": run_id, "agent": "a", "attempt": 1, "status": "running"}),
        1 => json!({"summary": format!("review of {run_id}")}),
        _ => {
            json!({"run_id": run_id, "agent": "a", "attempt": 1, "status": "succeeded", "duration_ms": 5, "will_retry": false})
        }
    };
    Event {
        id: clock::new_id(),
        r#type: SEQUENCE[step].to_owned(),
        timestamp_ms: clock::now_ms(),
        data_json: data.to_string().into_bytes(),
        run_id,
        agent: "a".to_owned(),
        source_event_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_run_s_events_arrive_in_emitted_order_while_runs_overlap() {
    // Slow, and the first attempt of every seventh run's review fails: the
    // run's completion must wait behind its retry.
    let subscriber = Receiver::start_slow(Duration::from_millis(30), |r, before| {
        let body = r.json();
        let run: usize = body["run_id"].as_str().unwrap_or("run-000")[4..].parse().unwrap_or(0);
        if body["type"] == "code.reviewed" && run.is_multiple_of(7) && before == 0 {
            503
        } else {
            200
        }
    })
    .await;
    let text = format!(
        "[subscriptions.ops]\nurl = \"{}\"\nsecrets = [\"{SECRET}\"]\nordered = \"run\"\n",
        subscriber.url()
    );
    let catalog = Catalog::parse(&text).expect("catalog");
    catalog.validate().expect("valid");
    assert_eq!(
        catalog.subscriptions["ops"].ordered,
        hookline_model::catalog::Ordering::Run
    );
    let settings = [("HOOKLINE_RETRY_SCHEDULE", "300ms,300ms,300ms")];
    let pipeline = Pipeline::start_services(&catalog, &settings, &[Service::Notifier]).await;

    // Interleaved: every run's first event, then every run's second, …
    let mut acks = Vec::new();
    for step in 0..SEQUENCE.len() {
        for run in 0..RUNS {
            let event = event(run, step);
            let mut headers = HeaderMap::new();
            headers.insert(MSG_ID, event.id.as_str());
            let ack = pipeline
                .nats
                .js
                .send_publish(
                    format!("hookline.events.{}", event.r#type),
                    PublishMessage::build()
                        .payload(Bytes::from(event.encode_to_vec()))
                        .headers(headers),
                )
                .await
                .expect("publish");
            acks.push(ack);
        }
    }
    for ack in acks {
        ack.await.expect("stored");
    }

    let mut received = subscriber
        .wait_until("every run's completion delivered", |all| {
            all.iter()
                .filter(|r| r.status == 200 && r.json()["type"] == "run.completed")
                .count()
                == RUNS
        })
        .await;
    received.sort_by_key(|r| r.at);
    let step_of = |t: &str| SEQUENCE.iter().position(|s| *s == t).expect("a known type");
    let mut by_run: HashMap<String, Vec<(usize, u16, std::time::Instant)>> = HashMap::new();
    for r in &received {
        let body = r.json();
        let run = body["run_id"].as_str().expect("the envelope names the run").to_owned();
        by_run
            .entry(run)
            .or_default()
            .push((step_of(body["type"].as_str().unwrap_or("")), r.status, r.at));
    }
    assert_eq!(by_run.len(), RUNS);
    let mut retried = 0;
    for (run, attempts) in &by_run {
        for (i, (step, _, at)) in attempts.iter().enumerate() {
            if *step == 0 {
                continue;
            }
            // The event before it had its 2xx before this attempt began.
            // (Each answer takes the endpoint 30 ms after the request arrives.)
            let ready = attempts[..i]
                .iter()
                .any(|(s, status, came)| *s == step - 1 && *status == 200 && *came + Duration::from_millis(30) <= *at);
            assert!(
                ready,
                "{run}: {} sent before {} was delivered: {attempts:?}",
                SEQUENCE[*step],
                SEQUENCE[step - 1]
            );
        }
        let delivered: Vec<usize> = attempts
            .iter()
            .filter(|(_, status, _)| *status == 200)
            .map(|(step, _, _)| *step)
            .collect();
        assert_eq!(delivered, [0, 1, 2], "{run}: each event delivered once, in order");
        retried += usize::from(attempts.len() > SEQUENCE.len());
    }
    assert_eq!(retried, RUNS.div_ceil(7), "every seventh run's review was retried");
    // The runs overlapped: arrivals switch from run to run far more often
    // than once per run.
    let switches = received
        .windows(2)
        .filter(|w| w[0].json()["run_id"] != w[1].json()["run_id"])
        .count();
    assert!(
        switches > RUNS * 2,
        "runs delivered one after another ({switches} switches)"
    );
}
