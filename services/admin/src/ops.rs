//! Runs, routing decisions, cancels and dead-letter replays.

use std::time::Duration;

use async_nats::jetstream::kv;
use hookline_bus::control::{self, replay::Selection};
use hookline_bus::history::{self, Query};
use hookline_bus::runs::{RecordError, RunRecord, RunStatus};
use hookline_model::decision::RoutingDecision;
use hookline_model::ids::Id;
use serde_json::Value;

use crate::error::{AdminError, reply};
use crate::model;
use crate::params::Params;
use crate::route::{Route, json_route, typed_route};
use crate::state::AdminState;

/// The JSON value under `key` in `bucket`, or 404 naming `what`.
pub(crate) async fn read_value(store: &kv::Store, key: &str, what: &str) -> Result<Value, AdminError> {
    let bytes = store
        .get(key)
        .await
        .map_err(AdminError::unavailable)?
        .ok_or_else(|| AdminError::NotFound(format!("no {what} `{key}`")))?;
    serde_json::from_slice(&bytes).map_err(AdminError::unavailable)
}

/// A run's record, or 404.
pub(crate) async fn read_record(state: &AdminState, run_id: &str) -> Result<RunRecord, AdminError> {
    let value = read_value(&state.nats.buckets.runs, run_id, "run").await?;
    serde_json::from_value(value).map_err(AdminError::unavailable)
}

/// `GET /v1/runs/{run_id}`: the run's record.
pub async fn run(state: &AdminState, run_id: &str) -> Result<(u16, Value), AdminError> {
    reply(200, &read_record(state, run_id).await?)
}

/// `GET /v1/runs`: run records, newest first; filters `agent`, `status`,
/// `since` (default 24 h ago), `until`; paging `limit`, `before` (a run id).
pub async fn runs(state: &AdminState, params: &Params) -> Result<model::Page<RunRecord, String>, AdminError> {
    let agent = params.id("agent")?;
    let status = params
        .text("status")
        .map(str::parse::<RunStatus>)
        .transpose()
        .map_err(|e| AdminError::Invalid(vec![format!("status: {e}")]))?;
    let (since, until, before) = (params.since_ms()?, params.time_ms("until")?, params.text("before"));
    let limit = params.limit()?;
    let mut items = records_since(state, since, |record| {
        let requested = record.requested_at_ms;
        agent.is_none_or(|a| record.agent == a)
            && status.is_none_or(|s| record.status == s)
            && until.is_none_or(|u| requested <= u)
            && before.is_none_or(|b| record.run_id.as_str() < b)
    })
    .await?;
    // Run ids are UUIDv7: ordered by id is ordered by request time.
    items.sort_by(|a, b| b.run_id.cmp(&a.run_id));
    let next_before = (items.len() > limit).then(|| items[limit - 1].run_id.clone());
    items.truncate(limit);
    Ok(model::Page { items, next_before })
}

/// The run records requested since `since` that `keep` keeps.
pub(crate) async fn records_since(
    state: &AdminState,
    since: i64,
    keep: impl Fn(&RunRecord) -> bool,
) -> Result<Vec<RunRecord>, AdminError> {
    let bucket = state.nats.subjects.runs_bucket();
    // A record is rewritten as its run moves on, so its store time is never
    // before its request: reading from `since` misses no run asked for since.
    let query = Query {
        subject: format!("$KV.{bucket}.>"),
        since_ms: Some(since),
        before_seq: None,
        limit: usize::MAX / 2,
    };
    let page = history::newest(&state.nats, &format!("KV_{bucket}"), &query, |m| {
        let record: RunRecord = serde_json::from_slice(&m.payload).ok()?;
        (record.requested_at_ms >= since && keep(&record)).then_some(record)
    })
    .await
    .map_err(AdminError::unavailable)?;
    Ok(page.items.into_iter().map(|(_, r)| r).collect())
}

/// `GET /v1/events/{event_id}/explain`: which agents an event started, and
/// the first filter each other agent on its source failed.
pub async fn explain(state: &AdminState, event_id: &str) -> Result<(u16, Value), AdminError> {
    reply(200, &decision(state, event_id).await?)
}

/// The routing decision recorded for `event_id`, typed (the API and the
/// console both read it here).
pub async fn decision(state: &AdminState, event_id: &str) -> Result<RoutingDecision, AdminError> {
    let value = read_value(&state.nats.buckets.decisions, event_id, "routing decision for event").await?;
    serde_json::from_value(value).map_err(AdminError::unavailable)
}

