//! Admin: the control plane. It serves the admin API on its own listener
//! (never the public webhook port), with bearer tokens from configuration.
//! It consumes the `hookline_config`, `hookline_runs`, `hookline_state` and
//! `hookline_decisions` buckets and the log, DLQ and ingest streams; it
//! emits configuration changes (revision-checked), manual `RunRequest`s,
//! replayed deliveries, cancel requests and signed test webhooks sent to
//! ingest's public port. It never sits on the webhook path.
//!
//! [`api`] routes and maps errors to statuses; [`catalog`] edits the
//! configuration; [`ops`] reads runs and decisions, cancels and replays;
//! [`logs`] reads invocations, attempts, dead letters and run output;
//! [`sessions`] serves runs' transcripts, diffs and artifacts; [`fork`]
//! continues a run with a new prompt; [`events`] lists inbound events and
//! replays one;
//! [`health`] computes figures from them; [`actions`] sends test events and
//! starts manual runs; [`params`] reads query parameters; [`console`] is the
//! web console under `/console`, rendered from those same handlers.

pub mod actions;
pub mod agent_health;
pub mod api;
pub mod approvals;
pub mod auth;
pub mod catalog;
pub mod console;
pub mod error;
pub mod event_types;
pub mod events;
pub mod fork;
pub mod health;
pub mod json_numbers;
pub mod logs;
pub mod model;
pub mod ops;
pub mod params;
mod route;
pub mod sessions;
pub mod share;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hookline_bus::nats;
use hookline_bus::runs::Records;
use hookline_bus::settings::NatsSettings;
use hookline_bus::store;
use hookline_model::catalog::{Secret, SecretRef};
use hookline_model::settings::{Reader, SettingsError};
use hookline_model::ssrf::{self, Guard};
use hookline_runtime::serve;
use hookline_runtime::shutdown::{CancellationToken, GRACE};
use tokio::net::TcpListener;

pub use api::routes;
pub use error::AdminError;
pub use state::AdminState;

/// The admin service's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where NATS is.
    pub nats: NatsSettings,
    /// `HOOKLINE_ADMIN_LISTEN`, default `127.0.0.1:8081`.
    pub listen: SocketAddr,
    /// `HOOKLINE_ADMIN_TOKENS`: accepted bearer tokens, comma-separated
    /// (literals, `env:NAME` or `file:PATH`), at least one.
    pub tokens: Vec<Secret>,
    /// `HOOKLINE_WEBHOOK_URL`: where ingest's public port is reached, for
    /// test events; default `http://127.0.0.1:8080`.
    pub webhook_url: String,
    /// `HOOKLINE_DELIVERY_ALLOW`: the SSRF allow-list the notifier uses;
    /// subscription URLs outside it are refused.
    pub delivery_allow: Guard,
    /// `HOOKLINE_EGRESS_ALLOW`: the allow-list the executor holds runs'
    /// egress and model upstreams to; model upstreams outside it are
    /// refused.
    pub egress_allow: Guard,
    /// How long requests in flight may take after shutdown.
    pub grace: Duration,
}

impl Config {
    /// Reads settings through `lookup`, reporting every bad value.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader::new(lookup);
        let nats = NatsSettings::read(&mut r);
        let listen = r.parse("HOOKLINE_ADMIN_LISTEN", SocketAddr::from(([127, 0, 0, 1], 8081)));
        let grace = r.duration("HOOKLINE_GRACE", GRACE);
        let mut tokens = Vec::new();
        for token in r
            .string("HOOKLINE_ADMIN_TOKENS", "")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            match SecretRef::new(token).resolve() {
                Ok(secret) if secret.expose().len() >= 16 => tokens.push(secret),
                Ok(_) => r.problem("HOOKLINE_ADMIN_TOKENS: every token needs at least 16 characters".to_owned()),
                Err(e) => r.problem(format!("HOOKLINE_ADMIN_TOKENS: {e}")),
            }
        }
        if tokens.is_empty() {
            r.problem("HOOKLINE_ADMIN_TOKENS: give at least one token (16+ characters) the API accepts".to_owned());
        }
        let webhook_url = r.string("HOOKLINE_WEBHOOK_URL", "http://127.0.0.1:8080");
        if !(webhook_url.starts_with("http://") || webhook_url.starts_with("https://")) {
            r.problem(format!("HOOKLINE_WEBHOOK_URL: `{webhook_url}` is not an http(s) URL"));
        }
        let delivery_allow = Guard::parse(&r.string("HOOKLINE_DELIVERY_ALLOW", "")).unwrap_or_else(|e| {
            r.problem(format!("HOOKLINE_DELIVERY_ALLOW: {e}"));
            Guard::default()
        });
        let egress_allow =
            Guard::parse_setting(ssrf::EGRESS_ALLOW, &r.string(ssrf::EGRESS_ALLOW, "")).unwrap_or_else(|e| {
                r.problem(format!("{}: {e}", ssrf::EGRESS_ALLOW));
                Guard::default()
            });
        r.finish()?;
        Ok(Self {
            nats,
            listen,
            tokens,
            webhook_url: webhook_url.trim_end_matches('/').to_owned(),
            delivery_allow,
            egress_allow,
            grace,
        })
    }
}

/// A built admin service, listening but not yet serving.
pub struct App {
    listener: TcpListener,
    state: Arc<AdminState>,
    grace: Duration,
    background: CancellationToken,
}

impl App {
    /// Connects to NATS, lays out streams, loads the catalog and binds the
    /// listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let nats = nats::connect(&config.nats, "hookline-admin").await?;
        let background = CancellationToken::new();
        let catalog = store::watch(&nats, background.clone()).await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} for the admin API", config.listen))?;
        let records = Records::new(&nats);
        let state = AdminState {
            approvals: hookline_bus::approvals::Approvals::new(&nats, records.clone()),
            records,
            nats,
            catalog,
            tokens: config.tokens,
            webhook_url: config.webhook_url,
            guard: config.delivery_allow,
            egress_guard: config.egress_allow,
        };
        Ok(Self {
            listener,
            state: Arc::new(state),
            grace: config.grace,
            background,
        })
    }

    /// Where the admin API listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `shutdown`, then finishes requests in flight.
    pub async fn run_until(self, shutdown: CancellationToken) {
        tracing::info!(addr = ?self.listener.local_addr().ok(), "Admin API listening.");
        let state = self.state;
        serve::serve(
            self.listener,
            move |req, peer| api::route(state.clone(), req, peer),
            serve::Limits::default(),
            shutdown,
            self.grace,
        )
        .await;
        self.background.cancel();
    }
}
