//! The notifier's health of endpoints: a target the address rule forbids,
//! redirects and 410, an endpoint that only fails disabled and announced
//! once, secrets rotated.

use super::notifier::*;
use hookline_model::catalog::Catalog;
use hookline_model::clock;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Event, Message as _};
use hookline_tests::{Pipeline, Receiver};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_and_metadata_targets_are_refused_unless_allow_listed() {
    let local = Receiver::start(|_, _| 200).await;
    let port = local.addr.port();
    let subs = [
        subscription("loopback", &format!("http://127.0.0.1:{port}/hook"), ""),
        subscription("private", "http://10.0.0.1/hook", ""),
        subscription("metadata", "http://169.254.169.254/latest/meta-data", ""),
        subscription("v6", &format!("http://[::1]:{port}/hook"), ""),
        subscription("named", &format!("http://localhost:{port}/hook"), ""),
    ]
    .concat();
    let pipeline = notifier(&subs, &[("HOOKLINE_DELIVERY_ALLOW", "")]).await;
    publish(&pipeline, "run.completed", serde_json::json!({})).await;
    let letters = wait_for("five dead letters", async || {
        let letters = dead_letters(&pipeline).await;
        (letters.len() >= 5).then_some(letters)
    })
    .await;
    for letter in &letters {
        let sub = letter
            .delivery
            .as_ref()
            .map(|d| d.subscription.clone())
            .unwrap_or_default();
        assert_eq!(letter.attempts, 1, "{sub}: refused at once, never retried");
        assert!(
            letter.last_error.contains("blocked") || letter.last_error.contains("refused"),
            "{sub}: {}",
            letter.last_error
        );
    }
    assert!(local.received().is_empty(), "nothing reached the local endpoint");

    // Allow-listed, the same loopback target is delivered to.
    let pipeline = notifier(
        &subscription("loopback", &format!("http://127.0.0.1:{port}/hook"), ""),
        &[],
    )
    .await;
    publish(&pipeline, "run.completed", serde_json::json!({})).await;
    local.wait_until("a delivery once allowed", |all| !all.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redirects_are_not_followed_and_410_disables_the_subscription() {
    let redirecting = Receiver::start(|_, _| 302).await;
    let gone = Receiver::start(|_, _| 410).await;
    let subs = [
        subscription("moved", &redirecting.url(), ""),
        subscription("gone", &gone.url(), ""),
    ]
    .concat();
    let pipeline = notifier(&subs, &[("HOOKLINE_RETRY_SCHEDULE", "100ms,100ms")]).await;
    publish(&pipeline, "run.completed", serde_json::json!({})).await;
    let letters = wait_for("two dead letters", async || {
        let letters = dead_letters(&pipeline).await;
        (letters.len() >= 2).then_some(letters)
    })
    .await;
    assert!(
        letters.iter().any(|l| l.last_error == "HTTP 302" && l.attempts == 1),
        "a 302 is final: {letters:?}"
    );
    assert!(letters.iter().any(|l| l.last_error == "410 Gone"));
    assert_eq!(redirecting.received().len(), 1, "not followed, not retried");
    let config = pipeline.nats.js.get_key_value("hookline_config").await.expect("bucket");
    let gone_spec: serde_json::Value =
        serde_json::from_slice(&config.get("subscription.gone").await.expect("kv").expect("entry")).expect("json");
    assert_eq!(gone_spec["enabled"], false, "410 disabled the subscription");
    // A later event no longer goes to it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    publish(&pipeline, "run.completed", serde_json::json!({})).await;
    redirecting
        .wait_until("the second event at the other endpoint", |all| all.len() >= 2)
        .await;
    assert_eq!(gone.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_that_only_fails_for_the_window_is_disabled_and_announced() {
    let failing = Receiver::start(|_, _| 500).await;
    let watcher = Receiver::start(|_, _| 200).await;
    let subs = [
        subscription("flaky", &failing.url(), "events = [\"run.*\"]"),
        subscription("watcher", &watcher.url(), "events = [\"subscription.disabled\"]"),
    ]
    .concat();
    let pipeline = notifier(
        &subs,
        &[
            ("HOOKLINE_RETRY_SCHEDULE", "400ms,400ms,400ms,400ms,400ms"),
            ("HOOKLINE_DISABLE_AFTER", "1s"),
        ],
    )
    .await;
    publish(&pipeline, "run.completed", serde_json::json!({})).await;
    let got = watcher.wait_until("subscription.disabled", |all| !all.is_empty()).await;
    verify(&got[0]);
    assert_eq!(got[0].json()["type"], "subscription.disabled");
    assert_eq!(got[0].json()["data"]["subscription"], "flaky");
    let attempts = failing.received().len();
    assert!(
        (3..=5).contains(&attempts),
        "disabled after about a second of failures: {attempts} attempts"
    );
}

/// Two notifier copies (or a redelivery) reaching the end of a failing
/// window at once announce it once: `subscription.disabled` has one id and
/// one dedupe id per subscription and window, and JetStream stores it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_disabled_twice_at_once_is_announced_once_under_one_id() {
    use hookline_notifier::health::Health;
    let catalog = Catalog::parse(&subscription("flaky", "https://example.com/hook", "")).expect("catalog");
    let pipeline = Pipeline::start_services(&catalog, &[], &[]).await;
    let state = hookline_bus::state::State::new(&pipeline.nats);
    state
        .mark_failing("flaky", clock::now_ms() - 5_000)
        .await
        .expect("failing since five seconds ago");
    let window = Duration::from_secs(1);
    let (a, b) = (
        Health::new(pipeline.nats.clone(), window).await,
        Health::new(pipeline.nats.clone(), window).await,
    );
    let (first, second) = tokio::join!(a.failure("flaky"), b.failure("flaky"));
    assert!(first || second, "one of them disabled it");
    let announced: Vec<Event> = pipeline
        .stream_messages(StreamKind::Events)
        .await
        .iter()
        .map(|m| Event::decode(m.payload.as_ref()).expect("event"))
        .filter(|e| e.r#type == "subscription.disabled")
        .collect();
    assert_eq!(announced.len(), 1, "{announced:?}");
    // Published again (a later copy, a redelivery): the same id.
    assert!(!a.failure("flaky").await, "already disabled: nothing to do");
    let config = pipeline.nats.js.get_key_value("hookline_config").await.expect("bucket");
    let spec: serde_json::Value =
        serde_json::from_slice(&config.get("subscription.flaky").await.expect("kv").expect("entry")).expect("json");
    assert_eq!(spec["enabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn during_a_rotation_both_secrets_sign_until_the_old_one_expires() {
    let receiver = Receiver::start(|_, _| 200).await;
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let new = "whsec_bmV3LXNlY3JldC1mb3ItdGVzdHM=";
    let sub = |id: &str, until: &str| {
        format!(
            "[subscriptions.{id}]\nurl = \"{}\"\nsecrets = [\"{new}\", {{ secret = \"{SECRET}\", until = \"{until}\" }}]\n",
            receiver.url()
        )
    };
    let pipeline = notifier(&[sub("rotating", &soon), sub("rotated", &past)].concat(), &[]).await;
    publish(&pipeline, "run.completed", serde_json::json!({})).await;
    let got = receiver.wait_until("both deliveries", |all| all.len() >= 2).await;
    let signatures: Vec<usize> = got
        .iter()
        .map(|r| r.header("webhook-signature").split(' ').count())
        .collect();
    assert!(signatures.contains(&2) && signatures.contains(&1), "{signatures:?}");
    for r in &got {
        standardwebhooks::Webhook::new(new)
            .expect("secret")
            .verify(&r.body, &r.headers)
            .expect("the new secret verifies");
    }
    let with_old: Vec<_> = got
        .iter()
        .filter(|r| r.header("webhook-signature").split(' ').count() == 2)
        .collect();
    verify(with_old[0]);
}
