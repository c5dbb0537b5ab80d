//! The Anthropic Messages API's wire format: `tools[].name` offered,
//! `tool_result` blocks in the conversation, and the answer as JSON or as
//! the event stream (`message_start` with input usage, one content block
//! in pieces, `message_delta` with output usage and stop reason,
//! `message_stop`).

use bytes::Bytes;
use hookline_runtime::serve;
use serde_json::{Value, json};

use super::{Reply, USAGE, event_stream, halves, names};

/// The tools the request offers.
pub(crate) fn offered(body: &Value) -> Vec<String> {
    names(&body["tools"])
}

/// Tool results in the conversation so far: how far the script went.
pub(crate) fn results(body: &Value) -> usize {
    body["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["content"].as_array())
                .flatten()
                .filter(|block| block["type"] == "tool_result")
                .count()
        })
        .unwrap_or(0)
}

/// The steps of the script the conversation already played: each tool
/// call and each text the model answered (Claude Code merges a resumed
/// conversation's turns into fewer messages, so blocks are counted).
pub(crate) fn played(body: &Value) -> usize {
    blocks(body, "assistant")
        .filter(|b| b["type"] == "tool_use" || b["type"] == "text")
        .count()
}

/// The user's prompts in the conversation (its text, not the agent's own
/// `<system-reminder>`s): more than one once a resumed session got its next.
pub(crate) fn prompts(body: &Value) -> usize {
    blocks(body, "user")
        .filter(|b| b["type"] == "text")
        .filter(|b| {
            !b["text"]
                .as_str()
                .unwrap_or_default()
                .trim_start()
                .starts_with("<system-reminder>")
        })
        .count()
}

/// Every content block of `role`'s messages (a plain string is one text).
fn blocks<'a>(body: &'a Value, role: &'a str) -> impl Iterator<Item = Value> + 'a {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |m| m["role"] == role)
        .flat_map(|m| match &m["content"] {
            Value::String(text) => vec![json!({"type": "text", "text": text})],
            Value::Array(blocks) => blocks.clone(),
            _ => Vec::new(),
        })
}

fn usage() -> Value {
    json!({"input_tokens": USAGE.0, "output_tokens": USAGE.1,
           "cache_read_input_tokens": USAGE.2, "cache_creation_input_tokens": USAGE.3})
}

/// The answer.
pub(crate) fn respond(model: &str, reply: &Reply, streamed: bool) -> hyper::Response<serve::Body> {
    let (block, stop_reason) = match reply {
        Reply::Text(text) => (json!({"type": "text", "text": text}), "end_turn"),
        Reply::Call { id, name, input } => (
            json!({"type": "tool_use", "id": id, "name": name, "input": input}),
            "tool_use",
        ),
    };
    if !streamed {
        return serve::json(
            200,
            &json!({"id": "msg_test", "type": "message", "role": "assistant", "model": model,
                    "content": [block], "stop_reason": stop_reason, "stop_sequence": null, "usage": usage()}),
        );
    }
    let event = |name: &str, data: Value| Bytes::from(format!("event: {name}\ndata: {data}\n\n"));
    let mut start_usage = usage();
    start_usage["output_tokens"] = json!(1);
    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_test", "type": "message", "role": "assistant",
                   "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    if block["type"] == "tool_use" {
        let mut empty = block.clone();
        empty["input"] = json!({});
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": empty}),
        ));
        let input = block["input"].to_string();
        for part in halves(&input) {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": part}}),
            ));
        }
    } else {
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ));
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": block["text"]}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
               "usage": {"output_tokens": USAGE.1}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    event_stream(events)
}
