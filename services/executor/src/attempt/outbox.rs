//! A finished attempt's events as they are gathered for its final record
//! (its outbox), within the outbox's size.

use hookline_model::outbox::{MAX_OUTBOX_BYTES, PendingEvent};
use serde_json::{Map, Value};

use crate::attempt::emit::Emitter;

/// A finished attempt's events, bounded by [`MAX_OUTBOX_BYTES`] (the
/// final event always fits: it is small and never dropped).
pub(crate) struct Outbox {
    run_id: String,
    at_ms: i64,
    bytes: usize,
    pub events: Vec<PendingEvent>,
}

impl Outbox {
    pub fn new(run_id: &str, at_ms: i64) -> Self {
        Self {
            run_id: run_id.to_owned(),
            at_ms,
            bytes: 0,
            events: Vec::new(),
        }
    }

    pub fn push(&mut self, emitter: &Emitter, event_type: &str, data: Map<String, Value>, dedupe: String) {
        let event = PendingEvent::new(&self.run_id, event_type, data, &dedupe, self.at_ms);
        let size = event.size();
        if self.bytes + size > MAX_OUTBOX_BYTES {
            emitter.log(
                "hookline",
                format!("event {event_type} dropped: the run's events exceed {MAX_OUTBOX_BYTES} bytes"),
            );
            return;
        }
        self.bytes += size;
        self.events.push(event);
    }

    pub fn push_final(&mut self, event_type: &str, data: Map<String, Value>, dedupe: String) {
        let event = PendingEvent::new(&self.run_id, event_type, data, &dedupe, self.at_ms);
        self.events.push(event);
    }
}
