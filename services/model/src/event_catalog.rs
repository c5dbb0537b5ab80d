//! The event catalog: every event type Hookline emits itself, the seeds'
//! catalog agents may emit, and the types an operator declares on an agent
//! (`emits`), each with a JSON Schema (draft 2020-12) for its `data`, a
//! description and an example. The built-in types are files in
//! `services/model/events/`, compiled in; `GET /v1/event-types`, `hookline
//! event-types`, docs/events.md and the OpenAPI document's `webhooks` all
//! come from here. An event of a catalogued type is checked at its source
//! ([`EventCatalog::check`]); uncatalogued dotted types stay allowed.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog::Catalog;

/// Who emits an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Hookline itself: agents may not emit it.
    Hookline,
    /// The seeds' catalog: any agent may emit it.
    Agent,
    /// Declared by the operator on an agent (`emits`).
    Operator,
}

/// One catalogued event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTypeDef {
    /// Its dotted name.
    #[serde(rename = "type")]
    pub name: String,
    /// Who emits it.
    pub source: Origin,
    /// What it means.
    pub description: String,
    /// The JSON Schema of its `data`.
    pub schema: Value,
    /// An example `data`.
    pub example: Value,
}

/// An operator's declaration of an event type an agent emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmittedType {
    /// What it means.
    #[serde(default)]
    pub description: String,
    /// The JSON Schema of its `data` (draft 2020-12).
    pub schema: Value,
    /// An example `data`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub example: Value,
}

/// The built-in type files, compiled in.
const FILES: [&str; 21] = [
    include_str!("../events/code.generated.json"),
    include_str!("../events/code.merged.json"),
    include_str!("../events/code.reviewed.json"),
    include_str!("../events/deployment.completed.json"),
    include_str!("../events/deployment.failed.json"),
    include_str!("../events/deployment.rollback.json"),
    include_str!("../events/deployment.started.json"),
    include_str!("../events/pull_request.opened.json"),
    include_str!("../events/pull_request.merged.json"),
    include_str!("../events/pull_request.closed.json"),
    include_str!("../events/run.awaiting_approval.json"),
    include_str!("../events/run.completed.json"),
    include_str!("../events/run.failed.json"),
    include_str!("../events/run.started.json"),
    include_str!("../events/security.compliance_check.json"),
    include_str!("../events/security.vulnerability_detected.json"),
    include_str!("../events/security.vulnerability_fixed.json"),
    include_str!("../events/subscription.disabled.json"),
    include_str!("../events/system.anomaly_detected.json"),
    include_str!("../events/system.performance_alert.json"),
    include_str!("../events/system.self_healing_triggered.json"),
];

struct Entry {
    def: EventTypeDef,
    validator: jsonschema::Validator,
}

/// Event types with their compiled schemas.
#[derive(Clone, Default)]
pub struct EventCatalog {
    types: Arc<BTreeMap<String, Entry>>,
}

fn compile(def: EventTypeDef) -> Result<Entry, String> {
    let validator =
        jsonschema::draft202012::new(&def.schema).map_err(|e| format!("event type {}: schema: {e}", def.name))?;
    Ok(Entry { def, validator })
}

impl EventCatalog {
    /// The built-in types.
    pub fn builtin() -> &'static EventCatalog {
        static BUILTIN: OnceLock<EventCatalog> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let mut types = BTreeMap::new();
            for text in FILES {
                // The files are checked by this module's tests.
                if let Ok(def) = serde_json::from_str::<EventTypeDef>(text)
                    && let Ok(entry) = compile(def)
                {
                    types.insert(entry.def.name.clone(), entry);
                }
            }
            EventCatalog { types: Arc::new(types) }
        })
    }

    /// The built-in types and those `catalog`'s agents declare; every
    /// problem (a bad schema, a built-in type redeclared, one type declared
    /// twice differently) is answered.
    pub fn with_declared(catalog: &Catalog) -> Result<EventCatalog, Vec<String>> {
        let builtin = Self::builtin();
        let mut types: BTreeMap<String, Entry> = BTreeMap::new();
        let mut problems = Vec::new();
        for (agent, spec) in &catalog.agents {
            for (name, declared) in &spec.emits {
                if let Err(e) = crate::ids::EventType::parse(name) {
                    problems.push(format!("agent `{agent}`: emits `{name}`: {e}"));
                    continue;
                }
                if builtin.get(name).is_some() {
                    problems.push(format!(
                        "agent `{agent}`: emits `{name}`, a catalogued type; its schema is Hookline's"
                    ));
                    continue;
                }
                if let Some(existing) = types.get(name) {
                    if existing.def.schema != declared.schema {
                        problems.push(format!(
                            "agent `{agent}`: emits `{name}` with another schema than another agent"
                        ));
                    }
                    continue;
                }
                let def = EventTypeDef {
                    name: name.clone(),
                    source: Origin::Operator,
                    description: declared.description.clone(),
                    schema: declared.schema.clone(),
                    example: declared.example.clone(),
                };
                match compile(def) {
                    Ok(entry) => {
                        types.insert(name.clone(), entry);
                    }
                    Err(e) => problems.push(format!("agent `{agent}`: {e}")),
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        if types.is_empty() {
            return Ok(builtin.clone());
        }
        for (name, entry) in builtin.types.iter() {
            if let Ok(copy) = compile(entry.def.clone()) {
                types.insert(name.clone(), copy);
            }
        }
        Ok(EventCatalog { types: Arc::new(types) })
    }

    /// One type.
    pub fn get(&self, name: &str) -> Option<&EventTypeDef> {
        self.types.get(name).map(|e| &e.def)
    }

    /// Every type, by name.
    pub fn all(&self) -> impl Iterator<Item = &EventTypeDef> {
        self.types.values().map(|e| &e.def)
    }

    /// Whether an agent may emit `name` with `data`: uncatalogued types
    /// pass, Hookline's own are refused, catalogued ones must match their
    /// schema. The error names each violation with its place in `data`.
    pub fn check(&self, name: &str, data: &Value) -> Result<(), String> {
        let Some(entry) = self.types.get(name) else {
            return Ok(());
        };
        if entry.def.source == Origin::Hookline {
            return Err(format!("{name} is emitted by Hookline only"));
        }
        let errors: Vec<String> = entry
            .validator
            .iter_errors(data)
            .take(5)
            .map(|e| {
                let at = e.instance_path.to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{name} does not match its schema: {}", errors.join("; ")))
        }
    }

    /// Whether `data` matches the schema of `name` (true for uncatalogued
    /// types), whoever emits it.
    pub fn matches(&self, name: &str, data: &Value) -> bool {
        self.types.get(name).is_none_or(|e| e.validator.is_valid(data))
    }
}

/// The envelope every delivery's body is: what each type's `data` goes in.
pub fn envelope_schema() -> Value {
    json!({
        "type": "object",
        "description": "The body of every outbound delivery",
        "properties": {
            "id": {"type": "string", "description": "The event id (UUIDv7); also the webhook-id header, the same on every retry"},
            "type": {"type": "string", "description": "The event type"},
            "timestamp": {"type": "string", "format": "date-time", "description": "When the event happened (RFC 3339, UTC)"},
            "run_id": {"type": "string", "description": "The run that produced it, when a run did"},
            "agent": {"type": "string", "description": "That run's agent"},
            "event_id": {"type": "string", "description": "The webhook that started that run (the inbound event id), when one did"},
            "data": {"type": "object"}
        },
        "required": ["id", "type", "timestamp", "data"]
    })
}

#[cfg(test)]
#[path = "event_catalog_tests.rs"]
mod tests;
