//! One run, start to finish: record it, prepare a fresh workspace, render
//! the prompt, run the profile's setup and the agent, publish the agent's
//! events, then `run.completed` or `run.failed`. The caller acks only after
//! all of that is acknowledged.

use std::path::Path;
use std::time::{Duration, Instant};

use hookline_core::catalog::{AgentSpec, Catalog};
use hookline_core::clock;
use hookline_core::consume::Outcome;
use hookline_core::log_sink::LogSink;
use hookline_core::nats::Nats;
pub use hookline_core::runs::{Records, RunRecord, RunStatus};

use crate::lease::{self, Claim, Held};
use hookline_proto::RunRequest;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::emit::{EmitError, Emitter};
use crate::events_file;
use crate::runner::Exit;
use crate::session;

/// Everything one run needs from the executor.
pub struct RunEnv<'a> {
    /// NATS.
    pub nats: &'a Nats,
    /// Where run output goes.
    pub logs: &'a LogSink,
    /// The run records bucket.
    pub records: &'a Records,
    /// The catalog as it is now.
    pub catalog: &'a Catalog,
    /// Where run folders are made.
    pub work_root: &'a Path,
    /// This executor copy, as a lease names it.
    pub owner: &'a str,
    /// The attempt this copy makes (set when it takes the lease).
    pub attempt: u32,
    /// How long a lease lasts unless renewed.
    pub lease_ttl: Duration,
    /// Trace context for what the run publishes.
    pub traceparent: String,
    /// Cancelled to stop this run.
    pub cancel: CancellationToken,
}

fn run_data(record: &RunRecord, duration: Duration) -> Map<String, Value> {
    let value = json!({
        "run_id": record.run_id,
        "agent": record.agent,
        "attempt": record.attempt,
        "event_id": record.event_id,
        "exit_code": record.exit_code,
        "duration_ms": u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        "reason": record.reason,
        "status": record.status,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Executes `request` and says how its message should be settled.
pub async fn execute(mut env: RunEnv<'_>, request: RunRequest) -> Outcome {
    let Some(agent) = env.catalog.agents.get(&request.agent).cloned() else {
        return Outcome::Term(format!("agent `{}` is not configured", request.agent));
    };
    // Only the lease decides who runs a run: a request for a run that
    // ended is settled, one for a run another copy holds waits for its
    // lease to expire, and only a copy that took the lease runs the agent.
    let mut held = match lease::claim(env.records, &request, env.owner, env.lease_ttl).await {
        Ok(Claim::Done) => {
            tracing::info!(run_id = %request.run_id, "Run already ended; not run again.");
            return Outcome::Ack;
        }
        Ok(Claim::HeldElsewhere(wait)) => {
            tracing::info!(run_id = %request.run_id, ?wait, "Run held by another executor; asking again after its lease.");
            return Outcome::Retry(wait);
        }
        Ok(Claim::Taken(held)) => *held,
        Err(e) => {
            tracing::warn!(run_id = %request.run_id, error = %e, "Run lease not taken; retrying.");
            return Outcome::Retry(Duration::from_secs(1));
        }
    };
    held.keep(env.lease_ttl, env.cancel.clone());
    env.attempt = held.record().await.attempt;
    let emitter = Emitter::new(
        env.nats.clone(),
        env.logs.clone(),
        &request.run_id,
        &request.agent,
        env.traceparent.clone(),
    );
    match execute_agent(&env, &request, &agent, &emitter, held).await {
        Ok(Settled::Done) => Outcome::Ack,
        Ok(Settled::TryAgain) => Outcome::Retry(RETRY_AFTER_FAILURE),
        // Results could not be stored: the run is redone (its events dedupe).
        Err(e) => {
            tracing::error!(run_id = %request.run_id, error = %e, "Run results not stored; the run will be retried.");
            Outcome::Retry(Duration::from_secs(5))
        }
    }
}

/// How long a failed run waits before its next attempt (`max_attempts`).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Whether a finished run is done or tries again.
enum Settled {
    Done,
    TryAgain,
}

async fn execute_agent(
    env: &RunEnv<'_>,
    request: &RunRequest,
    agent: &AgentSpec,
    emitter: &Emitter,
    held: Held,
) -> Result<Settled, EmitError> {
    let started = Instant::now();
    let mut record = held.record().await;
    let attempt = record.attempt;
    emitter
        .emit(
            "run.started",
            run_data(&record, Duration::ZERO),
            &format!("{attempt}/run.started"),
        )
        .await?;
    tracing::info!(run_id = %record.run_id, agent = %record.agent, attempt, "Run started.");

    let output = session::run(env, request, agent, emitter).await;
    let (events, problems) = events_file::parse(&output.events_text);
    for problem in problems {
        emitter.log("hookline", problem);
    }
    for (n, event) in events.into_iter().enumerate() {
        emitter
            .emit(event.event_type.as_str(), event.data, &format!("{attempt}/agent/{n}"))
            .await?;
    }
    if let Some((checkout, changes, pushed)) = &output.code {
        let data = json!({
            "run_id": record.run_id,
            "agent": record.agent,
            "repository": checkout.repository,
            "branch": checkout.branch,
            "base": checkout.base_branch,
            "base_sha": checkout.base_sha,
            "commits": changes.commits,
            "files": changes.files,
            "pushed": pushed,
        });
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        emitter
            .emit("code.generated", data, &format!("{attempt}/code.generated"))
            .await?;
    }
    let duration = started.elapsed();
    record.exit_code = output.exit.code();
    record.reason = output.reason.clone().unwrap_or_else(|| output.exit.reason().to_owned());
    record.status = match (&output.exit, output.success()) {
        (_, true) => RunStatus::Succeeded,
        (Exit::TimedOut, _) => RunStatus::TimedOut,
        (Exit::Cancelled, _) => RunStatus::Cancelled,
        _ => RunStatus::Failed,
    };
    record.finished_at_ms = clock::now_ms();
    // Only a run the agent itself failed is tried again, and only if asked.
    let again = record.status == RunStatus::Failed && attempt < agent.max_attempts;
    record.will_retry = again;
    let final_type = if record.status == RunStatus::Succeeded {
        "run.completed"
    } else {
        "run.failed"
    };
    let mut data = run_data(&record, duration);
    data.insert("will_retry".to_owned(), Value::Bool(again));
    emitter
        .emit(final_type, data, &format!("{attempt}/run.finished"))
        .await?;
    if let Err(e) = held.finish(record.clone()).await {
        tracing::error!(run_id = %record.run_id, error = %e, "Final run record not written: the lease was lost or NATS is away.");
    }
    tracing::info!(run_id = %record.run_id, status = %record.status, ?duration, again, "Run finished.");
    Ok(if again { Settled::TryAgain } else { Settled::Done })
}
