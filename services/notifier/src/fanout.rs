//! Fan-out: one `Delivery` per matching, enabled subscription for each event
//! on `HOOKLINE_EVENTS`, with `Nats-Msg-Id = <event id>/<subscription>`. The
//! event is acked only after every delivery is acknowledged.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use hookline_core::catalog::Catalog;
use hookline_core::consume::Outcome;
use hookline_core::nats::Nats;
use hookline_core::subjects::{EVENT_ID, MSG_ID, TRACEPARENT};
use hookline_proto::{Delivery, Event, Message as _};

/// Fans one event message out.
pub async fn handle(nats: &Nats, catalog: &Catalog, msg: &jetstream::Message) -> Outcome {
    let event = match Event::decode(msg.payload.as_ref()) {
        Ok(event) => event,
        Err(e) => return Outcome::Term(format!("undecodable Event: {e}")),
    };
    let trace = msg
        .headers
        .as_ref()
        .and_then(|h| h.get(TRACEPARENT))
        .map(|v| v.as_str().to_owned());
    let targets: Vec<&str> = catalog
        .subscriptions
        .iter()
        .filter(|(_, sub)| sub.enabled && sub.wants(&event.r#type))
        .map(|(id, _)| id.as_str())
        .collect();
    let mut pending = Vec::with_capacity(targets.len());
    for subscription in targets {
        let delivery = Delivery {
            subscription: subscription.to_owned(),
            event: Some(event.clone()),
        };
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID, format!("{}/{subscription}", event.id).as_str());
        headers.insert(EVENT_ID, event.id.as_str());
        if let Some(trace) = &trace {
            headers.insert(TRACEPARENT, trace.as_str());
        }
        let publish = PublishMessage::build()
            .payload(Bytes::from(delivery.encode_to_vec()))
            .headers(headers);
        match nats
            .js
            .send_publish(nats.subjects.deliveries(subscription), publish)
            .await
        {
            Ok(ack) => pending.push(ack),
            Err(e) => {
                tracing::warn!(subscription, error = %e, "Delivery not published; retrying the event.");
                return Outcome::Retry(Duration::from_secs(1));
            }
        }
    }
    for ack in pending {
        if let Err(e) = ack.await {
            tracing::warn!(error = %e, "Delivery not acknowledged; retrying the event.");
            return Outcome::Retry(Duration::from_secs(1));
        }
    }
    Outcome::Ack
}
