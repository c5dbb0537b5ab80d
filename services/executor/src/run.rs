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
pub use hookline_core::runs::{RecordError, Records, RunRecord, RunStatus};
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
    /// The delivery count of the request.
    pub attempt: u32,
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
pub async fn execute(env: RunEnv<'_>, request: RunRequest) -> Outcome {
    let Some(agent) = env.catalog.agents.get(&request.agent).cloned() else {
        return Outcome::Term(format!("agent `{}` is not configured", request.agent));
    };
    // A request for a run that already ended (its ack was lost, or the
    // request was published again after the duplicate window forgot it)
    // is settled without running the agent a second time.
    match env.records.get(&request.run_id).await {
        Ok(Some(record)) if record.is_done() => {
            tracing::info!(run_id = %request.run_id, status = %record.status, "Run already ended; not run again.");
            return Outcome::Ack;
        }
        Ok(_) | Err(RecordError::NoBucket) => {}
        Err(e) => {
            tracing::warn!(run_id = %request.run_id, error = %e, "Run record unreadable; retrying.");
            return Outcome::Retry(Duration::from_secs(1));
        }
    }
    let emitter = Emitter::new(
        env.nats.clone(),
        env.logs.clone(),
        &request.run_id,
        &request.agent,
        env.traceparent.clone(),
    );
    match execute_agent(&env, &request, &agent, &emitter).await {
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
) -> Result<Settled, EmitError> {
    let started = Instant::now();
    let attempt = env.attempt;
    let mut record = RunRecord {
        run_id: request.run_id.clone(),
        agent: request.agent.clone(),
        status: RunStatus::Running,
        attempt,
        event_id: request.event.as_ref().map(|e| e.event_id.clone()).unwrap_or_default(),
        requested_at_ms: request.requested_at_ms,
        started_at_ms: clock::now_ms(),
        finished_at_ms: 0,
        exit_code: None,
        reason: String::new(),
        will_retry: false,
    };
    env.records.put(&record, false).await;
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
    env.records.put(&record, false).await;
    tracing::info!(run_id = %record.run_id, status = %record.status, ?duration, again, "Run finished.");
    Ok(if again { Settled::TryAgain } else { Settled::Done })
}
