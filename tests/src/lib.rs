//! The end-to-end harness. It consumes a catalog and settings and gives a
//! real nats-server with the five services in-process (started as `hookline
//! up` starts them, through `hookline::stack`), real local HTTP receivers
//! whose answers the test controls ([`Receiver`]), the one HTTP helper
//! ([`call`]) with webhooks signed by the providers crate, and the one
//! polling helper ([`eventually`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookline_bus::nats::{self, Nats};
use hookline_bus::store;
use hookline_model::catalog::Catalog;
use hookline_model::subjects::StreamKind;
use hookline_runtime::shutdown::CancellationToken;
use tokio::task::JoinHandle;

/// The admin API's bearer token in tests.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Every await on the network in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(30);

pub mod browser;
pub mod git;
mod gitea_api;
pub mod github;
mod github_api;
mod http;
pub mod mcp_server;
mod nats_server;
pub mod otlp;
pub mod prism;
mod process;
mod receiver;
pub mod scripted_model;
pub mod stats;

pub use http::{Answer, call, get, post, post_github, post_signed, request, signed_headers, try_call};
pub use nats_server::{NatsCluster, NatsServer, free_port, workspace_root};
pub use process::ServiceProcess;
pub use receiver::{Policy, Received, Receiver};

pub use hookline::stack::Service;

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
    /// Where every ingest copy listens, in the order they were started.
    pub ingests: Vec<SocketAddr>,
    settings: HashMap<String, String>,
    running: Vec<(Service, CancellationToken, JoinHandle<()>)>,
    /// A cluster's other nodes, when it runs on one.
    _other_nodes: Vec<NatsServer>,
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
        let url = server.url();
        Self::start_on(server, Vec::new(), url, catalog, settings, services).await
    }

    /// Like [`Pipeline::start_services`], on a JetStream cluster: every
    /// stream and bucket with `HOOKLINE_REPLICAS` (3 unless `settings` say
    /// otherwise), the services given every node's URL.
    pub async fn start_on_cluster(
        cluster: crate::NatsCluster,
        catalog: &Catalog,
        settings: &[(&str, &str)],
        services: &[Service],
    ) -> Self {
        let url = cluster.url();
        let mut nodes = cluster.nodes;
        let first = nodes.remove(0);
        let mut settings: Vec<(&str, &str)> = settings.to_vec();
        if !settings.iter().any(|(k, _)| *k == "HOOKLINE_REPLICAS") {
            settings.push(("HOOKLINE_REPLICAS", "3"));
        }
        Self::start_on(first, nodes, url, catalog, &settings, services).await
    }

    async fn start_on(
        server: NatsServer,
        other_nodes: Vec<NatsServer>,
        url: String,
        catalog: &Catalog,
        settings: &[(&str, &str)],
        services: &[Service],
    ) -> Self {
        let workdir = tempfile::tempdir().expect("workdir");
        let mut map: HashMap<String, String> = [
            ("HOOKLINE_NATS_URL", url),
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
        let nats_settings = {
            let lookup = |k: &str| map.get(k).cloned();
            let mut reader = hookline_model::settings::Reader::new(&lookup);
            let read = hookline_bus::settings::NatsSettings::read(&mut reader);
            reader.finish().expect("NATS settings");
            read
        };
        let nats = nats::connect(&nats_settings, "hookline-tests").await.expect("connect");
        store::apply(&nats, catalog, false).await.expect("apply catalog");
        let mut pipeline = Self {
            server,
            nats,
            ingest: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            ingests: Vec::new(),
            settings: map,
            running: Vec::new(),
            _other_nodes: other_nodes,
            _workdir: workdir,
        };
        for service in services {
            pipeline.start_service(*service).await;
        }
        pipeline
    }

    /// Changes a setting for the services started from now on.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.settings.insert(name.to_owned(), value.into());
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

    /// The routing decision for `event_id`, once the router recorded it.
    pub async fn explain(&self, event_id: &str) -> serde_json::Value {
        eventually("the routing decision", || async {
            match self
                .admin(
                    "GET",
                    &format!("/v1/events/{event_id}/explain"),
                    serde_json::Value::Null,
                )
                .await
            {
                (200, decision) => Ok(decision),
                other => Err(format!("{other:?}")),
            }
        })
        .await
    }

    /// Starts one copy of a service (another one if some run already),
    /// the way `hookline up` does ([`hookline::stack::start`]).
    pub async fn start_service(&mut self, service: Service) {
        let map = self.settings.clone();
        let lookup = move |k: &str| map.get(k).cloned();
        let token = CancellationToken::new();
        let started = hookline::stack::start(service, &lookup, token.clone())
            .await
            .unwrap_or_else(|e| panic!("{service:?} did not start: {e}"));
        match (service, started.addr) {
            (Service::Ingest, Some(addr)) => {
                self.ingest = addr;
                self.ingests.push(addr);
                // The admin service sends test events here.
                self.settings
                    .insert("HOOKLINE_WEBHOOK_URL".to_owned(), format!("http://{addr}"));
            }
            (Service::Admin, Some(addr)) => self.admin = addr,
            _ => {}
        }
        self.running.push((service, token, started.task));
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
        stream_messages(&self.nats, kind).await
    }

    /// Every log record stored on `subject`, oldest first, whether stored
    /// alone or in a batch.
    pub async fn log_records(&self, subject: &str) -> Vec<Vec<u8>> {
        self.stream_messages(StreamKind::Log)
            .await
            .iter()
            .filter(|m| m.subject.as_str() == subject)
            .flat_map(|m| hookline_bus::log_sink::records(&m.payload, Some(&m.headers)))
            .map(|r| r.to_vec())
            .collect()
    }
}

