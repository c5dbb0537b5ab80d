//! The end-to-end harness: a real nats-server, the four services in-process
//! through their `App::build`, real local HTTP receivers whose answers the
//! test controls, and a plain HTTP client for sending webhooks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookline_core::catalog::{Catalog, Provider};
use hookline_core::nats::{self, Nats};
use hookline_core::serve;
use hookline_core::shutdown::CancellationToken;
use hookline_core::store;
use hookline_core::subjects::StreamKind;
use hookline_core::testing::NatsServer;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinHandle;

/// The admin API's bearer token in tests.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Every await on the network in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(30);

/// One of the five services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// Public webhook edge.
    Ingest,
    /// The control plane (admin API).
    Admin,
    /// Events to run requests.
    Router,
    /// Agent runs.
    Executor,
    /// Outbound webhooks.
    Notifier,
}

impl Service {
    /// Every service, in start order (ingest first: the admin service sends
    /// test events to its port).
    pub const ALL: [Service; 5] = [
        Service::Ingest,
        Service::Admin,
        Service::Router,
        Service::Executor,
        Service::Notifier,
    ];
}

/// The whole pipeline on a private nats-server.
pub struct Pipeline {
    /// The server; tests may stop and restart it.
    pub server: NatsServer,
    /// A client for assertions.
    pub nats: Nats,
    /// Where ingest listens.
    pub ingest: SocketAddr,
    /// Where the admin service listens.
    pub admin: SocketAddr,
    settings: HashMap<String, String>,
    running: Vec<(Service, CancellationToken, JoinHandle<()>)>,
    _workdir: tempfile::TempDir,
}

impl Pipeline {
    /// Starts NATS, applies `catalog` and starts all five services.
    /// `settings` are extra `HOOKLINE_*` values (such as a retry schedule).
    pub async fn start(catalog: &Catalog, settings: &[(&str, &str)]) -> Self {
        Self::start_services(catalog, settings, &Service::ALL).await
    }

