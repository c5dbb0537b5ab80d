//! The consume → handle → one ack decision loop every stage runs.
//!
//! A handler looks at a message and returns an [`Outcome`]; [`settle`] is the
//! one place that turns an outcome into ack, nak-with-delay or term. The loop
//! pulls only when a handler slot is free, recreates its consumer when the
//! server lost it, and on shutdown stops pulling and lets handlers in flight
//! finish and settle.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use hookline_model::subjects::{EVENT_ID, TRACEPARENT};

/// What a handler decided about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: its output (if any) is acknowledged by JetStream.
    Ack,
    /// Try again after this delay (a nak with delay).
    Retry(Duration),
    /// Never redeliver: the message cannot be handled.
    Term(String),
}

/// The durable consumer a loop reads from.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Stream name.
    pub stream: String,
    /// Durable name, shared by every copy of the service.
    pub durable: String,
    /// Subject filters (one or more, none overlapping another).
    pub filters: Vec<String>,
    /// Where a new durable starts: `All` for the pipeline's work streams;
    /// a subscription reading the events stream starts when it was written.
    pub start: jetstream::consumer::DeliverPolicy,
    /// How long a delivered message may go unacked.
    pub ack_wait: Duration,
    /// Unacked messages at once across all copies.
    pub max_ack_pending: i64,
    /// Handlers at once in this copy.
    pub concurrency: usize,
}

impl ConsumerSpec {
    fn config(&self) -> pull::Config {
        let (filter_subject, filter_subjects) = match self.filters.as_slice() {
            [one] => (one.clone(), Vec::new()),
            many => (String::new(), many.to_vec()),
        };
        pull::Config {
            durable_name: Some(self.durable.clone()),
            filter_subject,
            filter_subjects,
            deliver_policy: self.start,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_ack_pending: self.max_ack_pending,
            ..Default::default()
        }
    }
}

/// Turns a handler's outcome into the one ack the message gets.
pub async fn settle(msg: &jetstream::Message, outcome: &Outcome) {
    let kind = match outcome {
        Outcome::Ack => AckKind::Ack,
        Outcome::Retry(after) => AckKind::Nak(Some(*after)),
        Outcome::Term(reason) => {
            tracing::warn!(subject = %msg.subject, reason, "Message terminated; it will not be redelivered.");
            AckKind::Term
        }
    };
    if let Err(e) = msg.ack_with(kind).await {
        // The message will be redelivered after ack_wait; handlers are idempotent.
        tracing::warn!(subject = %msg.subject, error = %e, "Ack failed; the message will be redelivered.");
    }
}

/// A message's body decoded as `T`, with the trace context it carries; an
/// undecodable body is a [`Outcome::Term`] naming the type. Every consumer
/// decodes through here.
pub fn decode<T: hookline_proto::Message + Default>(msg: &jetstream::Message) -> Result<(T, Option<String>), Outcome> {
    let body = T::decode(msg.payload.as_ref()).map_err(|e| {
        let name = std::any::type_name::<T>().rsplit("::").next().unwrap_or("message");
        Outcome::Term(format!("undecodable {name}: {e}"))
    })?;
    let traceparent = header(msg, TRACEPARENT).map(str::to_owned);
    Ok((body, traceparent))
}

fn header<'m>(msg: &'m jetstream::Message, name: &str) -> Option<&'m str> {
    msg.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str())
}

/// The span of one message: where it came from and which event and trace
/// it belongs to; a handler adds its run with [`record_run`].
fn message_span(consumer: &str, msg: &jetstream::Message) -> tracing::Span {
    let trace_id = header(msg, TRACEPARENT).and_then(|t| t.split('-').nth(1)).unwrap_or("");
    tracing::debug_span!(
        "message",
        consumer = %consumer,
        subject = %msg.subject,
        seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0),
        event_id = header(msg, EVENT_ID).unwrap_or(""),
        trace_id,
        run_id = tracing::field::Empty,
    )
}

/// Names the run the current message's span is about.
pub fn record_run(run_id: &str) {
    tracing::Span::current().record("run_id", run_id);
}

