//! The exclusive lease on a live run. Before an executor copy starts a
//! run's agent it takes the lease in the run's record with a
//! revision-checked write; it renews it while the agent works and releases
//! it with the final record. A request for a run whose lease another copy
//! holds is not acted on until the lease expires; a copy that cannot renew
//! stops its agent before its lease runs out, so two processes of one run
//! never overlap. Only the lease decides who runs a run, never a
//! redelivery. A copy that finds a lease expired gives notice first and
//! takes the run over only after [`TAKEOVER_GRACE`]; the holder, while it
//! lives, keeps writing (a renewal, its final record) and a notice does
//! not stop it: so an attempt that finished while NATS was away writes
//! its result when NATS is back, and its agent is not run again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hookline_bus::runs::{Lease, RecordError, Records, RunRecord, RunStatus};
use hookline_model::clock;
use hookline_proto::RunRequest;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// What a copy may do with a run it was asked to run.
pub enum Claim {
    /// The run ended: settle the request, run nothing.
    Done,
    /// Another copy holds it; ask again after this long.
    HeldElsewhere(Duration),
    /// This copy holds it now.
    Taken(Box<Held>),
    /// An attempt finished but its outbox was not all published (its copy
    /// died or lost NATS in between): publish it, clear it, ask again.
    Unpublished(Box<RunRecord>),
}

/// A lease this copy holds, with the record as last written.
pub struct Held {
    records: Records,
    /// This copy, as the lease names it.
    owner: String,
    state: Arc<Mutex<(RunRecord, u64)>>,
    renewer: Option<tokio::task::JoinHandle<()>>,
    /// Stops the renewer between renewals, never in the middle of one (a
    /// renewal cut off after NATS applied it would leave a stale revision).
    stop_renewing: CancellationToken,
    /// Set when a renewal failed for good: this copy's results are no
    /// longer the run's.
    lost: Arc<AtomicBool>,
}

/// How many conflicting writers a claim tolerates before asking again later.
const TRIES: usize = 3;

/// How long a copy that found a lease expired waits before it takes the
/// run over: longer than a live holder takes to reconnect to NATS
/// (async-nats waits up to 4 s between tries) and write (its retries are
/// at most 2 s apart).
pub const TAKEOVER_GRACE: Duration = Duration::from_secs(10);

/// Takes the lease on `request`'s run for `owner`, for `ttl`.
pub async fn claim(records: &Records, request: &RunRequest, owner: &str, ttl: Duration) -> Result<Claim, RecordError> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    for _ in 0..TRIES {
        let now = clock::now_ms();
        let current = records.entry(&request.run_id).await?;
        let (mut record, revision) = match current {
            Some((record, _)) if !record.outbox.is_empty() => return Ok(Claim::Unpublished(Box::new(record))),
            Some((record, _)) if record.is_done() => return Ok(Claim::Done),
            // Only an approval releases it (with a request of its own).
            Some((record, _)) if record.status == RunStatus::AwaitingApproval => return Ok(Claim::Done),
            // A fresh lease is honoured whoever holds it: this very copy
            // may be running the run it is asked for again (a redelivery
            // after a lost ack), and must not start a second process.
            Some((record, _)) if record.lease.as_ref().is_some_and(|l| l.expires_at_ms > now) => {
                let left = record.lease.as_ref().map_or(0, |l| l.expires_at_ms - now);
                return Ok(Claim::HeldElsewhere(after_ms(left)));
            }
            // Expired: give notice, then wait for it to run out (the holder
            // may be alive and about to write).
            Some((mut record, revision)) if record.lease.as_ref().is_some_and(|l| l.takeover_after_ms.is_none()) => {
                let grace = i64::try_from(TAKEOVER_GRACE.as_millis()).unwrap_or(i64::MAX / 2);
                if let Some(lease) = record.lease.as_mut() {
                    lease.takeover_after_ms = Some(now + grace);
                }
                match records.write(&record, Some(revision)).await {
                    Ok(_) => {
                        tracing::info!(run_id = %record.run_id, "Run lease expired; taking it over after the notice unless its holder writes first.");
                        return Ok(Claim::HeldElsewhere(after_ms(grace)));
                    }
                    Err(RecordError::Conflict) => continue,
                    Err(e) => return Err(e),
                }
            }
            Some((record, _))
                if record
                    .lease
                    .as_ref()
                    .and_then(|l| l.takeover_after_ms)
                    .is_some_and(|t| t > now) =>
            {
                let left = record
                    .lease
                    .as_ref()
                    .and_then(|l| l.takeover_after_ms)
                    .map_or(0, |t| t - now);
                return Ok(Claim::HeldElsewhere(after_ms(left)));
            }
            Some((record, revision)) => (record, Some(revision)),
            None => {
                let event_id = request.event.as_ref().map_or("", |e| e.event_id.as_str());
                let queued = RunRecord::queued(&request.run_id, &request.agent, event_id, request.requested_at_ms);
                (queued, None)
            }
        };
        record.status = RunStatus::Running;
        record.attempt += 1;
        record.started_at_ms = now;
        record.finished_at_ms = 0;
        record.exit_code = None;
        record.reason = hookline_bus::runs::RunReason::Unset;
        record.will_retry = false;
        record.lease = Some(Lease {
            owner: owner.to_owned(),
            expires_at_ms: now + ttl_ms,
            takeover_after_ms: None,
        });
        match records.write(&record, revision).await {
            Ok(revision) => {
                return Ok(Claim::Taken(Box::new(Held {
                    records: records.clone(),
                    owner: owner.to_owned(),
                    state: Arc::new(Mutex::new((record, revision))),
                    renewer: None,
                    stop_renewing: CancellationToken::new(),
                    lost: Arc::default(),
                })));
            }
            Err(RecordError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(Claim::HeldElsewhere(Duration::from_secs(1)))
}

/// A wait of `ms` (and a little more, so the time has surely passed).
fn after_ms(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0) + 100)
}

