//! The work of one run on this machine: a fresh run folder, the agent's
//! environment, the repository clone on the run's own branch, the profile's
//! setup commands, the agent process, then what it committed (pushed if the
//! agent says `push = true`). The folder is removed afterwards, or kept when
//! the run failed and the agent says `keep_failed_workspace = true`.

use std::path::PathBuf;
use std::time::Instant;

use hookline_bus::runs::RunReason;
use hookline_model::catalog::{AgentSpec, ProfileSpec, RunnerSpec, SecretScope};
use hookline_proto::RunRequest;

use crate::close_loop::Phase;
use crate::contain::Containment;
use crate::emit::Emitter;
use crate::http_runner;
use crate::limits::Hit;
use crate::prompt::{self, PromptInput};
use crate::run::RunEnv;
use crate::runner::{self, Exit, Spawn, Stream};
use crate::workspace::{self, Changes, Checkout};

/// Environment variables passed through from the executor to agents; all
/// else comes from the profile.
const PASSED_THROUGH: [&str; 6] = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER"];

/// What a run's session produced.
pub struct SessionOutput {
    /// How the agent ended.
    pub exit: Exit,
    /// A reason other than the exit's own (`setup`, `workspace`).
    pub reason: Option<RunReason>,
    /// The events file's content.
    pub events_text: String,
    /// The outputs file's content ([`crate::outputs`]).
    pub outputs_text: String,
    /// The repository, when the agent has one, and what the agent committed.
    pub code: Option<(Checkout, Changes, bool)>,
    /// The resource limit that ended the run, if one did.
    pub limit: Option<Hit>,
    /// `host:port`s the run's egress proxy refused.
    pub blocked_hosts: Vec<String>,
    /// Model tokens used through the gateway, when the run has models.
    pub usage: Option<hookline_bus::runs::TokenUsage>,
}

impl SessionOutput {
    /// A run that ended before its agent ran, for `reason`.
    pub fn failed(reason: RunReason) -> Self {
        Self {
            exit: Exit::Crashed(0),
            reason: Some(reason),
            events_text: String::new(),
            outputs_text: String::new(),
            code: None,
            limit: None,
            blocked_hosts: Vec::new(),
            usage: None,
        }
    }

    /// Whether the run succeeded.
    pub fn success(&self) -> bool {
        self.exit.success() && self.reason.is_none()
    }
}

