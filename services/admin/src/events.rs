//! Inbound events after the fact: the recent ones with what each started
//! (from the routing decisions), one as it was stored (its signature and
//! credential headers were never stored), and a replay of one to an agent,
//! its actor judged by that agent's trust policy as the router would, with
//! `preview` pushing nothing and writing nothing to the forge.

use hookline_bus::history::{self, Query};
use hookline_bus::runs;
use hookline_model::catalog::Catalog;
use hookline_model::clock;
use hookline_model::decision::RoutingDecision;
use hookline_model::subjects::{StreamKind, msg_id};
use hookline_proto::{InboundEvent, Message as _, RunRequest, Trigger};
use hookline_providers::trust::{self, Verdict};
use hookline_runtime::telemetry::TraceParent;
use serde_json::Value;

use crate::error::{AdminError, Answer, reply};
use crate::model;
use crate::params::Params;
use crate::route::{Route, json_route, typed_route};
use crate::state::AdminState;

/// `GET /v1/events`: recent inbound events, newest first, with which
/// agents each started and why the others did not; `since`, `limit`.
pub async fn list(state: &AdminState, params: &Params) -> Result<model::Page<model::EventSummary, String>, AdminError> {
    let since = params.since_ms()?;
    let limit = params.limit()?;
    let bucket = state.nats.subjects.decisions_bucket();
    let query = Query {
        subject: format!("$KV.{bucket}.>"),
        since_ms: Some(since),
        before_seq: None,
        limit,
    };
    let page = history::newest(&state.nats, &format!("KV_{bucket}"), &query, |m| {
        serde_json::from_slice::<RoutingDecision>(&m.payload).ok()
    })
    .await
    .map_err(AdminError::unavailable)?;
    let items = page.items.into_iter().map(|(_, d)| summary(d)).collect();
    Ok(model::Page {
        items,
        next_before: None,
    })
}

fn summary(d: RoutingDecision) -> model::EventSummary {
    let mut started: Vec<String> = d.matched.clone();
    started.extend(
        d.follow_ups
            .iter()
            .filter(|f| f.reason.is_some())
            .map(|f| f.agent.clone()),
    );
    let mut not_started: Vec<String> = Vec::new();
    not_started.extend(d.untrusted.iter().map(|u| format!("{}: {}", u.agent, u.explain)));
    not_started.extend(d.budget_spent.iter().map(|b| format!("{}: {}", b.agent, b.explain)));
    not_started.extend(
        d.unmatched
            .iter()
            .map(|u| format!("{}: no trigger matched ({})", u.agent, u.failed)),
    );
    if let Some(why) = &d.ignored {
        not_started.push(format!("every agent: {why}"));
    }
    model::EventSummary {
        at: clock::rfc3339_ms(d.at_ms),
        event_id: d.event_id,
        source: d.source,
        context: d.context,
        started,
        not_started,
    }
}

/// The stored inbound event `event_id`, found after its routing decision
/// (which names its source and when it was routed).
async fn stored(state: &AdminState, event_id: &str) -> Result<InboundEvent, AdminError> {
    let decision = crate::ops::decision(state, event_id).await?;
    let subjects = &state.nats.subjects;
    let query = Query {
        subject: subjects.ingest(&decision.source),
        // Received before it was routed, within a redelivery's reach.
        since_ms: Some(decision.at_ms - 3_600_000),
        before_seq: None,
        limit: 1,
    };
    let page = history::newest(&state.nats, &subjects.stream(StreamKind::Ingest), &query, |m| {
        InboundEvent::decode(m.payload.as_ref())
            .ok()
            .filter(|e| e.event_id == event_id)
    })
    .await
    .map_err(AdminError::unavailable)?;
    page.items
        .into_iter()
        .next()
        .map(|(_, e)| e)
        .ok_or_else(|| AdminError::NotFound(format!("event `{event_id}` is no longer stored")))
}

