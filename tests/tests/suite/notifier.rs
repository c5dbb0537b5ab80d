//! The notifier against real local HTTP endpoints: the retry schedule,
//! dead letters and replay, isolation, order, the SSRF guard, redirects,
//! 410 and endpoints that only fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use hookline_bus::control::replay::{self, Selection};
use hookline_model::catalog::Catalog;
use hookline_model::clock;
use hookline_model::subjects::{ConfigKind, MSG_ID, StreamKind};
use hookline_proto::{Attempt, DeadLetter, Event, Message as _};
use hookline_tests::{Pipeline, Received, Receiver, Service, WAIT};

pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(crate) fn subscription(id: &str, url: &str, extra: &str) -> String {
    format!("[subscriptions.{id}]\nurl = \"{url}\"\nsecrets = [\"{SECRET}\"]\n{extra}\n")
}

pub(crate) async fn notifier(subscriptions: &str, settings: &[(&str, &str)]) -> Pipeline {
    let catalog = Catalog::parse(subscriptions).expect("catalog");
    catalog.validate().expect("valid");
    Pipeline::start_services(&catalog, settings, &[Service::Notifier]).await
}

pub(crate) async fn publish(pipeline: &Pipeline, event_type: &str, data: serde_json::Value) -> String {
    let event = Event {
        id: clock::new_id(),
        r#type: event_type.to_owned(),
        timestamp_ms: clock::now_ms(),
        data_json: data.to_string().into_bytes(),
        ..Default::default()
    };
    let mut headers = HeaderMap::new();
    headers.insert(MSG_ID, event.id.as_str());
    pipeline
        .nats
        .js
        .send_publish(
            format!("hookline.events.{event_type}"),
            PublishMessage::build()
                .payload(Bytes::from(event.encode_to_vec()))
                .headers(headers),
        )
        .await
        .expect("publish")
        .await
        .expect("ack");
    event.id
}

pub(crate) fn verify(received: &Received) {
    standardwebhooks::Webhook::new(SECRET)
        .expect("secret")
        .verify(&received.body, &received.headers)
        .expect("a valid Standard Webhooks signature");
}

