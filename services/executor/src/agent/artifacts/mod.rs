//! What is kept of a run once its agent ended, in the artifacts store
//! ([`hookline_bus::artifacts`]): the prompt, the transcript (this
//! attempt's entries after those earlier attempts logged), the diff and
//! commits of its branch, the gateway's per-call log, the egress log, the
//! agent's session state ([`state`]) and the files it left in
//! `$HOOKLINE_ARTIFACTS_DIR`. Each is redacted ([`redact`]) before it is
//! stored; together they are at most [`MAX_RUN_BYTES`]. An earlier run's
//! session state is restored from here to resume it ([`resume`]).

use std::path::Path;

use hookline_bus::artifacts::{self, Artifacts};
use hookline_bus::history;
use hookline_model::catalog::AgentSpec;
use hookline_model::runs::ModelCall;
use hookline_model::transcript;
use hookline_proto::RunRequest;
use hookline_sandbox::gateway::CallBody;
use serde_json::json;

use crate::agent::workspace::Checkout;
use crate::attempt::emit::Emitter;
use crate::attempt::env::RunEnv;

pub(crate) mod git;
pub(crate) mod later;
pub(crate) mod redact;
pub(crate) mod state;

pub(crate) use later::{PendingState, Stored, finish};
pub(crate) use redact::Redactor;

/// Most bytes of artifacts one run keeps; what would pass it is left out,
/// and the run log says which.
pub(crate) const MAX_RUN_BYTES: u64 = 64 * 1024 * 1024;
/// The folder of the run (`$HOOKLINE_ARTIFACTS_DIR`) whose files are kept.
pub(crate) const FILES_DIR: &str = "artifacts";
/// The artifact holding the agent's session state.
pub(crate) const SESSION_STATE: &str = "session.tar";
/// The artifact holding the model calls' bodies (`record_model_calls`).
pub(crate) const MODEL_CALL_BODIES: &str = "model-call-bodies.jsonl";

/// What a finished session leaves to keep.
pub(crate) struct Left<'a> {
    /// The prompt as the agent received it.
    pub prompt: &'a str,
    /// This attempt's transcript, one redacted JSON entry per line.
    pub transcript: &'a [String],
    /// When this attempt began (unix ms): earlier lines are earlier attempts'.
    pub attempt_began_ms: i64,
    /// The repository on the run's branch, if the agent has one.
    pub checkout: Option<&'a Checkout>,
    /// Git's environment.
    pub git_env: &'a [(String, String)],
    /// The gateway's calls.
    pub model_calls: &'a [ModelCall],
    /// Their bodies, when the agent keeps them (`record_model_calls`).
    pub model_call_bodies: Vec<CallBody>,
    /// Hosts the egress proxy connected to, and refused.
    pub egress: (Vec<String>, &'a [String]),
    /// The run's home, and the folders that hold the agent's session
    /// (`None`: it has none to keep).
    pub session: Option<(&'a Path, &'a [std::path::PathBuf])>,
    /// The run folder's `$HOOKLINE_ARTIFACTS_DIR`.
    pub files: &'a Path,
}

/// What is to be kept of a run, gathered and redacted while its folder
/// exists, stored once its final record is written ([`store`]).
pub(crate) struct Gathered {
    items: Vec<(String, &'static str, Vec<u8>)>,
    redacted: usize,
    /// The agent's own session id, listed only when its state is stored.
    session_id: Option<String>,
    /// Its state, when the agent was still writing it.
    pending: Option<PendingState>,
}

impl Gathered {
    /// The agent's session state is to be kept once it is written.
    pub(crate) fn later(&mut self, pending: PendingState) {
        self.pending = Some(pending);
    }

