//! A stateful GitHub, for tests that close a run's loop on the forge: it
//! keeps issues' comments, pull requests (from branches that really exist
//! in the test's git repository), labels, closed issues and review
//! comments, and answers in GitHub's shapes, built from the examples in
//! GitHub's own OpenAPI description. It sits behind Prism ([`crate::prism`]),
//! which checks every request and answer against that description.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline_runtime::serve;
use hookline_runtime::shutdown::CancellationToken;
use http_body_util::BodyExt;
use serde_json::{Value, json};

/// A comment on an issue or pull request.
#[derive(Debug, Clone)]
pub struct StoredComment {
    /// Its id.
    pub id: u64,
    /// `owner/name`.
    pub repo: String,
    /// The issue or pull request.
    pub thread: u64,
    /// Its text now.
    pub body: String,
    /// Every text it had, first to last.
    pub history: Vec<String>,
}

/// A pull request.
#[derive(Debug, Clone)]
pub struct StoredPull {
    /// Its number.
    pub number: u64,
    /// `owner/name`.
    pub repo: String,
    /// Head branch.
    pub head: String,
    /// Base branch.
    pub base: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Draft or not.
    pub draft: bool,
}

/// One request the forge got.
#[derive(Debug, Clone)]
pub struct ForgeRequest {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Its `authorization` header.
    pub authorization: String,
}

/// Everything the forge holds.
#[derive(Debug, Default)]
pub struct ForgeState {
    /// Comments, in creation order.
    pub comments: Vec<StoredComment>,
    /// Pull requests, in creation order.
    pub pulls: Vec<StoredPull>,

    /// Labels by (repository, thread).
    pub labels: BTreeMap<(String, u64), Vec<String>>,
    /// Closed issues.
    pub closed: BTreeSet<(String, u64)>,
    /// Review comments: (repository, pull request, path, line, body).
    pub reviews: Vec<(String, u64, String, u64, String)>,
    /// Every request, in order.
    pub requests: Vec<ForgeRequest>,
    pub(crate) next_id: u64,
}

impl ForgeState {
    /// Adds Hookline's comment to a thread.
    pub(crate) fn add_comment(&mut self, repo: &str, thread: u64, body: &str) -> StoredComment {
        self.next_id += 1;
        let comment = StoredComment {
            id: 1_000_000 + self.next_id,
            repo: repo.to_owned(),
            thread,
            body: body.to_owned(),
            history: vec![body.to_owned()],
        };
        self.comments.push(comment.clone());
        comment
    }

    /// Replaces a comment's text, keeping its history.
    pub(crate) fn edit_comment(&mut self, repo: &str, id: Option<u64>, body: &str) -> Option<StoredComment> {
        let c = self.comments.iter_mut().find(|c| c.repo == repo && Some(c.id) == id)?;
        c.body = body.to_owned();
        c.history.push(body.to_owned());
        Some(c.clone())
    }

    /// Edits a pull request's title and body (those given).
    pub(crate) fn edit_pull(&mut self, repo: &str, number: Option<u64>, input: &Value) -> Option<StoredPull> {
        let p = self
            .pulls
            .iter_mut()
            .find(|p| p.repo == repo && Some(p.number) == number)?;
        if let Some(title) = input.get("title").and_then(Value::as_str) {
            p.title = title.to_owned();
        }
        if let Some(body) = input.get("body").and_then(Value::as_str) {
            p.body = body.to_owned();
        }
        Some(p.clone())
    }

