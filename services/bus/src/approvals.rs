//! The approval gate. A run from an actor outside its trigger's trust
//! policy, on an agent with `untrusted = "approve"`, is held: its
//! `RunRequest` waits in the approvals bucket (not in `HOOKLINE_RUNS`, so
//! it takes no concurrency slot and no workspace), its record says
//! `awaiting_approval`, and `run.awaiting_approval` is published. A person
//! approves it (the record becomes `queued`, revision-checked, then the
//! request is published under one dedupe id, so two approvals at once
//! still make one run), rejects it (`rejected`), or lets it expire
//! (`expired`). Whoever settles pending approvals (each router, every half
//! minute) also finishes an approval whose request was not yet published.

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::TryStreamExt as _;
use hookline_proto::{Event, Message as _, RunRequest};

use serde_json::json;

use crate::nats::Nats;
use crate::runs::{RecordError, Records, RunReason, RunRecord, RunStatus};
pub use hookline_model::approval::Approval;
use hookline_model::clock;
use hookline_model::outbox;

/// Why an approval could not be recorded or decided.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// No such run.
    #[error("no run `{0}`")]
    NotFound(String),
    /// The run is not waiting for approval (decided before, or never held).
    #[error("{}", already(run_id, *status, decided.as_ref()))]
    NotAwaiting {
        /// The run.
        run_id: String,
        /// Where it stands.
        status: RunStatus,
        /// Who decided it and when (Unix ms), if a person did.
        decided: Option<(String, i64)>,
    },
    /// The run record could not be read or written.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The approvals bucket could not be read or written.
    #[error("approvals bucket: {0}")]
    Store(String),
    /// JetStream did not take a message.
    #[error("not published: {0}")]
    Publish(String),
}

/// Why a decision comes too late: who made the earlier one and when.
fn already(run_id: &str, status: RunStatus, decided: Option<&(String, i64)>) -> String {
    match decided {
        Some((by, at_ms)) => {
            let verb = if status == RunStatus::Rejected {
                "rejected"
            } else {
                "approved"
            };
            format!(
                "run `{run_id}` was already {verb} by {by} at {}; it is {status}",
                clock::rfc3339_ms(*at_ms)
            )
        }
        None => format!("run `{run_id}` is {status}, not awaiting approval"),
    }
}

impl ApprovalError {
    /// The error for a run `record` that is past its approval.
    pub fn decided_before(record: &RunRecord) -> Self {
        ApprovalError::NotAwaiting {
            run_id: record.run_id.clone(),
            status: record.status,
            decided: record
                .approval
                .as_ref()
                .and_then(|a| Some((a.decided_by.clone()?, a.decided_at_ms.unwrap_or(0)))),
        }
    }
}

/// What an approval did.
#[derive(Debug)]
pub enum Approved {
    /// This call approved it.
    Now(RunRecord),
    /// Someone approved it before (its request is published again, in
    /// case that approval stopped half-way; JetStream drops the repeat).
    Before(RunRecord),
}

/// The approval gate's handle.
#[derive(Clone)]
pub struct Approvals {
    nats: Nats,
    records: Records,
    pending: kv::Store,
}

/// How many conflicting writers a decision tolerates before giving up.
const TRIES: usize = 5;

impl Approvals {
    /// The approval gate over `nats`'s approvals bucket.
    pub fn new(nats: &Nats, records: Records) -> Self {
        Self {
            nats: nats.clone(),
            records,
            pending: nats.buckets.approvals.clone(),
        }
    }

    /// Holds `request` for approval: stores it, writes its record
    /// `awaiting_approval` (if none exists) and publishes
    /// `run.awaiting_approval` (the same event however often it is held).
    pub async fn hold(&self, request: &RunRequest, approval: Approval, traceparent: &str) -> Result<(), ApprovalError> {
        let pending = &self.pending;
        pending
            .put(&request.run_id, Bytes::from(request.encode_to_vec()))
            .await
            .map_err(|e| ApprovalError::Store(e.to_string()))?;
        let event_id = request.event.as_ref().map_or("", |e| e.event_id.as_str());
        let mut record = RunRecord::queued(&request.run_id, &request.agent, event_id, request.requested_at_ms);
        record.status = RunStatus::AwaitingApproval;
        record.approval = Some(approval);
        let record = match self.records.write(&record, None).await {
            Ok(_) => record,
            // Held before (a redelivery): announce what the record says.
            Err(RecordError::Conflict) => self
                .records
                .get(&request.run_id)
                .await?
                .ok_or_else(|| ApprovalError::NotFound(request.run_id.clone()))?,
            Err(e) => return Err(e.into()),
        };
        if record.status == RunStatus::AwaitingApproval {
            self.announce(&record, traceparent).await?;
        }
        Ok(())
    }