    /// The session state still to be kept, if any.
    pub(crate) fn pending_mut(&mut self) -> Option<&mut PendingState> {
        self.pending.as_mut()
    }
}

/// Gathers what `left` holds for `request`'s run, redacted.
pub(crate) async fn gather(
    env: &RunEnv<'_>,
    request: &RunRequest,
    emitter: &Emitter,
    redactor: &Redactor,
    left: Left<'_>,
    session_id: Option<String>,
) -> Gathered {
    let mut items: Vec<(String, &'static str, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, kind: &'static str, bytes: Vec<u8>| items.push((name.to_owned(), kind, bytes));
    add(
        "prompt.txt",
        "text/plain",
        redactor.bytes(left.prompt.as_bytes().to_vec()),
    );
    let mut lines = earlier_transcript(env, request, left.attempt_began_ms).await;
    lines.extend(left.transcript.iter().cloned());
    if !lines.is_empty() {
        add(
            "transcript.jsonl",
            "application/x-ndjson",
            (lines.join("\n") + "\n").into_bytes(),
        );
    }
    if let Some(checkout) = left.checkout {
        match git::diff(checkout, left.git_env).await {
            Ok(diff) => add("diff", "text/x-diff", redactor.bytes(diff.into_bytes())),
            Err(e) => emitter.log("hookline", format!("diff not kept: {e}")),
        }
        match git::commits(checkout, left.git_env).await {
            Ok(commits) => add("commits.json", "application/json", redactor.bytes(to_json(&commits))),
            Err(e) => emitter.log("hookline", format!("commits not kept: {e}")),
        }
    }
    if !left.model_calls.is_empty() {
        add("model-calls.json", "application/json", to_json(&left.model_calls));
    }
    if !left.model_call_bodies.is_empty() {
        add(
            MODEL_CALL_BODIES,
            "application/x-ndjson",
            redactor.bytes(bodies_jsonl(&left.model_call_bodies)),
        );
    }
    let (allowed, refused) = &left.egress;
    if !allowed.is_empty() || !refused.is_empty() {
        let egress = json!({"allowed": allowed, "refused": refused});
        add("egress.json", "application/json", to_json(&egress));
    }
    if let Some((home, folders)) = left.session {
        match state::pack(home, folders, redactor) {
            Ok(tar) => add(SESSION_STATE, "application/x-tar", tar),
            Err(e) => emitter.log("hookline", format!("the agent's session state not kept: {e}")),
        }
    }
    for (name, bytes) in declared_files(left.files, emitter) {
        add(&name, "application/octet-stream", redactor.bytes(bytes));
    }
    Gathered {
        items,
        redacted: redactor.replaced(),
        session_id,
        pending: None,
    }
}

/// Stores what was gathered for `run_id` and lists it in the run's record
/// (with the agent's session id when its state is among it or on its
/// way). Storing stops at the first failure (NATS away): the run log says
/// what was not kept. What is left is [`finish`]ed after the run's events.
pub(crate) async fn store(env: &RunEnv<'_>, run_id: &str, emitter: &Emitter, gathered: Gathered) -> Stored {
    let Gathered {
        items,
        redacted,
        session_id,
        mut pending,
    } = gathered;
    let store = Artifacts::new(env.nats);
    let mut kept = Vec::new();
    let mut total = 0u64;
    for (name, kind, bytes) in items {
        if total + bytes.len() as u64 > MAX_RUN_BYTES {
            emitter.log(
                "hookline",
                format!("artifact {name} left out: the run's artifacts are kept up to {MAX_RUN_BYTES} bytes"),
            );
            continue;
        }
        match store.put(run_id, &name, kind, &bytes).await {
            Ok(stored) => {
                total += stored.size;
                kept.push(stored);
            }
            Err(e) => {
                emitter.log("hookline", format!("{e}; the rest is not kept either"));
                pending = None;
                break;
            }
        }
    }
    let session = session_id.filter(|_| pending.is_some() || kept.iter().any(|a| a.name == SESSION_STATE));
    let listed = env
        .records
        .update(run_id, |record| {
            record.artifacts.clone_from(&kept);
            record.agent_session.clone_from(&session);
            true
        })
        .await;
    if let Err(e) = listed {
        emitter.log(
            "hookline",
            format!("the run's artifacts were stored but not listed in its record: {e}"),
        );
        pending = None;
    }
    Stored {
        kept,
        total,
        redacted,
        pending,
    }
}

/// One line per call: its model, path and status, the request and the
/// answer (as JSON when they are, else as text: a stream's events).
fn bodies_jsonl(calls: &[CallBody]) -> Vec<u8> {
    let body = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
    };
    let mut out = Vec::new();
    for (n, call) in calls.iter().enumerate() {
        let line = json!({
            "call": n,
            "api": call.api,
            "model": call.model,
            "path": call.path,
            "status": call.status,
            "truncated": call.truncated,
            "request": body(&call.request),
            "response": body(&call.response),
        });
        out.extend(serde_json::to_vec(&line).unwrap_or_default());
        out.push(b'\n');
    }
    out
}

fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// Transcript lines earlier attempts of the run logged (an attempt killed
/// midway kept them only there).
async fn earlier_transcript(env: &RunEnv<'_>, request: &RunRequest, before_ms: i64) -> Vec<String> {
    if env.attempt <= 1 {
        return Vec::new();
    }
    history::run_lines(env.nats, &request.agent, &request.run_id, |line| {
        line.stream == transcript::LOG_STREAM && line.at_ms < before_ms
    })
    .await
    .unwrap_or_default()
}

/// The names Hookline's own artifacts take; a declared file cannot.
pub(crate) const RESERVED: [&str; 8] = [
    "prompt.txt",
    "transcript.jsonl",
    "diff",
    "commits.json",
    "model-calls.json",
    MODEL_CALL_BODIES,
    "egress.json",
    SESSION_STATE,
];

/// The plain files the agent left in `$HOOKLINE_ARTIFACTS_DIR`, by name
/// (folders, links and names it cannot store are skipped, and said).
fn declared_files(dir: &Path, emitter: &Emitter) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let plain = entry.file_type().is_ok_and(|kind| kind.is_file());
        if !plain || !artifacts::valid_name(&name) || RESERVED.contains(&name.as_str()) {
            emitter.log(
                "hookline",
                format!("{name:?} in $HOOKLINE_ARTIFACTS_DIR not kept: keep plain files named with letters, digits, '.', '_' and '-', not a name of Hookline's own artifacts"),
            );
        } else if let Ok(bytes) = std::fs::read(entry.path()) {
            found.push((name, bytes));
        }
    }
    found.sort();
    found
}

