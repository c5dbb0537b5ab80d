//! Reaching NATS and laying out the streams and buckets of DESIGN.md
//! section 2. Set-up is idempotent: every service runs it at start-up.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use startup_retry::retry_until;

use crate::buckets::{BucketError, Buckets};
use crate::settings::{NatsSettings, nats_servers};
use hookline_model::subjects::{EVENT_ID, MSG_ID, StreamKind, Subjects, TRACEPARENT};

/// Why NATS could not be reached or laid out.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The client could not be created.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The URL tried.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
    /// `HOOKLINE_NATS_URL` names no usable server.
    #[error("HOOKLINE_NATS_URL {url}: {reason}")]
    Url {
        /// The setting.
        url: String,
        /// Why.
        reason: String,
    },
    /// A stream could not be created or updated.
    #[error("cannot set up stream {name}: {reason}")]
    Stream {
        /// The stream.
        name: String,
        /// Why.
        reason: String,
    },
    /// A bucket could not be created or opened.
    #[error(transparent)]
    Bucket(#[from] BucketError),
}

/// A connected client with its JetStream context and names.
#[derive(Clone)]
pub struct Nats {
    /// The core client (plain publishes for logs, requests).
    pub client: async_nats::Client,
    /// JetStream.
    pub js: jetstream::Context,
    /// Names for this installation.
    pub subjects: Subjects,
    /// Every bucket, opened once at start (shared: a store handle holds its
    /// stream's whole description, and `Nats` is cloned into every task).
    pub buckets: Arc<Buckets>,
}

/// The headers that identify a message on a stream subject.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stamp<'a> {
    /// `Nats-Msg-Id`: what the duplicate window dedupes on.
    pub msg_id: &'a str,
    /// `Hookline-Event-Id`, where the message carries an event.
    pub event_id: Option<&'a str>,
    /// W3C `traceparent`, carried end to end.
    pub traceparent: Option<&'a str>,
}

impl Nats {
    /// Publishes `payload` on a stream subject with its stamp; resolves once
    /// sent, to the future of its PubAck (await it before acking the input).
    pub async fn send(
        &self,
        subject: String,
        payload: Vec<u8>,
        stamp: Stamp<'_>,
    ) -> Result<jetstream::context::PublishAckFuture, jetstream::context::PublishError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(MSG_ID, stamp.msg_id);
        if let Some(event_id) = stamp.event_id {
            headers.insert(EVENT_ID, event_id);
        }
        if let Some(traceparent) = stamp.traceparent {
            headers.insert(TRACEPARENT, traceparent);
        }
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .headers(headers);
        self.js.send_publish(subject, publish).await
    }
}

/// How long a JetStream publish may wait for its ack.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects (retrying the first connection in the background, reconnecting
/// forever) and lays out streams and buckets, retrying until NATS answers.
pub async fn connect(settings: &NatsSettings, name: &str) -> Result<Nats, NatsError> {
    let client = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .connect(nats_servers(&settings.url).map_err(|reason| NatsError::Url {
            url: settings.url.clone(),
            reason,
        })?)
        .await
        .map_err(|source| NatsError::Connect {
            url: settings.url.clone(),
            source,
        })?;
    let js = jetstream::ContextBuilder::new()
        .timeout(PUBLISH_TIMEOUT)
        .build(client.clone());
    let subjects = Subjects::new(settings.prefix.clone());
    let buckets = retry_until(settings.startup_timeout, || async {
        ensure_streams(&js, &subjects, settings).await?;
        Ok::<_, NatsError>(Box::pin(Buckets::lay_out(&js, &subjects, settings)).await?)
    })
    .await?;
    Ok(Nats {
        client,
        js,
        subjects,
        buckets: Arc::new(buckets),
    })
}

mod startup_retry {
    //! Start-up retry: NATS may still be starting when a service does.
    use std::future::Future;
    use std::time::Duration;

    use backon::{ExponentialBuilder, Retryable};

    /// Retries `f` with exponential backoff for up to `total`.
    pub async fn retry_until<T, E, F, Fut>(total: Duration, f: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        f.retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(3))
                .with_total_delay(Some(total))
                .without_max_times(),
        )
        .notify(|e: &E, after| tracing::warn!(error = %e, ?after, "NATS not ready; retrying."))
        .await
    }
}

fn stream_config(subjects: &Subjects, settings: &NatsSettings, kind: StreamKind) -> stream::Config {
    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
    let (retention, max_age, window) = match kind {
        StreamKind::Ingest => (stream::RetentionPolicy::Limits, WEEK, settings.dedupe_window),
        StreamKind::Runs | StreamKind::Deliveries => (
            stream::RetentionPolicy::WorkQueue,
            Duration::ZERO,
            Duration::from_secs(600),
        ),
        StreamKind::Events | StreamKind::Dlq => (stream::RetentionPolicy::Limits, WEEK, Duration::from_secs(600)),
        // A run's log and its artifacts are kept alike.
        StreamKind::Log => (
            stream::RetentionPolicy::Limits,
            settings.retention,
            Duration::from_secs(600).min(settings.retention),
        ),
    };
    stream::Config {
        name: subjects.stream(kind),
        subjects: vec![subjects.all(kind)],
        retention,
        max_age,
        duplicate_window: window,
        storage: settings.storage_type(),
        num_replicas: settings.replicas,
        ..Default::default()
    }
}

/// Creates or updates every stream.
async fn ensure_streams(
    js: &jetstream::Context,
    subjects: &Subjects,
    settings: &NatsSettings,
) -> Result<(), NatsError> {
    for kind in StreamKind::ALL {
        let config = stream_config(subjects, settings, kind);
        let name = config.name.clone();
        js.create_or_update_stream(config)
            .await
            .map_err(|e| NatsError::Stream {
                name,
                reason: e.to_string(),
            })?;
    }
    Ok(())
}
