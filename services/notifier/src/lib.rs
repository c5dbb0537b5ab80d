//! Notifier: consumes `HOOKLINE_EVENTS` and the catalog; emits signed HTTP
//! POSTs to subscribers, `Delivery` messages, attempt records, dead letters
//! and `subscription.disabled`. A fan-out consumer on
//! `HOOKLINE_EVENTS` publishes one `Delivery` per matching subscription
//! ([`fanout`]); one delivery consumer per subscription POSTs them
//! ([`deliver`]), so a slow or dead endpoint never holds back a healthy one.
//! The wire format is in [`outbound`]; retry decisions and delays in
//! [`retry`]; the HTTP client and its SSRF-guarded resolver in [`connect`];
//! auto-disabling of endpoints that only fail in [`health`]. Dead letters go
//! to `hookline.dlq.<subscription>`; `hookline_core::control::replay` sends
//! them again.

pub mod connect;
pub mod deliver;
pub mod delivered;
pub mod fanout;
pub mod health;
pub mod outbound;
pub mod retry;
pub mod run_order;

use std::sync::Arc;
use std::time::Duration;

use hookline_core::catalog::Ordering;
use hookline_core::consume::{self, ConsumerSpec};
use hookline_core::nats::{self, Nats};
use hookline_core::settings::{NatsSettings, Reader, SettingsError};
use hookline_core::shutdown::{CancellationToken, GRACE};
use hookline_core::ssrf::Guard;
use hookline_core::store::{self, CatalogView};
use hookline_core::subjects::StreamKind;
use hookline_core::supervise;

use crate::deliver::Deliverer;
use crate::health::Health;
use crate::retry::Schedule;

/// Notifier settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where NATS is.
    pub nats: NatsSettings,
    /// `HOOKLINE_RETRY_SCHEDULE` (`5s,5m,30m,2h,5h,10h,10h`) and
    /// `HOOKLINE_RETRY_JITTER` (0.2).
    pub schedule: Schedule,
    /// `HOOKLINE_DELIVERY_CONNECT_TIMEOUT`, default 5 s.
    pub connect_timeout: Duration,
    /// `HOOKLINE_DELIVERY_TIMEOUT`: one whole attempt, default 15 s.
    pub timeout: Duration,
    /// `HOOKLINE_DELIVERY_CONCURRENCY`: attempts in flight per subscription, default 16.
    pub concurrency: usize,
    /// How long work in flight may take after shutdown.
    pub grace: Duration,
    /// `HOOKLINE_DELIVERY_ALLOW`: addresses or CIDR ranges deliveries may
    /// reach although they are loopback, private or link-local.
    pub guard: Guard,
    /// `HOOKLINE_DISABLE_AFTER`: a subscription failing for this long with
    /// no success is disabled, default 5 days.
    pub disable_after: Duration,
    /// `HOOKLINE_HEALTH_LISTEN`: where `/healthz` and `/readyz` are served
    /// (off when unset).
    pub health_listen: Option<std::net::SocketAddr>,
}

impl Config {
    /// Reads settings through `lookup`, reporting every bad value.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader::new(lookup);
        let nats = NatsSettings::read(&mut r);
        let mut schedule = Schedule::default();
        if let Some(text) = r.optional("HOOKLINE_RETRY_SCHEDULE") {
            match Schedule::parse_delays(&text) {
                Ok(delays) => schedule.delays = delays,
                Err(e) => r.problem(format!("HOOKLINE_RETRY_SCHEDULE={text:?}: {e}")),
            }
        }
        schedule.jitter = r.parse("HOOKLINE_RETRY_JITTER", schedule.jitter);
        if !(0.0..=1.0).contains(&schedule.jitter) {
            r.problem(format!("HOOKLINE_RETRY_JITTER={}: use 0 to 1", schedule.jitter));
        }
        let connect_timeout = r.duration("HOOKLINE_DELIVERY_CONNECT_TIMEOUT", Duration::from_secs(5));
        let timeout = r.duration("HOOKLINE_DELIVERY_TIMEOUT", Duration::from_secs(15));
        let concurrency = r.parse("HOOKLINE_DELIVERY_CONCURRENCY", 16usize);
        let grace = r.duration("HOOKLINE_GRACE", GRACE);
        let allow = r.string("HOOKLINE_DELIVERY_ALLOW", "");
        let guard = Guard::parse(&allow).unwrap_or_else(|e| {
            r.problem(format!("HOOKLINE_DELIVERY_ALLOW: {e}"));
            Guard::default()
        });
        let disable_after = r.duration("HOOKLINE_DISABLE_AFTER", Duration::from_secs(5 * 24 * 3600));
        let health_listen = hookline_core::probe::read_listen(&mut r);
        r.finish()?;
        Ok(Self {
            nats,
            health_listen,
            schedule,
            connect_timeout,
            timeout,
            concurrency,
            grace,
            guard,
            disable_after,
        })
    }
}

