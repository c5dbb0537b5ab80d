//! Executor: consumes `hookline.runs.<agent>` and the catalog; emits
//! `run.*`, `code.generated` and the agent's events on
//! `hookline.events.<type>`, run records and run logs, and a run's status
//! comment, pull request and outputs on its forge. One durable consumer per
//! agent whose `max_ack_pending` is the agent's `max_concurrency`, so the
//! limit holds across every executor copy. It answers cancel requests
//! (`hookline_bus::control::cancel_run`) for the runs it has.
//!
//! By job: [`attempt`] (one context per attempt, the lease, the final
//! record with its events in the outbox, publishing, the sweep of what
//! killed executors left), [`agent`] (the workspace, the prompt and its
//! sanitizer, the session: prepare, invoke, collect, the agent's events
//! file), `forge` (the steps on the forge, the status comment and its
//! words, the pull request, the outputs). Containment and the runners are
//! the `hookline-sandbox` crate's.

pub mod agent;
pub mod attempt;
pub(crate) mod forge;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use hookline_bus::consume::{self, ConsumerSpec};
use hookline_bus::log_sink::LogSink;
use hookline_bus::nats::{self, Nats};
use hookline_bus::runs::Records;
use hookline_bus::settings::NatsSettings;
use hookline_bus::store::{self, CatalogView};
use hookline_bus::supervise;
use hookline_model::settings::{Reader, SettingsError};
use hookline_model::subjects::StreamKind;
use hookline_proto::RunRequest;
use hookline_runtime::shutdown::{CancellationToken, GRACE};
use hookline_runtime::telemetry::TraceParent;

/// Runs in progress in this copy, by run id, so a cancel can find them.
type Registry = Arc<Mutex<HashMap<String, CancellationToken>>>;

/// Executor settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where NATS is.
    pub nats: NatsSettings,
    /// `HOOKLINE_EXECUTOR_WORKDIR`: where run folders are made.
    pub work_root: PathBuf,
    /// How long runs in flight may take after shutdown before being killed.
    pub grace: Duration,
    /// `HOOKLINE_EXECUTOR_ACK_WAIT`: how long a run's message may go without
    /// a progress ack (sent every third of it) before another copy takes the
    /// run over, default 30 s.
    pub ack_wait: Duration,
    /// `HOOKLINE_HEALTH_LISTEN`: where `/healthz` and `/readyz` are served
    /// (off when unset).
    pub health_listen: Option<std::net::SocketAddr>,
    /// `HOOKLINE_BWRAP`: the bubblewrap binary, default `bwrap` on `PATH`.
    pub bwrap: String,
    /// `HOOKLINE_EGRESS_ALLOW`: private addresses or ranges runs' egress
    /// proxies and model gateways may reach (none by default).
    pub egress_allow: hookline_model::ssrf::Guard,
    /// `HOOKLINE_RECORD`: `on` (default) keeps each run's transcript and
    /// artifacts; `off` keeps neither (the run log and record only).
    pub record: bool,
}

impl Config {
    /// Reads settings through `lookup`, reporting every bad value.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader::new(lookup);
        let nats = NatsSettings::read(&mut r);
        let work_root = r
            .optional("HOOKLINE_EXECUTOR_WORKDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let grace = r.duration("HOOKLINE_GRACE", GRACE);
        let ack_wait = r.duration("HOOKLINE_EXECUTOR_ACK_WAIT", Duration::from_secs(30));
        if ack_wait < Duration::from_secs(1) {
            r.problem("HOOKLINE_EXECUTOR_ACK_WAIT must be at least 1s".to_owned());
        }
        let health_listen = hookline_runtime::probe::read_listen(&mut r);
        let bwrap = r.string("HOOKLINE_BWRAP", "bwrap");
        let egress_allow = hookline_model::ssrf::Guard::parse_setting(
            hookline_model::ssrf::EGRESS_ALLOW,
            &r.string("HOOKLINE_EGRESS_ALLOW", ""),
        )
        .unwrap_or_else(|e| {
            r.problem(format!("HOOKLINE_EGRESS_ALLOW: {e}"));
            hookline_model::ssrf::Guard::default()
        });
        let record = match r.string("HOOKLINE_RECORD", "on").as_str() {
            "on" => true,
            "off" => false,
            other => {
                r.problem(format!("HOOKLINE_RECORD={other:?}: use on or off"));
                true
            }
        };
        r.finish()?;
        Ok(Self {
            record,
            nats,
            health_listen,
            bwrap,
            egress_allow,
            work_root,
            grace,
            ack_wait,
        })
    }
}

