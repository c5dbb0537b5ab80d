//! Gemini's `generateContent` wire format, as Gemini CLI uses it:
//! `tools[].functionDeclarations[].name` offered, `functionResponse` parts
//! in the contents, and the answer as JSON or (`streamGenerateContent`,
//! `alt=sse`) as server-sent `data:` chunks, usage in the last, cached
//! input counted inside the prompt.

use bytes::Bytes;
use hookline_runtime::serve;
use serde_json::{Value, json};

use super::{Reply, USAGE, event_stream, halves};

/// The model in a `…/models/<model>:method` path.
pub(crate) fn model_of(path: &str) -> Option<String> {
    let (_, after) = path.split_once("/models/")?;
    after.split(':').next().map(str::to_owned)
}

/// The functions the request offers.
pub(crate) fn offered(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["functionDeclarations"].as_array())
                .flatten()
                .filter_map(|f| f["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Function responses in the contents so far.
pub(crate) fn results(body: &Value) -> usize {
    body["contents"]
        .as_array()
        .map(|contents| {
            contents
                .iter()
                .filter_map(|c| c["parts"].as_array())
                .flatten()
                .filter(|part| part.get("functionResponse").is_some())
                .count()
        })
        .unwrap_or(0)
}

fn usage() -> Value {
    json!({"promptTokenCount": USAGE.0 + USAGE.2, "cachedContentTokenCount": USAGE.2,
           "candidatesTokenCount": USAGE.1, "totalTokenCount": USAGE.0 + USAGE.2 + USAGE.1})
}

/// The answer.
pub(crate) fn respond(reply: &Reply, streamed: bool) -> hyper::Response<serve::Body> {
    let chunk = |parts: Value, finish: Option<&str>, usage: Option<Value>| {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
        }
        let mut chunk = json!({"candidates": [candidate], "modelVersion": "gemini-test"});
        if let Some(usage) = usage {
            chunk["usageMetadata"] = usage;
        }
        chunk
    };
    let chunks = match reply {
        Reply::Call { name, input, .. } => vec![chunk(
            json!([{"functionCall": {"name": name, "args": input}}]),
            Some("STOP"),
            Some(usage()),
        )],
        Reply::Text(text) => {
            let [first, second] = halves(text);
            vec![
                chunk(json!([{"text": first}]), None, None),
                chunk(json!([{"text": second}]), Some("STOP"), Some(usage())),
            ]
        }
    };
    if !streamed {
        let whole = match reply {
            Reply::Text(text) => chunk(json!([{"text": text}]), Some("STOP"), Some(usage())),
            Reply::Call { .. } => chunks[0].clone(),
        };
        return serve::json(200, &whole);
    }
    event_stream(
        chunks
            .into_iter()
            .map(|c| Bytes::from(format!("data: {c}\r\n\r\n")))
            .collect(),
    )
}