pub(crate) async fn wait_for<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) async fn dead_letters(pipeline: &Pipeline) -> Vec<DeadLetter> {
    pipeline
        .stream_messages(StreamKind::Dlq)
        .await
        .iter()
        .map(|m| DeadLetter::decode(m.payload.as_ref()).expect("letter"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_failures_then_success_is_five_attempts_on_schedule() {
    let receiver = Receiver::start(|_, before| if before < 4 { 500 } else { 200 }).await;
    let pipeline = notifier(
        &subscription("ops", &receiver.url(), ""),
        &[("HOOKLINE_RETRY_SCHEDULE", "200ms,400ms,600ms,800ms,1s")],
    )
    .await;
    let id = publish(&pipeline, "deployment.failed", serde_json::json!({"service": "api"})).await;
    let got = receiver
        .wait_until("five attempts", |all| all.iter().any(|r| r.status == 200))
        .await;
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 500, 500, 200]
    );
    for r in &got {
        verify(r);
        assert_eq!(r.header("webhook-id"), id, "the same webhook-id on every attempt");
    }
    let schedule = [200, 400, 600, 800];
    for (n, pair) in got.windows(2).enumerate() {
        let gap = pair[1].at.duration_since(pair[0].at).as_millis();
        assert!(
            gap >= schedule[n] && gap < schedule[n] + 1500,
            "gap {n}: {gap} ms for a {} ms delay",
            schedule[n]
        );
    }
    let attempts = wait_for("five attempt records", async || {
        let records: Vec<Attempt> = pipeline
            .log_records("hookline.log.attempt.ops")
            .await
            .iter()
            .map(|r| Attempt::decode(r.as_slice()).expect("attempt"))
            .collect();
        (records.len() >= 5).then_some(records)
    })
    .await;
    assert_eq!(attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [500, 500, 500, 500, 200]
    );
    assert!(
        attempts[..4].iter().all(|a| a.next_attempt_at_ms > a.at_ms),
        "failures say when the next try is"
    );
    assert_eq!(attempts[4].next_attempt_at_ms, 0);
    assert!(
        attempts[0].response_body.contains("ok"),
        "the response body is kept: {:?}",
        attempts[0].response_body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exhausted_deliveries_are_dead_lettered_and_replay_delivers_them() {
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let receiver = Receiver::start(move |_, _| if flag.load(Ordering::SeqCst) { 200 } else { 503 }).await;
    let pipeline = notifier(
        &subscription("ops", &receiver.url(), ""),
        &[("HOOKLINE_RETRY_SCHEDULE", "50ms,50ms")],
    )
    .await;
    let id = publish(&pipeline, "code.generated", serde_json::json!({"branch": "b"})).await;
    let letters = wait_for("a dead letter", async || {
        let letters = dead_letters(&pipeline).await;
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!((letters[0].attempts, letters[0].last_error.as_str()), (3, "HTTP 503"));
    assert_eq!(receiver.received().len(), 3);

    healthy.store(true, Ordering::SeqCst);
    let replayed = replay::replay(&pipeline.nats, &Selection::All("ops".into()))
        .await
        .expect("replay");
    assert_eq!(replayed, 1);
    let got = receiver
        .wait_until("the replayed delivery", |all| all.iter().any(|r| r.status == 200))
        .await;
    let delivered = got.iter().find(|r| r.status == 200).expect("delivered");
    verify(delivered);
    assert_eq!(delivered.header("webhook-id"), id, "a replay keeps the webhook-id");
    assert!(
        dead_letters(&pipeline).await.is_empty(),
        "a replayed letter leaves the DLQ"
    );
    assert_eq!(
        replay::replay(&pipeline.nats, &Selection::All("ops".into()))
            .await
            .expect("replay"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hanging_and_failing_endpoints_do_not_slow_a_healthy_one() {
    let healthy = Receiver::start(|_, _| 200).await;
    let failing = Receiver::start(|_, _| 500).await;
    // Accepts connections and never answers.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hanging_addr = hanging.local_addr().expect("addr");
    let held = Arc::new(AtomicUsize::new(0));
    let counter = held.clone();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = hanging.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            open.push(stream);
        }
    });
    let subs = [
        subscription("healthy", &healthy.url(), ""),
        subscription("failing", &failing.url(), ""),
        subscription("hanging", &format!("http://{hanging_addr}/hook"), ""),
    ]
    .concat();
    let pipeline = notifier(
        &subs,
        &[
            ("HOOKLINE_RETRY_SCHEDULE", "100ms,100ms,100ms"),
            ("HOOKLINE_DELIVERY_TIMEOUT", "10s"),
        ],
    )
    .await;
    let started = Instant::now();
    for n in 0..100 {
        publish(&pipeline, "run.completed", serde_json::json!({"n": n})).await;
    }
    healthy
        .wait_until("all 100 at the healthy endpoint", |all| all.len() >= 100)
        .await;
    let took = started.elapsed();
    assert!(held.load(Ordering::SeqCst) > 0, "the hanging endpoint is being tried");
    assert!(
        took < Duration::from_secs(10),
        "healthy deliveries finished in {took:?}, before one hanging attempt times out"
    );
    assert_eq!(healthy.received().iter().filter(|r| r.status == 200).count(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ordered_subscription_keeps_stream_order_through_a_failure() {
    // Event 3's first attempt fails.
    let receiver = Receiver::start(|r, before| {
        if r.json()["data"]["n"] == 3 && before == 0 {
            500
        } else {
            200
        }
    })
    .await;
    let pipeline = notifier(
        &subscription("ordered", &receiver.url(), "ordered = true"),
        &[("HOOKLINE_RETRY_SCHEDULE", "300ms")],
    )
    .await;
    for n in 1..=8 {
        publish(&pipeline, "run.completed", serde_json::json!({"n": n})).await;
    }
    let got = receiver
        .wait_until("eight deliveries", |all| {
            all.iter().filter(|r| r.status == 200).count() >= 8
        })
        .await;
    let order: Vec<i64> = got.iter().map(|r| r.json()["data"]["n"].as_i64().expect("n")).collect();
    assert_eq!(
        order,
        [1, 2, 3, 3, 4, 5, 6, 7, 8],
        "the failed one is retried before any later one"
    );
}

/// Each subscription reads the events stream through its own filtered
/// consumer: no copy of an event is stored per subscription; overlapping
/// patterns still deliver exactly the types asked for; a filter changed
/// live takes effect; a disabled subscription's events wait and arrive
/// when it is enabled again; one added while the notifier is down gets
/// the events stored after it was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_subscription_reads_the_events_stream_through_its_own_filter() {
    let (runs, mixed, later) = (
        Receiver::start(|_, _| 200).await,
        Receiver::start(|_, _| 200).await,
        Receiver::start(|_, _| 200).await,
    );
    let text = |with_later: bool, runs_events: &str| {
        let mut text = subscription("runs", &runs.url(), &format!("events = [{runs_events}]"))
            + &subscription(
                "mixed",
                &mixed.url(),
                "events = [\"run.*\", \"*.completed\", \"run.completed\"]",
            );
        if with_later {
            text += &subscription("later", &later.url(), "events = [\"code.>\"]");
        }
        Catalog::parse(&text).expect("catalog")
    };
    let mut pipeline = notifier("", &[]).await;
    hookline_bus::store::apply(&pipeline.nats, &text(false, "\"run.completed\""), false)
        .await
        .expect("apply");
    let types = |r: &Receiver| -> Vec<String> {
        let mut t: Vec<String> = r
            .received()
            .iter()
            .map(|x| x.json()["type"].as_str().unwrap_or("").to_owned())
            .collect();
        t.sort();
        t
    };

    for event_type in ["run.completed", "run.started", "code.completed", "code.generated"] {
        publish(&pipeline, event_type, serde_json::json!({})).await;
    }
    mixed.wait_until("three types", |all| all.len() == 3).await;
    runs.wait_until("run.completed", |all| all.len() == 1).await;
    assert_eq!(
        types(&mixed),
        ["code.completed", "run.completed", "run.started"],
        "not code.generated"
    );
    assert_eq!(types(&runs), ["run.completed"]);
    assert!(
        pipeline.stream_messages(StreamKind::Deliveries).await.is_empty(),
        "no copy of an event is stored per subscription"
    );

    // A live filter change; then `runs` disabled: its events wait.
    hookline_bus::store::apply(&pipeline.nats, &text(false, "\"run.completed\", \"run.failed\""), false)
        .await
        .expect("apply");
    wait_for("the new filter", async || {
        publish(&pipeline, "run.failed", serde_json::json!({})).await;
        (types(&runs).iter().any(|t| t == "run.failed")).then_some(())
    })
    .await;
    // Disabled while the notifier is down, so it starts knowing it (a
    // change made while it runs reaches it a moment later).
    pipeline.stop_service(Service::Notifier).await;
    hookline_bus::store::write::set_enabled(&pipeline.nats, ConfigKind::Subscription, "runs", false)
        .await
        .expect("disable");
    pipeline.start_service(Service::Notifier).await;
    let before = runs.received().len();
    let waiting = publish(&pipeline, "run.completed", serde_json::json!({"waits": true})).await;
    mixed
        .wait_until("the healthy one still gets it", |all| {
            all.iter().any(|r| r.json()["id"] == waiting.as_str())
        })
        .await;
    assert_eq!(runs.received().len(), before, "nothing sent while disabled");
    hookline_bus::store::write::set_enabled(&pipeline.nats, ConfigKind::Subscription, "runs", true)
        .await
        .expect("enable");
    runs.wait_until("the waiting event after enabling", |all| {
        all.iter().any(|r| r.json()["id"] == waiting.as_str())
    })
    .await;

    // Added while the notifier is down.
    pipeline.stop_service(Service::Notifier).await;
    hookline_bus::store::apply(&pipeline.nats, &text(true, "\"run.completed\", \"run.failed\""), false)
        .await
        .expect("apply");
    let stored_while_down = publish(&pipeline, "code.generated", serde_json::json!({})).await;
    pipeline.start_service(Service::Notifier).await;
    let got = later
        .wait_until("the event stored while it was down", |all| !all.is_empty())
        .await;
    assert_eq!(got[0].json()["id"], stored_while_down.as_str());
    assert_eq!(got.len(), 1, "nothing from before it was written");
}