/// `GET /v1/events/{event_id}`: the event as it was stored.
pub async fn event(state: &AdminState, event_id: &str) -> Result<model::StoredEvent, AdminError> {
    let e = stored(state, event_id).await?;
    let body = serde_json::from_slice(&e.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&e.body).into_owned()));
    Ok(model::StoredEvent {
        received_at: clock::rfc3339_ms(e.received_at_ms),
        headers: e.headers.into_iter().map(|h| (h.name, h.value)).collect(),
        event_id: e.event_id,
        source: e.source,
        provider: e.provider,
        delivery_id: e.delivery_id,
        content_type: e.content_type,
        body,
    })
}

/// Whether `agent`'s trust policy for `event`'s source trusts its actor:
/// the policy of its first trigger on that source (the agent's, else the
/// default), as the router judges it.
fn judged(
    catalog: &Catalog,
    agent: &str,
    event: &InboundEvent,
    ctx: &hookline_proto::WebhookContext,
    body: &Value,
) -> Verdict {
    let Some(spec) = catalog.agents.get(agent) else {
        return Verdict::Trusted;
    };
    let policy = spec
        .triggers
        .iter()
        .find(|t| t.source == event.source)
        .and_then(|t| t.trust.clone())
        .or_else(|| spec.trust.clone())
        .unwrap_or_default();
    trust::judge(&policy, ctx, body)
}

/// `POST /v1/events/{event_id}/replay` with `{"agent": …, "preview": bool}`.
pub async fn replay(state: &AdminState, event_id: &str, body: Option<&Value>) -> Answer {
    let fields = body.and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(unknown) = fields.keys().find(|k| !["agent", "preview"].contains(&k.as_str())) {
        return Err(AdminError::Invalid(vec![format!("unknown field `{unknown}`")]));
    }
    let Some(agent) = fields.get("agent").and_then(Value::as_str).map(str::to_owned) else {
        return Err(AdminError::Invalid(vec![
            "agent: the agent to run is required".to_owned(),
        ]));
    };
    let preview = match fields.get("preview") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(AdminError::Invalid(vec!["preview: true or false".to_owned()])),
    };
    crate::params::check_ids(&["v1", "agents", &agent])?;
    let enabled = state.find("agent", &agent, |c| c.agents.get(&agent).map(|a| a.enabled))?;
    if !enabled {
        return Err(AdminError::Conflict(vec![format!("agent `{agent}` is disabled")]));
    }
    let event = stored(state, event_id).await?;
    let payload: Value = serde_json::from_slice(&event.body).unwrap_or(Value::Null);
    let catalog = state.catalog.borrow().clone();
    let ctx = hookline_providers::context(&event, &payload, catalog.sources.get(&event.source));
    // Judged as for the original actor: by the forge too when only it can say.
    let forge_trust = match judged(&catalog, &agent, &event, &ctx, &payload) {
        Verdict::Untrusted { actor, reason } => {
            return Err(AdminError::Conflict(vec![format!(
                "agent `{agent}` does not trust the event's actor {actor}: {reason}"
            )]));
        }
        Verdict::AskForge { login, associations } => Some(hookline_proto::ForgeTrust {
            login,
            associations: associations.iter().map(|a| a.as_str().to_owned()).collect(),
        }),
        Verdict::Trusted => None,
    };
    let run_id = clock::new_id();
    let request = RunRequest {
        run_id: run_id.clone(),
        agent: agent.clone(),
        trigger: Trigger::Replay as i32,
        event: Some(event),
        context: Some(ctx),
        requested_at_ms: clock::now_ms(),
        follow_up: None,
        preview,
        forge_trust,
    };
    let request = runs::Request {
        run: request,
        msg_id: msg_id::manual(&run_id),
    };
    let trace = TraceParent::new_root().to_string();
    runs::request(&state.nats, &state.records, vec![request], Some(event_id), &trace)
        .await
        .map_err(AdminError::unavailable)?;
    reply(
        202,
        &model::EventReplayAnswer {
            run_id,
            agent,
            event_id: event_id.to_owned(),
            preview,
        },
    )
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[
    typed_route!("GET", "/v1/events", |c| list(c.state, c.params)),
    typed_route!("GET", "/v1/events/{event_id}", |c| event(c.state, c.id(0))),
    json_route!("POST", "/v1/events/{event_id}/replay", |c| async move {
        let (state, id) = (c.state, c.id(0).to_owned());
        replay(state, &id, c.optional_json().await?.as_ref()).await
    }),
];