/// `POST /v1/runs/{run_id}/cancel`. A run no executor holds (queued,
/// awaiting approval, or one whose holder's lease ran out) is cancelled in
/// its record, revision-checked, so no executor starts it again; a run an
/// executor holds is stopped by that executor.
pub async fn cancel(state: &AdminState, run_id: &str) -> Result<(u16, Value), AdminError> {
    let cancelled = || {
        reply(
            202,
            &model::CancelAnswer {
                run_id: run_id.to_owned(),
                cancelled: true,
            },
        )
    };
    for _ in 0..3 {
        let Some((mut record, revision)) = state.records.entry(run_id).await.map_err(AdminError::unavailable)? else {
            return Err(AdminError::NotFound(format!("no run `{run_id}`")));
        };
        if record.status.is_final() {
            return Err(AdminError::Conflict(vec![format!(
                "run `{run_id}` is already {}",
                record.status
            )]));
        }
        let now = hookline_model::clock::now_ms();
        if record.lease.as_ref().is_some_and(|l| l.expires_at_ms > now) {
            break; // an executor holds it: ask it
        }
        record.status = RunStatus::Cancelled;
        record.reason = hookline_bus::runs::RunReason::Cancelled;
        record.finished_at_ms = hookline_model::clock::now_ms();
        record.will_retry = false;
        match state.records.write(&record, Some(revision)).await {
            Ok(_) => return cancelled(),
            // Taken or changed meanwhile: look again.
            Err(RecordError::Conflict) => continue,
            Err(e) => return Err(AdminError::unavailable(e)),
        }
    }
    match control::cancel_run(&state.nats, run_id, Duration::from_secs(5)).await {
        Ok(true) => cancelled(),
        Ok(false) => Err(AdminError::NotFound(format!("no executor is running `{run_id}`"))),
        Err(e) => Err(AdminError::unavailable(e)),
    }
}

/// `POST /v1/dlq/replay` with `{"seq": N}`, `{"subscription": "id"}` or
/// `{"since": "<RFC 3339>", "subscription"?: "id"}`.
pub async fn replay(state: &AdminState, body: &Value) -> Result<(u16, Value), AdminError> {
    let selection = selection(body)?;
    match control::replay::replay(&state.nats, &selection).await {
        Ok(replayed) => reply(200, &model::ReplayAnswer { replayed }),
        Err(control::replay::ReplayError::NotFound(seq)) => Err(AdminError::NotFound(format!("no dead letter {seq}"))),
        Err(e) => Err(AdminError::unavailable(e)),
    }
}

/// Which dead letters a replay body names: exactly one of `{"seq"}`,
/// `{"subscription"}`, `{"since", "subscription"?}`; anything else is 400.
fn selection(body: &Value) -> Result<Selection, AdminError> {
    let invalid = |why: &str| AdminError::Invalid(vec![why.to_owned()]);
    let Some(fields) = body.as_object() else {
        return Err(invalid(
            "give {\"seq\": N}, {\"subscription\": \"id\"} or {\"since\": \"<RFC 3339>\"}",
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["seq", "subscription", "since"].contains(&k.as_str()))
    {
        return Err(invalid(&format!("unknown field `{unknown}`")));
    }
    let subscription = match fields.get("subscription") {
        None => None,
        Some(Value::String(id)) => {
            Id::parse(id).map_err(|e| AdminError::Invalid(vec![format!("subscription: {e}")]))?;
            Some(id.clone())
        }
        Some(_) => return Err(invalid("subscription: an id")),
    };
    match (fields.get("seq"), fields.get("since"), subscription) {
        (Some(seq), None, None) => match crate::json_numbers::whole_number(seq) {
            Some(seq) if seq > 0 => Ok(Selection::One(seq)),
            _ => Err(invalid("seq: a dead letter's seq, 1 or more")),
        },
        (Some(_), _, _) => Err(invalid("seq names one letter: give it alone")),
        (None, Some(since), subscription) => {
            let since = since
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .ok_or_else(|| invalid("since: an RFC 3339 time"))?;
            Ok(Selection::Since {
                subscription,
                since_ms: since.timestamp_millis(),
            })
        }
        (None, None, Some(subscription)) => Ok(Selection::All(subscription)),
        (None, None, None) => Err(invalid("give `seq`, `subscription` or `since`")),
    }
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[
    typed_route!("GET", "/v1/runs", |c| runs(c.state, c.params)),
    json_route!("GET", "/v1/runs/{run_id}", |c| run(c.state, c.id(0))),
    json_route!("POST", "/v1/runs/{run_id}/cancel", |c| cancel(c.state, c.id(0))),
    json_route!("GET", "/v1/events/{event_id}/explain", |c| explain(c.state, c.id(0))),
    json_route!("POST", "/v1/dlq/replay", |c| async move {
        let state = c.state;
        replay(state, &c.json().await?).await
    }),
];
