//! Ingest: the public edge. It serves `POST /webhooks/{source}`, verifies
//! each request as its provider signs it ([`verify`]), and stores it as an
//! `InboundEvent` on `hookline.ingest.<source>` ([`publish`]), answering 2xx
//! only after JetStream acknowledged it. Every request, refused ones too,
//! leaves an invocation record. [`handler`] routes and maps errors to
//! statuses; `/healthz` and `/readyz` are served beside the webhooks.

pub mod handler;
pub mod publish;
pub mod verify;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hookline_core::catalog::{Catalog, Secret, SourceSpec};
use hookline_core::nats::{self, Nats};
use hookline_core::settings::{NatsSettings, Reader, SettingsError};
use hookline_core::shutdown::{CancellationToken, GRACE};
use hookline_core::{serve, store};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Ingest's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where NATS is.
    pub nats: NatsSettings,
    /// `HOOKLINE_INGEST_LISTEN`, default `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// How long requests in flight may take after shutdown.
    pub grace: Duration,
}

impl Config {
    /// Reads settings through `lookup`, reporting every bad value.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader::new(lookup);
        let nats = NatsSettings::read(&mut r);
        let listen = r.parse(
            "HOOKLINE_INGEST_LISTEN",
            SocketAddr::from(([0, 0, 0, 0], 8080)),
        );
        let grace = r.duration("HOOKLINE_GRACE", GRACE);
        r.finish()?;
        Ok(Self {
            nats,
            listen,
            grace,
        })
    }
}

/// A source with its secrets resolved, as requests need it.
#[derive(Clone, Debug)]
pub struct ResolvedSource {
    /// The configured source.
    pub spec: SourceSpec,
    /// Its active secrets.
    pub secrets: Vec<Secret>,
}

type Sources = watch::Receiver<Arc<HashMap<String, Arc<ResolvedSource>>>>;

fn resolve_sources(catalog: &Catalog) -> Arc<HashMap<String, Arc<ResolvedSource>>> {
    let map = catalog
        .sources
        .iter()
        .map(|(id, spec)| {
            let secrets = spec
                .secrets
                .iter()
                .filter_map(|s| match s.resolve() {
                    Ok(secret) => Some(secret),
                    Err(e) => {
                        tracing::error!(source = %id, secret = %s.hint(), error = %e, "Source secret cannot be resolved.");
                        None
                    }
                })
                .collect();
            (id.clone(), Arc::new(ResolvedSource { spec: spec.clone(), secrets }))
        })
        .collect();
    Arc::new(map)
}

/// What request handlers share.
pub struct State {
    nats: Nats,
    sources: Sources,
    publisher: publish::Publisher,
}

/// A built ingest service, listening but not yet serving.
pub struct App {
    listener: TcpListener,
    state: Arc<State>,
    grace: Duration,
    background: CancellationToken,
}

impl App {
    /// Connects to NATS, lays out streams, loads sources and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let nats = nats::connect(&config.nats, "hookline-ingest").await?;
        let background = CancellationToken::new();
        let mut catalog = store::watch(&nats, background.clone()).await?;
        let (tx, sources) = watch::channel(resolve_sources(&catalog.borrow_and_update()));
        let stop = background.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    changed = catalog.changed() => if changed.is_err() { return },
                }
                tx.send_replace(resolve_sources(&catalog.borrow_and_update()));
            }
        });
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let state = Arc::new(State {
            publisher: publish::Publisher::new(nats.clone()),
            nats,
            sources,
        });
        Ok(Self {
            listener,
            state,
            grace: config.grace,
            background,
        })
    }

    /// Where webhooks are received.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown`, then finishes requests in flight.
    pub async fn run_until(self, shutdown: CancellationToken) {
        let state = self.state.clone();
        tracing::info!(addr = %self.local_addr(), "Ingest listening.");
        serve::serve(
            self.listener,
            move |req, peer| handler::route(state.clone(), req, peer),
            shutdown,
            self.grace,
        )
        .await;
        self.background.cancel();
        let _ = self.state.nats.client.flush().await;
    }
}