/// A built notifier.
pub struct App {
    nats: Nats,
    health: Option<tokio::net::TcpListener>,
    catalog: CatalogView,
    config: Config,
    background: CancellationToken,
}

impl App {
    /// Connects to NATS, lays out streams and loads the catalog.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let nats = nats::connect(&config.nats, "hookline-notifier").await?;
        let background = CancellationToken::new();
        let catalog = store::watch(&nats, background.clone()).await?;
        let health = hookline_core::probe::bind(config.health_listen).await?;
        Ok(Self {
            nats,
            health,
            catalog,
            config,
            background,
        })
    }

    /// Fans out and delivers until `shutdown`, then finishes attempts in hand.
    // The fan-out's issue step yields the wait for its acks on purpose.
    #[allow(clippy::async_yields_async)]
    pub async fn run_until(self, shutdown: CancellationToken) {
        if let Some(listener) = self.health {
            tokio::spawn(hookline_core::probe::serve(
                listener,
                self.nats.clone(),
                serde_json::Value::Null,
                [StreamKind::Events, StreamKind::Deliveries, StreamKind::Dlq]
                    .into_iter()
                    .map(|kind| self.nats.subjects.stream(kind))
                    .collect(),
                shutdown.clone(),
            ));
        }
        tracing::info!("Notifier running.");
        let fanout = {
            let spec = ConsumerSpec {
                stream: self.nats.subjects.stream(StreamKind::Events),
                durable: "notifier-fanout".to_owned(),
                filter: self.nats.subjects.all(StreamKind::Events),
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 10_000,
                concurrency: 64,
            };
            let (nats, catalog) = (self.nats.clone(), self.catalog.clone());
            consume::run_in_order(
                self.nats.js.clone(),
                spec,
                move |msg| {
                    let nats = nats.clone();
                    let catalog = catalog.borrow().clone();
                    async move { fanout::issue(&nats, &catalog, &msg).await }
                },
                shutdown.clone(),
                self.config.grace,
            )
        };
        let guard = Arc::new(self.config.guard.clone());
        let logs = hookline_core::log_sink::LogSink::start(self.nats.client.clone());
        let deliverer = Deliverer {
            nats: self.nats.clone(),
            logs: logs.clone(),
            client: connect::http_client(self.config.connect_timeout, guard.clone()),
            schedule: self.config.schedule.clone(),
            timeout: self.config.timeout,
            guard,
            health: Arc::new(Health::new(self.nats.clone(), self.config.disable_after).await),
            pacing: Arc::default(),
            delivered: delivered::Delivered::open(&self.nats, logs.clone()).await,
            secrets: store::derive(self.catalog.clone(), self.background.clone(), |c| {
                deliver::resolve_secrets(c)
            }),
        };
        let (nats, catalog, config) = (self.nats.clone(), self.catalog.clone(), self.config.clone());
        let deliveries = supervise::per_item(
            self.catalog.clone(),
            shutdown,
            // A globally ordered subscription has one delivery in flight.
            |catalog| {
                catalog
                    .subscriptions
                    .iter()
                    .map(|(id, sub)| (id.clone(), sub.ordered))
                    .collect()
            },
            |subscription, ordered, stop| {
                let in_flight = if ordered == Ordering::Global {
                    1
                } else {
                    config.concurrency
                };
                let ack_wait = config.timeout + Duration::from_secs(15);
                let spec = ConsumerSpec {
                    stream: nats.subjects.stream(StreamKind::Deliveries),
                    durable: nats.subjects.delivery_consumer(&subscription),
                    filter: nats.subjects.deliveries(&subscription),
                    // Longer than one attempt, so a slow attempt is never
                    // delivered twice at once.
                    ack_wait,
                    max_ack_pending: i64::try_from(in_flight).unwrap_or(16),
                    concurrency: in_flight,
                };
                let (deliverer, catalog) = (deliverer.clone(), catalog.clone());
                let chains = (ordered == Ordering::Run).then(|| Arc::new(run_order::Chains::default()));
                consume::run_in_order(
                    nats.js.clone(),
                    spec,
                    move |msg| {
                        let deliverer = deliverer.clone();
                        let catalog = catalog.borrow().clone();
                        let deliver = move |msg: Arc<async_nats::jetstream::Message>| async move {
                            deliverer.handle(&catalog, &msg).await
                        };
                        let work = match &chains {
                            Some(chains) => chains.issue(msg, ack_wait / 3, deliver),
                            None => Box::pin(deliver(msg)),
                        };
                        std::future::ready(work)
                    },
                    stop,
                    config.grace,
                )
            },
        );
        tokio::join!(fanout, deliveries);
        logs.flush().await;
        self.background.cancel();
    }
}
