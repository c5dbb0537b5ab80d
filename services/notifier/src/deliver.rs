//! Delivery: each subscription's consumer reads the events stream directly
//! (and its replayed dead letters from the deliveries stream); one signed
//! POST per attempt, classified once
//! ([`retry::classify`]), then ack on 2xx, nak with the schedule's delay on a
//! retryable failure, or a dead letter after the last attempt or a final
//! answer. 410 Gone also disables the subscription. A delivery that already
//! got a 2xx is settled without sending ([`crate::delivered`]). Every attempt is logged
//! (fire and forget: a lost log record never causes a resend).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self};
use hookline_bus::consume::{self, Outcome};
use hookline_bus::log_sink::LogSink;
use hookline_bus::nats::{Nats, Stamp};
use hookline_bus::store;
use hookline_model::catalog::Catalog;
use hookline_model::clock;
use hookline_model::ssrf::Guard;
use hookline_model::subjects::{ConfigKind, msg_id};
use hookline_proto::{Attempt, DeadLetter, Delivery, Event, Message as _};
use tokio::sync::watch;

use crate::attempt::{self, AttemptError, ResolvedSecrets, Response, describe};
use crate::delivered::Delivered;
use crate::health::Health;
use crate::retry::{self, Schedule, Verdict};
use hookline_http::guarded_http::HttpClient;

/// What a delivery consumer needs.
#[derive(Clone)]
pub struct Deliverer {
    /// NATS.
    pub nats: Nats,
    /// Where attempt records go.
    pub logs: LogSink,
    /// The HTTP client.
    pub client: HttpClient,
    /// Retry delays.
    pub schedule: Schedule,
    /// Longest one attempt may take, response included.
    pub timeout: Duration,
    /// Which targets may be reached.
    pub guard: Arc<Guard>,
    /// Failing-endpoint tracking.
    pub health: Arc<Health>,
    /// Each subscription's secrets, resolved once per catalog change (a
    /// `file:` secret is not read per delivery), with when each stops signing.
    pub secrets: watch::Receiver<Arc<ResolvedSecrets>>,
    /// Per subscription with a rate limit: the next free sending slot.
    pub pacing: Arc<Mutex<HashMap<String, Instant>>>,
    /// Deliveries that already got a 2xx.
    pub delivered: Delivered,
}

