//! Ingest: the public edge. It consumes HTTP requests on
//! `POST /webhooks/{source}` and the catalog; it emits `InboundEvent`s on
//! `hookline.ingest.<source>` ([`publish`]), invocation records and each
//! source's last trigger time. Each request is verified as its provider
//! signs it (`hookline_providers`) and answered 2xx only after JetStream
//! acknowledged it. [`handler`] routes and maps errors to statuses;
//! [`limits`] holds the rate limits and in-flight caps; [`client_ip`] reads
//! trusted proxies' `X-Forwarded-For`. `/healthz` and `/readyz` are served
//! beside the webhooks; the admin API is another service's.

pub mod client_ip;
pub mod handler;
pub mod limits;
pub mod publish;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hookline_bus::nats;
use hookline_bus::settings::NatsSettings;
use hookline_bus::store;
use hookline_model::catalog::{Catalog, Secret, SourceSpec};
use hookline_model::settings::{Reader, SettingsError};
use hookline_runtime::serve;
use hookline_runtime::shutdown::{CancellationToken, GRACE};
use tokio::net::TcpListener;

use crate::client_ip::TrustedProxies;
use crate::limits::{InFlight, RateLimits};
use hookline_providers::Scheme;
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
    /// `HOOKLINE_GLOBAL_RATE_LIMIT`: requests per minute across all
    /// sources, default 1000; 0 turns it off.
    pub global_rate_limit: u32,
    /// `HOOKLINE_TRUSTED_PROXIES`: addresses or CIDR ranges whose
    /// `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// `HOOKLINE_BODY_TIMEOUT`: longest a body may take to arrive, default 30 s.
    pub body_timeout: Duration,
    /// `HOOKLINE_MAX_CONNECTIONS`: open connections at once, default 10000.
    pub max_connections: usize,
}

impl Config {
    /// Reads settings through `lookup`, reporting every bad value.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader::new(lookup);
        let nats = NatsSettings::read(&mut r);
        let listen = r.parse("HOOKLINE_INGEST_LISTEN", SocketAddr::from(([0, 0, 0, 0], 8080)));
        let grace = r.duration("HOOKLINE_GRACE", GRACE);
        let global_rate_limit = r.parse("HOOKLINE_GLOBAL_RATE_LIMIT", 1000u32);
        let proxies = r.string("HOOKLINE_TRUSTED_PROXIES", "");
        let trusted_proxies = TrustedProxies::parse(&proxies).unwrap_or_else(|e| {
            r.problem(format!("HOOKLINE_TRUSTED_PROXIES: {e}"));
            TrustedProxies::default()
        });
        let body_timeout = r.duration("HOOKLINE_BODY_TIMEOUT", Duration::from_secs(30));
        let max_connections = r.parse("HOOKLINE_MAX_CONNECTIONS", 10_000usize);
        r.finish()?;
        Ok(Self {
            nats,
            listen,
            grace,
            global_rate_limit,
            trusted_proxies,
            body_timeout,
            max_connections,
        })
    }
}

/// A source with its secrets resolved, as requests need it.
#[derive(Clone, Debug)]
pub struct ResolvedSource {
    /// The configured source.
    pub spec: SourceSpec,
    /// Its secrets.
    pub secrets: Vec<Secret>,
    /// When each secret stops being accepted (rotation), if it does.
    pub until: Vec<Option<i64>>,
    /// How it verifies.
    pub scheme: Scheme,
}

type Sources = watch::Receiver<Arc<HashMap<String, Arc<ResolvedSource>>>>;

fn resolve_sources(catalog: &Catalog) -> HashMap<String, Arc<ResolvedSource>> {
    catalog
        .sources
        .iter()
        .map(|(id, spec)| {
            let (secrets, until) = spec
                .secrets
                .iter()
                .filter_map(|s| match s.resolve() {
                    Ok(secret) => Some((secret, s.until_ms())),
                    Err(e) => {
                        tracing::error!(source = %id, secret = %s.hint(), error = %e, "Source secret cannot be resolved.");
                        None
                    }
                })
                .unzip();
            let scheme = Scheme::of(spec);
            (
                id.clone(),
                Arc::new(ResolvedSource {
                    spec: spec.clone(),
                    secrets,
                    until,
                    scheme,
                }),
            )
        })
        .collect()
}

impl ResolvedSource {
    /// The secrets accepted at `now_ms`: all of them unless some expire.
    pub fn active_secrets(&self, now_ms: i64) -> std::borrow::Cow<'_, [Secret]> {
        if self.until.iter().all(Option::is_none) {
            return std::borrow::Cow::Borrowed(&self.secrets);
        }
        let active = self
            .secrets
            .iter()
            .zip(&self.until)
            .filter(|(_, until)| until.is_none_or(|u| now_ms < u))
            .map(|(secret, _)| secret.clone())
            .collect();
        std::borrow::Cow::Owned(active)
    }
}

/// What request handlers share.
pub struct State {
    sources: Sources,
    publisher: publish::Publisher,
    limits: RateLimits,
    in_flight: InFlight,
    trusted_proxies: TrustedProxies,
    body_timeout: Duration,
}

/// A built ingest service, listening but not yet serving.
pub struct App {
    listener: TcpListener,
    state: Arc<State>,
    grace: Duration,
    max_connections: usize,
    background: CancellationToken,
}

impl App {
    /// Connects to NATS, lays out streams, loads sources and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let nats = nats::connect(&config.nats, "hookline-ingest").await?;
        let background = CancellationToken::new();
        let catalog_view = store::watch(&nats, background.clone()).await?;
        let sources = store::derive(catalog_view, background.clone(), |c| resolve_sources(c));
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let state = Arc::new(State {
            publisher: publish::Publisher::new(nats).await,
            sources,
            limits: RateLimits::new(config.global_rate_limit, Instant::now()),
            in_flight: InFlight::default(),
            trusted_proxies: config.trusted_proxies,
            body_timeout: config.body_timeout,
        });
        Ok(Self {
            listener,
            state,
            grace: config.grace,
            max_connections: config.max_connections,
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
        Self::serve_webhooks(self.listener, self.state, self.max_connections, self.grace, shutdown).await;
        self.background.cancel();
    }

    async fn serve_webhooks(
        listener: TcpListener,
        state: Arc<State>,
        max_connections: usize,
        grace: Duration,
        shutdown: CancellationToken,
    ) {
        tracing::info!(addr = ?listener.local_addr().ok(), "Ingest listening.");
        let handler_state = state.clone();
        serve::serve(
            listener,
            move |req, peer| handler::route(handler_state.clone(), req, peer),
            serve::Limits {
                max_connections,
                ..Default::default()
            },
            shutdown,
            grace,
        )
        .await;
        state.publisher.flush().await;
    }
}
