//! Notifier: consumes `HOOKLINE_EVENTS`, replayed deliveries and the
//! catalog; emits signed HTTP POSTs to subscribers, attempt records, dead
//! letters and `subscription.disabled`. Each subscription has its own
//! durable consumer on `HOOKLINE_EVENTS`, filtered on its event types
//! ([`filters`]), so an event is stored once however many subscriptions want
//! it, and a slow or dead endpoint never holds back a healthy one; its
//! replayed dead letters come through a second consumer on the deliveries
//! stream. [`deliver`] POSTs them.
//! The wire format is in [`outbound`]; retry decisions and delays in
//! [`retry`]; the HTTP client and its SSRF-guarded resolver in
//! `hookline_http::guarded_http`;
//! auto-disabling of endpoints that only fail in [`health`]. Dead letters go
//! to `hookline.dlq.<subscription>`; `hookline_bus::control::replay` sends
//! them again.

pub mod attempt;
pub mod deliver;
pub mod delivered;
pub mod filters;
pub mod health;
pub mod outbound;
pub mod retry;
pub mod run_order;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use hookline_bus::consume::{self, ConsumerSpec};
use hookline_bus::nats::{self, Nats};
use hookline_bus::settings::NatsSettings;
use hookline_bus::store::{self, CatalogView};
use hookline_bus::supervise;
use hookline_model::catalog::Ordering;
use hookline_model::settings::{Reader, SettingsError};
use hookline_model::ssrf::Guard;
use hookline_model::subjects::{ConfigKind, StreamKind};
use hookline_runtime::shutdown::{CancellationToken, GRACE};

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
        let health_listen = hookline_runtime::probe::read_listen(&mut r);
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
        let health = hookline_runtime::probe::bind(config.health_listen).await?;
        Ok(Self {
            nats,
            health,
            catalog,
            config,
            background,
        })
    }

    /// Delivers until `shutdown`, then finishes attempts in hand.
    pub async fn run_until(self, shutdown: CancellationToken) {
        if let Some(listener) = self.health {
            tokio::spawn(hookline_runtime::probe::serve(
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
        retire_fanout(&self.nats).await;
        let guard = Arc::new(self.config.guard.clone());
        let logs = hookline_bus::log_sink::LogSink::start(self.nats.client.clone());
        let deliverer = Deliverer {
            nats: self.nats.clone(),
            logs: logs.clone(),
            client: hookline_http::guarded_http::http_client(self.config.connect_timeout, guard.clone()),
            schedule: self.config.schedule.clone(),
            timeout: self.config.timeout,
            guard,
            health: Arc::new(Health::new(self.nats.clone(), self.config.disable_after).await),
            pacing: Arc::default(),
            delivered: delivered::Delivered::new(&self.nats, logs.clone()),
            secrets: store::derive(self.catalog.clone(), self.background.clone(), |c| {
                attempt::resolve_secrets(c)
            }),
        };
        let (nats, catalog, config) = (self.nats.clone(), self.catalog.clone(), self.config.clone());
        let events_prefix = self.nats.subjects.events_prefix().trim_end_matches('.').to_owned();
        supervise::per_item(
            self.catalog.clone(),
            shutdown,
            |catalog| {
                catalog
                    .subscriptions
                    .iter()
                    .map(|(id, sub)| {
                        let reads = Reads {
                            ordered: sub.ordered,
                            filters: filters::subjects(
                                &events_prefix,
                                &sub.events.iter().map(|p| p.get().clone()).collect::<Vec<_>>(),
                            ),
                        };
                        (id.clone(), reads)
                    })
                    .collect()
            },
            |subscription, reads, stop| {
                subscription_consumers(
                    nats.clone(),
                    catalog.clone(),
                    config.clone(),
                    deliverer.clone(),
                    subscription,
                    reads,
                    stop,
                )
            },
        )
        .await;
        logs.flush().await;
        self.background.cancel();
    }
}

/// What a subscription's consumers read; a change restarts them.
#[derive(Clone, Debug, PartialEq)]
struct Reads {
    ordered: Ordering,
    filters: Vec<String>,
}

/// One subscription's two consumers: its events, read from the events
/// stream (a disabled one's events wait, see [`when_enabled`]), in run
/// order when it asks for it; and its replayed dead letters, from the
/// deliveries stream (a replay is out of order by nature). When the
/// subscription is gone from the catalog, its events consumer is deleted.
async fn subscription_consumers(
    nats: Nats,
    catalog: CatalogView,
    config: Config,
    deliverer: Deliverer,
    subscription: String,
    reads: Reads,
    stop: CancellationToken,
) {
    // A globally ordered subscription has one delivery in flight.
    let in_flight = if reads.ordered == Ordering::Global {
        1
    } else {
        config.concurrency
    };
    // Longer than one attempt, so a slow attempt is never delivered twice
    // at once.
    let ack_wait = config.timeout + Duration::from_secs(15);
    let spec = |kind: StreamKind, filters: Vec<String>, start: DeliverPolicy| ConsumerSpec {
        stream: nats.subjects.stream(kind),
        durable: nats.subjects.delivery_consumer(&subscription),
        filters,
        start,
        ack_wait,
        max_ack_pending: i64::try_from(in_flight).unwrap_or(16),
        concurrency: in_flight,
    };
    // A subscription gets the events stored since it was written (the first
    // time its consumer is made; after that the consumer keeps its place).
    let start = match store::write::read(&nats, ConfigKind::Subscription, &subscription).await {
        Ok(Some(entry)) => DeliverPolicy::ByStartTime {
            start_time: entry.written_at,
        },
        _ => DeliverPolicy::New,
    };
    let chains = (reads.ordered == Ordering::Run).then(|| Arc::new(run_order::Chains::default()));
    // Shared, not cloned, per message: a `Deliverer` holds clients and the
    // delivered bucket's stream info (dozens of allocations per clone).
    let deliverer = Arc::new(deliverer);
    let events = {
        let (deliverer, catalog, id, halt) = (deliverer.clone(), catalog.clone(), subscription.clone(), stop.clone());
        let spec = spec(StreamKind::Events, reads.filters.clone(), start);
        consume::run_in_order(
            nats.js.clone(),
            spec,
            move |msg| {
                let (deliverer, id, view, halt) = (deliverer.clone(), id.clone(), catalog.clone(), halt.clone());
                let deliver = move |msg: Arc<async_nats::jetstream::Message>| async move {
                    match when_enabled(view, &id, &msg, ack_wait, &halt).await {
                        Some(catalog) => deliverer.handle_event(&catalog, &id, &msg).await,
                        None => consume::Outcome::Retry(Duration::from_secs(1)),
                    }
                };
                let work: std::pin::Pin<Box<dyn std::future::Future<Output = consume::Outcome> + Send>> = match &chains
                {
                    Some(chains) => chains.issue(msg, ack_wait / 3, deliver),
                    None => Box::pin(deliver(msg)),
                };
                std::future::ready(work)
            },
            stop.clone(),
            config.grace,
        )
    };
    let replays = {
        let catalog = catalog.clone();
        let spec = spec(
            StreamKind::Deliveries,
            vec![nats.subjects.deliveries(&subscription)],
            DeliverPolicy::All,
        );
        consume::run_in_order(
            nats.js.clone(),
            spec,
            move |msg| {
                let deliverer = deliverer.clone();
                let catalog = catalog.borrow().clone();
                std::future::ready(async move { deliverer.handle(&catalog, &msg).await })
            },
            stop.clone(),
            config.grace,
        )
    };
    tokio::join!(events, replays);
    if !catalog.borrow().subscriptions.contains_key(&subscription) {
        delete_consumer(
            &nats,
            StreamKind::Events,
            &nats.subjects.delivery_consumer(&subscription),
        )
        .await;
    }
}

/// The catalog once `subscription` is enabled (or gone), or `None` when the
/// notifier stops first. A disabled subscription's events wait here, kept
/// alive in JetStream, so no attempt is spent on them, and go out as soon
/// as it is enabled again; at most its in-flight limit wait in hand, the
/// rest in its consumer.
async fn when_enabled(
    mut view: CatalogView,
    subscription: &str,
    msg: &Arc<async_nats::jetstream::Message>,
    ack_wait: Duration,
    stop: &CancellationToken,
) -> Option<Arc<hookline_model::catalog::Catalog>> {
    let mut alive = None;
    loop {
        let catalog = view.borrow_and_update().clone();
        if catalog.subscriptions.get(subscription).is_none_or(|s| s.enabled) {
            return Some(catalog);
        }
        alive.get_or_insert_with(|| consume::keep_alive(msg.clone(), ack_wait / 3));
        tokio::select! {
            _ = stop.cancelled() => return None,
            changed = view.changed() => if changed.is_err() { return None },
        }
    }
}

/// The fan-out stage of earlier versions stored a `Delivery` copy of each
/// event per subscription; its consumer is removed so it holds nothing.
async fn retire_fanout(nats: &Nats) {
    delete_consumer(nats, StreamKind::Events, "notifier-fanout").await;
}

async fn delete_consumer(nats: &Nats, kind: StreamKind, name: &str) {
    if let Ok(stream) = nats.js.get_stream(nats.subjects.stream(kind)).await
        && stream.delete_consumer(name).await.is_ok()
    {
        tracing::info!(consumer = name, "Consumer removed.");
    }
}
