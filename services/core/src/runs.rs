//! Runs: the one way to request one ([`request`]), and their records in the
//! `hookline_runs` bucket, by run id: written `queued` by whoever requests
//! the run (router, scheduler, a manual run), then by the executor as it
//! runs and finishes.

use std::fmt;
use std::str::FromStr;

use async_nats::jetstream::{self, kv};
use hookline_proto::{Message as _, RunRequest};
use serde::{Deserialize, Serialize};

use crate::approvals::Approval;
use crate::nats::{Nats, Stamp};
use crate::outbox::PendingEvent;

/// Where a run stands. The first three are live; the others are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Requested, not yet taken by an executor.
    Queued,
    /// Waiting for a person to approve it.
    AwaitingApproval,
    /// An executor runs it.
    Running,
    /// The agent exited 0 and everything it produced was published.
    Succeeded,
    /// The agent (or its setup) failed.
    Failed,
    /// The agent ran out of time.
    TimedOut,
    /// Cancelled by an operator.
    Cancelled,
    /// Refused by a person.
    Rejected,
    /// Nobody approved it in time.
    Expired,
}

impl RunStatus {
    /// Every status, live ones first.
    pub const ALL: [RunStatus; 9] = [
        RunStatus::Queued,
        RunStatus::AwaitingApproval,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::TimedOut,
        RunStatus::Cancelled,
        RunStatus::Rejected,
        RunStatus::Expired,
    ];

    /// The status as written in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::AwaitingApproval => "awaiting_approval",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Rejected => "rejected",
            RunStatus::Expired => "expired",
        }
    }

    /// Whether nothing more will happen to the run.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RunStatus::Queued | RunStatus::AwaitingApproval | RunStatus::Running
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a run status.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a run status (one of queued, awaiting_approval, running, succeeded, failed, timed_out, cancelled, rejected, expired)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for RunStatus {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| UnknownStatus(text.to_owned()))
    }
}

/// A run's record in the `hookline_runs` bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run.
    pub run_id: String,
    /// Its agent.
    pub agent: String,
    /// Where it stands.
    pub status: RunStatus,
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
    /// A failed attempt that will be tried again (`max_attempts`): final for
    /// this attempt, not for the run.
    #[serde(default)]
    pub will_retry: bool,
    /// The executor copy running it, while one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Events of the finished attempt not yet known to be published
    /// ([`crate::outbox`]); empty once they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<PendingEvent>,
    /// Why the run needed a person's approval, until when, and who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// Model tokens its attempt used through the gateway, if it called any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
    /// Its status comment, pull request and outputs on the forge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge: Option<crate::forge_state::ForgeRecord>,
}

/// Model token usage of one attempt. Each token is counted once, in one
/// field: `input_tokens` are the input tokens read afresh, the cache
/// fields the input tokens read from or written to the provider's prompt
/// cache (Anthropic reports them beside its input; OpenAI and Gemini
/// inside theirs, so the gateway moves them out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Calls answered.
    pub calls: u64,
    /// Input (prompt) tokens not served from a cache.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_tokens: u64,
    /// Input tokens written to the provider's prompt cache (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TokenUsage {
    /// Every token, of every kind: what token budgets count.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }

    /// Adds `other` to this.
    pub fn add(&mut self, other: &TokenUsage) {
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
    }
}

/// An executor copy's exclusive, renewable hold on a live run: only the
/// holder runs the agent, and only until `expires_at_ms` unless it renews.
/// A copy that finds it expired first gives notice (`takeover_after_ms`)
/// and takes the run over only once the notice has run out, so a holder
/// that is alive but could not write (NATS was away) writes its result
/// first instead of seeing its finished work done again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The executor copy.
    pub owner: String,
    /// Unix ms; after it, another copy may give notice of a takeover.
    pub expires_at_ms: i64,
    /// Unix ms; set by the copy that found the lease expired: after it,
    /// that (or any) copy takes the run over, unless the holder has
    /// written meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeover_after_ms: Option<i64>,
}

impl RunRecord {
    /// Whether nothing more will happen to the run: its status is final
    /// and no further attempt is due.
    pub fn is_done(&self) -> bool {
        self.status.is_final() && !self.will_retry
    }
}

/// A UUIDv7-shaped id made from `at_ms` and a digest of `parts`: the same
/// parts always give the same id, and ids still sort by time.
pub(crate) fn derived_id(at_ms: i64, parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0u8]); // a separator no part contains
    }
    let bytes = digest.finalize();
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&bytes[..10]);
    let millis = u64::try_from(at_ms).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &tail)
        .into_uuid()
        .to_string()
}

/// The run of `agent` for the webhook event `event_id` (received at
/// `received_at_ms`): a pure function of the two, so however often the
/// event is routed, every request names the same run.
pub fn webhook_run_id(event_id: &str, received_at_ms: i64, agent: &str) -> String {
    derived_id(received_at_ms, &["webhook", event_id, agent])
}

/// The run of `agent` for the schedule tick at `tick_ms`.
pub fn schedule_run_id(agent: &str, tick_ms: i64) -> String {
    derived_id(tick_ms, &["schedule", agent, &tick_ms.to_string()])
}

impl RunRecord {
    /// A record for a run just requested.
    pub fn queued(run_id: &str, agent: &str, event_id: &str, requested_at_ms: i64) -> Self {
        Self {
            run_id: run_id.to_owned(),
            agent: agent.to_owned(),
            status: RunStatus::Queued,
            attempt: 0,
            event_id: event_id.to_owned(),
            requested_at_ms,
            started_at_ms: 0,
            finished_at_ms: 0,
            exit_code: None,
            reason: String::new(),
            will_retry: false,
            lease: None,
            outbox: Vec::new(),
            approval: None,
            usage: None,
            forge: None,
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

    /// Reads a run's record with its revision, for a write that must not
    /// overwrite another writer's.
    pub async fn entry(&self, run_id: &str) -> Result<Option<(RunRecord, u64)>, RecordError> {
        let Some(kv) = &self.0 else {
            return Err(RecordError::NoBucket);
        };
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
        let Some(kv) = &self.0 else {
            return Err(RecordError::NoBucket);
        };
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

    /// Reads a run's record.
    pub async fn get(&self, run_id: &str) -> Result<Option<RunRecord>, RecordError> {
        let Some(kv) = &self.0 else {
            return Err(RecordError::NoBucket);
        };
        let Some(bytes) = kv.get(run_id).await? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_slice(&bytes)?))
    }
}

/// Why a run record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The bucket could not be opened at start-up.
    #[error("the run records bucket is unavailable")]
    NoBucket,
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

/// One run to request, with its dedupe id (from [`crate::subjects::msg_id`]).
pub struct Request {
    /// The message to publish on `hookline.runs.<agent>`.
    pub run: RunRequest,
    /// Its `Nats-Msg-Id`.
    pub msg_id: String,
}

/// Requests runs: publishes every `RunRequest` (all at once), waits for
/// every ack, then writes a `queued` record for each one JetStream took as
/// new. Returns, per request in order, whether it was new. This is the only
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
