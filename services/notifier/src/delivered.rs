//! Which deliveries already got a 2xx. JetStream delivers at least once: a
//! delivery whose ack was lost (a notifier or nats-server killed right
//! after the subscriber answered) comes back, and a replayed dead letter may
//! have been delivered by its first consumer after all. A small mark per
//! delivered (subscription, event), written with the ack, lets the notifier
//! settle those without sending them again.
//! Marks travel through the log sink (batched, never awaited): it narrows
//! duplicates; it does not remove them (a crash between the 2xx and the
//! mark's write still resends), so at-least-once stays the promise.

use async_nats::jetstream::kv;
use bytes::Bytes;
use hookline_bus::log_sink::LogSink;
use hookline_bus::nats::Nats;
use hookline_model::subjects::delivered_key;

/// The delivered bucket: marks of deliveries made.
#[derive(Clone)]
pub struct Delivered {
    store: kv::Store,
    /// `$KV.<bucket>.`: a mark is a plain publish on its key's subject.
    subject_prefix: String,
    logs: LogSink,
}

impl Delivered {
    /// The marks in `nats`'s delivered bucket.
    pub fn new(nats: &Nats, logs: LogSink) -> Self {
        Self {
            store: nats.buckets.delivered.clone(),
            subject_prefix: format!("$KV.{}.", nats.subjects.delivered_bucket()),
            logs,
        }
    }

    /// Whether `event_id` was already delivered to `subscription`. An
    /// unanswered lookup says no: sending twice beats not sending.
    pub async fn already(&self, subscription: &str, event_id: &str) -> bool {
        matches!(self.store.get(delivered_key(subscription, event_id)).await, Ok(Some(_)))
    }

    /// Marks `event_id` as delivered to `subscription`, without waiting; a
    /// mark that is not stored only means a possible resend.
    pub fn mark(&self, subscription: &str, event_id: &str) {
        let subject = format!("{}{}", self.subject_prefix, delivered_key(subscription, event_id));
        self.logs.record(subject, Bytes::from_static(b"1"));
    }
}
