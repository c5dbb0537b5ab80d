//! An agent driven over the Agent Client Protocol: an `acp` runner's
//! command, or a preset's (its files written into the run's home, its
//! variables added, pointed at the profile's gateway). Every transcript
//! entry goes to the run log (stream `transcript`, one JSON line each) as
//! it arrives, and is summed up for `run.completed`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use agent_client_protocol::v1::schema::{EnvVariable, McpServer, McpServerHttp, McpServerStdio};
use hookline_bus::runs::RunReason;
use hookline_model::catalog::{AgentSpec, McpServerSpec, RunnerSpec};
use hookline_model::transcript::{self, Entry, Summary};
use hookline_sandbox::acp::{self, AcpRun};
use hookline_sandbox::preset;
use hookline_sandbox::runner::Exit;

use crate::agent::session::output::SessionOutput;
use crate::agent::session::prepare::{Prepared, agent_spawn};
use crate::attempt::emit::Emitter;

/// How an ACP agent's run ended: its exit, a reason when the exit alone
/// does not say, its transcript's summary, and its session (to resume).
pub(crate) struct AcpOutcome {
    pub exit: Exit,
    pub reason: Option<RunReason>,
    pub summary: Summary,
    pub session_id: Option<String>,
    /// Its transcript, one redacted JSON entry per line.
    pub transcript: Vec<String>,
    /// The agent, still writing its session state after its turn.
    pub lingering: Option<acp::Lingering>,
}

/// Runs the ACP agent of `agent` in `prepared`; one that cannot start
/// answers what the session produced.
pub(crate) async fn run(
    agent: &AgentSpec,
    emitter: &Emitter,
    prepared: &Prepared,
    record: bool,
) -> Result<AcpOutcome, SessionOutput> {
    let mut env = prepared.process_env.clone();
    let command = match &agent.runner {
        RunnerSpec::Acp { command, .. } => command.clone(),
        runner => {
            let Some((preset, options)) = runner.preset() else {
                emitter.log("hookline", "this runner does not speak ACP".to_owned());
                return Err(SessionOutput::failed(RunReason::Crashed));
            };
            // The agent sees its home where every run of it does.
            let home = prepared.contained.inside(&prepared.home);
            let gateway = |name: &str| {
                let var = format!("HOOKLINE_MODEL_{}_URL", name.to_ascii_uppercase());
                env.iter().find(|(k, _)| *k == var).map(|(_, v)| v.clone())
            };
            let launch = match preset::launch(preset, options, gateway, &home) {
                Ok(launch) => launch,
                Err(e) => {
                    emitter.log("hookline", format!("run not started: {e}"));
                    return Err(SessionOutput::failed(RunReason::SandboxUnavailable));
                }
            };
            if let Err(e) = write_files(&prepared.home, &launch.files) {
                emitter.log("hookline", format!("cannot write the agent's configuration: {e}"));
                return Err(SessionOutput::failed(RunReason::Workspace));
            }
            env.retain(|(k, _)| k != "HOME" && !launch.env.iter().any(|(name, _)| name == k));
            env.push(("HOME".to_owned(), home.display().to_string()));
            env.extend(launch.env);
            launch.command
        }
    };
    let spawn = agent_spawn(prepared, &command, env, String::new(), emitter).map_err(SessionOutput::failed)?;
    let run = AcpRun {
        spawn,
        workspace: prepared.contained.inside(&prepared.workspace),
        prompt: prepared.prompt.clone(),
        mcp: mcp_servers(&agent.mcp, prepared, emitter),
        deny_tools: agent.runner.deny_tools().to_vec(),
        resume: prepared.resume.clone(),
        state: if record {
            state_folders(agent, &prepared.home)
        } else {
            Vec::new()
        },
    };
    let mut summary = Summary::default();
    let mut calls = HashSet::new();
    let mut lines = Vec::new();
    let on_entry = |entry: Entry| {
        summary.observe(&entry, &mut calls);
        if !record {
            return;
        }
        if let Ok(line) = serde_json::to_string(&entry) {
            let line = prepared.redactor.text(&line);
            emitter.log(transcript::LOG_STREAM, line.clone());
            lines.push(line);
        }
    };
    let ended = acp::run(run, on_entry, |line| emitter.log("stderr", line)).await;
    match ended {
        Ok(end) => {
            if let Some((_, note)) = &end.failure {
                emitter.log("hookline", note.clone());
            }
            match &end.resumed {
                Some(Ok(id)) => emitter.log(
                    "hookline",
                    format!("resumed the agent's session {id} of the earlier run"),
                ),
                Some(Err(why)) => emitter.log(
                    "hookline",
                    format!("the earlier session was not resumed ({why}); the prompt's {{{{previous.*}}}} carries on"),
                ),
                None => {}
            }
            Ok(AcpOutcome {
                exit: end.exit,
                reason: end.failure.map(|(reason, _)| reason),
                summary,
                session_id: end.session_id,
                transcript: lines,
                lingering: end.lingering,
            })
        }
        Err(e) => {
            emitter.log("hookline", e.to_string());
            Err(SessionOutput::failed(RunReason::Crashed))
        }
    }
}

/// The agent's MCP servers as ACP hands them over: a stdio server as its
/// command (the agent starts it, inside the sandbox); a remote one as the
/// URL of its gateway inside the sandbox (which adds its credential).
fn mcp_servers(specs: &BTreeMap<String, McpServerSpec>, prepared: &Prepared, emitter: &Emitter) -> Vec<McpServer> {
    let mut servers = Vec::new();
    for (name, spec) in specs {
        if let Some((program, args)) = spec.command.split_first() {
            let env = spec
                .env
                .iter()
                .map(|(k, v)| EnvVariable::new(k.clone(), v.clone()))
                .collect();
            servers.push(McpServer::Stdio(
                McpServerStdio::new(name.clone(), program.clone())
                    .args(args.to_vec())
                    .env(env),
            ));
        } else if let Some(url) = prepared.contained.mcp_url(name) {
            servers.push(McpServer::Http(McpServerHttp::new(name.clone(), url)));
        } else {
            emitter.log(
                "hookline",
                format!("mcp server {name} not handed to the agent (see above)"),
            );
        }
    }
    servers
}

/// Where the agent keeps its own session state (kept to resume it): a
/// preset's state folders, an `acp` agent's whole home.
pub(crate) fn state_folders(agent: &AgentSpec, home: &Path) -> Vec<std::path::PathBuf> {
    match agent.runner.preset() {
        Some((preset, _)) => preset::state_folders(preset).iter().map(|f| home.join(f)).collect(),
        None => vec![home.to_path_buf()],
    }
}

/// Writes a preset's files under `home`, which it owns for the run.
fn write_files(home: &Path, files: &[(std::path::PathBuf, String)]) -> std::io::Result<()> {
    for (path, content) in files {
        let path = home.join(path);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(path, content)?;
    }
    Ok(())
}
