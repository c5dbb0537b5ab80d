//! MCP servers handed to a real agent (Claude Code): a stdio server
//! written for the test, started by the agent inside the sandbox; and a
//! remote one reached through the run's gateway, which adds its credential
//! (absent from the sandbox) and holds its `tools` allow-list.

use hookline_bus::runs::RunStatus;
use hookline_model::transcript::{Entry, ToolStatus};
use hookline_tests::git::bare_origin;
use hookline_tests::mcp_server::McpServer;
use hookline_tests::scripted_model::{ScriptedModel, Step};
use hookline_tests::{Pipeline, script};
use serde_json::json;

use crate::agents::{catalog_text, parsed, run_by_webhook, transcript};

const MCP_SECRET: &str = "mcp-secret-5521";

/// A stdio MCP server: `shout` upper-cases its text.
const STDIO_SERVER: &str = r#"exec python3 -u -c '
import sys, json
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if "id" not in m:
        continue
    method = m.get("method")
    if method == "initialize":
        r = {"protocolVersion": m["params"].get("protocolVersion", "2025-06-18"),
             "capabilities": {"tools": {}}, "serverInfo": {"name": "local", "version": "1"}}
    elif method == "tools/list":
        r = {"tools": [{"name": "shout", "description": "Upper-cases text.",
             "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}]}
    elif method == "tools/call":
        r = {"content": [{"type": "text", "text": m["params"]["arguments"]["text"].upper()}]}
    else:
        r = {}
    print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}), flush=True)
'"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_agent_calls_a_stdio_and_a_remote_mcp_server_and_only_the_allowed_tools() {
    let dir = tempfile::tempdir().expect("dir");
    let origin = bare_origin(dir.path(), "api");
    let stdio = script(dir.path(), "local-mcp.sh", STDIO_SERVER);
    let notes = McpServer::start().await;
    // The agent asks its gateway for the forbidden tool itself too.
    let forbidden = r#"python3 -c 'import os, json, urllib.request
body = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "delete_all", "arguments": {}}}).encode()
req = urllib.request.Request(os.environ["HOOKLINE_MCP_NOTES_URL"], data=body, headers={"content-type": "application/json", "accept": "application/json, text/event-stream"})
print(urllib.request.urlopen(req).read().decode())'; a=mcp-secret-; b=5521; if env | grep -q "$a$b" || grep -rqs "$a$b" "$HOME" /tmp "$HOOKLINE_WORKSPACE/.."; then echo SECRET-IN-SANDBOX; else echo secret-absent; fi"#;
    let model = ScriptedModel::start(vec![
        Step::tool(&[("mcp__local__shout", json!({"text": "quiet please"}))]),
        Step::tool(&[("mcp__notes__add_note", json!({"text": "remember the milk"}))]),
        Step::tool(&[("Bash", json!({"command": forbidden, "description": "Try delete_all"}))]),
        Step::Say("Noted.".to_owned()),
    ])
    .await;
    let port = notes
        .url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/mcp")
        .to_owned();
    let extra = format!(
        r#"sandbox_paths = {{ read = ["{dir}"] }}
mcp = {{ local = {{ command = ["{stdio}"] }}, notes = {{ url = "{url}", secret = "{MCP_SECRET}", tools = ["add_note"] }} }}"#,
        dir = dir.path().display(),
        url = notes.url,
    );
    let text = catalog_text(
        r#"{ type = "claude-code", model = "claude-sonnet-4-5" }"#,
        &model.url,
        &origin,
        &extra,
    )
    .replace(
        "[profiles.agents]\n",
        &format!("[profiles.agents]\negress = [\"127.0.0.1:{port}\"]\n"),
    );
    let allow = [("HOOKLINE_EGRESS_ALLOW", "127.0.0.1")];
    let pipeline = Pipeline::start(&parsed(&text), &allow).await;
    let (record, lines) = run_by_webhook(&pipeline, "d-mcp").await;
    assert_eq!(record.status, RunStatus::Succeeded, "{lines:?}");
    let completed = |tool: &str| {
        transcript(&lines).into_iter().find_map(|e| match e {
            Entry::ToolCall {
                name,
                output,
                status: ToolStatus::Completed,
                ..
            } if name == tool => Some(output.to_string()),
            _ => None,
        })
    };
    let shouted = completed("mcp__local__shout").unwrap_or_default();
    assert!(shouted.contains("QUIET PLEASE"), "the stdio server answered: {lines:?}");
    let saved = completed("mcp__notes__add_note").unwrap_or_default();
    assert!(saved.contains("saved note: remember the milk"), "{lines:?}");
    let tried = completed("Bash").unwrap_or_default();
    assert!(
        tried.contains("is not allowed for this agent (mcp.notes.tools)"),
        "a call of a tool off the list is refused by the gateway: {tried}"
    );
    assert!(tried.contains("secret-absent"), "{tried}");
    let seen = notes.seen();
    assert_eq!(
        seen.calls,
        [("add_note".to_owned(), json!({"text": "remember the milk"}))],
        "only the allowed tool reached the server"
    );
    assert!(
        !seen.authorization.is_empty() && seen.authorization.iter().all(|a| a == &format!("Bearer {MCP_SECRET}")),
        "the gateway added the credential to every request: {:?}",
        seen.authorization
    );
    let offered: Vec<String> = model.seen().into_iter().flat_map(|s| s.offered).collect();
    assert!(offered.iter().any(|t| t == "mcp__notes__add_note"), "{offered:?}");
    assert!(
        !offered.iter().any(|t| t == "mcp__notes__delete_all"),
        "the model never saw the tool off the list: {offered:?}"
    );
}