    /// Adds the labels `input` names to a thread; its labels now.
    pub(crate) fn add_labels(&mut self, repo: &str, thread: u64, input: &Value) -> Vec<String> {
        let asked: Vec<String> = input
            .get("labels")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let labels = self.labels.entry((repo.to_owned(), thread)).or_default();
        for label in asked {
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        labels.clone()
    }
}

/// The stateful forge: GitHub's API ([`FakeForge::start`]) or Gitea's
/// ([`FakeForge::start_gitea`], in [`crate::gitea_api`]) on one state.
pub struct FakeForge {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<ForgeState>>,
    _stop: tokio_util::sync::DropGuard,
}

/// The GitHub one.
pub type FakeGitHub = FakeForge;

/// A forge's routes on its state.
type Handler = fn(&mut ForgeState, &Setup, &str, &str, &Value) -> (u16, Value);

pub(crate) struct Setup {
    token: String,
    pub(crate) login: String,
    pub(crate) repos: HashMap<String, PathBuf>,
    pub(crate) examples: Value,
    /// How the token is sent (`Bearer`, Gitea's `token`).
    scheme: &'static str,
    /// Each user's permission on every repository (Gitea's collaborator
    /// permission API); unknown users are not found.
    pub(crate) permissions: HashMap<String, String>,
    handle: Handler,
}

impl FakeForge {
    /// Starts a GitHub accepting `token`, answering as account `login`,
    /// with `repos` (`owner/name` → its git repository on disk);
    /// `examples` is the OpenAPI description's `components.examples`.
    pub async fn start(token: &str, login: &str, repos: HashMap<String, PathBuf>, examples: Value) -> Self {
        let setup = Setup {
            token: token.to_owned(),
            login: login.to_owned(),
            repos,
            examples,
            scheme: "Bearer",
            permissions: HashMap::new(),
            handle: crate::github_api::handle,
        };
        Self::serve(setup).await
    }

    /// Starts a Gitea (the same for Forgejo) accepting `token`, answering as
    /// account `login`, with `repos`, and each user's `permissions`.
    pub async fn start_gitea(
        token: &str,
        login: &str,
        repos: HashMap<String, PathBuf>,
        permissions: HashMap<String, String>,
    ) -> Self {
        let setup = Setup {
            token: token.to_owned(),
            login: login.to_owned(),
            repos,
            examples: Value::Null,
            scheme: "token",
            permissions,
            handle: crate::gitea_api::handle,
        };
        Self::serve(setup).await
    }

    async fn serve(setup: Setup) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state: Arc<Mutex<ForgeState>> = Arc::default();
        let setup = Arc::new(setup);
        let stop = CancellationToken::new();
        let shared = state.clone();
        tokio::spawn(serve::serve(
            listener,
            move |req: hyper::Request<hyper::body::Incoming>, _peer| {
                let (state, setup) = (shared.clone(), setup.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let path = parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
                    let authorization = parts
                        .headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let mut state = state.lock().expect("forge state");
                    state.requests.push(ForgeRequest {
                        method: parts.method.to_string(),
                        path: path.clone(),
                        authorization: authorization.clone(),
                    });
                    if authorization != format!("{} {}", setup.scheme, setup.token) {
                        return serve::json(
                            401,
                            &json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
                        );
                    }
                    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let (status, answer) = (setup.handle)(&mut state, &setup, parts.method.as_str(), &path, &input);
                    serve::json(status, &answer)
                }
            },
            serve::Limits::default(),
            stop.clone(),
            Duration::from_secs(1),
        ));
        Self {
            addr,
            state,
            _stop: stop.drop_guard(),
        }
    }

    /// Reads the forge's state.
    pub fn with<T>(&self, read: impl FnOnce(&ForgeState) -> T) -> T {
        read(&self.state.lock().expect("forge state"))
    }

    /// The comments on one thread.
    pub fn comments(&self, repo: &str, thread: u64) -> Vec<StoredComment> {
        self.with(|s| {
            s.comments
                .iter()
                .filter(|c| c.repo == repo && c.thread == thread)
                .cloned()
                .collect()
        })
    }

    /// Adds a comment as someone else would.
    pub fn add_comment(&self, repo: &str, thread: u64, body: &str) -> u64 {
        let mut state = self.state.lock().expect("forge state");
        state.next_id += 1;
        let id = 9_000_000 + state.next_id;
        state.comments.push(StoredComment {
            id,
            repo: repo.to_owned(),
            thread,
            body: body.to_owned(),
            history: vec![body.to_owned()],
        });
        id
    }
}
