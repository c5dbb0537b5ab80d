//! Prometheus metrics: one registry per process with every family Hookline
//! records (each service fills the ones it owns), and the JetStream figures
//! each service reports for the streams it consumes (pending and
//! ack-pending per consumer, messages per stream), read when scraped.
//! Names and units follow Prometheus conventions (`_total` counters,
//! `_seconds` histograms). `GET /metrics` serves them in the Prometheus
//! text format: on the health listener (router, executor, notifier), on the
//! webhook port (ingest) and on the admin listener.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use hookline_bus::nats::Nats;

/// The content type `GET /metrics` answers with: the Prometheus text
/// format, which every scraper and `promtool check metrics` read.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub use labels::*;

mod labels;

/// Every family Hookline records.
pub struct Metrics {
    registry: Registry,
    /// Webhooks answered, by source and status.
    pub webhooks: Family<WebhookLabels, Counter>,
    /// Webhooks refused by verification, by source and reason.
    pub verification_failures: Family<ReasonLabels, Counter>,
    /// Routing decisions, by agent and outcome.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Runs requested, by agent.
    pub runs_requested: Family<AgentLabels, Counter>,
    /// Runs (attempts) finished, by agent and final status.
    pub runs_finished: Family<RunLabels, Counter>,
    /// How long runs took, by agent.
    pub run_duration: Family<AgentLabels, Histogram>,
    /// Delivery attempts, by subscription and outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// How long delivery attempts took, by subscription.
    pub delivery_duration: Family<SubscriptionLabels, Histogram>,
    /// Retries scheduled, by subscription.
    pub retries: Family<SubscriptionLabels, Counter>,
    /// Deliveries dead-lettered, by subscription.
    pub dead_letters: Family<SubscriptionLabels, Counter>,
    /// Messages not yet delivered to a consumer.
    pub consumer_pending: Family<ConsumerLabels, Gauge>,
    /// Messages delivered to a consumer and not yet acknowledged.
    pub consumer_ack_pending: Family<ConsumerLabels, Gauge>,
    /// Messages in a stream (the dead-letter stream's depth, among others).
    pub stream_messages: Family<StreamLabels, Gauge>,
    /// Admin API and console requests, by route, method and status.
    pub admin_requests: Family<AdminRequestLabels, Counter>,
    /// How long admin requests took to answer, by route.
    pub admin_request_duration: Family<RouteLabels, Histogram>,
    /// Console sign-ins, by outcome.
    pub console_sign_ins: Family<OutcomeLabels, Counter>,
}

fn run_histogram() -> Histogram {
    // 0.1 s to about 3.6 hours.
    Histogram::new(exponential_buckets(0.1, 3.0, 11))
}

