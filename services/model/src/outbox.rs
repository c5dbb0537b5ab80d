//! A run's outbox: the events its attempt produced (the agent's own,
//! `code.generated`, `run.completed`/`run.failed`), written into the run's
//! record together with its final status, in one revision-checked write,
//! and published from there. Whoever finds a record with a non-empty
//! outbox (the copy that wrote it, or any copy a redelivery reaches after a
//! crash) publishes it and then clears it; the ids are fixed in the record,
//! so a completion redone any number of times publishes the same events
//! under the same ids (and the same `webhook-id`s downstream).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most bytes of event data one attempt may hold in its outbox: the whole
/// record must stay well inside NATS's 1 MiB message limit. Events beyond
/// it are dropped with a note in the run log.
pub const MAX_OUTBOX_BYTES: usize = 512 * 1024;

/// One event of a run waiting to be published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEvent {
    /// Its event id, fixed when the attempt finished.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix ms, fixed with the id.
    pub timestamp_ms: i64,
    /// Its data object.
    pub data: Map<String, Value>,
    /// Its dedupe key within the run (`<attempt>/run.finished`, …).
    pub dedupe: String,
}

impl PendingEvent {
    /// The event `dedupe` of `run_id` at `at_ms`: its id is a pure function
    /// of the three, so building it again gives the same event.
    pub fn new(run_id: &str, event_type: &str, data: Map<String, Value>, dedupe: &str, at_ms: i64) -> Self {
        Self {
            id: event_id(run_id, dedupe, at_ms),
            event_type: event_type.to_owned(),
            timestamp_ms: at_ms,
            data,
            dedupe: dedupe.to_owned(),
        }
    }

    /// Roughly how many bytes it takes in a record.
    pub fn size(&self) -> usize {
        serde_json::to_vec(&self.data).map_or(0, |v| v.len()) + self.event_type.len() + self.dedupe.len() + 80
    }
}

/// The id of the event `dedupe` of `run_id` (UUIDv7-shaped, from `at_ms`).
pub fn event_id(run_id: &str, dedupe: &str, at_ms: i64) -> String {
    crate::ids::derived_id(at_ms, &["event", run_id, dedupe])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_event_of_a_run_always_has_the_same_id() {
        let a = PendingEvent::new(
            "run-1",
            "run.completed",
            Map::new(),
            "1/run.finished",
            1_700_000_000_000,
        );
        let b = PendingEvent::new(
            "run-1",
            "run.completed",
            Map::new(),
            "1/run.finished",
            1_700_000_000_000,
        );
        assert_eq!(a.id, b.id);
        let other_attempt = PendingEvent::new(
            "run-1",
            "run.completed",
            Map::new(),
            "2/run.finished",
            1_700_000_000_000,
        );
        assert_ne!(a.id, other_attempt.id);
        let other_run = PendingEvent::new(
            "run-2",
            "run.completed",
            Map::new(),
            "1/run.finished",
            1_700_000_000_000,
        );
        assert_ne!(a.id, other_run.id);
    }

    #[test]
    fn a_pending_event_survives_the_record_round_trip() {
        let mut data = Map::new();
        data.insert("status".into(), Value::String("succeeded".into()));
        let event = PendingEvent::new("run-1", "run.completed", data, "1/run.finished", 1_700_000_000_000);
        let json = serde_json::to_string(&event).expect("encode");
        assert!(json.contains("\"type\":\"run.completed\""), "{json}");
        let back: PendingEvent = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, event);
    }
}
