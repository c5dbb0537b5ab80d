//! After the agent: the events and outputs files it wrote, the hosts it was
//! refused, the tokens it used, the limit it hit, and what it committed
//! (pushed when the agent says `push = true`).

use hookline_bus::runs::RunReason;
use hookline_model::catalog::AgentSpec;

use crate::agent::session::invoke::Invoked;
use crate::agent::session::output::SessionOutput;
use crate::agent::session::prepare::Prepared;
use crate::agent::workspace::{self, Checkout};
use crate::attempt::emit::Emitter;

/// What the session produced, from how the agent ended.
pub(crate) async fn collect(
    agent: &AgentSpec,
    emitter: &Emitter,
    prepared: &mut Prepared,
    invoked: Invoked,
) -> SessionOutput {
    let events_text = read_agent_file(&prepared.events_path);
    let http_usage = invoked.usage;
    let mut output = SessionOutput {
        exit: invoked.exit,
        reason: invoked.reason,
        summary: invoked.summary,
        events_text,
        outputs_text: read_agent_file(&prepared.outputs_path),
        code: None,
        limit: None,
        blocked_hosts: Vec::new(),
        usage: None,
        model_calls: Vec::new(),
        kept: None,
        branch: None,
    };
    output.blocked_hosts = prepared.contained.blocked_hosts();
    output.usage = prepared.contained.usage().or(http_usage);
    output.model_calls = prepared.contained.model_calls();
    // A spent budget or turn limit is why the agent stopped, even when the
    // agent itself failed the prompt with the refusal before it was stopped.
    let overridable = matches!(
        output.reason,
        None | Some(RunReason::AgentError | RunReason::ProtocolError)
    );
    if prepared.contained.budget_exceeded() && overridable {
        emitter.log("hookline", "the run's budget was spent".to_owned());
        output.reason = Some(RunReason::BudgetExceeded);
    } else if prepared.contained.out_of_turns() && overridable {
        emitter.log("hookline", "the run's turn limit (max_turns) was reached".to_owned());
        output.reason = Some(RunReason::TurnLimit);
    }
    if let Some(hit) = prepared.contained.hit(&output.exit) {
        emitter.log("hookline", format!("resource limit hit: {}", hit.as_str()));
        output.reason = Some(RunReason::ResourceLimit);
        output.limit = Some(hit);
    }
    if let (Some(checkout), true) = (prepared.checkout.take(), output.exit.success()) {
        let budget = prepared.left().max(std::time::Duration::from_secs(30));
        match workspace::changes(&checkout, &prepared.git_env, budget).await {
            Ok(changes) if !changes.commits.is_empty() => {
                let wanted = agent.push && !prepared.preview;
                let pushed = wanted && push(&checkout, &prepared.git_env, budget, emitter).await;
                if wanted && !pushed {
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