fn delivery_histogram() -> Histogram {
    // 1 ms to about 20 s.
    Histogram::new(exponential_buckets(0.001, 2.7, 11))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("hookline");
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "webhooks",
            "Webhooks answered, by source and HTTP status",
            webhooks.clone(),
        );
        let verification_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "webhook_verification_failures",
            "Webhooks refused by signature or token verification, by source and reason",
            verification_failures.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "router_decisions",
            "Routing decisions, by agent and outcome",
            decisions.clone(),
        );
        let runs_requested = Family::<AgentLabels, Counter>::default();
        registry.register("runs_requested", "Runs requested, by agent", runs_requested.clone());
        let runs_finished = Family::<RunLabels, Counter>::default();
        registry.register(
            "runs_finished",
            "Run attempts finished, by agent and status",
            runs_finished.clone(),
        );
        let run_duration = Family::<AgentLabels, Histogram>::new_with_constructor(run_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "run_duration",
            "How long run attempts took",
            Unit::Seconds,
            run_duration.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Delivery attempts, by subscription and outcome",
            deliveries.clone(),
        );
        let delivery_duration =
            Family::<SubscriptionLabels, Histogram>::new_with_constructor(delivery_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "delivery_duration",
            "How long delivery attempts took, answer included",
            Unit::Seconds,
            delivery_duration.clone(),
        );
        let retries = Family::<SubscriptionLabels, Counter>::default();
        registry.register(
            "delivery_retries",
            "Delivery retries scheduled, by subscription",
            retries.clone(),
        );
        let dead_letters = Family::<SubscriptionLabels, Counter>::default();
        registry.register(
            "dead_letters",
            "Deliveries dead-lettered, by subscription",
            dead_letters.clone(),
        );
        let consumer_pending = Family::<ConsumerLabels, Gauge>::default();
        registry.register(
            "consumer_pending_messages",
            "JetStream messages a consumer has not been given yet (queue depth)",
            consumer_pending.clone(),
        );
        let consumer_ack_pending = Family::<ConsumerLabels, Gauge>::default();
        registry.register(
            "consumer_ack_pending_messages",
            "JetStream messages a consumer was given and has not acknowledged",
            consumer_ack_pending.clone(),
        );
        let stream_messages = Family::<StreamLabels, Gauge>::default();
        registry.register(
            "stream_messages",
            "Messages in a JetStream stream",
            stream_messages.clone(),
        );
        let admin_requests = Family::<AdminRequestLabels, Counter>::default();
        registry.register(
            "admin_requests",
            "Admin API and console requests, by route, method and status",
            admin_requests.clone(),
        );
        let admin_request_duration =
            Family::<RouteLabels, Histogram>::new_with_constructor(delivery_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "admin_request_duration",
            "How long admin requests took to answer (a followed log: until its head)",
            Unit::Seconds,
            admin_request_duration.clone(),
        );
        let console_sign_ins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "console_sign_ins",
            "Console sign-ins, by outcome (signed_in, refused)",
            console_sign_ins.clone(),
        );
        Self {
            registry,
            webhooks,
            verification_failures,
            decisions,
            runs_requested,
            runs_finished,
            run_duration,
            deliveries,
            delivery_duration,
            retries,
            dead_letters,
            consumer_pending,
            consumer_ack_pending,
            stream_messages,
            admin_requests,
            admin_request_duration,
            console_sign_ins,
        }
    }

    /// The text every scrape answers.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        prometheus_text(&out)
    }

    /// Reads the pending and ack-pending counts of every consumer of
    /// `streams`, and their sizes, into the gauges.
    pub async fn refresh_streams(&self, nats: &Nats, streams: &[String]) {
        use futures::StreamExt;
        for name in streams {
            let Ok(mut stream) = nats.js.get_stream(name).await else {
                continue;
            };
            if let Ok(info) = stream.info().await {
                let messages = i64::try_from(info.state.messages).unwrap_or(i64::MAX);
                self.stream_messages
                    .get_or_create(&StreamLabels { stream: name.clone() })
                    .set(messages);
            }
            let mut consumers = stream.consumers();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while let Ok(Some(Ok(info))) = tokio::time::timeout_at(deadline, consumers.next()).await {
                let labels = ConsumerLabels {
                    stream: name.clone(),
                    consumer: info.name.clone(),
                };
                self.consumer_pending
                    .get_or_create(&labels)
                    .set(i64::try_from(info.num_pending).unwrap_or(i64::MAX));
                self.consumer_ack_pending
                    .get_or_create(&labels)
                    .set(i64::try_from(info.num_ack_pending).unwrap_or(i64::MAX));
            }
        }
    }
}

/// The OpenMetrics text the client library writes, as the Prometheus text
/// format: a counter's `HELP` and `TYPE` name its `_total` series, and the
/// OpenMetrics-only `UNIT` and `EOF` lines go.
fn prometheus_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, "counter")) = rest.split_once(' ')
        {
            counters.insert(name.to_owned());
        }
    }
    let mut out = String::with_capacity(openmetrics.len() + 64);
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

static ENABLED: AtomicBool = AtomicBool::new(true);

/// The process's metrics, or `None` when `HOOKLINE_METRICS=off` turned
/// recording off (the ingest benchmark measures what they cost).
pub fn get() -> Option<&'static Metrics> {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    ENABLED
        .load(Ordering::Relaxed)
        .then(|| METRICS.get_or_init(Metrics::new))
}

/// Turns recording on or off for the whole process.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// The `GET /metrics` answer without JetStream figures (ingest, admin).
pub fn render() -> String {
    get().map_or_else(String::new, Metrics::encode)
}

/// The `GET /metrics` answer: the encoded families after refreshing the
/// gauges of `streams`.
pub async fn scrape(nats: &Nats, streams: &[String]) -> String {
    match get() {
        Some(metrics) => {
            metrics.refresh_streams(nats, streams).await;
            metrics.encode()
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_total_series_and_open_metrics_lines_go() {
        let metrics = Metrics::new();
        let labels = WebhookLabels {
            source: "gh".into(),
            status: "202".into(),
        };
        metrics.webhooks.get_or_create(&labels).inc();
        metrics
            .run_duration
            .get_or_create(&AgentLabels { agent: "a".into() })
            .observe(1.5);
        let text = metrics.encode();
        assert!(
            text.contains("# HELP hookline_webhooks_total Webhooks answered"),
            "{text}"
        );
        assert!(text.contains("# TYPE hookline_webhooks_total counter"), "{text}");
        assert!(
            text.contains("hookline_webhooks_total{source=\"gh\",status=\"202\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE hookline_run_duration_seconds histogram"),
            "{text}"
        );
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    }
}
