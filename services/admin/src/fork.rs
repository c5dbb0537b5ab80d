//! `POST /v1/runs/{run_id}/fork`: an operator continues a finished run with
//! a new prompt. The new run works on the same branch (its pull request and
//! status comment too, when it has them) and resumes the agent's session
//! the forked run kept; the prompt is the operator's, used as written.

use hookline_bus::runs;
use hookline_model::clock;
use hookline_model::follow_up::FollowUpReason;
use hookline_model::subjects::msg_id;
use hookline_proto::{FollowUp, RunRequest, Trigger, WebhookContext};
use hookline_runtime::telemetry::TraceParent;
use serde_json::Value;

use crate::error::{AdminError, Answer, reply};
use crate::model;
use crate::ops::read_record;
use crate::route::{Route, json_route};
use crate::state::AdminState;

/// Longest fork prompt taken.
const MAX_PROMPT: usize = 64 * 1024;

/// Starts a run of `run_id`'s agent that continues it with `{"prompt": …}`.
pub async fn fork(state: &AdminState, run_id: &str, body: Option<&Value>) -> Answer {
    let prompt = match body.and_then(|b| b.as_object()) {
        Some(fields) if fields.keys().all(|k| k == "prompt") => fields.get("prompt").and_then(Value::as_str),
        Some(fields) => {
            let unknown = fields.keys().find(|k| *k != "prompt").cloned().unwrap_or_default();
            return Err(AdminError::Invalid(vec![format!("unknown field `{unknown}`")]));
        }
        None => None,
    };
    let prompt = match prompt.map(str::trim) {
        Some(p) if !p.is_empty() && p.len() <= MAX_PROMPT => p.to_owned(),
        Some(p) if !p.is_empty() => {
            return Err(AdminError::Invalid(vec![format!("prompt: at most {MAX_PROMPT} bytes")]));
        }
        _ => {
            return Err(AdminError::Invalid(vec![
                "prompt: the new prompt is required".to_owned(),
            ]));
        }
    };
    let earlier = read_record(state, run_id).await?;
    if !earlier.status.is_final() {
        return Err(AdminError::Conflict(vec![format!(
            "run `{run_id}` is {}: fork it once it has ended",
            earlier.status
        )]));
    }
    let enabled = state.find("agent", &earlier.agent, |c| {
        c.agents.get(&earlier.agent).map(|a| a.enabled)
    })?;
    if !enabled {
        return Err(AdminError::Conflict(vec![format!(
            "agent `{}` is disabled",
            earlier.agent
        )]));
    }
    let forge = earlier.forge.clone().unwrap_or_default();
    let new_run = clock::new_id();
    let request = RunRequest {
        forge_trust: None,
        run_id: new_run.clone(),
        agent: earlier.agent.clone(),
        trigger: Trigger::Manual as i32,
        event: None,
        context: Some(WebhookContext {
            source: "fork".into(),
            event: "fork".into(),
            ..Default::default()
        }),
        requested_at_ms: clock::now_ms(),
        follow_up: Some(FollowUp {
            reason: FollowUpReason::Fork.as_str().to_owned(),
            repository: forge.repository.clone(),
            thread: forge.thread,
            branch: earlier.branch.clone(),
            base: earlier.base_branch.clone(),
            previous_run_id: earlier.run_id.clone(),
            previous_summary: forge.summary.clone(),
            pull_request: forge.pull_request.as_ref().map_or(0, |p| p.number),
            ci_fix: 0,
            prompt,
        }),
        preview: false,
    };
    let request = runs::Request {
        run: request,
        msg_id: msg_id::manual(&new_run),
    };
    let trace = TraceParent::new_root().to_string();
    runs::request(&state.nats, &state.records, vec![request], None, &trace)
        .await
        .map_err(AdminError::unavailable)?;
    reply(
        202,
        &model::ForkAnswer {
            run_id: new_run,
            agent: earlier.agent,
            forked_from: earlier.run_id,
            branch: earlier.branch,
            resumes_session: earlier.agent_session.is_some(),
        },
    )
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[json_route!("POST", "/v1/runs/{run_id}/fork", |c| async move {
    let (state, id) = (c.state, c.id(0).to_owned());
    fork(state, &id, c.optional_json().await?.as_ref()).await
})];
