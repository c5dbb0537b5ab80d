//! The agent's session state when the agent was still writing it as its
//! turn ended: kept after the run's result and events are out (the run
//! never waits on the agent's own files), with the run folder and the
//! containment held until then. A follow-up that asks for the session in
//! that moment waits for it ([`wait_for_state`]).

use std::path::PathBuf;

use hookline_bus::artifacts::Artifacts;
use hookline_bus::runs::RunRecord;
use hookline_model::runs::ArtifactRef;
use hookline_sandbox::acp::Lingering;
use hookline_sandbox::contain::Containment;

use crate::agent::artifacts::{MAX_RUN_BYTES, Redactor, SESSION_STATE, state};
use crate::attempt::emit::Emitter;
use crate::attempt::env::RunEnv;

/// How long after a run's end its session state may still be on its way
/// (the agent's settling, at most 3 s, then packing and storing it).
const ON_ITS_WAY_MS: i64 = 15_000;

/// A session state to keep once the agent is done writing it.
pub(crate) struct PendingState {
    /// The agent, still running.
    pub agent: Lingering,
    /// The run's home, and the folders of it that hold the session.
    pub home: PathBuf,
    pub folders: Vec<PathBuf>,
    pub redactor: Redactor,
    /// Held until the state is packed: the agent's containment and its
    /// run folder (removed when dropped).
    pub contained: Containment,
    pub folder: Option<tempfile::TempDir>,
}

impl PendingState {
    /// The agent stopped once its files are written, then its state
    /// packed, redacted; how many values were redacted from it.
    async fn pack(self) -> (Result<Vec<u8>, state::StateError>, usize) {
        let Self {
            agent,
            home,
            folders,
            redactor,
            contained,
            folder,
        } = self;
        agent.stop().await;
        let packed = state::pack(&home, &folders, &redactor);
        // Only now: the containment's cgroup ends whatever the agent left,
        // and the folder goes.
        drop((contained, folder));
        (packed, redactor.replaced())
    }
}

/// What [`super::store`] kept, and what is left to keep after the events.
pub(crate) struct Stored {
    pub kept: Vec<ArtifactRef>,
    pub total: u64,
    pub redacted: usize,
    pub pending: Option<PendingState>,
}

/// Keeps the pending session state (if any) and lists it, then logs what
/// the run's artifacts came to.
pub(crate) async fn finish(env: &RunEnv<'_>, run_id: &str, emitter: &Emitter, stored: Stored) {
    let Stored {
        mut kept,
        mut total,
        mut redacted,
        pending,
    } = stored;
    if let Some(pending) = pending {
        // The run's redactor, its count with what the state added.
        let (packed, all) = pending.pack().await;
        redacted = all;
        let put = match packed {
            Ok(tar) if total + tar.len() as u64 > MAX_RUN_BYTES => Err(format!(
                "artifact {SESSION_STATE} left out: the run's artifacts are kept up to {MAX_RUN_BYTES} bytes"
            )),
            Ok(tar) => Artifacts::new(env.nats)
                .put(run_id, SESSION_STATE, "application/x-tar", &tar)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("the agent's session state not kept: {e}")),
        };
        let state = match put {
            Ok(stored) => {
                total += stored.size;
                kept.push(stored.clone());
                Some(stored)
            }
            Err(why) => {
                emitter.log("hookline", why);
                None
            }
        };
        let listed = env
            .records
            .update(run_id, |record| {
                match &state {
                    Some(stored) => record.artifacts.push(stored.clone()),
                    // Nothing to resume after all.
                    None => record.agent_session = None,
                }
                true
            })
            .await;
        if let Err(e) = listed {
            emitter.log(
                "hookline",
                format!("the agent's session state was stored but not listed in the run's record: {e}"),
            );
        }
    }
    emitter.log(
        "hookline",
        format!(
            "artifacts kept: {} ({total} bytes); secret values redacted from them: {redacted}",
            kept.len()
        ),
    );
}

/// `record` once its session state is listed, or as it is when that is
/// not on its way (none named, already listed, or too long ago).
pub(crate) async fn wait_for_state(env: &RunEnv<'_>, mut record: RunRecord) -> RunRecord {
    let on_its_way = |r: &RunRecord| {
        r.agent_session.is_some()
            && !r.artifacts.iter().any(|a| a.name == SESSION_STATE)
            && hookline_model::clock::now_ms() < r.finished_at_ms + ON_ITS_WAY_MS
    };
    while on_its_way(&record) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        match env.records.get(&record.run_id).await {
            Ok(Some(now)) => record = now,
            _ => break,
        }
    }
    record
}