impl Pipeline {
    /// Waits until every message of a work-queue stream has been settled
    /// (acked or terminated): `what` names the wait in a failure.
    pub async fn wait_until_settled(&self, kind: StreamKind, what: &str) {
        let name = self.nats.subjects.stream(kind);
        eventually(what, || async {
            let mut stream = self.nats.js.get_stream(&name).await.map_err(|e| e.to_string())?;
            match stream.info().await.map_err(|e| e.to_string())?.state.messages {
                0 => Ok(()),
                left => Err(format!("{left} messages left")),
            }
        })
        .await;
    }
}

/// Every message currently in a stream, oldest first.
pub async fn stream_messages(nats: &Nats, kind: StreamKind) -> Vec<async_nats::jetstream::message::StreamMessage> {
    let mut stream = nats.js.get_stream(nats.subjects.stream(kind)).await.expect("stream");
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

impl Drop for Pipeline {
    fn drop(&mut self) {
        for (_, token, task) in &self.running {
            token.cancel();
            task.abort();
        }
    }
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

/// Runs `attempt` every 25 ms until it gives `Ok`; after [`WAIT`] the test
/// fails with `what` and the last `Err` (what was seen instead).
pub async fn eventually<T, Fut>(what: &str, attempt: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Result<T, String>>,
{
    eventually_within(WAIT, what, attempt).await
}

/// [`eventually`] with its own patience: for what a loaded machine does
/// slowly but the test does not measure (a real agent's start-up).
pub async fn eventually_within<T, Fut>(wait: Duration, what: &str, mut attempt: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + wait;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => panic!("timed out waiting for {what}: {seen}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

/// The command lines (arguments joined by spaces) of this host's processes
/// that `matches` picks.
pub fn processes(matches: impl Fn(&str) -> bool) -> Vec<String> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .filter(|c| matches(c))
                .collect()
        })
        .unwrap_or_default()
}

/// Those of this host's processes whose command line contains `text`.
pub fn processes_with(text: &str) -> Vec<String> {
    processes(|c| c.contains(text))
}

/// Waits until no process of this host is one `matches` picks (killed
/// and reaped), for `what`.
pub async fn until_no_process(what: &str, matches: impl Fn(&str) -> bool) {
    eventually(what, || async {
        match processes(&matches) {
            left if left.is_empty() => Ok(()),
            left => Err(format!("{left:?}")),
        }
    })
    .await;
}