/// Restores the agent session of the run `request` continues into `home`,
/// answering its id; `None` (and the run log says why) when there is none
/// to resume, so the prompt's `{{previous.*}}` carries the context.
pub(crate) async fn resume(
    env: &RunEnv<'_>,
    request: &RunRequest,
    agent: &AgentSpec,
    home: &Path,
    emitter: &Emitter,
) -> Option<String> {
    let earlier = request
        .follow_up
        .as_ref()
        .map(|f| f.previous_run_id.as_str())
        .filter(|id| !id.is_empty())?;
    if !agent.runner.speaks_acp() {
        return None;
    }
    let fall_back = |why: String| {
        emitter.log(
            "hookline",
            format!("the earlier run {earlier}'s agent session is not resumed ({why}); the prompt's {{{{previous.*}}}} carries on"),
        );
        None
    };
    let record = match env.records.get(earlier).await {
        Ok(Some(record)) => later::wait_for_state(env, record).await,
        Ok(None) => return fall_back("its record is gone".to_owned()),
        Err(e) => return fall_back(e.to_string()),
    };
    let Some(session) = record
        .agent_session
        .filter(|_| record.artifacts.iter().any(|a| a.name == SESSION_STATE))
    else {
        return fall_back("it kept no session".to_owned());
    };
    let tar = match Artifacts::new(env.nats).get(earlier, SESSION_STATE).await {
        Ok(Some(tar)) => tar,
        Ok(None) => return fall_back("its session state is past retention".to_owned()),
        Err(e) => return fall_back(e.to_string()),
    };
    match state::restore(home, &tar) {
        Ok(files) => {
            emitter.log(
                "hookline",
                format!("restored the agent's session {session} of run {earlier} ({files} files)"),
            );
            Some(session)
        }
        Err(e) => fall_back(e.to_string()),
    }
}
