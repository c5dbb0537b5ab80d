//! The agent itself: its program found on the run's PATH and run in its
//! containment, or its endpoint called.

use hookline_bus::runs::{RunReason, TokenUsage};
use hookline_model::catalog::{AgentSpec, RunnerSpec};
use hookline_model::transcript::Summary;
use hookline_sandbox::http_runner;
use hookline_sandbox::runner::{self, Exit};

use crate::agent::session::acp;
use crate::agent::session::output::SessionOutput;
use crate::agent::session::prepare::{Prepared, agent_spawn, log_line};
use crate::attempt::emit::Emitter;
use crate::attempt::env::RunEnv;

/// How the agent ended.
pub(crate) struct Invoked {
    /// Its exit.
    pub exit: Exit,
    /// Why it failed, when its exit alone does not say.
    pub reason: Option<RunReason>,
    /// Tokens an endpoint reported (the `http` runner's).
    pub usage: Option<TokenUsage>,
    /// Its transcript, summed up (an ACP agent's).
    pub summary: Option<Summary>,
    /// Its transcript lines (an ACP agent's).
    pub transcript: Vec<String>,
    /// Its own session id (an ACP agent's), to resume later.
    pub session_id: Option<String>,
    /// The agent (an ACP one), still writing its session state.
    pub lingering: Option<hookline_sandbox::acp::Lingering>,
}

impl Invoked {
    fn exited(env: &RunEnv<'_>, exit: Exit) -> Self {
        Self {
            exit: stopped(env, exit),
            reason: None,
            usage: None,
            summary: None,
            transcript: Vec::new(),
            session_id: None,
            lingering: None,
        }
    }
}

/// Runs `agent` in `prepared`; a runner that cannot start answers what the
/// session produced.
pub(crate) async fn invoke(
    env: &RunEnv<'_>,
    agent: &AgentSpec,
    emitter: &Emitter,
    prepared: &Prepared,
) -> Result<Invoked, SessionOutput> {
    let exit = match &agent.runner {
        RunnerSpec::Command { command } => {
            let spawn = agent_spawn(
                prepared,
                command,
                prepared.process_env.clone(),
                prepared.prompt.clone(),
                emitter,
            )
            .map_err(SessionOutput::failed)?;
            match runner::run(spawn, log_line(emitter)).await {
                Ok(exit) => exit,
                Err(e) => {
                    emitter.log("hookline", e.to_string());
                    return Err(SessionOutput::failed(RunReason::Crashed));
                }
            }
        }
        RunnerSpec::Http {
            url,
            model,
            api_key,
            system,
            output_file,
            max_tokens,
        } => {
            let chat = http_runner::ChatRequest {
                url,
                model,
                api_key: api_key.as_ref(),
                system: system.as_deref(),
                prompt: &prepared.prompt,
                max_tokens: *max_tokens,
                output_file: output_file.as_deref(),
                workspace: &prepared.workspace,
                timeout: prepared.left(),
                cancel: env.cancel.clone(),
            };
            let (exit, usage) = http_runner::run(chat, |stream, line| emitter.log(stream, line)).await;
            return Ok(Invoked {
                usage,
                ..Invoked::exited(env, exit)
            });
        }
        RunnerSpec::Acp { .. }
        | RunnerSpec::ClaudeCode(_)
        | RunnerSpec::Codex(_)
        | RunnerSpec::Gemini(_)
        | RunnerSpec::Opencode(_) => {
            let outcome = acp::run(agent, emitter, prepared, env.record).await?;
            return Ok(Invoked {
                reason: outcome.reason,
                summary: Some(outcome.summary),
                transcript: outcome.transcript,
                session_id: outcome.session_id,
                lingering: outcome.lingering,
                ..Invoked::exited(env, outcome.exit)
            });
        }
    };
    Ok(Invoked::exited(env, exit))
}

/// Stopped by the executor (a spent budget), not cancelled by anyone.
fn stopped(env: &RunEnv<'_>, exit: Exit) -> Exit {
    match exit {
        Exit::Cancelled if !env.cancel.is_cancelled() => Exit::Stopped,
        exit => exit,
    }
}
