//! Run records in the `hookline_runs` bucket, by run id: written `queued`
//! by whoever requests the run (router, scheduler), then by the executor as
//! it runs and finishes.

use async_nats::jetstream::kv;
use serde::Serialize;

use crate::nats::Nats;

/// A run's record in the `hookline_runs` bucket.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// The run.
    pub run_id: String,
    /// Its agent.
    pub agent: String,
    /// queued, running, succeeded, failed, timed_out, cancelled.
    pub status: &'static str,
    /// 1 for the first try.
    pub attempt: u32,
    /// The inbound event that started it, if any.
    pub event_id: String,
    /// Unix ms.
    pub requested_at_ms: i64,
    /// Unix ms.
    pub started_at_ms: i64,
    /// Unix ms, 0 while running.
    pub finished_at_ms: i64,
    /// The agent's exit code.
    pub exit_code: Option<i32>,
    /// exit, timeout, cancelled, crashed, setup.
    pub reason: String,
}

impl RunRecord {
    /// A record for a run just requested.
    pub fn queued(run_id: &str, agent: &str, event_id: &str, requested_at_ms: i64) -> Self {
        Self {
            run_id: run_id.to_owned(),
            agent: agent.to_owned(),
            status: "queued",
            attempt: 0,
            event_id: event_id.to_owned(),
            requested_at_ms,
            started_at_ms: 0,
            finished_at_ms: 0,
            exit_code: None,
            reason: String::new(),
        }
    }
}

/// The `hookline_runs` bucket, opened once by each writer.
#[derive(Clone)]
pub struct Records(Option<kv::Store>);

impl Records {
    /// Opens the bucket; without it, records are skipped (and logged).
    pub async fn open(nats: &Nats) -> Self {
        match nats.js.get_key_value(nats.subjects.runs_bucket()).await {
            Ok(store) => Self(Some(store)),
            Err(e) => {
                tracing::error!(error = %e, "Run records bucket unavailable; runs will have no records.");
                Self(None)
            }
        }
    }

    /// Writes `record`. A record is bookkeeping: a failure is logged, never
    /// fatal. `only_if_new` writes it only when no record exists yet, so a
    /// late `queued` never hides a run the executor already started.
    pub async fn put(&self, record: &RunRecord, only_if_new: bool) {
        let (Some(kv), Ok(json)) = (&self.0, serde_json::to_vec(record)) else {
            return;
        };
        let written = if only_if_new {
            kv.create(&record.run_id, json.into())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            kv.put(&record.run_id, json.into())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        if let Err(e) = written
            && !only_if_new
        {
            tracing::warn!(run_id = %record.run_id, error = %e, "Run record not written.");
        }
    }
}
