//! Storing a verified webhook in JetStream and logging every invocation.
//!
//! `store` returns only after the PubAck: that is what makes a 2xx mean
//! "durable". A duplicate delivery id is answered with the event id stored
//! the first time, read back by the sequence JetStream reports.

use std::collections::HashMap;
use std::sync::Mutex;

use hookline_bus::log_sink::LogSink;
use hookline_bus::nats::{Nats, Stamp};
use hookline_bus::state::State;
use hookline_model::subjects::{EVENT_ID, StreamKind};
use hookline_proto::{Invocation, Message};
use hookline_providers::VerifiedEvent;

/// Why an event could not be stored: the sender should retry.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// NATS is not connected: nothing was sent.
    #[error("not connected to NATS")]
    Disconnected,
    /// No PubAck (NATS away, stream missing, timeout).
    #[error("JetStream did not acknowledge: {0}")]
    NotAcknowledged(#[from] async_nats::jetstream::context::PublishError),
}

/// What storing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Stored now.
    New(String),
    /// The delivery id was seen inside the dedupe window; the first event id.
    Duplicate(String),
}

/// Publishes inbound events and invocation records.
pub struct Publisher {
    nats: Nats,
    logs: LogSink,
    state: State,
    last_written: Mutex<HashMap<String, i64>>,
}

/// How often a source's `last_triggered` is written, at most.
const LAST_TRIGGERED_EVERY_MS: i64 = 1000;

impl Publisher {
    /// A publisher over a connected client.
    pub async fn new(nats: Nats) -> Self {
        let state = State::new(&nats);
        Self {
            logs: LogSink::start(nats.client.clone()),
            nats,
            state,
            last_written: Mutex::new(HashMap::new()),
        }
    }

    /// Whether NATS is connected now. While it is not, nothing is published:
    /// a publish buffered in the client could still be stored after the
    /// sender was told 503, and the sender's retry would then be a second
    /// event.
    pub fn connected(&self) -> bool {
        self.nats.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Stores a verified event under the dedupe id `msg_id`: nothing else
    /// can be stored, so an unverified webhook never reaches the stream.
    pub async fn store(
        &self,
        verified: &VerifiedEvent,
        msg_id: &str,
        traceparent: &str,
    ) -> Result<Stored, PublishError> {
        let event = verified.event();
        if !self.connected() {
            return Err(PublishError::Disconnected);
        }
        let stamp = Stamp {
            msg_id,
            event_id: Some(&event.event_id),
            traceparent: Some(traceparent),
        };
        let ack = self
            .nats
            .send(self.nats.subjects.ingest(&event.source), event.encode_to_vec(), stamp)
            .await?
            .await?;
        if !ack.duplicate {
            self.touch_last_triggered(&event.source, event.received_at_ms);
            return Ok(Stored::New(event.event_id.clone()));
        }
        Ok(Stored::Duplicate(
            self.original_event_id(ack.sequence)
                .await
                .unwrap_or_else(|| event.event_id.clone()),
        ))
    }

    async fn original_event_id(&self, sequence: u64) -> Option<String> {
        let stream = self
            .nats
            .js
            .get_stream(self.nats.subjects.stream(StreamKind::Ingest))
            .await
            .ok()?;
        let message = stream.get_raw_message(sequence).await.ok()?;
        message.headers.get(EVENT_ID).map(|v| v.as_str().to_owned())
    }

    /// Records when `source` last stored an event, at most once a second.
    fn touch_last_triggered(&self, source: &str, at_ms: i64) {
        let state = &self.state;
        {
            let mut last = self.last_written.lock().unwrap_or_else(|p| p.into_inner());
            // Looked up by reference first: the key is copied once per source.
            match last.get_mut(source) {
                Some(previous) if at_ms - *previous < LAST_TRIGGERED_EVERY_MS => return,
                Some(previous) => *previous = at_ms,
                None => {
                    last.insert(source.to_owned(), at_ms);
                }
            }
        }
        // Cloned only when written: a `State` holds its buckets' stream
        // info, a dozen allocations per clone.
        let (state, source) = (state.clone(), source.to_owned());
        tokio::spawn(async move {
            if let Err(e) = state.set_last_triggered(&source, at_ms).await {
                tracing::debug!(error = %e, "last_triggered not written.");
            }
        });
    }

    /// Records one request. Never delays or fails the answer: the record
    /// is queued on the log sink, and a lost one is only counted.
    pub fn log_invocation(&self, record: Invocation) {
        self.logs.record(
            self.nats.subjects.log_invocation(&record.source),
            record.encode_to_vec(),
        );
    }

    /// Publishes every queued record (at shutdown).
    pub async fn flush(&self) {
        self.logs.flush().await;
    }
}
