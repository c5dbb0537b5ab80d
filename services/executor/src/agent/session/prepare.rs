//! Before the agent runs: the prompt rendered and written with the events
//! and outputs files, the agent's and git's environments, the daily token
//! budget, the run's containment, the repository checked out on the run's
//! branch, and the profile's setup commands.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hookline_bus::budget;
use hookline_bus::runs::RunReason;
use hookline_model::catalog::{AgentSpec, ProfileSpec, SecretScope};
use hookline_model::cost;
use hookline_proto::RunRequest;
use hookline_sandbox::contain::Containment;
use hookline_sandbox::gateway::RunLimits;
use hookline_sandbox::runner::{self, Exit, Spawn, Stream};

use crate::agent::artifacts::{self, Redactor};
use crate::agent::prompt::{self, PromptInput};
use crate::agent::session::output::SessionOutput;
use crate::agent::workspace::{self, Checkout};
use crate::attempt::emit::Emitter;
use crate::attempt::env::RunEnv;

/// Environment variables passed through from the executor to agents; all
/// else comes from the profile.
const PASSED_THROUGH: [&str; 6] = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER"];

/// A run folder ready for its agent.
pub(crate) struct Prepared {
    /// The agent's working folder (the checkout, when it has a repository).
    pub workspace: PathBuf,
    /// The agent's home for the run (its own configuration and state).
    pub home: PathBuf,
    /// The rendered prompt (also in `prompt.txt`).
    pub prompt: String,
    /// Where the agent writes its events.
    pub events_path: PathBuf,
    /// Where the agent writes its outputs.
    pub outputs_path: PathBuf,
    /// The agent's environment, contained.
    pub process_env: Vec<(String, String)>,
    /// Git's environment (the git-scoped secrets the agent never sees).
    pub git_env: Vec<(String, String)>,
    /// The run's containment.
    pub contained: Containment,
    /// The repository on the run's branch, when the agent has one.
    pub checkout: Option<Checkout>,
    /// When the agent's time is up.
    pub deadline: Instant,
    /// What every transcript line and artifact passes before it is kept.
    pub redactor: Redactor,
    /// The earlier run's agent session to continue, restored in `home`.
    pub resume: Option<String>,
    /// `$HOOKLINE_ARTIFACTS_DIR`: files left there are kept.
    pub files_dir: PathBuf,
    /// A preview: the agent's commits are not pushed.
    pub preview: bool,
}

impl Prepared {
    /// Time left before the deadline.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Sends an agent process's lines to the run log.
pub(crate) fn log_line(emitter: &Emitter) -> impl FnMut(Stream, String) + '_ {
    |stream: Stream, line: String| {
        emitter.log(if stream == Stream::Stdout { "stdout" } else { "stderr" }, line);
    }
}

/// The agent's process, contained: its program found on the run's `PATH`
/// (where it looked, when it is not there) with the folders the sandbox
/// must show for it, `env` and `stdin`, until the run's deadline; why the
/// run fails when it cannot (said in the run log).
pub(crate) fn agent_spawn(
    prepared: &Prepared,
    command: &[String],
    env: Vec<(String, String)>,
    stdin: String,
    emitter: &Emitter,
) -> Result<Spawn, RunReason> {
    let Some(first) = command.first() else {
        emitter.log("hookline", "the runner's command is empty".to_owned());
        return Err(RunReason::Crashed);
    };
    let path_var = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str());
    let program =
        hookline_sandbox::program::find(first, path_var, &prepared.workspace, hookline_sandbox::bwrap::is_system)
            .map_err(|e| {
                emitter.log("hookline", e.to_string());
                RunReason::AgentNotFound
            })?;
    let mut command = command.to_vec();
    command[0] = program.path.display().to_string();
    Ok(Spawn {
        argv: prepared
            .contained
            .command(&command, &prepared.workspace, &program.folders),
        cwd: prepared.workspace.clone(),
        env,
        stdin,
        timeout: prepared.left(),
        cancel: prepared.contained.stop(),
        limits: prepared.contained.limits(),
        gate: prepared.contained.gate(),
    })
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
        // The profile's value replaces the executor's (one `PATH`, not two).
        env.retain(|(k, _)| !profile.env.contains_key(k));
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

