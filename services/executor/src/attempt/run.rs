//! One run, start to finish: record it, prepare a fresh workspace, render
//! the prompt, run the profile's setup and the agent, then write the final
//! record with the attempt's events (the agent's, `code.generated`,
//! `run.completed` or `run.failed`) in its outbox, publish them and clear
//! it. The caller acks only after all of that is acknowledged.

use std::time::{Duration, Instant};

use hookline_bus::consume::Outcome;
pub use hookline_bus::runs::{RecordError, RunRecord, RunStatus};
use hookline_model::catalog::AgentSpec;
use hookline_model::clock;
use hookline_model::event_catalog::EventCatalog;
use hookline_model::event_types;
use hookline_model::follow_up::FollowUpReason;
use hookline_model::outbox::PendingEvent;

use crate::attempt::lease::{self, Claim, Held};
use hookline_proto::RunRequest;
use serde_json::{Map, Value, json};

use crate::agent::artifacts;
use crate::agent::events_file;
use crate::agent::session;
use crate::attempt::emit::{EmitError, Emitter};
pub use crate::attempt::env::RunEnv;
use crate::attempt::outbox::Outbox;
use crate::forge::report::{self, Phase};
use crate::forge::steps;
use hookline_sandbox::runner::Exit;

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
    let emitter = Emitter::new(env.nats.clone(), env.logs.clone(), &request, env.traceparent.clone());
    // Only the lease decides who runs a run: a request for a run that
    // ended is settled, one for a run another copy holds waits for its
    // lease to expire, and only a copy that took the lease runs the agent.
    // An attempt that ended with its outbox unpublished is published
    // first, whoever ran it.
    let mut held = None;
    for _ in 0..3 {
        match lease::claim(env.records, &request, env.owner, env.lease_ttl).await {
            Ok(Claim::Done) => {
                tracing::info!(run_id = %request.run_id, "Run already ended; not run again.");
                return steps::settle(&env, &request).await;
            }
            Ok(Claim::HeldElsewhere(wait)) => {
                tracing::info!(run_id = %request.run_id, ?wait, "Run held by another executor; asking again after its lease.");
                return Outcome::Retry(wait);
            }
            Ok(Claim::Unpublished(record)) => {
                tracing::info!(run_id = %request.run_id, events = record.outbox.len(), "Publishing a finished attempt's events.");
                if let Err(e) = publish_outbox(&env, &emitter, &record).await {
                    return not_stored(&request, &e);
                }
                if record.is_done() {
                    return steps::settle(&env, &request).await;
                }
            }
            Ok(Claim::Taken(taken)) => {
                held = Some(*taken);
                break;
            }
            Err(e) => {
                tracing::warn!(run_id = %request.run_id, error = %e, "Run lease not taken; retrying.");
                return Outcome::Retry(Duration::from_secs(1));
            }
        }
    }
    let Some(mut held) = held else {
        return Outcome::Retry(Duration::from_secs(1));
    };
    held.keep(env.lease_ttl, env.cancel.clone());
    env.attempt = held.record().await.attempt;
    match execute_agent(&env, &request, &agent, &emitter, held).await {
        Ok(Settled::Done) => Outcome::Ack,
        Ok(Settled::TryAgain) => Outcome::Retry(RETRY_AFTER_FAILURE),
        // Not this copy's to finish: the lease decides on the next delivery.
        Ok(Settled::Lost) => Outcome::Retry(env.lease_ttl),
        Err(e) => not_stored(&request, &e),
    }
}

/// The run's events were not all stored: its record keeps them, and the
/// next delivery publishes them (the agent is not run again).
fn not_stored(request: &RunRequest, e: &NotStored) -> Outcome {
    tracing::error!(run_id = %request.run_id, error = %e, "Run events not stored; publishing them again later.");
    Outcome::Retry(Duration::from_secs(5))
}

/// Publishes `record`'s outbox, then clears it.
async fn publish_outbox(env: &RunEnv<'_>, emitter: &Emitter, record: &RunRecord) -> Result<(), NotStored> {
    emitter.publish_all(&record.outbox).await?;
    env.records.clear_outbox(&record.run_id).await?;
    Ok(())
}

