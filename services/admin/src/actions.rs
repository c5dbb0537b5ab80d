//! Things an operator sets off by hand: a test event sent to a source (signed
//! the way its provider signs, over the public webhook port, so it meets the
//! same verification, limits and routing as a real one) and a manual run of
//! an agent with a given payload.

use std::time::Duration;

use bytes::Bytes;
use hookline_bus::runs;
use hookline_model::catalog::Provider;
use hookline_model::clock;
use hookline_model::subjects::msg_id;
use hookline_proto::{Header, InboundEvent, RunRequest, Trigger, WebhookContext};
use hookline_runtime::telemetry::TraceParent;
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};

use crate::error::{AdminError, Answer, reply};
use crate::model;
use crate::route::{Route, json_route};
use crate::state::AdminState;
use hookline_providers::{self as providers, Scheme, SignRequest};

/// The body's fields: an object (or no body) with only `known` keys.
fn fields(body: Option<&Value>, known: &[&str]) -> Result<serde_json::Map<String, Value>, AdminError> {
    let fields = match body {
        None => serde_json::Map::new(),
        Some(Value::Object(fields)) => fields.clone(),
        _ => return Err(AdminError::Invalid(vec!["the body must be a JSON object".to_owned()])),
    };
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(AdminError::Invalid(vec![format!("unknown field `{unknown}`")])),
        None => Ok(fields),
    }
}

/// `POST /v1/sources/{id}/test` with an optional `{"event": "...", "payload": {...}}`.
pub async fn send_test(state: &AdminState, id: &str, body: Option<&Value>) -> Answer {
    let source = state.find("source", id, |c| c.sources.get(id).cloned())?;
    let now_ms = clock::now_ms();
    let secret = source
        .secrets
        .iter()
        .filter(|s| s.active_at(now_ms))
        .find_map(|s| s.resolve().ok());
    if source.provider != Provider::None && secret.is_none() {
        return Err(AdminError::Conflict(vec![format!(
            "source `{id}` has no secret that can be read now"
        )]));
    }
    let fields = fields(body, &["event", "payload"])?;
    let event = match fields.get("event") {
        None => "ping".to_owned(),
        Some(Value::String(event)) => event.clone(),
        Some(_) => return Err(AdminError::Invalid(vec!["event: a string".to_owned()])),
    };
    if fields.get("payload").is_some_and(|p| !p.is_object()) {
        return Err(AdminError::Invalid(vec!["payload: a JSON object".to_owned()]));
    }
    let mut payload = fields.get("payload").cloned().unwrap_or_else(|| {
        json!({"hookline_test": true, "zen": "Test events travel the same road as real ones.",
               "sent_at": clock::rfc3339_ms(now_ms)})
    });
    if source.provider == Provider::Linear && payload.get("webhookTimestamp").is_none() {
        payload["webhookTimestamp"] = json!(now_ms); // Linear signs its own send time.
    }
    let payload = payload.to_string();
    let delivery_id = format!("test-{}", clock::new_id());
    let request = SignRequest {
        secret: secret.as_ref().map(|s| s.expose()).unwrap_or_default(),
        body: payload.as_bytes(),
        now: now_ms / 1000,
        delivery_id: &delivery_id,
        event: &event,
        hmac: None,
    };
    let headers = providers::sign(&Scheme::of(&source), &request);
    let url = format!("{}/webhooks/{id}", state.webhook_url);
    let mut request = hyper::Request::post(&url).header(hyper::header::CONTENT_TYPE, "application/json");
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(Full::new(Bytes::from(payload)))
        .map_err(AdminError::unavailable)?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .map_err(|_| AdminError::Unavailable("the webhook port did not answer in 10 s".into()))?
        .map_err(|e| AdminError::Unavailable(format!("the webhook port: {e}")))?;
    let status = response.status().as_u16();
    let answer = response
        .into_body()
        .collect()
        .await
        .map(|b| serde_json::from_slice::<Value>(&b.to_bytes()).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    reply(
        200,
        &model::TestEventAnswer {
            source: id.to_owned(),
            event,
            delivery_id,
            status,
            answer,
        },
    )
}

/// `POST /v1/agents/{id}/run` with an optional `{"payload": {...}}`: the
/// payload is the run's event body, so `{{body.x}}` in the prompt reads it.
pub async fn manual_run(state: &AdminState, id: &str, body: Option<&Value>) -> Answer {
    let enabled = state.find("agent", id, |c| c.agents.get(id).map(|a| a.enabled))?;
    if !enabled {
        return Err(AdminError::Conflict(vec![format!("agent `{id}` is disabled")]));
    }
    let payload = fields(body, &["payload"])?
        .get("payload")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let now_ms = clock::now_ms();
    let event_id = clock::new_id();
    let run_id = clock::new_id();
    let event = InboundEvent {
        event_id: event_id.clone(),
        source: "manual".into(),
        provider: "manual".into(),
        delivery_id: event_id.clone(),
        received_at_ms: now_ms,
        method: "POST".into(),
        headers: vec![Header {
            name: "content-type".into(),
            value: "application/json".into(),
        }],
        body: payload.to_string().into_bytes().into(),
        content_type: "application/json".into(),
        ..Default::default()
    };
    let request = RunRequest {
        forge_trust: None,
        run_id: run_id.clone(),
        agent: id.to_owned(),
        trigger: Trigger::Manual as i32,
        event: Some(event),
        context: Some(WebhookContext {
            source: "manual".into(),
            event: "manual".into(),
            ..Default::default()
        }),
        requested_at_ms: now_ms,
        follow_up: None,
        preview: false,
    };
    let request = runs::Request {
        run: request,
        msg_id: msg_id::manual(&run_id),
    };
    let trace = TraceParent::new_root().to_string();
    runs::request(&state.nats, &state.records, vec![request], Some(&event_id), &trace)
        .await
        .map_err(AdminError::unavailable)?;
    reply(
        202,
        &model::ManualRunAnswer {
            run_id,
            agent: id.to_owned(),
            event_id,
        },
    )
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[
    json_route!("POST", "/v1/sources/{id}/test", |c| async move {
        let (state, id) = (c.state, c.id(0).to_owned());
        send_test(state, &id, c.optional_json().await?.as_ref()).await
    }),
    json_route!("POST", "/v1/agents/{id}/run", |c| async move {
        let (state, id) = (c.state, c.id(0).to_owned());
        manual_run(state, &id, c.optional_json().await?.as_ref()).await
    }),
];
