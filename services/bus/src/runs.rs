//! Runs: the one way to request one ([`request`]), and their records in the
//! `hookline_runs` bucket, by run id: written `queued` by whoever requests
//! the run (router, scheduler, a manual run), then by the executor as it
//! runs and finishes. The record's types are the model's.

use async_nats::jetstream::{self, kv};
use hookline_proto::{Message as _, RunRequest};

pub use hookline_model::runs::*;

use crate::nats::{Nats, Stamp};

/// Reads of a record another writer keeps changing before an update gives up.
const UPDATE_TRIES: usize = 5;

/// The `hookline_runs` bucket, opened at start with every other.
#[derive(Clone)]
pub struct Records(kv::Store);

impl Records {
    /// The run records of `nats`'s buckets.
    pub fn new(nats: &Nats) -> Self {
        Self(nats.buckets.runs.clone())
    }

    /// Reads a run's record with its revision, for a write that must not
    /// overwrite another writer's.
    pub async fn entry(&self, run_id: &str) -> Result<Option<(RunRecord, u64)>, RecordError> {
        let kv = &self.0;
        let Some(entry) = kv.entry(run_id).await? else {
            return Ok(None);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(None);
        }
        Ok(Some((serde_json::from_slice(&entry.value)?, entry.revision)))
    }

    /// Writes `record` only if its entry is still at `revision` (absent
    /// when `None`); answers the new revision.
    pub async fn write(&self, record: &RunRecord, revision: Option<u64>) -> Result<u64, RecordError> {
        let kv = &self.0;
        let json: bytes::Bytes = serde_json::to_vec(record)?.into();
        match revision {
            None => kv.create(&record.run_id, json).await.map_err(|e| match e.kind() {
                kv::CreateErrorKind::AlreadyExists => RecordError::Conflict,
                _ => RecordError::Write(Box::new(e)),
            }),
            Some(revision) => kv
                .update(&record.run_id, json, revision)
                .await
                .map_err(|e| match e.kind() {
                    kv::UpdateErrorKind::WrongLastRevision => RecordError::Conflict,
                    _ => RecordError::Write(Box::new(e)),
                }),
        }
    }

