//! Which deliveries already got a 2xx. JetStream delivers at least once: a
//! delivery whose ack was lost (a notifier or nats-server killed right
//! after the subscriber answered) comes back, and a fan-out redone after a
//! restart publishes it again under a dedupe id the work-queue stream has
//! forgotten. A small mark per delivered (subscription, event), written
//! before the ack, lets the notifier settle those without sending them
//! again. It narrows duplicates; it does not remove them (a crash between
//! the 2xx and the mark still resends), so at-least-once stays the promise.

use async_nats::jetstream::kv;
use bytes::Bytes;
use hookline_core::nats::Nats;
use hookline_core::subjects::delivered_key;

/// The delivered bucket; without it, nothing is marked or skipped.
#[derive(Clone)]
pub struct Delivered(Option<kv::Store>);

impl Delivered {
    /// Opens the bucket (made by `ensure_layout`).
    pub async fn open(nats: &Nats) -> Self {
        match nats.js.get_key_value(nats.subjects.delivered_bucket()).await {
            Ok(store) => Self(Some(store)),
            Err(e) => {
                tracing::warn!(error = %e, "Delivered bucket unavailable; deliveries are not checked for repeats.");
                Self(None)
            }
        }
    }

    /// Whether `event_id` was already delivered to `subscription`. An
    /// unanswered lookup says no: sending twice beats not sending.
    pub async fn already(&self, subscription: &str, event_id: &str) -> bool {
        let Some(kv) = &self.0 else {
            return false;
        };
        matches!(kv.get(delivered_key(subscription, event_id)).await, Ok(Some(_)))
    }

    /// Marks `event_id` as delivered to `subscription`; a mark that is not
    /// stored only means a possible resend.
    pub async fn mark(&self, subscription: &str, event_id: &str) {
        let Some(kv) = &self.0 else {
            return;
        };
        if let Err(e) = kv
            .put(delivered_key(subscription, event_id), Bytes::from_static(b"1"))
            .await
        {
            tracing::debug!(error = %e, "Delivery mark not stored.");
        }
    }
}
