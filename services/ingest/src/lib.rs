//! Ingest: the public edge. It serves `POST /webhooks/{source}`, verifies
//! each request as its provider signs it (`hookline_providers`), and stores it as an
//! `InboundEvent` on `hookline.ingest.<source>` ([`publish`]), answering 2xx
//! only after JetStream acknowledged it. Every request, refused ones too,
//! leaves an invocation record. [`handler`] routes and maps errors to
//! statuses; [`limits`] holds the
//! rate limits and in-flight caps; [`client_ip`] reads trusted proxies'
//! `X-Forwarded-For`. `/healthz` and `/readyz` are served beside the webhooks.

pub mod admin;
pub mod client_ip;
pub mod handler;
pub mod limits;
pub mod publish;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hookline_core::catalog::{Catalog, Secret, SecretRef, SourceSpec};
use hookline_core::nats::{self, Nats};
use hookline_core::settings::{NatsSettings, Reader, SettingsError};
use hookline_core::shutdown::{CancellationToken, GRACE};
use hookline_core::{serve, store};
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
    /// `HOOKLINE_ADMIN_LISTEN`: the admin API's own listener, default
    /// `127.0.0.1:8081`.
    pub admin_listen: SocketAddr,
    /// `HOOKLINE_ADMIN_TOKENS`: accepted bearer tokens, comma-separated
    /// (literals, `env:NAME` or `file:PATH`); none means no admin API.
    pub admin_tokens: Vec<Secret>,
    /// `HOOKLINE_DELIVERY_ALLOW`: the SSRF allow-list the notifier uses;
    /// the admin API refuses subscription URLs outside it.
    pub delivery_allow: hookline_core::ssrf::Guard,
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
        let admin_listen = r.parse("HOOKLINE_ADMIN_LISTEN", SocketAddr::from(([127, 0, 0, 1], 8081)));
        let mut admin_tokens = Vec::new();
        for token in r
            .string("HOOKLINE_ADMIN_TOKENS", "")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            match SecretRef::new(token).resolve() {
                Ok(secret) if secret.expose().len() >= 16 => admin_tokens.push(secret),
                Ok(_) => r.problem("HOOKLINE_ADMIN_TOKENS: every token needs at least 16 characters".to_owned()),
                Err(e) => r.problem(format!("HOOKLINE_ADMIN_TOKENS: {e}")),
            }
        }
        let delivery_allow = hookline_core::ssrf::Guard::parse(&r.string("HOOKLINE_DELIVERY_ALLOW", ""))
            .unwrap_or_else(|e| {
                r.problem(format!("HOOKLINE_DELIVERY_ALLOW: {e}"));
                hookline_core::ssrf::Guard::default()
            });
        r.finish()?;
        Ok(Self {
            nats,
            listen,
            grace,
            global_rate_limit,
            trusted_proxies,
            body_timeout,
            max_connections,
            admin_listen,
            admin_tokens,
            delivery_allow,
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
    nats: Nats,
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
    admin: Option<(TcpListener, Arc<admin::AdminState>)>,
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
        let sources = store::derive(catalog_view.clone(), background.clone(), |c| resolve_sources(c));
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let webhook_addr = listener.local_addr().context("webhook listener address")?;
        let admin = if config.admin_tokens.is_empty() {
            tracing::warn!("No HOOKLINE_ADMIN_TOKENS: the admin API is off.");
            None
        } else {
            let listener = TcpListener::bind(config.admin_listen)
                .await
                .with_context(|| format!("cannot listen on {} for the admin API", config.admin_listen))?;
            let state = admin::AdminState {
                nats: nats.clone(),
                catalog: catalog_view.clone(),
                tokens: config.admin_tokens.clone(),
                webhook_addr,
                records: hookline_core::runs::Records::open(&nats).await,
                guard: config.delivery_allow.clone(),
            };
            Some((listener, Arc::new(state)))
        };
        let state = Arc::new(State {
            publisher: publish::Publisher::new(nats.clone()).await,
            nats,
            sources,
            limits: RateLimits::new(config.global_rate_limit, Instant::now()),
            in_flight: InFlight::default(),
            trusted_proxies: config.trusted_proxies,
            body_timeout: config.body_timeout,
        });
        Ok(Self {
            listener,
            admin,
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

    /// Where the admin API listens, when it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves until `shutdown`, then finishes requests in flight.
    pub async fn run_until(self, shutdown: CancellationToken) {
        let admin = self.admin.map(|(listener, state)| {
            tracing::info!(addr = ?listener.local_addr().ok(), "Admin API listening.");
            tokio::spawn(serve::serve(
                listener,
                move |req, peer| admin::route(state.clone(), req, peer),
                serve::Limits::default(),
                shutdown.clone(),
                self.grace,
            ))
        });
        Self::serve_webhooks(self.listener, self.state, self.max_connections, self.grace, shutdown).await;
        if let Some(admin) = admin {
            let _ = admin.await;
        }
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
        let _ = state.nats.client.flush().await;
    }
}