    /// Starts NATS, applies `catalog` and starts only `services`.
    pub async fn start_services(catalog: &Catalog, settings: &[(&str, &str)], services: &[Service]) -> Self {
        let server = NatsServer::start();
        let workdir = tempfile::tempdir().expect("workdir");
        let mut map: HashMap<String, String> = [
            ("HOOKLINE_NATS_URL", server.url()),
            ("HOOKLINE_INGEST_LISTEN", "127.0.0.1:0".to_owned()),
            ("HOOKLINE_EXECUTOR_WORKDIR", workdir.path().display().to_string()),
            ("HOOKLINE_GRACE", "10s".to_owned()),
            ("HOOKLINE_RETRY_JITTER", "0".to_owned()),
            ("HOOKLINE_ADMIN_LISTEN", "127.0.0.1:0".to_owned()),
            ("HOOKLINE_ADMIN_TOKENS", ADMIN_TOKEN.to_owned()),
            // Test subscribers listen on loopback.
            ("HOOKLINE_DELIVERY_ALLOW", "127.0.0.1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in settings {
            map.insert((*k).to_owned(), (*v).to_owned());
        }
        let nats = nats::connect(&server.settings(), "hookline-tests")
            .await
            .expect("connect");
        store::apply(&nats, catalog, false).await.expect("apply catalog");
        let mut pipeline = Self {
            server,
            nats,
            ingest: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            settings: map,
            running: Vec::new(),
            _workdir: workdir,
        };
        for service in services {
            pipeline.start_service(*service).await;
        }
        pipeline
    }

    /// Calls the admin API with the test token; a `null` body sends none.
    pub async fn admin(&self, method: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let (status, bytes) = self.admin_raw(method, path, body).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Calls the admin API with the test token; returns the body as sent.
    pub async fn admin_raw(&self, method: &str, path: &str, body: serde_json::Value) -> (u16, Bytes) {
        let token = format!("Bearer {ADMIN_TOKEN}");
        let headers = [("authorization", token.as_str()), ("content-type", "application/json")];
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let answer = call(method, &format!("http://{}{path}", self.admin), &headers, body).await;
        (answer.status, answer.body)
    }

    /// Starts one copy of a service (another one if some run already).
    pub async fn start_service(&mut self, service: Service) {
        let map = self.settings.clone();
        let lookup = move |k: &str| map.get(k).cloned();
        let token = CancellationToken::new();
        let stop = token.clone();
        let task = match service {
            Service::Ingest => {
                let app = hookline_ingest::App::build(hookline_ingest::Config::from_lookup(&lookup).expect("config"))
                    .await
                    .expect("ingest");
                self.ingest = app.local_addr();
                self.settings
                    .insert("HOOKLINE_WEBHOOK_URL".to_owned(), format!("http://{}", self.ingest));
                tokio::spawn(app.run_until(stop))
            }
            Service::Admin => {
                let app = hookline_admin::App::build(hookline_admin::Config::from_lookup(&lookup).expect("config"))
                    .await
                    .expect("admin");
                self.admin = app.local_addr();
                tokio::spawn(app.run_until(stop))
            }
            Service::Router => {
                let app = hookline_router::App::build(hookline_router::Config::from_lookup(&lookup).expect("config"))
                    .await
                    .expect("router");
                tokio::spawn(app.run_until(stop))
            }
            Service::Executor => {
                let config = hookline_executor::Config::from_lookup(&lookup).expect("config");
                let app = hookline_executor::App::build(config).await.expect("executor");
                tokio::spawn(app.run_until(stop))
            }
            Service::Notifier => {
                let config = hookline_notifier::Config::from_lookup(&lookup).expect("config");
                let app = hookline_notifier::App::build(config).await.expect("notifier");
                tokio::spawn(app.run_until(stop))
            }
        };
        self.running.push((service, token, task));
    }

    /// Stops every copy of a service and waits until they have drained.
    pub async fn stop_service(&mut self, service: Service) {
        let (stopping, keep): (Vec<_>, Vec<_>) = self.running.drain(..).partition(|(s, _, _)| *s == service);
        self.running = keep;
        for (_, token, task) in stopping {
            token.cancel();
            tokio::time::timeout(WAIT, task)
                .await
                .expect("service drains")
                .expect("service task");
        }
    }

    /// `http://<ingest>/webhooks/<source>`.
    pub fn webhook_url(&self, source: &str) -> String {
        format!("http://{}/webhooks/{source}", self.ingest)
    }

    /// Every message currently in a stream, oldest first.
    pub async fn stream_messages(&self, kind: StreamKind) -> Vec<async_nats::jetstream::message::StreamMessage> {
        let mut stream = self
            .nats
            .js
            .get_stream(self.nats.subjects.stream(kind))
            .await
            .expect("stream");
        let info = stream.info().await.expect("stream info");
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut out = Vec::new();
        for seq in first..=last {
            if let Ok(message) = stream.get_raw_message(seq).await {
                out.push(message);
            }
        }
        out
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        for (_, token, task) in &self.running {
            token.cancel();
            task.abort();
        }
    }
}

/// One request a [`Receiver`] got.
#[derive(Clone, Debug)]
pub struct Received {
    /// Its headers.
    pub headers: http::HeaderMap,
    /// Its raw body.
    pub body: Bytes,
    /// What the receiver answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// One header as text.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// Decides a receiver's answer from the request and how many requests with
/// the same `webhook-id` came before it (0 for the first).
pub type Policy = Arc<dyn Fn(&Received, usize) -> u16 + Send + Sync>;

/// A real local HTTP endpoint that records what it receives.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
    _stop: tokio_util::sync::DropGuard,
}

impl Receiver {
    /// Starts a receiver answering per `policy`.
    pub async fn start(policy: impl Fn(&Received, usize) -> u16 + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests: Arc<Mutex<Vec<Received>>> = Arc::default();
        let policy: Policy = Arc::new(policy);
        let stop = CancellationToken::new();
        let seen = requests.clone();
        tokio::spawn(serve::serve(
            listener,
            move |req: hyper::Request<hyper::body::Incoming>, _peer| {
                let (seen, policy) = (seen.clone(), policy.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let mut received = Received {
                        headers: parts.headers,
                        body,
                        status: 0,
                        at: Instant::now(),
                    };
                    let mut all = seen.lock().expect("lock");
                    let id = received.header("webhook-id");
                    let before = all.iter().filter(|r| r.header("webhook-id") == id).count();
                    received.status = policy(&received, before);
                    let status = received.status;
                    all.push(received);
                    drop(all);
                    serve::json(status, &serde_json::json!({"ok": status < 300}))
                }
            },
            serve::Limits::default(),
            stop.clone(),
            Duration::from_secs(1),
        ));
        Self {
            addr,
            requests,
            _stop: stop.drop_guard(),
        }
    }

    /// `http://<addr>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.requests.lock().expect("lock").clone()
    }

    /// Waits until `done` holds for what was received, or panics after [`WAIT`].
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        eventually(what, || async {
            let received = self.received();
            if done(&received) {
                Ok(received)
            } else {
                Err(format!(
                    "received: {:#?}",
                    received.iter().map(|r| (r.status, r.json())).collect::<Vec<_>>()
                ))
            }
        })
        .await
    }
}