/// A process's environment: what passes through, the profile's variables,
/// the profile's secrets of `scope` (never the others), and `extra`.
fn env_for(
    profile: Option<&ProfileSpec>,
    scope: SecretScope,
    emitter: &Emitter,
    extra: &[(&str, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = PASSED_THROUGH
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect();
    if let Some(profile) = profile {
        env.extend(profile.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (name, secret) in profile.secrets.iter().filter(|(_, s)| s.scope == scope) {
            match secret.secret.resolve() {
                Ok(value) => env.push((name.clone(), value.expose().to_owned())),
                Err(e) => emitter.log("hookline", format!("secret {name} unavailable: {e}")),
            }
        }
    }
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    env
}

/// Runs the agent for `request` in a fresh folder; `phase` hears when the
/// agent starts.
pub async fn run(
    env: &RunEnv<'_>,
    request: &RunRequest,
    agent: &AgentSpec,
    emitter: &Emitter,
    phase: &(dyn Fn(Phase) + Sync),
) -> SessionOutput {
    let run_dir = match tempfile::Builder::new()
        .prefix(&crate::sweep::prefix(&request.run_id))
        .tempdir_in(env.work_root)
    {
        Ok(dir) => dir,
        Err(e) => {
            emitter.log("hookline", format!("cannot create run folder: {e}"));
            return SessionOutput::failed(RunReason::Workspace);
        }
    };
    let output = in_folder(env, request, agent, emitter, run_dir.path().to_path_buf(), phase).await;
    if !output.success() && agent.keep_failed_workspace {
        let kept = run_dir.keep();
        emitter.log("hookline", format!("workspace kept at {}", kept.display()));
    }
    output
}

async fn in_folder(
    env: &RunEnv<'_>,
    request: &RunRequest,
    agent: &AgentSpec,
    emitter: &Emitter,
    run_dir: PathBuf,
    phase: &(dyn Fn(Phase) + Sync),
) -> SessionOutput {
    let workspace = run_dir.join("workspace");
    let prompt_file = run_dir.join("prompt.txt");
    let events_path = run_dir.join("events.jsonl");
    let outputs_path = run_dir.join("outputs.jsonl");
    let (prompt, removed) = prompt::render(
        &agent.prompt,
        &PromptInput {
            event: request.event.as_ref(),
            context: request.context.as_ref(),
            run_id: &request.run_id,
            agent: &request.agent,
            sanitize: agent.sanitize,
            follow_up: request.follow_up.as_ref(),
        },
    );
    if !agent.sanitize {
        emitter.log(
            "hookline",
            "prompt sanitizer off for this agent (sanitize = false)".to_owned(),
        );
    } else if !removed.is_empty() {
        emitter.log(
            "hookline",
            format!("prompt sanitizer removed from the payload: {removed}"),
        );
    }
    let prepared = std::fs::write(&events_path, b"")
        .and_then(|()| std::fs::write(&outputs_path, b""))
        .and_then(|()| std::fs::write(&prompt_file, &prompt));
    if let Err(e) = prepared {
        emitter.log("hookline", format!("cannot prepare the run folder: {e}"));
        return SessionOutput::failed(RunReason::Workspace);
    }
    let profile = agent.profile.as_ref().and_then(|p| env.catalog.profiles.get(p));
    let extra = [
        ("HOOKLINE_PROMPT_FILE", prompt_file.display().to_string()),
        ("HOOKLINE_EVENTS_FILE", events_path.display().to_string()),
        ("HOOKLINE_OUTPUTS_FILE", outputs_path.display().to_string()),
        ("HOOKLINE_RUN_ID", request.run_id.clone()),
        ("HOOKLINE_AGENT", request.agent.clone()),
        ("HOOKLINE_ATTEMPT", env.attempt.to_string()),
        ("HOOKLINE_WORKSPACE", workspace.display().to_string()),
    ];
    let process_env = env_for(profile, SecretScope::Agent, emitter, &extra);
    // Git runs in the executor, not the sandbox, with the git-scoped
    // secrets the agent never sees.
    let git_env = env_for(profile, SecretScope::Git, emitter, &extra);
    let runs_processes =
        matches!(agent.runner, RunnerSpec::Command { .. }) || profile.is_some_and(|p| !p.setup.is_empty());
    let name = crate::sweep::group_name(&request.run_id, env.attempt);
    // What is left of the agent's daily token budget caps this run's.
    let daily_left = match agent.daily_token_budget {
        Some(budget) => {
            let state = env.state;
            let day = hookline_model::clock::utc_day(hookline_model::clock::now_ms());
            Some(budget.saturating_sub(state.daily_tokens(&request.agent, &day).await.unwrap_or(0)))
        }
        None => None,
    };
    if daily_left == Some(0) {
        emitter.log(
            "hookline",
            "the agent's daily token budget is spent; run not started".to_owned(),
        );
        return SessionOutput::failed(RunReason::BudgetExceeded);
    }
    let token_budget = match (agent.token_budget, daily_left) {
        (Some(run), Some(day)) => Some(run.min(day)),
        (run, day) => run.or(day),
    };
    let contained = if runs_processes {
        match Containment::prepare(
            agent,
            profile,
            token_budget,
            &name,
            &run_dir,
            env.sandbox,
            emitter,
            &env.cancel,
        ) {
            Ok(contained) => contained,
            Err(e) => {
                emitter.log("hookline", format!("run not started: {e}"));
                return SessionOutput::failed(RunReason::SandboxUnavailable);
            }
        }
    } else {
        Containment::no_processes(agent, emitter)
    };
    let process_env = contained.env(process_env);
    let deadline = Instant::now() + agent.timeout();
    let left = || deadline.saturating_duration_since(Instant::now());

    let checkout = match &agent.repository {
        None => {
            if let Err(e) = std::fs::create_dir_all(&workspace) {
                emitter.log("hookline", format!("cannot create workspace: {e}"));
                return SessionOutput::failed(RunReason::Workspace);
            }
            None
        }
        Some(repository) => {
            let branch = format!("hookline/{}/{}", request.agent, request.run_id);
            let base = agent.base_branch.as_deref();
            let cloned = match request.follow_up.as_ref().filter(|f| !f.branch.is_empty()) {
                Some(f) => {
                    workspace::continue_branch(repository, &workspace, &f.branch, &f.base, &git_env, left()).await
                }
                None => workspace::clone(repository, base, &workspace, &branch, &git_env, left()).await,
            };
            match cloned {
                Ok(checkout) => Some(checkout),
                Err(e) => {
                    emitter.log("hookline", format!("cannot prepare the repository: {e}"));
                    return SessionOutput::failed(RunReason::Workspace);
                }
            }
        }
    };
    let log_line = |stream: Stream, line: String| {
        emitter.log(if stream == Stream::Stdout { "stdout" } else { "stderr" }, line);
    };
    for command in profile.map(|p| p.setup.as_slice()).unwrap_or_default() {
        let spawn = Spawn {
            argv: contained.command(&["/bin/sh".into(), "-c".into(), command.clone()], &workspace, &[]),
            cwd: workspace.clone(),
            env: process_env.clone(),
            stdin: String::new(),
            timeout: left(),
            cancel: contained.stop(),
            limits: contained.limits(),
            gate: contained.gate(),
        };
        let exit = match runner::run(spawn, log_line).await {
            Ok(exit) => exit,
            Err(e) => Exit::Crashed(i32::from(e.to_string().is_empty())),
        };
        if !exit.success() {
            emitter.log(
                "hookline",
                format!("setup command failed ({}): {command}", exit.reason()),
            );
            let reason = match exit {
                Exit::TimedOut | Exit::Cancelled => None,
                _ => Some(RunReason::Setup),
            };
            return SessionOutput {
                exit,
                reason,
                events_text: String::new(),
                outputs_text: String::new(),
                code: None,
                limit: None,
                blocked_hosts: Vec::new(),
                usage: None,
            };
        }
    }
    let mut http_usage = None;
    phase(Phase::Running);
    let exit = match &agent.runner {
        RunnerSpec::Command { command } => {
            let path_var = process_env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str());
            let Some(first) = command.first() else {
                emitter.log("hookline", "the runner's command is empty".to_owned());
                return SessionOutput::failed(RunReason::Crashed);
            };
            let program = match crate::program::find(first, path_var, &workspace, crate::sandbox::is_system) {
                Ok(program) => program,
                Err(e) => {
                    emitter.log("hookline", e.to_string());
                    return SessionOutput::failed(RunReason::AgentNotFound);
                }
            };
            let mut command = command.clone();
            command[0] = program.path.display().to_string();
            let spawn = Spawn {
                argv: contained.command(&command, &workspace, &program.folders),
                cwd: workspace.clone(),
                env: process_env.clone(),
                stdin: prompt,
                timeout: left(),
                cancel: contained.stop(),
                limits: contained.limits(),
                gate: contained.gate(),
            };
            match runner::run(spawn, log_line).await {
                Ok(exit) => exit,
                Err(e) => {
                    emitter.log("hookline", e.to_string());
                    return SessionOutput::failed(RunReason::Crashed);
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
                prompt: &prompt,
                max_tokens: *max_tokens,
                output_file: output_file.as_deref(),
                workspace: &workspace,
                timeout: left(),
                cancel: env.cancel.clone(),
            };
            let (exit, usage) = http_runner::run(chat, |stream, line| emitter.log(stream, line)).await;
            http_usage = usage;
            exit
        }
    };
    // Stopped by the executor (a spent budget), not cancelled by anyone.
    let exit = match exit {
        Exit::Cancelled if !env.cancel.is_cancelled() => Exit::Stopped,
        exit => exit,
    };
    let events_text = read_agent_file(&events_path);
    let mut output = SessionOutput {
        exit,
        reason: None,
        events_text,
        outputs_text: read_agent_file(&outputs_path),
        code: None,
        limit: None,
        blocked_hosts: Vec::new(),
        usage: None,
    };
    output.blocked_hosts = contained.blocked_hosts();
    output.usage = contained.usage().or(http_usage);
    if contained.budget_exceeded() && output.reason.is_none() {
        emitter.log("hookline", "the run's token budget was spent".to_owned());
        output.reason = Some(RunReason::BudgetExceeded);
    }
    if let Some(hit) = contained.hit(&output.exit) {
        emitter.log("hookline", format!("resource limit hit: {}", hit.as_str()));
        output.reason = Some(RunReason::ResourceLimit);
        output.limit = Some(hit);
    }
    if let (Some(checkout), true) = (checkout, output.exit.success()) {
        let budget = left().max(std::time::Duration::from_secs(30));
        match workspace::changes(&checkout, &git_env, budget).await {
            Ok(changes) if !changes.commits.is_empty() => {
                let pushed = agent.push && push(&checkout, &git_env, budget, emitter).await;
                if agent.push && !pushed {
                    output.reason = Some(RunReason::Push);
                }
                output.code = Some((checkout, changes, pushed));
            }
            Ok(_) => {}
            Err(e) => emitter.log("hookline", format!("cannot read the agent's commits: {e}")),
        }
    }
    output
}

/// Largest events or outputs file read.
const MAX_AGENT_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A file the agent wrote, read without following a link it may have put
/// in its place (which could point at any file the executor can read),
/// and only if it is a plain file; at most [`MAX_AGENT_FILE_BYTES`].
fn read_agent_file(path: &std::path::Path) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    else {
        return String::new();
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.take(MAX_AGENT_FILE_BYTES).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

async fn push(checkout: &Checkout, env: &[(String, String)], budget: std::time::Duration, emitter: &Emitter) -> bool {
    match workspace::push(checkout, env, budget).await {
        Ok(()) => true,
        Err(e) => {
            emitter.log("hookline", format!("push failed: {e}"));
            false
        }
    }
}
