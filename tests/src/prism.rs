//! GitHub's published contract between Hookline and the test forge:
//! Prism (`@stoplight/prism-cli`) in proxy mode with GitHub's official
//! OpenAPI description (`@octokit/openapi`), cut down to the operations
//! Hookline calls (every schema they reference kept whole). Prism checks
//! each request Hookline sends and each answer the forge gives; with
//! `--errors` a violation becomes an error answer, and it is logged, so
//! [`Prism::violations`] reports it. GitHub's example webhook payloads
//! (`@octokit/webhooks-examples`) are the fixtures ([`webhook_example`]).
//! `scripts/install-forge-tools` installs all three from npm.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// The GitHub operations Hookline's forge client calls.
pub const GITHUB_PATHS: [&str; 7] = [
    "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    "/repos/{owner}/{repo}/issues/comments/{comment_id}",
    "/repos/{owner}/{repo}/pulls",
    "/repos/{owner}/{repo}/pulls/{pull_number}",
    "/repos/{owner}/{repo}/issues/{issue_number}/labels",
    "/repos/{owner}/{repo}/issues/{issue_number}",
    "/repos/{owner}/{repo}/pulls/{pull_number}/comments",
];

/// Where the npm packages are: `HOOKLINE_FORGE_TOOLS` (set by
/// `scripts/test`), else `.tools/forge` in the workspace.
pub fn tools_dir() -> PathBuf {
    let dir = std::env::var_os("HOOKLINE_FORGE_TOOLS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/forge"),
        PathBuf::from,
    );
    assert!(
        dir.join("node_modules/.bin/prism").exists(),
        "Prism is missing from {}: run scripts/install-forge-tools (scripts/test does)",
        dir.display()
    );
    dir
}

/// GitHub's OpenAPI description, whole.
fn github_description() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = tools_dir().join("node_modules/@octokit/openapi/generated/api.github.com.json");
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice(&text).expect("GitHub's OpenAPI description")
    })
}

/// The description's examples (`components.examples`), by name.
pub fn github_examples() -> Value {
    github_description()
        .pointer("/components/examples")
        .cloned()
        .unwrap_or(Value::Null)
}

fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(r)) => found.push(r.clone()),
                    _ => refs(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

/// The description cut down to [`GITHUB_PATHS`] and what they reference,
/// written once per test process.
fn trimmed_description() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let spec = github_description();
        let mut paths = Map::new();
        for path in GITHUB_PATHS {
            let item = spec.pointer(&format!("/paths/{}", path.replace('~', "~0").replace('/', "~1")));
            paths.insert(
                path.to_owned(),
                item.cloned().expect("a GitHub operation Hookline uses"),
            );
        }
        let paths = Value::Object(paths);
        let mut pending = Vec::new();
        refs(&paths, &mut pending);
        let mut components: Map<String, Value> = Map::new();
        let mut seen = std::collections::HashSet::new();
        while let Some(reference) = pending.pop() {
            if !seen.insert(reference.clone()) {
                continue;
            }
            let node = spec
                .pointer(reference.trim_start_matches('#'))
                .cloned()
                .unwrap_or_else(|| panic!("{reference} is not in the description"));
            refs(&node, &mut pending);
            let mut parts = reference.trim_start_matches("#/components/").splitn(2, '/');
            let (kind, name) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            let group = components
                .entry(kind.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(group) = group {
                group.insert(name.to_owned(), node);
            }
        }
        let trimmed = serde_json::json!({
            "openapi": spec["openapi"], "info": spec["info"], "servers": spec["servers"],
            "paths": paths, "components": components,
        });
        let dir = std::env::temp_dir().join(format!("hookline-prism-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("prism dir");
        let path = dir.join("github.json");
        std::fs::write(&path, trimmed.to_string()).expect("write description");
        path
    })
    .clone()
}

/// A Prism proxy in front of `upstream`.
pub struct Prism {
    /// Where Hookline should send its API calls.
    pub url: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Prism {
    /// Starts Prism on a free port, proxying to `upstream` (`http://…`).
    pub fn start(upstream: &str) -> Self {
        let port = {
            let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            socket.local_addr().expect("addr").port()
        };
        let mut child = Command::new(tools_dir().join("node_modules/.bin/prism"))
            .args(["proxy", "--errors", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(trimmed_description())
            .arg(upstream)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start prism (node)");
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("prism stdout");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Prism is listening") {
                    let _ = ready_tx.send(());
                }
                lines.lock().expect("log").push(line);
            }
        });
        let started = Instant::now();
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("Prism did not start within {:?}", started.elapsed()));
        Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            log,
        }
    }

    /// Every line of Prism's log where it found a request or an answer
    /// that breaks GitHub's description (or failed otherwise).
    pub fn violations(&self) -> Vec<String> {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|l| l.contains("✖") || l.contains("VIOLATION") || l.contains("Violation"))
            .cloned()
            .collect()
    }

    /// How many requests Prism passed on.
    pub fn forwarded(&self) -> usize {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|l| l.contains("Forwarding"))
            .count()
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first of GitHub's example payloads for `event` with `action` (any
/// action when empty), from `@octokit/webhooks-examples`.
pub fn webhook_example(event: &str, action: &str) -> Value {
    static INDEX: OnceLock<Value> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let path = tools_dir().join("node_modules/@octokit/webhooks-examples/api.github.com/index.json");
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .expect("webhook examples")
    });
    index
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["name"] == event)
        .flat_map(|e| e["examples"].as_array().cloned().unwrap_or_default())
        .find(|x| action.is_empty() || x["action"] == action)
        .unwrap_or_else(|| panic!("no example {event}.{action}"))
}
