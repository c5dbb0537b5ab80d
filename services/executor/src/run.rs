//! One run, start to finish: record it, prepare a fresh workspace, render
//! the prompt, run the profile's setup and the agent, publish the agent's
//! events, then `run.completed` or `run.failed`. The caller acks only after
//! all of that is acknowledged.

use std::path::Path;
use std::time::{Duration, Instant};

use hookline_core::catalog::{AgentSpec, Catalog, ProfileSpec, RunnerSpec};
use hookline_core::clock;
use hookline_core::consume::Outcome;
use hookline_core::nats::Nats;
use hookline_proto::RunRequest;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::emit::{EmitError, Emitter};
use crate::events_file;
use crate::prompt::{self, PromptInput};
use crate::runner::{self, Exit, Spawn, Stream};

/// Environment variables passed through from the executor to agents; all
/// else comes from the profile.
const PASSED_THROUGH: [&str; 6] = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER"];

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

/// Everything one run needs from the executor.
pub struct RunEnv<'a> {
    /// NATS.
    pub nats: &'a Nats,
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

async fn put_record(nats: &Nats, record: &RunRecord) {
    let Ok(kv) = nats.js.get_key_value(nats.subjects.runs_bucket()).await else {
        return;
    };
    if let Ok(json) = serde_json::to_vec(record)
        && let Err(e) = kv.put(&record.run_id, json.into()).await
    {
        tracing::warn!(run_id = %record.run_id, error = %e, "Run record not written.");
    }
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

fn agent_env(profile: Option<&ProfileSpec>, emitter: &Emitter, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = PASSED_THROUGH
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect();
    if let Some(profile) = profile {
        env.extend(profile.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (name, secret) in &profile.secrets {
            match secret.resolve() {
                Ok(value) => env.push((name.clone(), value.expose().to_owned())),
                Err(e) => emitter.log("hookline", format!("secret {name} unavailable: {e}")),
            }
        }
    }
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    env
}

/// Executes `request` and says how its message should be settled.
pub async fn execute(env: RunEnv<'_>, request: RunRequest) -> Outcome {
    let Some(agent) = env.catalog.agents.get(&request.agent).cloned() else {
        return Outcome::Term(format!("agent `{}` is not configured", request.agent));
    };
    let emitter = Emitter::new(
        env.nats.clone(),
        &request.run_id,
        &request.agent,
        env.traceparent.clone(),
    );
    match execute_agent(&env, &request, &agent, &emitter).await {
        Ok(()) => Outcome::Ack,
        // Results could not be stored: the run is redone (its events dedupe).
        Err(e) => {
            tracing::error!(run_id = %request.run_id, error = %e, "Run results not stored; the run will be retried.");
            Outcome::Retry(Duration::from_secs(5))
        }
    }
}

async fn execute_agent(
    env: &RunEnv<'_>,
    request: &RunRequest,
    agent: &AgentSpec,
    emitter: &Emitter,
) -> Result<(), EmitError> {
    let started = Instant::now();
    let attempt = env.attempt;
    let mut record = RunRecord {
        run_id: request.run_id.clone(),
        agent: request.agent.clone(),
        status: "running",
        attempt,
        event_id: request.event.as_ref().map(|e| e.event_id.clone()).unwrap_or_default(),
        requested_at_ms: request.requested_at_ms,
        started_at_ms: clock::now_ms(),
        finished_at_ms: 0,
        exit_code: None,
        reason: String::new(),
    };
    put_record(env.nats, &record).await;
    emitter
        .emit(
            "run.started",
            run_data(&record, Duration::ZERO),
            &format!("{attempt}/run.started"),
        )
        .await?;
    tracing::info!(run_id = %record.run_id, agent = %record.agent, attempt, "Run started.");

    let output = match run_in_workspace(env, request, agent, emitter).await {
        Ok(output) => output,
        Err(message) => {
            emitter.log("hookline", message);
            RunOutput {
                exit: Exit::Crashed(0),
                reason: None,
                setup_failed: false,
                events_text: String::new(),
            }
        }
    };
    let (events, problems) = events_file::parse(&output.events_text);
    for problem in problems {
        emitter.log("hookline", problem);
    }
    for (n, event) in events.into_iter().enumerate() {
        emitter
            .emit(event.event_type.as_str(), event.data, &format!("{attempt}/agent/{n}"))
            .await?;
    }
    let duration = started.elapsed();
    record.exit_code = output.exit.code();
    record.reason = output.reason.unwrap_or_else(|| output.exit.reason().to_owned());
    record.status = match (&output.exit, output.setup_failed) {
        (_, true) => "failed",
        (Exit::Exited(0), _) => "succeeded",
        (Exit::TimedOut, _) => "timed_out",
        (Exit::Cancelled, _) => "cancelled",
        _ => "failed",
    };
    record.finished_at_ms = clock::now_ms();
    let final_type = if record.status == "succeeded" {
        "run.completed"
    } else {
        "run.failed"
    };
    emitter
        .emit(
            final_type,
            run_data(&record, duration),
            &format!("{attempt}/run.finished"),
        )
        .await?;
    put_record(env.nats, &record).await;
    tracing::info!(run_id = %record.run_id, status = record.status, ?duration, "Run finished.");
    Ok(())
}

/// What the agent process left behind.
pub struct RunOutput {
    /// How it ended.
    pub exit: Exit,
    /// A reason other than the exit's own (such as `setup`).
    pub reason: Option<String>,
    /// Whether a setup command failed (the agent did not run).
    pub setup_failed: bool,
    /// The events file's content.
    pub events_text: String,
}

async fn run_in_workspace(
    env: &RunEnv<'_>,
    request: &RunRequest,
    agent: &AgentSpec,
    emitter: &Emitter,
) -> Result<RunOutput, String> {
    let run_dir = tempfile::Builder::new()
        .prefix(&format!("hookline-{}-", request.agent))
        .tempdir_in(env.work_root)
        .map_err(|e| format!("cannot create run folder: {e}"))?;
    let workspace = run_dir.path().join("workspace");
    let prompt_file = run_dir.path().join("prompt.txt");
    let events_path = run_dir.path().join("events.jsonl");
    std::fs::create_dir_all(&workspace).map_err(|e| format!("cannot create workspace: {e}"))?;
    std::fs::write(&events_path, b"").map_err(|e| format!("cannot create events file: {e}"))?;
    let prompt = prompt::render(
        &agent.prompt,
        &PromptInput {
            event: request.event.as_ref(),
            context: request.context.as_ref(),
            run_id: &request.run_id,
            agent: &request.agent,
        },
    );
    std::fs::write(&prompt_file, &prompt).map_err(|e| format!("cannot write prompt file: {e}"))?;
    let profile = agent.profile.as_ref().and_then(|p| env.catalog.profiles.get(p));
    let extra = [
        ("HOOKLINE_PROMPT_FILE", prompt_file.display().to_string()),
        ("HOOKLINE_EVENTS_FILE", events_path.display().to_string()),
        ("HOOKLINE_RUN_ID", request.run_id.clone()),
        ("HOOKLINE_AGENT", request.agent.clone()),
        ("HOOKLINE_ATTEMPT", env.attempt.to_string()),
        ("HOOKLINE_WORKSPACE", workspace.display().to_string()),
    ];
    let process_env = agent_env(profile, emitter, &extra);
    let deadline = Instant::now() + agent.timeout();
    let cancel = env.cancel.clone();
    let log_line = |stream: Stream, line: String| {
        emitter.log(if stream == Stream::Stdout { "stdout" } else { "stderr" }, line);
    };
    for command in profile.map(|p| p.setup.as_slice()).unwrap_or_default() {
        let spawn = Spawn {
            argv: vec!["/bin/sh".into(), "-c".into(), command.clone()],
            cwd: workspace.clone(),
            env: process_env.clone(),
            stdin: String::new(),
            timeout: deadline.saturating_duration_since(Instant::now()),
            cancel: cancel.clone(),
        };
        let exit = runner::run(spawn, log_line).await.map_err(|e| e.to_string())?;
        if !exit.success() {
            emitter.log(
                "hookline",
                format!("setup command failed ({}): {command}", exit.reason()),
            );
            return Ok(RunOutput {
                reason: Some(if exit == Exit::TimedOut {
                    "timeout".into()
                } else {
                    "setup".into()
                }),
                exit,
                setup_failed: true,
                events_text: String::new(),
            });
        }
    }
    let RunnerSpec::Command { command } = &agent.runner;
    let spawn = Spawn {
        argv: command.clone(),
        cwd: workspace.clone(),
        env: process_env,
        stdin: prompt,
        timeout: deadline.saturating_duration_since(Instant::now()),
        cancel,
    };
    let exit = runner::run(spawn, log_line).await.map_err(|e| e.to_string())?;
    let events_text = std::fs::read_to_string(&events_path).unwrap_or_default();
    Ok(RunOutput {
        exit,
        reason: None,
        setup_failed: false,
        events_text,
    })
}
