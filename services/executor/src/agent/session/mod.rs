//! The work of one run on this machine: a fresh run folder, prepared
//! ([`prepare`]: prompt, environments, containment, repository, setup),
//! the agent run in it ([`invoke`]), then what it left ([`collect`]). The
//! folder is removed afterwards, or kept when the run failed and the agent
//! says `keep_failed_workspace = true`.

use std::path::Path;

use hookline_bus::runs::RunReason;
use hookline_model::catalog::AgentSpec;
use hookline_proto::RunRequest;

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
    let output = in_folder(env, request, agent, emitter, run_dir.path(), phase).await;
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
    run_dir: &Path,
    phase: &(dyn Fn(Phase) + Sync),
) -> SessionOutput {
    let prepared = match prepare::prepare(env, request, agent, emitter, run_dir).await {
        Ok(prepared) => prepared,
        Err(output) => return output,
    };
    phase(Phase::Running);
    let invoked = match invoke::invoke(env, agent, emitter, &prepared).await {
        Ok(invoked) => invoked,
        Err(output) => return output,
    };
    collect::collect(agent, emitter, prepared, invoked).await
}