/// Writes `record` over the held revision for `owner`; a conflict that is
/// only another copy's takeover notice (same attempt, same holder, still
/// running) is written over: the holder is alive, so the notice was early.
async fn write_held(records: &Records, record: &RunRecord, revision: u64, owner: &str) -> Result<u64, RecordError> {
    match records.write(record, Some(revision)).await {
        Err(RecordError::Conflict) => {
            let Some((current, revision)) = records.entry(&record.run_id).await? else {
                return Err(RecordError::Conflict);
            };
            // An earlier try that NATS applied without its answer arriving.
            if current == *record {
                return Ok(revision);
            }
            let still_ours = current.status == RunStatus::Running
                && current.attempt == record.attempt
                && current.lease.as_ref().is_some_and(|l| l.owner == owner);
            if !still_ours {
                return Err(RecordError::Conflict);
            }
            tracing::info!(run_id = %record.run_id, "Takeover notice on a run this copy still holds; writing over it.");
            records.write(record, Some(revision)).await
        }
        other => other,
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // A run abandoned on an error stops renewing: its lease then
        // expires and the run is taken over.
        self.stop_renewing.cancel();
    }
}

impl Held {
    /// The record as this copy wrote it (status running, its attempt).
    pub async fn record(&self) -> RunRecord {
        self.state.lock().await.0.clone()
    }

    /// Renews the lease every third of `ttl`; when a renewal fails and the
    /// lease is about to run out, cancels `stop` (which kills the agent)
    /// so this copy's agent never outlives its lease.
    pub fn keep(&mut self, ttl: Duration, stop: CancellationToken) {
        let (records, state, owner) = (self.records.clone(), self.state.clone(), self.owner.clone());
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let done = self.stop_renewing.clone();
        let lost = self.lost.clone();
        self.renewer = Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = done.cancelled() => return,
                    _ = tokio::time::sleep(ttl / 3) => {}
                }
                let mut held = state.lock().await;
                let (mut record, revision) = held.clone();
                let expires = record.lease.as_ref().map_or(0, |l| l.expires_at_ms);
                if let Some(lease) = record.lease.as_mut() {
                    lease.expires_at_ms = clock::now_ms() + ttl_ms;
                    lease.takeover_after_ms = None;
                }
                match write_held(&records, &record, revision, &owner).await {
                    Ok(revision) => *held = (record, revision),
                    Err(e) => {
                        // Stop well before another copy may take the run over.
                        let margin = ttl_ms / 3;
                        tracing::warn!(run_id = %record.run_id, error = %e, "Lease not renewed.");
                        if matches!(e, RecordError::Conflict) || clock::now_ms() + margin >= expires {
                            tracing::error!(run_id = %record.run_id, "Lease lost; stopping the agent.");
                            lost.store(true, Ordering::SeqCst);
                            stop.cancel();
                            return;
                        }
                    }
                }
            }
        }));
    }

    /// Changes the record mid-run (its forge side), under the lease.
    pub async fn amend(&self, change: impl FnOnce(&mut RunRecord)) -> Result<(), RecordError> {
        let mut held = self.state.lock().await;
        let (mut record, revision) = held.clone();
        change(&mut record);
        let revision = write_held(&self.records, &record, revision, &self.owner).await?;
        *held = (record, revision);
        Ok(())
    }

    /// Whether this copy lost the lease while it ran (its agent was
    /// stopped for that, not by an operator).
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Writes the final `record` (with its outbox), releasing the lease.
    /// A write NATS refuses is tried again for as long as this copy lives,
    /// past the lease's end: another copy only gives notice of a takeover
    /// then ([`TAKEOVER_GRACE`]), and this write goes over a notice, so a
    /// finished attempt's result is kept rather than its agent run again.
    /// `Conflict` means another copy did take the run over (a new attempt):
    /// these results are not the run's.
    pub async fn finish(mut self, mut record: RunRecord) -> Result<(), RecordError> {
        self.stop_renewing.cancel();
        if let Some(renewer) = self.renewer.take() {
            // It stops at its next wait, after any renewal in flight.
            let _ = renewer.await;
        }
        if self.lost() {
            return Err(RecordError::Conflict);
        }
        let (_, revision) = self.state.lock().await.clone();
        record.lease = None;
        let mut pause = Duration::from_millis(100);
        loop {
            match write_held(&self.records, &record, revision, &self.owner).await {
                Ok(_) => return Ok(()),
                Err(RecordError::Conflict) => return Err(RecordError::Conflict),
                Err(e) => {
                    tracing::warn!(run_id = %record.run_id, error = %e, "Final run record not written yet; trying again.");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}
