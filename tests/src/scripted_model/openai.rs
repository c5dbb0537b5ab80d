//! OpenAI's Responses API wire format, as Codex uses it: `tools[].name`
//! offered (function and custom tools), `*_call_output` items in the
//! input, and the answer as JSON or as the event stream
//! (`response.created`, the output item added, its arguments or text in
//! pieces, the item done, `response.completed` with usage, cached input
//! counted inside the input).

use bytes::Bytes;
use hookline_runtime::serve;
use serde_json::{Value, json};

use super::{Reply, USAGE, event_stream, halves, names};

/// The tools the request offers.
pub(crate) fn offered(body: &Value) -> Vec<String> {
    names(&body["tools"])
}

/// Tool results in the input so far.
pub(crate) fn results(body: &Value) -> usize {
    body["input"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|item| item["type"].as_str().is_some_and(|t| t.ends_with("_call_output")))
                .count()
        })
        .unwrap_or(0)
}

fn usage() -> Value {
    json!({"input_tokens": USAGE.0 + USAGE.2, "input_tokens_details": {"cached_tokens": USAGE.2},
           "output_tokens": USAGE.1, "output_tokens_details": {"reasoning_tokens": 0},
           "total_tokens": USAGE.0 + USAGE.2 + USAGE.1})
}

/// The answer.
pub(crate) fn respond(model: &str, reply: &Reply, streamed: bool) -> hyper::Response<serve::Body> {
    let (item, pieces) = match reply {
        Reply::Text(text) => (
            json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                   "content": [{"type": "output_text", "text": text, "annotations": []}]}),
            text.clone(),
        ),
        Reply::Call { id, name, input } => {
            let arguments = input.to_string();
            (
                json!({"type": "function_call", "id": "fc_1", "call_id": id, "name": name,
                       "arguments": arguments, "status": "completed"}),
                arguments,
            )
        }
    };
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": "resp_1", "object": "response", "created_at": 1_765_000_000, "model": model,
               "status": status, "output": output, "usage": usage})
    };
    if !streamed {
        return serve::json(200, &response("completed", json!([item]), usage()));
    }
    let event = |data: Value| {
        let name = data["type"].as_str().unwrap_or_default().to_owned();
        Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
    };
    let mut started = item.clone();
    let mut events = vec![event(json!({"type": "response.created", "sequence_number": 0,
                                       "response": response("in_progress", json!([]), Value::Null)}))];
    if item["type"] == "function_call" {
        started["arguments"] = json!("");
        started["status"] = json!("in_progress");
        events.push(event(
            json!({"type": "response.output_item.added", "output_index": 0, "item": started}),
        ));
        for piece in halves(&pieces) {
            events.push(event(
                json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1",
                                     "output_index": 0, "delta": piece}),
            ));
        }
        events.push(event(
            json!({"type": "response.function_call_arguments.done", "item_id": "fc_1",
                                 "output_index": 0, "arguments": pieces}),
        ));
    } else {
        started["content"] = json!([]);
        started["status"] = json!("in_progress");
        events.push(event(
            json!({"type": "response.output_item.added", "output_index": 0, "item": started}),
        ));
        events.push(event(
            json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0,
                                 "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        ));
        for piece in halves(&pieces) {
            events.push(event(json!({"type": "response.output_text.delta", "item_id": "msg_1",
                                     "output_index": 0, "content_index": 0, "delta": piece})));
        }
        events.push(event(json!({"type": "response.output_text.done", "item_id": "msg_1",
                                 "output_index": 0, "content_index": 0, "text": pieces})));
    }
    events.push(event(
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
    ));
    events.push(event(json!({"type": "response.completed",
                             "response": response("completed", json!([item]), usage())})));
    event_stream(events)
}