/// GETs `url`; returns the status and JSON answer.
pub async fn get(url: &str) -> (u16, serde_json::Value) {
    request("GET", url, &[], Bytes::new()).await
}

/// What [`call`] got back.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The whole body, as sent.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The one HTTP helper: any request, answered within [`WAIT`].
pub async fn call(method: &str, url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut builder = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let req = builder.body(Full::new(body.into())).expect("request");
    let response = tokio::time::timeout(WAIT, client.request(req))
        .await
        .expect("answer in time")
        .expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = tokio::time::timeout(WAIT, response.into_body().collect())
        .await
        .expect("whole body in time")
        .expect("body")
        .to_bytes();
    Answer { status, headers, body }
}

/// Any request; returns the status and JSON answer.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (u16, serde_json::Value) {
    let answer = call(method, url, headers, body).await;
    (answer.status, answer.json())
}

/// POSTs `body` with `headers`; returns the status and JSON answer.
pub async fn post(url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> (u16, serde_json::Value) {
    request("POST", url, headers, body).await
}

/// A workspace binary beside the test binaries (`cargo build --bins` puts
/// it there; `scripts/test` builds every binary before the tests).
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let path = exe.ancestors().nth(2).expect("target profile dir").join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace --bins` (scripts/test does)",
        path.display()
    );
    path
}

/// Writes an executable `sh` script (`set -eu`, then `body`) into `dir`;
/// returns its path.
pub fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\nset -eu\n{body}\n")).expect("write script");
    let mut perms = std::fs::metadata(&path).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).expect("chmod");
    path.display().to_string()
}

/// POSTs `body` to `url` signed as GitHub signs it with `secret`; returns
/// the status and JSON answer.
pub async fn post_github(url: &str, secret: &str, event: &str, delivery: &str, body: &str) -> (u16, serde_json::Value) {
    post_signed(Provider::Github, url, secret, event, delivery, body).await
}

/// POSTs a JSON `body` to `url` signed as `provider` signs it (by the
/// providers crate, the mirror of what ingest verifies).
pub async fn post_signed(
    provider: Provider,
    url: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let scheme = hookline_providers::Scheme { provider, hmac: None };
    let signed = hookline_providers::sign(
        &scheme,
        &hookline_providers::SignRequest {
            secret,
            body: body.as_bytes(),
            now: hookline_core::clock::now_ms() / 1000,
            delivery_id: delivery,
            event,
            hmac: None,
        },
    );
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    headers.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    post(url, &headers, body.to_owned()).await
}

/// Runs `attempt` every 25 ms until it gives `Ok`; after [`WAIT`] the test
/// fails with `what` and the last `Err` (what was seen instead).
pub async fn eventually<T, Fut>(what: &str, mut attempt: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => panic!("timed out waiting for {what}: {seen}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}
