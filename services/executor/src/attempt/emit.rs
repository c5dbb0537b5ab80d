//! Publishing what a run produces: events on `hookline.events.<type>` (each
//! acknowledged by JetStream, retried in process for a while), and output
//! lines on `hookline.log.run.<agent>.<run id>` (fire and forget: a lost log
//! line never fails or repeats a run; one publisher per run keeps them in
//! the order the agent printed them).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use hookline_bus::log_sink::LogSink;
use hookline_bus::nats::Nats;
use hookline_model::clock;
use hookline_model::outbox::PendingEvent;
use hookline_proto::{Message as _, RunLog};

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
    /// The webhook that started the run, for the envelope.
    source_event_id: String,
    traceparent: String,
}

impl Emitter {
    /// An emitter for one run; its lines go through `logs`, which keeps
    /// them in the order they were printed.
    pub fn new(nats: Nats, logs: LogSink, request: &hookline_proto::RunRequest, traceparent: String) -> Self {
        let (run_id, agent) = (request.run_id.as_str(), request.agent.as_str());
        Self {
            source_event_id: request.event.as_ref().map(|e| e.event_id.clone()).unwrap_or_default(),
            logged: Arc::default(),
            logs,
            nats,
            run_id: run_id.to_owned(),
            agent: agent.to_owned(),
            traceparent,
        }
    }

    /// Publishes one event of the run and waits for its ack. Its id and
    /// dedupe key are fixed in `event`, so publishing it again (a redone
    /// completion) is the same event, never a second one.
    pub async fn publish(&self, event: &PendingEvent) -> Result<(), EmitError> {
        let payload = hookline_bus::events::of_run(event, &self.run_id, &self.agent, &self.source_event_id);
        let publish_once = || {
            hookline_bus::events::publish(
                &self.nats,
                &payload,
                &self.run_id,
                &event.dedupe,
                Some(&self.traceparent),
            )
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
            .map(|_| ())
            .map_err(|source| EmitError {
                event_type: event.event_type.clone(),
                source,
            })
    }

    /// Publishes a finished attempt's outbox, in order.
    pub async fn publish_all(&self, outbox: &[PendingEvent]) -> Result<(), EmitError> {
        for event in outbox {
            self.publish(event).await?;
        }
        Ok(())
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

/// Containment's own notes go to the run's log like the agent's lines.
impl hookline_sandbox::RunLog for Emitter {
    fn log(&self, stream: &str, line: String) {
        Emitter::log(self, stream, line);
    }
}