/// A built executor.
pub struct App {
    nats: Nats,
    health: Option<tokio::net::TcpListener>,
    catalog: CatalogView,
    config: Config,
    background: CancellationToken,
    /// Whether bubblewrap works here, found once at start.
    sandbox: Arc<hookline_sandbox::bwrap::Host>,
    state: hookline_bus::state::State,
    threads: hookline_bus::threads::Threads,
}

impl App {
    /// Connects to NATS, lays out streams and loads the catalog.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.work_root)?;
        let nats = nats::connect(&config.nats, "hookline-executor").await?;
        let background = CancellationToken::new();
        let catalog = store::watch(&nats, background.clone()).await?;
        let health = hookline_runtime::probe::bind(config.health_listen).await?;
        let (bwrap, guard) = (config.bwrap.clone(), config.egress_allow.clone());
        let sandbox =
            Arc::new(tokio::task::spawn_blocking(move || hookline_sandbox::bwrap::Host::probe(&bwrap, guard)).await?);
        if let Some(why) = &sandbox.problem {
            tracing::error!(problem = %why, "Sandbox unavailable: runs of agents with sandbox = \"bubblewrap\" (the default) fail with reason sandbox_unavailable.");
        }
        for (agent, spec) in &catalog.borrow().agents {
            if spec.sandbox == hookline_model::catalog::SandboxMode::None {
                tracing::warn!(
                    agent,
                    "sandbox = \"none\": this agent's runs see the executor's whole file system and network."
                );
            }
        }
        let state = hookline_bus::state::State::new(&nats);
        let threads = hookline_bus::threads::Threads::new(&nats);
        Ok(Self {
            nats,
            health,
            catalog,
            config,
            background,
            sandbox,
            state,
            threads,
        })
    }

    /// Runs agents until `shutdown`: one consumer per configured agent,
    /// started, resized or stopped as the catalog changes.
    pub async fn run_until(self, shutdown: CancellationToken) {
        if let Some(listener) = self.health {
            let sandbox = match &self.sandbox.problem {
                None => serde_json::json!({"sandbox": "bubblewrap"}),
                Some(why) => serde_json::json!({"sandbox": "unavailable", "sandbox_problem": why}),
            };
            tokio::spawn(hookline_runtime::probe::serve(
                listener,
                self.nats.clone(),
                sandbox,
                vec![self.nats.subjects.stream(StreamKind::Runs)],
                shutdown.clone(),
            ));
        }
        tracing::info!("Executor running.");
        let registry: Registry = Arc::default();
        let records = Records::new(&self.nats);
        let catalog_now = self.catalog.borrow().clone();
        attempt::sweep::leftovers(&self.config.work_root, &records, |agent| {
            catalog_now.agents.get(agent).is_some_and(|a| a.keep_failed_workspace)
        })
        .await;
        attempt::sweep::leftover_groups(&hookline_sandbox::limits::group_parents(), &records).await;
        let logs = LogSink::start(self.nats.client.clone());
        let owner: Arc<str> = Arc::from(hookline_model::clock::new_id());
        let canceller = tokio::spawn(answer_cancels(self.nats.clone(), registry.clone(), shutdown.clone()));
        let (nats, catalog, config) = (self.nats.clone(), self.catalog.clone(), self.config.clone());
        let sandbox = self.sandbox.clone();
        let state = self.state.clone();
        let threads = self.threads.clone();
        supervise::per_item(
            self.catalog.clone(),
            shutdown,
            |catalog| {
                catalog
                    .agents
                    .iter()
                    .filter(|(_, spec)| spec.enabled)
                    .map(|(id, spec)| (id.clone(), spec.max_concurrency))
                    .collect()
            },
            |agent, max_concurrency, stop| {
                let ctx = AgentConsumer {
                    nats: nats.clone(),
                    logs: logs.clone(),
                    owner: owner.clone(),
                    catalog: catalog.clone(),
                    config: config.clone(),
                    registry: registry.clone(),
                    records: records.clone(),
                    sandbox: sandbox.clone(),
                    state: state.clone(),
                    threads: threads.clone(),
                };
                ctx.run(agent, max_concurrency, stop)
            },
        )
        .await;
        let _ = canceller.await;
        logs.flush().await;
        self.background.cancel();
    }
}

