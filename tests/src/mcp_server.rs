//! An MCP server over streamable HTTP for the tests, answering JSON-RPC as
//! the specification's server does: `initialize` (echoing the client's
//! protocol version), notifications (202), `tools/list` (`add_note` and
//! `delete_all`), `tools/call` and `ping`; a GET for a server stream gets
//! 405, as a server without one answers. It keeps each request's
//! `Authorization` header and each tool called.

use std::sync::{Arc, Mutex};

use hookline_runtime::serve;
use hookline_runtime::shutdown::CancellationToken;
use serde_json::{Value, json};

/// A running test MCP server.
pub struct McpServer {
    /// Its endpoint (`http://127.0.0.1:port/mcp`).
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    stop: CancellationToken,
}

/// What it was sent.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Each request's `Authorization` header (empty when none).
    pub authorization: Vec<String>,
    /// Each tool called, with its arguments.
    pub calls: Vec<(String, Value)>,
}

impl Drop for McpServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl McpServer {
    /// Starts one.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let stop = CancellationToken::new();
        let log = seen.clone();
        tokio::spawn(serve::serve(
            listener,
            move |req: hyper::Request<hyper::body::Incoming>, _| {
                let log = log.clone();
                async move {
                    let authorization = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    log.lock().expect("lock").authorization.push(authorization);
                    if req.method() != hyper::Method::POST {
                        return serve::json(405, &json!({"error": "no server stream here"}));
                    }
                    let body = http_body_util::BodyExt::collect(req.into_body())
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    answer(&message, &log)
                }
            },
            serve::Limits::default(),
            stop.clone(),
            std::time::Duration::from_secs(1),
        ));
        Self { url, seen, stop }
    }

    /// What it was sent so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().expect("lock").clone()
    }
}

fn answer(message: &Value, log: &Mutex<Seen>) -> hyper::Response<serve::Body> {
    let Some(id) = message.get("id").cloned() else {
        // A notification.
        return empty(202);
    };
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"].as_str().unwrap_or("2025-06-18"),
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": "notes", "version": "1.0.0"}
        }),
        "tools/list" => json!({"tools": [
            {"name": "add_note", "description": "Saves a note.",
             "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
            {"name": "delete_all", "description": "Deletes every note.",
             "inputSchema": {"type": "object", "properties": {}}}
        ]}),
        "tools/call" => {
            let name = message["params"]["name"].as_str().unwrap_or_default().to_owned();
            let arguments = message["params"]["arguments"].clone();
            let text = format!("saved note: {}", arguments["text"].as_str().unwrap_or_default());
            log.lock().expect("lock").calls.push((name, arguments));
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        "ping" => json!({}),
        other => {
            return serve::json(
                200,
                &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("no method {other}")}}),
            );
        }
    };
    serve::json(200, &json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn empty(status: u16) -> hyper::Response<serve::Body> {
    let mut response = hyper::Response::new(serve::streamed(futures::stream::empty()));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::ACCEPTED);
    response
}