/// Why a finished attempt's events are not all published yet.
#[derive(Debug, thiserror::Error)]
enum NotStored {
    #[error(transparent)]
    Event(#[from] EmitError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// How long a failed run waits before its next attempt (`max_attempts`).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Whether a finished run is done, tries again, or was not this copy's.
enum Settled {
    Done,
    TryAgain,
    Lost,
}

async fn execute_agent(
    env: &RunEnv<'_>,
    request: &RunRequest,
    agent: &AgentSpec,
    emitter: &Emitter,
    held: Held,
) -> Result<Settled, NotStored> {
    let started = Instant::now();
    let mut record = held.record().await;
    let attempt = record.attempt;
    let run_started = PendingEvent::new(
        &record.run_id,
        event_types::RUN_STARTED,
        run_data(&record, Duration::ZERO),
        &format!("{attempt}/run.started"),
        record.started_at_ms,
    );
    emitter.publish(&run_started).await?;
    tracing::info!(run_id = %record.run_id, agent = %record.agent, attempt, "Run started.");
    // An actor only the forge can vouch for: asked before anything is done
    // for them, on the forge or by the agent.
    let untrusted = match &request.forge_trust {
        Some(check) => crate::forge::vouch::vouch(env, request, check, emitter).await.err(),
        None => None,
    };
    let mut forge = if let Some(why) = &untrusted {
        emitter.log("hookline", format!("run not started: {why}"));
        None
    } else if request.preview {
        emitter.log(
            "hookline",
            "preview: nothing is pushed and nothing is written to the forge".to_owned(),
        );
        None
    } else {
        steps::start(env, request, agent, &held, emitter).await
    };

    let exhausted = request
        .follow_up
        .as_ref()
        .is_some_and(|f| FollowUpReason::parse(&f.reason) == Some(FollowUpReason::CiExhausted));
    let output = if untrusted.is_some() {
        session::SessionOutput::failed(hookline_bus::runs::RunReason::Untrusted)
    } else if exhausted {
        emitter.log(
            "hookline",
            "the branch's checks failed again after the last fix-up run allowed (ci_fixes); a human is needed"
                .to_owned(),
        );
        session::SessionOutput::failed(hookline_bus::runs::RunReason::NeedsHuman)
    } else {
        let phase = |p: Phase| {
            if let Some(f) = &forge {
                f.phase(p);
            }
        };
        session::run(env, request, agent, emitter, &phase).await
    };
    if held.lost() {
        tracing::error!(run_id = %record.run_id, "Lease lost while the agent ran; its results are discarded.");
        return Ok(Settled::Lost);
    }
    let published = match forge.as_mut() {
        Some(f) if output.success() => f.publish(env, request, agent, &output, emitter).await,
        Some(f) => {
            f.stop_following().await;
            steps::Published::default()
        }
        None => steps::Published::default(),
    };
    record.forge = forge.as_ref().map(|f| f.record.clone());
    let finished_at = clock::now_ms();
    let (events, problems) = events_file::parse(&output.events_text);
    for problem in problems {
        emitter.log("hookline", problem);
    }
    let mut outbox = Outbox::new(&record.run_id, finished_at);
    let event_types = if events.is_empty() {
        EventCatalog::builtin().clone()
    } else {
        EventCatalog::with_declared(env.catalog).unwrap_or_else(|_| EventCatalog::builtin().clone())
    };
    let mut accepted = Vec::with_capacity(events.len());
    for event in events {
        match event_types.check(event.event_type.as_str(), &Value::Object(event.data.clone())) {
            Ok(()) => accepted.push(event),
            Err(why) => emitter.log("hookline", format!("event refused: {why}")),
        }
    }
    for (n, event) in accepted.into_iter().enumerate() {
        outbox.push(
            emitter,
            event.event_type.as_str(),
            event.data,
            format!("{attempt}/agent/{n}"),
        );
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
            "pull_request": published.pull_request.as_ref().map(|(p, _)| json!({"number": p.number, "url": p.url})),
        });
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        outbox.push(
            emitter,
            event_types::CODE_GENERATED,
            data,
            format!("{attempt}/code.generated"),
        );
    }
    let duration = started.elapsed();
    record.exit_code = output.exit.code();
    record.reason = output.reason.unwrap_or_else(|| output.exit.reason());
    record.status = match (&output.exit, output.success()) {
        (_, true) => RunStatus::Succeeded,
        (Exit::TimedOut, _) => RunStatus::TimedOut,
        (Exit::Cancelled, _) => RunStatus::Cancelled,
        _ => RunStatus::Failed,
    };
    record.finished_at_ms = finished_at;
    record.usage = output.usage;
    record.model_calls = output.model_calls.clone();
    if let Some((branch, base)) = &output.branch {
        record.branch.clone_from(branch);
        record.base_branch.clone_from(base);
    }
    if let Some(usage) = output.usage
        && let Err(e) = hookline_bus::budget::spend(env.state, &record.agent, finished_at, &usage).await
    {
        tracing::warn!(agent = %record.agent, error = %e, "Daily totals not updated.");
    }
    // Only a run the agent itself failed is tried again, and only if asked
    // (an actor the forge did not vouch for is not asked about again).
    let again = record.status == RunStatus::Failed
        && attempt < agent.max_attempts
        && record.reason != hookline_bus::runs::RunReason::Untrusted;
    record.will_retry = again;
    let final_type = if record.status == RunStatus::Succeeded {
        event_types::RUN_COMPLETED
    } else {
        event_types::RUN_FAILED
    };
    let mut data = run_data(&record, duration);
    data.insert("will_retry".to_owned(), Value::Bool(again));
    if let Some(limit) = output.limit {
        data.insert("limit".to_owned(), Value::String(limit.as_str().to_owned()));
    }
    data.insert("blocked_hosts".to_owned(), json!(output.blocked_hosts));
    if let Some(f) = &record.forge {
        if let Some(pull) = &f.pull_request {
            data.insert("pull_request_url".to_owned(), json!(pull.url));
        }
        if !f.comment_url.is_empty() {
            data.insert("status_comment_url".to_owned(), json!(f.comment_url));
        }
    }
    if let Some(usage) = output.usage {
        data.insert("usage".to_owned(), json!(usage));
    }
    if let Some(summary) = &output.summary {
        data.insert("summary".to_owned(), json!(summary.final_message));
        data.insert("tool_calls".to_owned(), json!(summary.tool_calls));
    }
    if let Some((pull, _)) = &published.pull_request {
        // One id per run and pull request, whichever attempt publishes it.
        let data = json!({"run_id": record.run_id, "agent": record.agent, "repository": record.forge.as_ref().map(|f| f.repository.clone()),
                          "number": pull.number, "url": pull.url, "thread": record.forge.as_ref().map(|f| f.thread)});
        if let Value::Object(data) = data {
            outbox.events.push(PendingEvent::new(
                &record.run_id,
                event_types::PULL_REQUEST_OPENED,
                data,
                &format!("pull_request.opened/{}", pull.number),
                record.requested_at_ms,
            ));
        }
    }
    outbox.push_final(final_type, data, format!("{attempt}/run.finished"));
    record.outbox = outbox.events;
    // The final record and its events are one write; the events are
    // published from it, so a crash anywhere after it redoes only the
    // publishing, under the same ids.
    match held.finish(record.clone()).await {
        Ok(()) => {}
        Err(RecordError::Conflict) => {
            tracing::error!(run_id = %record.run_id, "Another executor took this run over; these results are discarded.");
            return Ok(Settled::Lost);
        }
        Err(e) => {
            tracing::error!(run_id = %record.run_id, error = %e, "Final run record not written; the run will be taken over when its lease expires.");
            return Ok(Settled::Lost);
        }
    }
    let stored = match output.kept {
        // After the final record, so that a run's result never waits on its
        // artifacts (nor loses its lease to them while NATS is away); before
        // its events, so that whoever hears `run.completed` finds them (but
        // the agent's session state, when the agent was still writing it,
        // which a follow-up waits for).
        Some(kept) => Some(artifacts::store(env, &record.run_id, emitter, kept).await),
        None => None,
    };
    publish_outbox(env, emitter, &record).await?;
    if let Some(stored) = stored {
        artifacts::finish(env, &record.run_id, emitter, stored).await;
    }
    tracing::info!(run_id = %record.run_id, status = %record.status, ?duration, again, "Run finished.");
    env.span.set("hookline.status", record.status.to_string());
    env.span.set("hookline.attempt", i64::from(record.attempt));
    if let Some(usage) = record.usage {
        // OpenTelemetry's semantic conventions for generative AI.
        env.span.set(
            "gen_ai.usage.input_tokens",
            i64::try_from(usage.input_tokens).unwrap_or(i64::MAX),
        );
        env.span.set(
            "gen_ai.usage.output_tokens",
            i64::try_from(usage.output_tokens).unwrap_or(i64::MAX),
        );
    }
    if record.status != RunStatus::Succeeded {
        env.span.fail(record.reason.as_str());
    }
    if let Some(metrics) = hookline_runtime::metrics::get() {
        let labels = hookline_runtime::metrics::RunLabels {
            agent: record.agent.clone(),
            status: record.status.to_string(),
        };
        metrics.runs_finished.get_or_create(&labels).inc();
        let agent = hookline_runtime::metrics::AgentLabels {
            agent: record.agent.clone(),
        };
        metrics
            .run_duration
            .get_or_create(&agent)
            .observe(duration.as_secs_f64());
    }
    if let Some(f) = &forge
        && !report::settle_status(f.forge(), env.records, &record).await
    {
        // Asked again: the next delivery finds the run done and settles it.
        return Ok(Settled::Lost);
    }
    Ok(if again { Settled::TryAgain } else { Settled::Done })
}
