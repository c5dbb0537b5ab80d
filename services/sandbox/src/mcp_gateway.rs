//! The gateway of a remote MCP server (`mcp = { name = { url, secret,
//! tools } }`): a loopback URL inside the run's network namespace
//! (`HOOKLINE_MCP_<NAME>_URL`, and the URL handed to the agent's ACP
//! session), served by the executor, which forwards each request to the
//! server with its credential added (the agent never holds it), connecting
//! only where the address rule allows. With a `tools` allow-list, the
//! server's `tools/list` answer is cut to the allowed tools and a
//! `tools/call` for another is answered with a JSON-RPC error, never sent.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use hookline_model::secret::Secret;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Log;

/// Largest request or `tools/list` answer handled.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// One remote MCP server's gateway for one run.
#[derive(Clone)]
pub struct McpGateway {
    name: String,
    url: String,
    secret: Option<Arc<Secret>>,
    tools: Arc<Vec<String>>,
    client: hookline_http::guarded_http::HttpClient,
    emitter: Log,
}

impl McpGateway {
    /// A gateway to the server at `url` (checked by the caller), adding
    /// `Authorization: Bearer <secret>`, passing only `tools` (empty: all).
    pub fn new(
        name: &str,
        url: &str,
        secret: Option<Secret>,
        tools: Vec<String>,
        emitter: Log,
        guard: Arc<hookline_model::ssrf::Guard>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            secret: secret.map(Arc::new),
            tools: Arc::new(tools),
            client: hookline_http::guarded_http::http_client(std::time::Duration::from_secs(10), guard),
            emitter,
        }
    }

    /// Serves requests on `listener` until `stop`.
    pub async fn serve(self, listener: TcpListener, stop: CancellationToken) {
        crate::gateway::serve_loopback(listener, stop, move |req| self.clone().forward(req)).await;
    }

    fn allows(&self, tool: &str) -> bool {
        self.tools.is_empty() || self.tools.iter().any(|t| t == tool)
    }

    async fn forward(self, req: Request<Incoming>) -> Result<Response<BoxBody<Bytes, hyper::Error>>, Infallible> {
        let (parts, body) = req.into_parts();
        let Ok(body) = Limited::new(body, MAX_BODY).collect().await.map(|b| b.to_bytes()) else {
            return Ok(plain(400, "request body unreadable or too large"));
        };
        let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let method = message["method"].as_str().unwrap_or_default().to_owned();
        if method == "tools/call" {
            let tool = message["params"]["name"].as_str().unwrap_or_default();
            if !self.allows(tool) {
                self.emitter.log(
                    "hookline",
                    format!(
                        "mcp {}: call of tool `{tool}` refused: not in its tools list",
                        self.name
                    ),
                );
                let refusal = json!({"jsonrpc": "2.0", "id": message["id"], "error": {
                    "code": -32602,
                    "message": format!("tool `{tool}` is not allowed for this agent (mcp.{}.tools)", self.name)}});
                return Ok(json_answer(&refusal));
            }
        }
        let authorization = hyper::header::AUTHORIZATION;
        let builder = Request::builder().method(parts.method).uri(&self.url);
        let mut upstream = crate::gateway::forward_headers(builder, &parts.headers, &authorization);
        if let Some(secret) = &self.secret {
            upstream = upstream.header(hyper::header::AUTHORIZATION, format!("Bearer {}", secret.expose()));
        }
        let Ok(request) = upstream.body(Full::new(body)) else {
            return Ok(plain(400, "request not forwardable"));
        };
        let response = match self.client.request(request).await {
            Ok(response) => response,
            Err(e) => {
                let refused = hookline_http::guarded_http::is_refused(&e);
                self.emitter
                    .log("hookline", format!("mcp {}: server unreachable: {e:#}", self.name));
                return Ok(plain(
                    if refused { 403 } else { 502 },
                    "the MCP server could not be reached",
                ));
            }
        };
        let (mut parts, body) = response.into_parts();
        if method != "tools/list" || self.tools.is_empty() {
            return Ok(Response::from_parts(parts, body.boxed()));
        }
        // The list is cut to the allowed tools, in whichever framing the
        // server chose (JSON, or server-sent events).
        let Ok(whole) = Limited::new(body, MAX_BODY).collect().await.map(|b| b.to_bytes()) else {
            return Ok(plain(502, "the MCP server's tool list is unreadable or too large"));
        };
        let cut = self.cut(&whole);
        parts.headers.remove(hyper::header::CONTENT_LENGTH);
        Ok(Response::from_parts(parts, full(cut)))
    }

    /// `body` (a JSON-RPC answer, or SSE `data:` lines holding one) with
    /// only the allowed tools listed.
    fn cut(&self, body: &[u8]) -> Bytes {
        let filter = |text: &str| -> Option<String> {
            let mut answer: Value = serde_json::from_str(text).ok()?;
            let tools = answer.pointer_mut("/result/tools")?.as_array_mut()?;
            tools.retain(|t| t["name"].as_str().is_some_and(|n| self.allows(n)));
            Some(answer.to_string())
        };
        let text = String::from_utf8_lossy(body);
        if let Some(cut) = filter(&text) {
            return Bytes::from(cut);
        }
        let lines: Vec<String> = text
            .split('\n')
            .map(|line| match line.strip_prefix("data:") {
                Some(data) => filter(data.trim()).map_or_else(|| line.to_owned(), |cut| format!("data: {cut}")),
                None => line.to_owned(),
            })
            .collect();
        Bytes::from(lines.join("\n"))
    }
}

fn full(bytes: Bytes) -> BoxBody<Bytes, hyper::Error> {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn json_answer(value: &Value) -> Response<BoxBody<Bytes, hyper::Error>> {
    let mut response = Response::new(full(Bytes::from(value.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn plain(status: u16, message: &str) -> Response<BoxBody<Bytes, hyper::Error>> {
    let mut response = Response::new(full(Bytes::from(message.to_owned())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quiet;
    impl crate::RunLog for Quiet {
        fn log(&self, _: &str, _: String) {}
    }

    #[test]
    fn a_tool_list_is_cut_to_the_allowed_tools_in_json_and_in_events() {
        let gateway = McpGateway::new(
            "notes",
            "http://127.0.0.1:9/mcp",
            None,
            vec!["add_note".into()],
            Arc::new(Quiet),
            Arc::new(hookline_model::ssrf::Guard::allow_all()),
        );
        let list = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"add_note"},{"name":"delete_all"}]}}"#;
        let cut: Value = serde_json::from_slice(&gateway.cut(list.as_bytes())).expect("json");
        assert_eq!(cut["result"]["tools"], json!([{"name": "add_note"}]));
        let events = format!("event: message\ndata: {list}\n\n");
        let cut = String::from_utf8(gateway.cut(events.as_bytes()).to_vec()).expect("utf8");
        assert!(cut.contains("add_note") && !cut.contains("delete_all"), "{cut}");
        assert!(cut.starts_with("event: message\ndata: {"), "{cut}");
    }
}
