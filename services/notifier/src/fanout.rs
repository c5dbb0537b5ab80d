//! Fan-out: one `Delivery` per matching, enabled subscription for each event
//! on `HOOKLINE_EVENTS`, with `Nats-Msg-Id = <event id>/<subscription>`. The
//! event is acked only after every delivery is acknowledged. Publishes are
//! issued one event at a time, in stream order, and their acks awaited
//! concurrently: fast, and each subscription's deliveries keep event order.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::{self};
use hookline_core::catalog::Catalog;
use hookline_core::consume::{self, Outcome};
use hookline_core::nats::{Nats, Stamp};
use hookline_core::subjects::msg_id;
use hookline_proto::{Delivery, Event, Message as _};

/// What is left of fanning one event out once its publishes are issued.
pub type Pending = Pin<Box<dyn Future<Output = Outcome> + Send>>;

fn settled(outcome: Outcome) -> Pending {
    Box::pin(std::future::ready(outcome))
}

/// Issues one event's deliveries (in the order events arrive, so each
/// subscription's deliveries are stored in event order) and returns the wait
/// for their acks, which decides the event's outcome.
pub async fn issue(nats: &Nats, catalog: &Catalog, msg: &jetstream::Message) -> Pending {
    let (event, trace) = match consume::decode::<Event>(msg) {
        Ok(decoded) => decoded,
        Err(outcome) => return settled(outcome),
    };
    let targets: Vec<&str> = catalog
        .subscriptions
        .iter()
        .filter(|(_, sub)| sub.enabled && sub.wants(&event.r#type))
        .map(|(id, _)| id.as_str())
        .collect();
    let mut pending = Vec::with_capacity(targets.len());
    // An event handled again may have been delivered already.
    let redone = consume::delivery_count(msg) > 1;
    for subscription in targets {
        let delivery = Delivery {
            subscription: subscription.to_owned(),
            event: Some(event.clone()),
            redone,
        };
        let stamp = Stamp {
            msg_id: &msg_id::delivery(&event.id, subscription),
            event_id: Some(&event.id),
            traceparent: trace.as_deref(),
        };
        match nats
            .send(nats.subjects.deliveries(subscription), delivery.encode_to_vec(), stamp)
            .await
        {
            Ok(ack) => pending.push(ack),
            Err(e) => {
                tracing::warn!(subscription, error = %e, "Delivery not published; retrying the event.");
                return settled(Outcome::Retry(Duration::from_secs(1)));
            }
        }
    }
    Box::pin(async move {
        for ack in pending {
            if let Err(e) = ack.await {
                tracing::warn!(error = %e, "Delivery not acknowledged; retrying the event.");
                return Outcome::Retry(Duration::from_secs(1));
            }
        }
        Outcome::Ack
    })
}