/// How many times a message has been delivered, 1 for the first.
pub fn delivery_count(msg: &jetstream::Message) -> u32 {
    msg.info()
        .map(|info| u32::try_from(info.delivered).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

/// Tells JetStream, every `every`, that `msg` is still being worked on, until
/// the guard is dropped.
pub fn keep_alive(msg: Arc<jetstream::Message>, every: Duration) -> KeepAlive {
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = msg.ack_with(AckKind::Progress).await {
                tracing::warn!(error = %e, "Progress ack failed.");
            }
        }
    });
    KeepAlive(task)
}

/// Stops progress acks when dropped.
pub struct KeepAlive(tokio::task::JoinHandle<()>);

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `handler` over the consumer's messages until `shutdown`, then waits
/// up to `grace` for handlers in flight to settle.
pub async fn run<F, Fut>(
    js: jetstream::Context,
    spec: ConsumerSpec,
    handler: F,
    shutdown: CancellationToken,
    grace: Duration,
) where
    F: Fn(Arc<jetstream::Message>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    run_in_order(js, spec, move |msg| std::future::ready(handler(msg)), shutdown, grace).await;
}

/// Like [`run`], for handlers whose side effects must follow stream order:
/// `issue` runs for one message at a time, in order, and returns the rest of
/// the work (such as waiting for PubAcks), which runs concurrently and
/// decides the outcome. The notifier's ordered-by-run subscriptions chain
/// each run's deliveries this way, in the order their events were stored.
pub async fn run_in_order<F, Issue, Done>(
    js: jetstream::Context,
    spec: ConsumerSpec,
    issue: F,
    shutdown: CancellationToken,
    grace: Duration,
) where
    F: Fn(Arc<jetstream::Message>) -> Issue + Send + Sync + 'static,
    Issue: Future<Output = Done> + Send + 'static,
    Done: Future<Output = Outcome> + Send + 'static,
{
    let handler = Arc::new(issue);
    let slots = Arc::new(Semaphore::new(spec.concurrency.max(1)));
    let mut failures = 0u32;
    'connect: while !shutdown.is_cancelled() {
        if failures > 0 {
            let delay = Duration::from_millis(200 * u64::from(failures.min(15)));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        let messages = async {
            let stream = js.get_stream(&spec.stream).await.map_err(|e| e.to_string())?;
            let mut config = spec.config();
            // Where a durable starts is fixed when it is made: an existing
            // one keeps its own (its filters may change).
            if let Ok(info) = stream.consumer_info(&spec.durable).await {
                config.deliver_policy = info.config.deliver_policy;
            }
            let consumer = stream.create_consumer(config).await.map_err(|e| e.to_string())?;
            consumer
                .stream()
                .max_messages_per_batch(spec.concurrency.clamp(1, 256))
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await
                .map_err(|e| e.to_string())
        };
        let mut messages = match messages.await {
            Ok(m) => m,
            Err(e) => {
                failures += 1;
                tracing::warn!(consumer = %spec.durable, error = %e, "Cannot start consumer; retrying.");
                continue;
            }
        };
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break 'connect,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break 'connect,
                },
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => break 'connect,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(msg)) => {
                    failures = 0;
                    let msg = Arc::new(msg);
                    let span = message_span(&spec.durable, &msg);
                    let done = handler(msg.clone()).instrument(span.clone()).await;
                    tokio::spawn(
                        async move {
                            let outcome = done.await;
                            settle(&msg, &outcome).await;
                            drop(permit);
                        }
                        .instrument(span),
                    );
                }
                Some(Err(e)) => {
                    // The consumer may have vanished (server restarted without
                    // its store): recreate it rather than erroring forever.
                    failures += 1;
                    tracing::warn!(consumer = %spec.durable, error = %e, "Consumer error; recreating.");
                    continue 'connect;
                }
                None => {
                    failures += 1;
                    continue 'connect;
                }
            }
        }
    }
    let all = u32::try_from(spec.concurrency.max(1)).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all)).await.is_err() {
        tracing::warn!(consumer = %spec.durable, "Handlers still running after the grace period; their messages will be redelivered.");
    }
}
