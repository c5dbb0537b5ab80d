//! `POST /v1/runs/{run_id}/approve` and `/reject`: a person decides a run
//! held by its trust policy. The decision is recorded with who made it:
//! the caller's token fingerprint, and the name the caller gives in
//! `{"by": "alice"}` (for people sharing a token).

use hookline_bus::approvals::{ApprovalError, Approved};
use serde_json::Value;

use crate::error::{AdminError, Answer, reply};
use crate::model::RunDecision;
use crate::route::{Call, Route, json_route};
use crate::state::AdminState;

/// Longest name a caller may give.
const MAX_BY: usize = 100;

/// Who decides: `alice (token:1a2b3c4d)`, or the fingerprint alone.
fn decider(caller: &str, body: Option<&Value>) -> Result<String, AdminError> {
    let by = match body.map(|b| b.get("by")) {
        None | Some(None) | Some(Some(Value::Null)) => return Ok(caller.to_owned()),
        Some(Some(Value::String(by))) => by.trim(),
        Some(Some(_)) => return Err(AdminError::Invalid(vec!["by: give a name as a string".to_owned()])),
    };
    if by.is_empty() || by.chars().count() > MAX_BY || by.chars().any(char::is_control) {
        return Err(AdminError::Invalid(vec![format!(
            "by: 1-{MAX_BY} printable characters"
        )]));
    }
    Ok(format!("{by} ({caller})"))
}

/// Approves or rejects `run_id` for `caller`.
pub async fn decide(state: &AdminState, run_id: &str, decision: &str, caller: &str, body: Option<&Value>) -> Answer {
    if let Some(Value::Object(map)) = body
        && let Some(unknown) = map.keys().find(|k| k.as_str() != "by")
    {
        return Err(AdminError::Invalid(vec![format!(
            "{unknown}: unknown field (only `by`)"
        )]));
    }
    let by = decider(caller, body)?;
    let result = if decision == "approve" {
        state.approvals.approve(run_id, &by).await
    } else {
        state.approvals.reject(run_id, &by).await.map(Approved::Now)
    };
    match result {
        Ok(Approved::Now(record)) => reply(
            if decision == "approve" { 202 } else { 200 },
            &RunDecision {
                run_id: record.run_id,
                status: record.status.to_string(),
                decided_by: by,
            },
        ),
        Ok(Approved::Before(before)) => Err(AdminError::State(ApprovalError::decided_before(&before).to_string())),
        Err(ApprovalError::NotFound(_)) => Err(AdminError::NotFound(format!("no run `{run_id}`"))),
        Err(e @ ApprovalError::NotAwaiting { .. }) => Err(AdminError::State(e.to_string())),
        Err(e) => Err(AdminError::unavailable(e)),
    }
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[
    json_route!("POST", "/v1/runs/{run_id}/approve", |c| decided(c, "approve")),
    json_route!("POST", "/v1/runs/{run_id}/reject", |c| decided(c, "reject")),
];

async fn decided(call: Call<'_>, decision: &str) -> Answer {
    let (state, run_id, caller) = (call.state, call.id(0).to_owned(), call.caller.clone());
    let body = call.optional_json().await?;
    decide(state, &run_id, decision, &caller, body.as_ref()).await
}
