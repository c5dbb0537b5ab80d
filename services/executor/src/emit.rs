//! Publishing what a run produces: events on `hookline.events.<type>` (each
//! acknowledged by JetStream, retried in process for a while), and output
//! lines on `hookline.log.run.<agent>.<run id>` (fire and forget: a lost log
//! line never fails or repeats a run; one publisher per run keeps them in
//! the order the agent printed them).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use hookline_core::clock;
use hookline_core::log_sink::LogSink;
use hookline_core::nats::{Nats, Stamp};
use hookline_core::subjects::msg_id;
use hookline_proto::{Event, Message as _, RunLog};
use serde_json::{Map, Value};

/// Why an event was not stored.
#[derive(Debug, thiserror::Error)]
#[error("event {event_type} not acknowledged: {source}")]
pub struct EmitError {
    event_type: String,
    #[source]
    source: async_nats::jetstream::context::PublishError,
}

/// Most output bytes one run sends to its log; the rest is dropped with a
/// note, so a chatty agent cannot flood the log stream.
pub const MAX_RUN_LOG_BYTES: usize = 1024 * 1024;

/// Publishes a run's events and log lines.
#[derive(Clone)]
pub struct Emitter {
    logged: Arc<AtomicUsize>,
    logs: LogSink,
    nats: Nats,
    run_id: String,
    agent: String,
    traceparent: String,
}

impl Emitter {
    /// An emitter for one run; its lines go through `logs`, which keeps
    /// them in the order they were printed.
    pub fn new(nats: Nats, logs: LogSink, run_id: &str, agent: &str, traceparent: String) -> Self {
        Self {
            logged: Arc::default(),
            logs,
            nats,
            run_id: run_id.to_owned(),
            agent: agent.to_owned(),
            traceparent,
        }
    }

    /// Publishes one event and waits for its ack; `dedupe` makes a redone
    /// run's event a duplicate instead of a second event.
    pub async fn emit(&self, event_type: &str, data: Map<String, Value>, dedupe: &str) -> Result<String, EmitError> {
        let event = Event {
            id: clock::new_id(),
            r#type: event_type.to_owned(),
            timestamp_ms: clock::now_ms(),
            data_json: serde_json::to_vec(&data).unwrap_or_else(|_| b"{}".to_vec()),
            run_id: self.run_id.clone(),
            agent: self.agent.clone(),
        };
        let payload = event.encode_to_vec();
        let msg_id = msg_id::emitted(&self.run_id, dedupe);
        let publish_once = || async {
            let stamp = Stamp {
                msg_id: &msg_id,
                event_id: Some(&event.id),
                traceparent: Some(&self.traceparent),
            };
            self.nats
                .send(self.nats.subjects.events(event_type), payload.clone(), stamp)
                .await?
                .await
        };
        publish_once
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(5))
                    .with_total_delay(Some(Duration::from_secs(60)))
                    .without_max_times(),
            )
            .await
            .map_err(|source| EmitError {
                event_type: event_type.to_owned(),
                source,
            })?;
        Ok(event.id)
    }

    /// Sends one output line to the run log.
    pub fn log(&self, stream: &str, mut line: String) {
        let before = self.logged.fetch_add(line.len() + 1, Ordering::Relaxed);
        let mut stream = stream;
        if before >= MAX_RUN_LOG_BYTES {
            return;
        }
        if before + line.len() + 1 > MAX_RUN_LOG_BYTES {
            stream = "hookline";
            line = format!("[output truncated at {MAX_RUN_LOG_BYTES} bytes]");
        }
        let record = RunLog {
            run_id: self.run_id.clone(),
            agent: self.agent.clone(),
            at_ms: clock::now_ms(),
            stream: stream.to_owned(),
            line,
        };
        self.logs.record(
            self.nats.subjects.log_run(&self.agent, &self.run_id),
            record.encode_to_vec(),
        );
    }
}
