//! Executor: consumes `hookline.runs.<agent>` through one durable consumer
//! per agent whose `max_ack_pending` is the agent's `max_concurrency`, so the
//! limit holds across every executor copy. Each run ([`run`]) gets a fresh
//! workspace, a prompt rendered in one pass ([`prompt`]), the agent as a real
//! process in its own group ([`runner`]), and publishes `run.started`, the
//! agent's own events ([`events_file`]) and `run.completed`/`run.failed`
//! ([`emit`]) before its message is acked.

pub mod emit;
pub mod events_file;
pub mod prompt;
pub mod run;
pub mod runner;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hookline_core::consume::{self, ConsumerSpec, Outcome};
use hookline_core::nats::{self, Nats};
use hookline_core::settings::{NatsSettings, Reader, SettingsError};
use hookline_core::shutdown::{CancellationToken, GRACE};
use hookline_core::store::{self, CatalogView};
use hookline_core::subjects::{StreamKind, TRACEPARENT};
use hookline_core::supervise;
use hookline_core::telemetry::TraceParent;
use hookline_proto::{Message as _, RunRequest};

/// How long a run's message may go without a progress ack.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// Executor settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where NATS is.
    pub nats: NatsSettings,
    /// `HOOKLINE_EXECUTOR_WORKDIR`: where run folders are made.
    pub work_root: PathBuf,
    /// How long runs in flight may take after shutdown before being killed.
    pub grace: Duration,
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
        r.finish()?;
        Ok(Self { nats, work_root, grace })
    }
}

/// A built executor.
pub struct App {
    nats: Nats,
    catalog: CatalogView,
    config: Config,
    background: CancellationToken,
}

impl App {
    /// Connects to NATS, lays out streams and loads the catalog.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.work_root)?;
        let nats = nats::connect(&config.nats, "hookline-executor").await?;
        let background = CancellationToken::new();
        let catalog = store::watch(&nats, background.clone()).await?;
        Ok(Self {
            nats,
            catalog,
            config,
            background,
        })
    }

    /// Runs agents until `shutdown`: one consumer per configured agent,
    /// started, resized or stopped as the catalog changes.
    pub async fn run_until(self, shutdown: CancellationToken) {
        tracing::info!("Executor running.");
        let (nats, catalog, config) = (self.nats.clone(), self.catalog.clone(), self.config.clone());
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
                consume_agent(
                    nats.clone(),
                    catalog.clone(),
                    config.clone(),
                    agent,
                    max_concurrency,
                    stop,
                )
            },
        )
        .await;
        self.background.cancel();
    }
}

async fn consume_agent(
    nats: Nats,
    catalog: CatalogView,
    config: Config,
    agent: String,
    max_concurrency: u32,
    stop: CancellationToken,
) {
    let spec = ConsumerSpec {
        stream: nats.subjects.stream(StreamKind::Runs),
        durable: format!("executor-{agent}"),
        filter: nats.subjects.runs(&agent),
        ack_wait: ACK_WAIT,
        max_ack_pending: i64::from(max_concurrency),
        concurrency: max_concurrency as usize,
    };
    let work_root = Arc::new(config.work_root.clone());
    let js = nats.js.clone();
    consume::run(
        js,
        spec,
        move |msg| {
            let nats = nats.clone();
            let catalog = catalog.borrow().clone();
            let work_root = work_root.clone();
            async move {
                let request = match RunRequest::decode(msg.payload.as_ref()) {
                    Ok(request) => request,
                    Err(e) => return Outcome::Term(format!("undecodable RunRequest: {e}")),
                };
                let parent = msg
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(TRACEPARENT))
                    .map(|v| v.as_str().to_owned());
                let _alive = consume::keep_alive(msg.clone(), ACK_WAIT / 3);
                let env = run::RunEnv {
                    nats: &nats,
                    catalog: &catalog,
                    work_root: &work_root,
                    attempt: consume::delivery_count(&msg),
                    traceparent: TraceParent::continue_or_new(parent.as_deref()).to_string(),
                    // Shutdown lets runs finish (or be redelivered); only a
                    // cancel of this run stops it.
                    cancel: CancellationToken::new(),
                };
                run::execute(env, request).await
            }
        },
        stop,
        config.grace,
    )
    .await;
}