/// Prepares `run_dir` for `request`'s agent; a session that cannot start
/// answers what it produced instead.
pub(crate) async fn prepare(
    env: &RunEnv<'_>,
    request: &RunRequest,
    agent: &AgentSpec,
    emitter: &Emitter,
    run_dir: &Path,
) -> Result<Prepared, SessionOutput> {
    let workspace = run_dir.join("workspace");
    let prompt_file = run_dir.join("prompt.txt");
    let events_path = run_dir.join("events.jsonl");
    let outputs_path = run_dir.join("outputs.jsonl");
    let files_dir = run_dir.join(artifacts::FILES_DIR);
    let (mut prompt, removed) = prompt::render(
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
    if let Some(fork) = request.follow_up.as_ref().filter(|f| {
        use hookline_model::follow_up::FollowUpReason;
        FollowUpReason::parse(&f.reason) == Some(FollowUpReason::Fork) && !f.prompt.is_empty()
    }) {
        // An operator's prompt, used as written.
        prompt.clone_from(&fork.prompt);
    }
    let prepared = std::fs::create_dir_all(&files_dir)
        .and_then(|()| std::fs::write(&events_path, b""))
        .and_then(|()| std::fs::write(&outputs_path, b""))
        .and_then(|()| std::fs::write(&prompt_file, &prompt));
    if let Err(e) = prepared {
        emitter.log("hookline", format!("cannot prepare the run folder: {e}"));
        return Err(SessionOutput::failed(RunReason::Workspace));
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
        ("HOOKLINE_ARTIFACTS_DIR", files_dir.display().to_string()),
    ];
    let process_env = env_for(profile, SecretScope::Agent, emitter, &extra);
    // Git runs in the executor, not the sandbox, with the git-scoped
    // secrets the agent never sees.
    let git_env = env_for(profile, SecretScope::Git, emitter, &extra);
    let runs_processes = agent.runner.runs_a_process() || profile.is_some_and(|p| !p.setup.is_empty());
    let name = crate::attempt::sweep::group_name(&request.run_id, env.attempt);
    // What is left of the agent's daily budgets caps this run's.
    let daily = budget::daily(env.state, &request.agent, agent).await;
    if let Some(spent) = daily.spent() {
        emitter.log("hookline", format!("the agent's {}; run not started", spent.explain()));
        return Err(SessionOutput::failed(RunReason::BudgetExceeded));
    }
    let spend = RunLimits {
        tokens: budget::run_cap(agent.token_budget, daily.tokens.as_ref()),
        cost_micros: budget::run_cap(agent.budget_usd.map(cost::micros_of), daily.cost.as_ref()),
        calls: agent.runner.preset().and_then(|(_, o)| o.max_turns).map(u64::from),
    };
    let run_log: hookline_sandbox::Log = std::sync::Arc::new(emitter.clone());
    let contained = if runs_processes {
        match Containment::prepare(
            agent,
            profile,
            spend,
            &name,
            run_dir,
            env.sandbox,
            &run_log,
            &env.cancel,
        ) {
            Ok(contained) => contained,
            Err(e) => {
                emitter.log("hookline", format!("run not started: {e}"));
                return Err(SessionOutput::failed(RunReason::SandboxUnavailable));
            }
        }
    } else {
        Containment::no_processes(agent, &run_log)
    };
    let process_env = contained.env(process_env);
    let deadline = Instant::now() + agent.timeout();
    let left = || deadline.saturating_duration_since(Instant::now());

    let checkout = match &agent.repository {
        None => {
            if let Err(e) = std::fs::create_dir_all(&workspace) {
                emitter.log("hookline", format!("cannot create workspace: {e}"));
                return Err(SessionOutput::failed(RunReason::Workspace));
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
                    return Err(SessionOutput::failed(RunReason::Workspace));
                }
            }
        }
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
        let exit = match runner::run(spawn, log_line(emitter)).await {
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
            return Err(SessionOutput {
                exit,
                reason,
                ..SessionOutput::failed(RunReason::Setup)
            });
        }
    }
    let home = run_dir.join("home");
    if let Err(e) = std::fs::create_dir_all(&home) {
        emitter.log("hookline", format!("cannot create the run's home: {e}"));
        return Err(SessionOutput::failed(RunReason::Workspace));
    }
    let resume = artifacts::resume(env, request, agent, &home, emitter).await;
    Ok(Prepared {
        workspace,
        home,
        prompt,
        events_path,
        outputs_path,
        process_env,
        git_env,
        contained,
        checkout,
        deadline,
        redactor: Redactor::for_agent(agent, profile),
        resume,
        files_dir,
        preview: request.preview,
    })
}
