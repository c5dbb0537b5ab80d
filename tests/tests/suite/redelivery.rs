//! A delivery that already got a 2xx is not sent again when it comes back
//! (a lost ack, or a fan-out redone after a restart under a dedupe id the
//! work-queue stream has forgotten).

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use hookline_model::catalog::Catalog;
use hookline_model::clock;
use hookline_model::subjects::{MSG_ID, StreamKind, delivered_key};
use hookline_proto::{Delivery, Event, Message as _};
use hookline_tests::{Pipeline, Receiver, Service, eventually};

async fn publish_delivery(pipeline: &Pipeline, delivery: &Delivery, msg_id: &str) {
    let mut headers = HeaderMap::new();
    headers.insert(MSG_ID, msg_id);
    pipeline
        .nats
        .js
        .send_publish(
            pipeline.nats.subjects.deliveries(&delivery.subscription),
            PublishMessage::build()
                .payload(Bytes::from(delivery.encode_to_vec()))
                .headers(headers),
        )
        .await
        .expect("publish")
        .await
        .expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_that_already_got_a_2xx_is_not_sent_again() {
    let receiver = Receiver::start(|_, _| 200).await;
    let text = format!(
        "[subscriptions.ops]\nurl = \"{}\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n",
        receiver.url()
    );
    let catalog = Catalog::parse(&text).expect("catalog");
    let pipeline = Pipeline::start_services(&catalog, &[], &[Service::Notifier]).await;
    let event = |id: String| Event {
        id,
        r#type: "run.completed".to_owned(),
        timestamp_ms: clock::now_ms(),
        data_json:
            br#"{"run_id":"r1","agent":"a","attempt":1,"status":"succeeded","duration_ms":1,"will_retry":false}"#
                .to_vec(),
        ..Default::default()
    };
    let delivery = |id: &str, redone: bool| Delivery {
        subscription: "ops".to_owned(),
        event: Some(event(id.to_owned())),
        redone,
    };
    let (sent, other) = (clock::new_id(), clock::new_id());
    publish_delivery(&pipeline, &delivery(&sent, false), "first").await;
    receiver.wait_until("the first delivery", |all| all.len() == 1).await;
    // The mark is written after the subscriber's 2xx, through the batched
    // log sink: a repeat that comes back before it is a documented resend.
    let marks = pipeline
        .nats
        .js
        .get_key_value(pipeline.nats.subjects.delivered_bucket())
        .await
        .expect("delivered bucket");
    eventually("the first delivery marked", || async {
        match marks.get(delivered_key("ops", &sent)).await {
            Ok(Some(_)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // The same delivery again from a fan-out that handled its event twice,
    // under a new dedupe id, then a different event, also from a redone
    // fan-out: only the different one reaches the subscriber.
    publish_delivery(&pipeline, &delivery(&sent, true), "again").await;
    publish_delivery(&pipeline, &delivery(&other, true), "other").await;
    receiver.wait_until("the other event", |all| all.len() >= 2).await;
    pipeline
        .wait_until_settled(StreamKind::Deliveries, "every delivery settled")
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ids: Vec<String> = receiver.received().iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids, [sent, other], "the repeat was settled without sending");
}