    async fn announce(&self, record: &RunRecord, traceparent: &str) -> Result<(), ApprovalError> {
        let Some(approval) = &record.approval else {
            return Ok(());
        };
        let data = json!({
            "run_id": record.run_id,
            "agent": record.agent,
            "event_id": record.event_id,
            "actor": approval.actor,
            "reason": approval.reason,
            "expires_at": clock::rfc3339_ms(approval.expires_at_ms),
            "approve": format!("hookline approve {}", record.run_id),
            "reject": format!("hookline reject {}", record.run_id),
        });
        let dedupe = "awaiting_approval";
        let event = Event {
            id: outbox::event_id(&record.run_id, dedupe, record.requested_at_ms),
            r#type: hookline_model::event_types::RUN_AWAITING_APPROVAL.to_owned(),
            timestamp_ms: record.requested_at_ms,
            data_json: data.to_string().into_bytes(),
            run_id: record.run_id.clone(),
            agent: record.agent.clone(),
            source_event_id: record.event_id.clone(),
        };
        crate::events::publish(&self.nats, &event, &record.run_id, dedupe, Some(traceparent))
            .await
            .map_err(|e| ApprovalError::Publish(e.to_string()))
    }

    /// Approves `run_id` for `by`: its record becomes `queued`, then its
    /// request is published (once, whoever else approves it meanwhile).
    pub async fn approve(&self, run_id: &str, by: &str) -> Result<Approved, ApprovalError> {
        let approved = self.decide(run_id, by, RunStatus::Queued).await?;
        self.release(run_id).await?;
        Ok(approved)
    }

    /// Rejects `run_id` for `by`: its record becomes `rejected`; it never runs.
    pub async fn reject(&self, run_id: &str, by: &str) -> Result<RunRecord, ApprovalError> {
        match self.decide(run_id, by, RunStatus::Rejected).await? {
            Approved::Now(record) => {
                self.forget(run_id).await;
                Ok(record)
            }
            Approved::Before(record) => Err(ApprovalError::decided_before(&record)),
        }
    }

    /// Moves an awaiting run to `to` (revision-checked); a run already
    /// approved answers `Before` when `to` is an approval.
    async fn decide(&self, run_id: &str, by: &str, to: RunStatus) -> Result<Approved, ApprovalError> {
        for _ in 0..TRIES {
            let Some((mut record, revision)) = self.records.entry(run_id).await? else {
                return Err(ApprovalError::NotFound(run_id.to_owned()));
            };
            let decided = record.approval.as_ref().is_some_and(|a| a.decided_by.is_some());
            match record.status {
                RunStatus::AwaitingApproval => {}
                status
                    if to == RunStatus::Queued
                        && decided
                        && !matches!(status, RunStatus::Rejected | RunStatus::Expired) =>
                {
                    return Ok(Approved::Before(record));
                }
                _ => return Err(ApprovalError::decided_before(&record)),
            }
            record.status = to;
            if to.is_final() {
                record.finished_at_ms = clock::now_ms();
                record.reason = match to {
                    RunStatus::Rejected => RunReason::Rejected,
                    RunStatus::Expired => RunReason::Expired,
                    _ => RunReason::Other,
                };
            }
            if let Some(approval) = record.approval.as_mut() {
                approval.decided_by = Some(by.to_owned());
                approval.decided_at_ms = Some(clock::now_ms());
            }
            match self.records.write(&record, Some(revision)).await {
                Ok(_) => return Ok(Approved::Now(record)),
                Err(RecordError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RecordError::Conflict.into())
    }

    /// Publishes an approved run's held request (if it is still held) and
    /// forgets it.
    async fn release(&self, run_id: &str) -> Result<(), ApprovalError> {
        let pending = &self.pending;
        let Some(bytes) = pending
            .get(run_id)
            .await
            .map_err(|e| ApprovalError::Store(e.to_string()))?
        else {
            return Ok(()); // released before
        };
        let request = RunRequest::decode(bytes.as_ref()).map_err(|e| ApprovalError::Store(e.to_string()))?;
        crate::runs::request_approved(&self.nats, &request)
            .await
            .map_err(|e| ApprovalError::Publish(e.to_string()))?;
        self.forget(run_id).await;
        Ok(())
    }

    async fn forget(&self, run_id: &str) {
        if let Err(e) = self.pending.purge(run_id).await {
            tracing::debug!(run_id, error = %e, "Held request not removed; it is settled later.");
        }
    }

    /// Settles every held request: expires those past their time, releases
    /// approved ones whose request was not yet published, forgets decided
    /// ones. Answers how many runs expired.
    pub async fn settle(&self) -> Result<usize, ApprovalError> {
        let pending = &self.pending;
        let keys: Vec<String> = pending
            .keys()
            .await
            .map_err(|e| ApprovalError::Store(e.to_string()))?
            .try_collect()
            .await
            .map_err(|e| ApprovalError::Store(e.to_string()))?;
        let mut expired = 0;
        for run_id in keys {
            let Some((mut record, revision)) = self.records.entry(&run_id).await? else {
                self.forget(&run_id).await;
                continue;
            };
            let due = record
                .approval
                .as_ref()
                .is_some_and(|a| a.expires_at_ms <= clock::now_ms());
            match record.status {
                RunStatus::AwaitingApproval if due => {
                    record.status = RunStatus::Expired;
                    record.finished_at_ms = clock::now_ms();
                    record.reason = RunReason::Expired;
                    match self.records.write(&record, Some(revision)).await {
                        Ok(_) => {
                            expired += 1;
                            self.forget(&run_id).await;
                        }
                        Err(RecordError::Conflict) => {} // decided meanwhile: next time
                        Err(e) => return Err(e.into()),
                    }
                }
                RunStatus::AwaitingApproval => {}
                RunStatus::Queued => self.release(&run_id).await?,
                _ => self.forget(&run_id).await,
            }
        }
        Ok(expired)
    }
}