/// Answers cancel requests for runs in this copy; other copies stay silent.
async fn answer_cancels(nats: Nats, registry: Registry, shutdown: CancellationToken) {
    let mut requests = match nats.client.subscribe(nats.subjects.control_cancel()).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::error!(error = %e, "Cannot listen for cancels; runs cannot be cancelled from this executor.");
            return;
        }
    };
    loop {
        let request = tokio::select! {
            _ = shutdown.cancelled() => return,
            request = requests.next() => match request { Some(r) => r, None => return },
        };
        let run_id = String::from_utf8_lossy(&request.payload).trim().to_owned();
        let token = registry.lock().unwrap_or_else(|p| p.into_inner()).get(&run_id).cloned();
        if let (Some(token), Some(reply)) = (token, request.reply) {
            token.cancel();
            tracing::info!(run_id, "Run cancelled.");
            let _ = nats
                .client
                .publish(reply, Bytes::from_static(br#"{"cancelled":true}"#))
                .await;
        }
    }
}

/// What one agent's consumer needs.
struct AgentConsumer {
    nats: Nats,
    logs: LogSink,
    /// This copy, as its leases name it.
    owner: Arc<str>,
    catalog: CatalogView,
    config: Config,
    registry: Registry,
    records: Records,
    sandbox: Arc<hookline_sandbox::bwrap::Host>,
    state: hookline_bus::state::State,
    threads: hookline_bus::threads::Threads,
}

impl AgentConsumer {
    async fn run(self, agent: String, max_concurrency: u32, stop: CancellationToken) {
        let ack_wait = self.config.ack_wait;
        let spec = ConsumerSpec {
            stream: self.nats.subjects.stream(StreamKind::Runs),
            durable: format!("executor-{agent}"),
            filters: vec![self.nats.subjects.runs(&agent)],
            start: async_nats::jetstream::consumer::DeliverPolicy::All,
            ack_wait,
            max_ack_pending: i64::from(max_concurrency),
            concurrency: max_concurrency as usize,
        };
        let work_root = Arc::new(self.config.work_root.clone());
        let (nats, catalog, registry) = (self.nats.clone(), self.catalog.clone(), self.registry.clone());
        let records = self.records.clone();
        let logs = self.logs.clone();
        let owner = self.owner.clone();
        let sandbox = self.sandbox.clone();
        let state = self.state.clone();
        let threads = self.threads.clone();
        let record = self.config.record;
        consume::run(
            self.nats.js.clone(),
            spec,
            move |msg| {
                let (nats, registry, work_root) = (nats.clone(), registry.clone(), work_root.clone());
                let (records, logs, owner) = (records.clone(), logs.clone(), owner.clone());
                let (sandbox, state, threads) = (sandbox.clone(), state.clone(), threads.clone());
                let catalog = catalog.borrow().clone();
                async move {
                    let (request, parent) = match consume::decode::<RunRequest>(&msg) {
                        Ok(decoded) => decoded,
                        Err(outcome) => return outcome,
                    };
                    consume::record_run(&request.run_id);
                    let _alive = consume::keep_alive(msg.clone(), ack_wait / 3);
                    // Shutdown lets runs finish (or be redelivered); only a
                    // cancel of this run stops it.
                    let cancel = CancellationToken::new();
                    let run_id = request.run_id.clone();
                    {
                        let mut runs = registry.lock().unwrap_or_else(|p| p.into_inner());
                        if runs.contains_key(&run_id) {
                            // Redelivered while this copy still works on it
                            // (its acks could not reach NATS): it settles
                            // the run itself; ask again later.
                            return consume::Outcome::Retry(ack_wait);
                        }
                        runs.insert(run_id.clone(), cancel.clone());
                    }
                    let (own, incoming) = TraceParent::continued(parent.as_deref());
                    let span = hookline_runtime::tracing_export::stage(
                        "run",
                        opentelemetry::trace::SpanKind::Consumer,
                        &own,
                        incoming.as_ref(),
                    );
                    span.set("hookline.agent", request.agent.clone());
                    span.set("hookline.run_id", request.run_id.clone());
                    let env = attempt::run::RunEnv {
                        nats: &nats,
                        logs: &logs,
                        records: &records,
                        catalog: &catalog,
                        work_root: &work_root,
                        owner: &owner,
                        attempt: 0,
                        lease_ttl: ack_wait,
                        traceparent: own.to_string(),
                        span: &span,
                        cancel,
                        sandbox: &sandbox,
                        state: &state,
                        threads: &threads,
                        record,
                    };
                    let outcome = attempt::run::execute(env, request).await;
                    registry.lock().unwrap_or_else(|p| p.into_inner()).remove(&run_id);
                    outcome
                }
            },
            stop,
            self.config.grace,
        )
        .await;
    }
}
