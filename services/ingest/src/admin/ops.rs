//! Runs, routing decisions, cancels and dead-letter replays.

use std::time::Duration;

use hookline_core::control::{self, replay::Selection};
use serde_json::{Value, json};

use super::{AdminError, AdminState};

async fn read_json(state: &AdminState, bucket: String, key: &str, what: &str) -> Result<(u16, Value), AdminError> {
    let store = state
        .nats
        .js
        .get_key_value(bucket)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    let bytes = store
        .get(key)
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?
        .ok_or_else(|| AdminError::NotFound(format!("no {what} `{key}`")))?;
    let value = serde_json::from_slice(&bytes).map_err(|e| AdminError::Unavailable(e.to_string()))?;
    Ok((200, value))
}

/// `GET /v1/runs/{run_id}`: the run's record.
pub async fn run(state: &AdminState, run_id: &str) -> Result<(u16, Value), AdminError> {
    read_json(state, state.nats.subjects.runs_bucket(), run_id, "run").await
}

/// `GET /v1/events/{event_id}/explain`: which agents an event started, and
/// the first filter each other agent on its source failed.
pub async fn explain(state: &AdminState, event_id: &str) -> Result<(u16, Value), AdminError> {
    read_json(
        state,
        state.nats.subjects.decisions_bucket(),
        event_id,
        "routing decision for event",
    )
    .await
}

/// `POST /v1/runs/{run_id}/cancel`.
pub async fn cancel(state: &AdminState, run_id: &str) -> Result<(u16, Value), AdminError> {
    match control::cancel_run(&state.nats, run_id, Duration::from_secs(5)).await {
        Ok(true) => Ok((202, json!({"run_id": run_id, "cancelled": true}))),
        Ok(false) => Err(AdminError::NotFound(format!("no executor is running `{run_id}`"))),
        Err(e) => Err(AdminError::Unavailable(e.to_string())),
    }
}

/// `POST /v1/dlq/replay` with `{"seq": N}`, `{"subscription": "id"}` or
/// `{"since": "<RFC 3339>", "subscription"?: "id"}`.
pub async fn replay(state: &AdminState, body: &Value) -> Result<(u16, Value), AdminError> {
    let subscription = body.get("subscription").and_then(Value::as_str).map(str::to_owned);
    let selection = if let Some(seq) = body.get("seq").and_then(Value::as_u64) {
        Selection::One(seq)
    } else if let Some(since) = body.get("since").and_then(Value::as_str) {
        let since = chrono::DateTime::parse_from_rfc3339(since)
            .map_err(|e| AdminError::Invalid(vec![format!("since: {e}")]))?;
        Selection::Since {
            subscription,
            since_ms: since.timestamp_millis(),
        }
    } else if let Some(subscription) = subscription {
        Selection::All(subscription)
    } else {
        return Err(AdminError::Invalid(vec![
            "give `seq`, `subscription` or `since`".to_owned(),
        ]));
    };
    match control::replay::replay(&state.nats, &selection).await {
        Ok(replayed) => Ok((200, json!({"replayed": replayed}))),
        Err(control::replay::ReplayError::NotFound(seq)) => Err(AdminError::NotFound(format!("no dead letter {seq}"))),
        Err(e) => Err(AdminError::Unavailable(e.to_string())),
    }
}
