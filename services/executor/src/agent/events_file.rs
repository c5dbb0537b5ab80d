//! Reading the events an agent appended to `HOOKLINE_EVENTS_FILE`: one JSON
//! object per line, `{"type": "deployment.failed", "data": {…}}`. A bad line
//! is reported, never fatal.

use hookline_model::ids::EventType;
use serde_json::{Map, Value};

/// Largest accepted line (one event).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Most events one run may emit.
pub const MAX_EVENTS: usize = 100;

/// One valid event from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEvent {
    /// Its type.
    pub event_type: EventType,
    /// Its data object.
    pub data: Map<String, Value>,
}

/// Valid events, and a message for each line that was not.
pub fn parse(text: &str) -> (Vec<AgentEvent>, Vec<String>) {
    let mut events = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let n = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_EVENT_BYTES {
            problems.push(format!("events line {n}: longer than {MAX_EVENT_BYTES} bytes"));
            continue;
        }
        if events.len() >= MAX_EVENTS {
            problems.push(format!(
                "events line {n}: more than {MAX_EVENTS} events; the rest are ignored"
            ));
            break;
        }
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("events line {n}: not JSON: {e}"));
                continue;
            }
        };
        let Some(event_type) = value.get("type").and_then(Value::as_str) else {
            problems.push(format!("events line {n}: no \"type\" string"));
            continue;
        };
        let event_type = match EventType::parse(event_type) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("events line {n}: {e}"));
                continue;
            }
        };
        let data = match value.get("data") {
            None => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                problems.push(format!("events line {n}: \"data\" must be an object"));
                continue;
            }
        };
        events.push(AgentEvent { event_type, data });
    }
    (events, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_lines_pass_and_bad_lines_are_reported() {
        let text = [
            r#"{"type":"deployment.failed","data":{"service":"api"}}"#,
            "",
            "not json",
            r#"{"type":"Nope","data":{}}"#,
            r#"{"data":{}}"#,
            r#"{"type":"code.reviewed","data":[1]}"#,
            r#"{"type":"system.anomaly_detected"}"#,
        ]
        .join("\n");
        let (events, problems) = parse(&text);
        let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, ["deployment.failed", "system.anomaly_detected"]);
        assert_eq!(events[0].data["service"], "api");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].starts_with("events line 3"),
            "line numbers count blank lines"
        );
    }

    #[test]
    fn oversized_lines_and_floods_are_capped() {
        let huge = format!(r#"{{"type":"a.b","data":{{"x":"{}"}}}}"#, "y".repeat(MAX_EVENT_BYTES));
        let (events, problems) = parse(&huge);
        assert!(events.is_empty() && problems.len() == 1);
        let flood = vec![r#"{"type":"a.b"}"#; MAX_EVENTS + 5].join("\n");
        let (events, problems) = parse(&flood);
        assert_eq!(events.len(), MAX_EVENTS);
        assert_eq!(problems.len(), 1);
    }
}