    /// Changes `run_id`'s record outside any lease (a change that is the
    /// same whoever makes it): `change` answers whether it changed
    /// anything, and a record another writer changed meanwhile is read
    /// again. An absent record is left absent.
    pub async fn update(&self, run_id: &str, change: impl Fn(&mut RunRecord) -> bool) -> Result<(), RecordError> {
        for _ in 0..UPDATE_TRIES {
            let Some((mut record, revision)) = self.entry(run_id).await? else {
                return Ok(());
            };
            if !change(&mut record) {
                return Ok(());
            }
            match self.write(&record, Some(revision)).await {
                Ok(_) => return Ok(()),
                Err(RecordError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(RecordError::Conflict)
    }

    /// Clears `run_id`'s outbox once its events are published (whoever
    /// published them: the executor, or the router for an outcome).
    pub async fn clear_outbox(&self, run_id: &str) -> Result<(), RecordError> {
        self.update(run_id, |record| {
            let had = !record.outbox.is_empty();
            record.outbox.clear();
            had
        })
        .await
    }

    /// Reads a run's record.
    pub async fn get(&self, run_id: &str) -> Result<Option<RunRecord>, RecordError> {
        let kv = &self.0;
        let Some(bytes) = kv.get(run_id).await? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_slice(&bytes)?))
    }
}

/// Why a run record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// NATS did not answer.
    #[error("run records: {0}")]
    Kv(#[from] kv::EntryError),
    /// The record is not a run record.
    #[error("run record unreadable: {0}")]
    Decode(#[from] serde_json::Error),
    /// Another writer changed the record since it was read.
    #[error("the run record changed since it was read")]
    Conflict,
    /// The write failed.
    #[error("run record not written: {0}")]
    Write(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why a run could not be requested: the caller retries (or answers 503).
#[derive(Debug, thiserror::Error)]
#[error("run of agent `{agent}` not requested: {source}")]
pub struct RequestError {
    /// The agent.
    pub agent: String,
    /// What JetStream said.
    #[source]
    pub source: jetstream::context::PublishError,
}

/// One run to request, with its dedupe id (from [`hookline_model::subjects::msg_id`]).
pub struct Request {
    /// The message to publish on `hookline.runs.<agent>`.
    pub run: RunRequest,
    /// Its `Nats-Msg-Id`.
    pub msg_id: String,
}

/// Requests runs: publishes every `RunRequest` (all at once), waits for
/// every ack, then writes a `queued` record for each one JetStream took as
/// new. Returns, per request in order, whether it was new. This is the only
/// Publishes an approved run's held `request` (its record already says
/// `queued`), once whoever else approves it meanwhile: its dedupe id is the
/// run's. The approval gate's way onto `hookline.runs.<agent>`; every other
/// run is requested through [`request`].
pub async fn request_approved(nats: &Nats, request: &RunRequest) -> Result<(), RequestError> {
    let event_id = request.event.as_ref().map(|e| e.event_id.as_str());
    let stamp = Stamp {
        msg_id: &hookline_model::subjects::msg_id::approved(&request.run_id),
        event_id,
        traceparent: None,
    };
    let failed = |source| RequestError {
        agent: request.agent.clone(),
        source,
    };
    nats.send(nats.subjects.runs(&request.agent), request.encode_to_vec(), stamp)
        .await
        .map_err(failed)?
        .await
        .map_err(failed)?;
    Ok(())
}

/// way a run is started: the router, schedules and manual runs call it.
pub async fn request(
    nats: &Nats,
    records: &Records,
    requests: Vec<Request>,
    event_id: Option<&str>,
    traceparent: &str,
) -> Result<Vec<bool>, RequestError> {
    let mut pending = Vec::with_capacity(requests.len());
    for Request { run, msg_id } in requests {
        let stamp = Stamp {
            msg_id: &msg_id,
            event_id,
            traceparent: Some(traceparent),
        };
        let ack = nats
            .send(nats.subjects.runs(&run.agent), run.encode_to_vec(), stamp)
            .await
            .map_err(|source| RequestError {
                agent: run.agent.clone(),
                source,
            })?;
        pending.push((run, ack));
    }
    let mut fresh = Vec::with_capacity(pending.len());
    for (run, ack) in pending {
        let ack = ack.await.map_err(|source| RequestError {
            agent: run.agent.clone(),
            source,
        })?;
        if !ack.duplicate {
            let event_id = run.event.as_ref().map_or("", |e| e.event_id.as_str());
            let queued = RunRecord::queued(&run.run_id, &run.agent, event_id, run.requested_at_ms);
            // Only if absent: a record that exists (the run was requested
            // before, or an executor already took it) is the truth.
            match records.write(&queued, None).await {
                Ok(_) | Err(RecordError::Conflict) => {}
                Err(e) => tracing::warn!(run_id = %run.run_id, error = %e, "Queued run record not written."),
            }
        }
        fresh.push(!ack.duplicate);
    }
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_a_pure_function_of_event_and_agent() {
        let at = 1_795_420_800_000;
        let a = webhook_run_id("01a2-event", at, "triage");
        assert_eq!(
            a,
            webhook_run_id("01a2-event", at, "triage"),
            "the same run, however often asked"
        );
        assert_ne!(
            a,
            webhook_run_id("01a2-event", at, "review"),
            "another agent, another run"
        );
        assert_ne!(
            a,
            webhook_run_id("01a2-other", at, "triage"),
            "another event, another run"
        );
        let parsed = uuid::Uuid::parse_str(&a).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 7, "time-ordered like every other id");
        let later = webhook_run_id("01a2-event", at + 1, "triage");
        assert!(later > a, "ids still sort by time");
        assert_eq!(schedule_run_id("nightly", at), schedule_run_id("nightly", at));
        assert_ne!(schedule_run_id("nightly", at), schedule_run_id("nightly", at + 60_000));
    }

    #[test]
    fn statuses_round_trip_and_know_what_is_final() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().ok(), Some(status));
            let json = serde_json::to_string(&status).expect("serializes");
            assert_eq!(json, format!("\"{status}\""));
        }
        let live: Vec<_> = RunStatus::ALL.into_iter().filter(|s| !s.is_final()).collect();
        assert_eq!(
            live,
            [RunStatus::Queued, RunStatus::AwaitingApproval, RunStatus::Running]
        );
        assert!("done".parse::<RunStatus>().is_err());
    }
}
