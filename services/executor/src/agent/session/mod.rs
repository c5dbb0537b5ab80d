//! The work of one run on this machine: a fresh run folder, prepared
//! ([`prepare`]: prompt, environments, containment, repository, setup),
//! the agent run in it ([`invoke`]), then what it left ([`collect`]). The
//! folder is removed afterwards, or kept when the run failed and the agent
//! says `keep_failed_workspace = true`.

use std::path::Path;

use hookline_bus::runs::RunReason;
use hookline_model::catalog::AgentSpec;
use hookline_proto::RunRequest;

use crate::agent::artifacts;
use crate::attempt::emit::Emitter;
use crate::attempt::env::RunEnv;
use crate::forge::report::Phase;

pub(crate) mod acp;
pub(crate) mod collect;
pub(crate) mod invoke;
pub(crate) mod output;
pub(crate) mod prepare;

pub(crate) use output::SessionOutput;

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
        .prefix(&crate::attempt::sweep::prefix(&request.run_id))
        .tempdir_in(env.work_root)
    {
        Ok(dir) => dir,
        Err(e) => {
            emitter.log("hookline", format!("cannot create run folder: {e}"));
            return SessionOutput::failed(RunReason::Workspace);
        }
    };
    let began_ms = hookline_model::clock::now_ms();
    let mut output = in_folder(env, request, agent, emitter, run_dir.path(), phase, began_ms).await;
    if !output.success() && agent.keep_failed_workspace {
        let kept = run_dir.keep();
        emitter.log("hookline", format!("workspace kept at {}", kept.display()));
    } else if let Some(pending) = output.kept.as_mut().and_then(|k| k.pending_mut()) {
        // Removed once the agent's session state is packed.
        pending.folder = Some(run_dir);
    }
    output
}

async fn in_folder(
    env: &RunEnv<'_>,
    request: &RunRequest,
    agent: &AgentSpec,
    emitter: &Emitter,
    run_dir: &Path,
    phase: &(dyn Fn(Phase) + Sync),
    began_ms: i64,
) -> SessionOutput {
    let mut prepared = match prepare::prepare(env, request, agent, emitter, run_dir).await {
        Ok(prepared) => prepared,
        Err(output) => return output,
    };
    phase(Phase::Running);
    let mut invoked = match invoke::invoke(env, agent, emitter, &prepared).await {
        Ok(invoked) => invoked,
        Err(output) => return output,
    };
    let transcript = std::mem::take(&mut invoked.transcript);
    let session_id = invoked.session_id.take();
    let lingering = invoked.lingering.take();
    let mut output = collect::collect(agent, emitter, &mut prepared, invoked).await;
    // The agent's own state is kept when it has a session to resume.
    let folders = agent
        .runner
        .speaks_acp()
        .then(|| acp::state_folders(agent, &prepared.home));
    let checkout = output.code.as_ref().map(|(c, _, _)| c).or(prepared.checkout.as_ref());
    output.branch = checkout.map(|c| (c.branch.clone(), c.base_branch.clone()));
    if !env.record {
        return output;
    }
    let left = artifacts::Left {
        prompt: &prepared.prompt,
        transcript: &transcript,
        attempt_began_ms: began_ms,
        checkout,
        git_env: &prepared.git_env,
        model_calls: &output.model_calls,
        model_call_bodies: prepared.contained.model_call_bodies(),
        egress: (prepared.contained.allowed_hosts(), &output.blocked_hosts),
        // Packed now when the agent was stopped, later when it lingers.
        session: folders
            .as_deref()
            .filter(|_| session_id.is_some() && lingering.is_none())
            .map(|f| (prepared.home.as_path(), f)),
        files: &prepared.files_dir,
    };
    let has_session = session_id.is_some();
    let mut kept = artifacts::gather(env, request, emitter, &prepared.redactor, left, session_id).await;
    if let (Some(agent), Some(folders), true) = (lingering, folders, has_session) {
        // Its usage is on the record already: it spends nothing more.
        prepared.contained.close_network();
        kept.later(artifacts::PendingState {
            agent,
            home: prepared.home,
            folders,
            redactor: prepared.redactor,
            contained: prepared.contained,
            folder: None,
        });
    }
    output.kept = Some(kept);
    output
}
