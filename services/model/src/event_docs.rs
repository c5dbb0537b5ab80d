//! What is generated from the event catalog: docs/events.md and the
//! OpenAPI document's `webhooks` section (one entry per type, the envelope
//! with that type's `data` schema), so a subscriber can read or generate
//! types for every event. Tests fail when either is stale; regenerate with
//! `HOOKLINE_REGENERATE=1 cargo test -p hookline-model event_catalog`.

use serde_json::{Map, Value, json};

use crate::event_catalog::{EventCatalog, Origin, envelope_schema};

fn origin_words(origin: Origin) -> &'static str {
    match origin {
        Origin::Hookline => "Hookline",
        Origin::Agent => "agents",
        Origin::Operator => "an operator-declared agent",
    }
}

/// docs/events.md.
pub fn markdown(catalog: &EventCatalog) -> String {
    let mut out = String::from(
        "# Event catalog\n\n\
         Generated from `services/model/events/` (`HOOKLINE_REGENERATE=1 cargo test -p hookline-model event_catalog`); \
         do not edit by hand. `GET /v1/event-types` and `hookline event-types` answer the same, with the \
         types operators declare on their agents (`emits`).\n\n\
         Every delivery's body is the envelope below; `data` follows the type's schema. An agent may emit \
         the catalogued `agent` types (checked against their schema at the source: a mismatch is refused \
         with the schema error in the run log, and the run goes on) and any uncatalogued dotted type; \
         Hookline's own types only Hookline emits. Events of one run can be delivered in the order they \
         were emitted (`ordered = \"run\"` on a subscription): `run.started` first, `run.completed` or \
         `run.failed` last.\n\n## The envelope\n\n```json\n",
    );
    out.push_str(&pretty(&envelope_schema()));
    out.push_str("\n```\n\n## Types\n\n| type | emitted by | what it means |\n|---|---|---|\n");
    for def in catalog.all() {
        out.push_str(&format!(
            "| [`{0}`](#{1}) | {2} | {3} |\n",
            def.name,
            def.name.replace('.', ""),
            origin_words(def.source),
            def.description.replace('|', "\\|")
        ));
    }
    for def in catalog.all() {
        out.push_str(&format!(
            "\n### {}\n\n{} Emitted by {}.\n\nSchema of `data`:\n\n```json\n{}\n```\n\nExample `data`:\n\n```json\n{}\n```\n",
            def.name,
            def.description,
            origin_words(def.source),
            pretty(&def.schema),
            pretty(&def.example),
        ));
    }
    out
}

/// `value` printed with its keys in order, whether or not serde_json keeps
/// insertion order (a dependency's `preserve_order` feature turns that on
/// for the whole workspace), so the documents are the same either way.
fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(&in_key_order(value)).unwrap_or_default()
}

/// `value` with every object's keys sorted.
pub fn in_key_order(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), in_key_order(&map[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(in_key_order).collect()),
        other => other.clone(),
    }
}

/// The OpenAPI 3.1 `webhooks` object: per type, the POST a subscriber
/// receives.
pub fn openapi_webhooks(catalog: &EventCatalog) -> Value {
    let mut hooks = Map::new();
    for def in catalog.all() {
        let mut data = def.schema.clone();
        if let Value::Object(map) = &mut data {
            map.remove("$schema");
        }
        let mut envelope = envelope_schema();
        envelope["properties"]["type"] = json!({"const": def.name});
        envelope["properties"]["data"] = data;
        hooks.insert(
            def.name.clone(),
            json!({
                "post": {
                    "summary": def.name,
                    "description": def.description,
                    "requestBody": {"required": true, "content": {"application/json": {
                        "schema": envelope,
                        "example": {"id": "0192f1d2-7a90-7000-8000-000000000001", "type": def.name,
                                    "timestamp": "2026-11-24T09:00:00.000Z", "data": def.example}
                    }}},
                    "responses": {"2XX": {"description": "Received; any other answer is retried or dead-lettered"}}
                }
            }),
        );
    }
    Value::Object(hooks)
}