impl Deliverer {
    /// Handles one event read from the events stream by `subscription`'s
    /// own consumer: the event is stored once, whoever wants it.
    pub async fn handle_event(&self, catalog: &Catalog, subscription: &str, msg: &jetstream::Message) -> Outcome {
        let (event, trace) = match consume::decode::<Event>(msg) {
            Ok(decoded) => decoded,
            Err(outcome) => return outcome,
        };
        // A widened consumer filter ([`crate::filters`]) lets through a few
        // types the subscription does not want.
        match catalog.subscriptions.get(subscription) {
            Some(sub) if !sub.wants(&event.r#type) => return Outcome::Ack,
            // Disabled while this event was in hand: it waits with the rest
            // of the subscription's events until it is enabled again.
            Some(sub) if !sub.enabled => return Outcome::Retry(Duration::from_secs(30)),
            _ => {}
        }
        let delivery = Delivery {
            subscription: subscription.to_owned(),
            event: Some(event),
            redone: false,
        };
        self.deliver(catalog, delivery, trace, msg).await
    }

    /// Handles one `Delivery` message: a replayed dead letter.
    pub async fn handle(&self, catalog: &Catalog, msg: &jetstream::Message) -> Outcome {
        match consume::decode::<Delivery>(msg) {
            Ok((delivery, trace)) => self.deliver(catalog, delivery, trace, msg).await,
            Err(outcome) => outcome,
        }
    }

    async fn deliver(
        &self,
        catalog: &Catalog,
        delivery: Delivery,
        trace: Option<String>,
        msg: &jetstream::Message,
    ) -> Outcome {
        let Some(event) = &delivery.event else {
            return Outcome::Term("delivery without an event".to_owned());
        };
        let attempt = consume::delivery_count(msg);
        // Stable across redeliveries of this message, new for a replayed one.
        let sequence = msg
            .info()
            .map(|i| (i.stream.to_owned(), i.stream_sequence))
            .unwrap_or_default();
        let Some(sub) = catalog.subscriptions.get(&delivery.subscription) else {
            return Outcome::Term(format!("subscription `{}` no longer exists", delivery.subscription));
        };
        if !sub.enabled {
            return self
                .dead_letter(&delivery, &sequence, attempt.saturating_sub(1), "subscription disabled")
                .await;
        }
        // Only a delivery that may be a repeat is looked up: the lookup
        // costs a round trip the first try never needs.
        if (attempt > 1 || delivery.redone) && self.delivered.already(&delivery.subscription, &event.id).await {
            tracing::info!(subscription = %delivery.subscription, event_id = %event.id, "Already delivered; not sent again.");
            return Outcome::Ack;
        }
        if let Some(per_second) = sub.rate_limit {
            self.pace(&delivery.subscription, per_second).await;
        }
        // Each attempt is a span of the event's trace; the subscriber's
        // `traceparent` names it.
        let (attempt_trace, incoming) = hookline_runtime::telemetry::TraceParent::continued(trace.as_deref());
        let span = hookline_runtime::tracing_export::stage(
            "deliver",
            opentelemetry::trace::SpanKind::Client,
            &attempt_trace,
            incoming.as_ref(),
        );
        span.set("hookline.subscription", delivery.subscription.clone());
        span.set("hookline.event_type", event.r#type.clone());
        span.set("hookline.attempt", i64::from(attempt));
        let started = Instant::now();
        let traceparent = attempt_trace.to_string();
        let signing = self.secrets.borrow().clone();
        let response = attempt::post(
            &self.client,
            &self.guard,
            self.timeout,
            &signing,
            &delivery.subscription,
            sub,
            event,
            Some(&traceparent),
        )
        .await;
        let latency = started.elapsed();
        if let Some(status) = response.status {
            span.set("http.response.status_code", i64::from(status));
        }
        let verdict = if matches!(response.failure, Some(AttemptError::Refused(_))) {
            Verdict::Final
        } else {
            retry::classify(response.status, response.retry_after)
        };
        if verdict == Verdict::Delivered {
            self.health.success(&delivery.subscription).await;
        } else if self.health.failure(&delivery.subscription).await {
            self.log_attempt(&delivery.subscription, event, attempt, &response, latency, None);
            let reason = "subscription disabled after failing for the whole window";
            return self.dead_letter(&delivery, &sequence, attempt, reason).await;
        }
        let next = match &verdict {
            Verdict::Retry { retry_after } => self.schedule.delay_after(attempt, *retry_after, rand::random()),
            _ => None,
        };
        self.log_attempt(&delivery.subscription, event, attempt, &response, latency, next);
        record_attempt(&delivery.subscription, &verdict, next.is_some(), latency);
        match verdict {
            Verdict::Delivered => {
                self.delivered.mark(&delivery.subscription, &event.id);
                Outcome::Ack
            }
            Verdict::Retry { .. } => match next {
                Some(delay) => {
                    tracing::debug!(subscription = %delivery.subscription, attempt, ?delay, "Delivery failed; retrying.");
                    Outcome::Retry(delay)
                }
                None => {
                    self.dead_letter(&delivery, &sequence, attempt, &describe(&response))
                        .await
                }
            },
            Verdict::Final => {
                self.dead_letter(&delivery, &sequence, attempt, &describe(&response))
                    .await
            }
            Verdict::Gone => {
                tracing::warn!(subscription = %delivery.subscription, "Endpoint answered 410 Gone; disabling the subscription.");
                if let Err(e) =
                    store::write::set_enabled(&self.nats, ConfigKind::Subscription, &delivery.subscription, false).await
                {
                    tracing::error!(subscription = %delivery.subscription, error = %e, "Could not disable subscription.");
                }
                self.dead_letter(&delivery, &sequence, attempt, "410 Gone").await
            }
        }
    }

    fn log_attempt(
        &self,
        subscription: &str,
        event: &Event,
        attempt: u32,
        r: &Response,
        latency: Duration,
        next: Option<Duration>,
    ) {
        let now = clock::now_ms();
        let record = Attempt {
            at_ms: now,
            subscription: subscription.to_owned(),
            event_id: event.id.clone(),
            attempt,
            status: r.status.map(u32::from).unwrap_or(0),
            error: r.error(),
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            response_body: r.body.clone(),
            next_attempt_at_ms: next.map_or(0, |d| now + i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        };
        self.logs
            .record(self.nats.subjects.log_attempt(subscription), record.encode_to_vec());
    }

    async fn dead_letter(&self, delivery: &Delivery, sequence: &(String, u64), attempts: u32, error: &str) -> Outcome {
        if let Some(metrics) = hookline_runtime::metrics::get() {
            let labels = hookline_runtime::metrics::SubscriptionLabels {
                subscription: delivery.subscription.clone(),
            };
            metrics.dead_letters.get_or_create(&labels).inc();
        }
        let letter = DeadLetter {
            delivery: Some(delivery.clone()),
            attempts,
            last_error: error.to_owned(),
            failed_at_ms: clock::now_ms(),
        };
        let event_id = delivery.event.as_ref().map(|e| e.id.as_str()).unwrap_or_default();
        let stamp = Stamp {
            msg_id: &msg_id::dead_letter(event_id, &delivery.subscription, &sequence.0, sequence.1),
            event_id: Some(event_id),
            traceparent: None,
        };
        let stored = async {
            self.nats
                .send(
                    self.nats.subjects.dlq(&delivery.subscription),
                    letter.encode_to_vec(),
                    stamp,
                )
                .await?
                .await
        };
        match stored.await {
            Ok(_) => {
                tracing::warn!(subscription = %delivery.subscription, event_id, attempts, error, "Delivery dead-lettered.");
                Outcome::Ack
            }
            Err(e) => {
                tracing::warn!(error = %e, "Dead letter not stored; keeping the delivery.");
                Outcome::Retry(Duration::from_secs(5))
            }
        }
    }
}

impl Deliverer {
    /// Waits for this subscription's next sending slot (`rate_limit` per second).
    async fn pace(&self, subscription: &str, per_second: u32) {
        let gap = Duration::from_secs(1) / per_second.max(1);
        let slot = {
            let mut pacing = self.pacing.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let next = pacing.entry(subscription.to_owned()).or_insert(now);
            let slot = (*next).max(now);
            *next = slot + gap;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// Counts one attempt: its outcome, its latency, and the retry it schedules.
fn record_attempt(subscription: &str, verdict: &Verdict, retried: bool, latency: Duration) {
    let Some(metrics) = hookline_runtime::metrics::get() else {
        return;
    };
    let outcome = if *verdict == Verdict::Delivered {
        "delivered"
    } else {
        "failed"
    };
    let labels = hookline_runtime::metrics::DeliveryLabels {
        subscription: subscription.to_owned(),
        outcome: outcome.to_owned(),
    };
    metrics.deliveries.get_or_create(&labels).inc();
    let sub = hookline_runtime::metrics::SubscriptionLabels {
        subscription: subscription.to_owned(),
    };
    metrics
        .delivery_duration
        .get_or_create(&sub)
        .observe(latency.as_secs_f64());
    if retried {
        metrics.retries.get_or_create(&sub).inc();
    }
}
