//! Reaching NATS and laying out the streams and buckets of DESIGN.md
//! section 2. Set-up is idempotent: every service runs it at start-up.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use startup_retry::retry_until;

use hookline_model::settings::Reader;
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
    #[error("cannot set up bucket {name}: {reason}")]
    Bucket {
        /// The bucket.
        name: String,
        /// Why.
        reason: String,
    },
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
    let nats = Nats {
        client,
        js,
        subjects: Subjects::new(settings.prefix.clone()),
    };
    retry_until(Duration::from_secs(60), || ensure_layout(&nats, settings)).await?;
    Ok(nats)
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
        StreamKind::Events | StreamKind::Dlq | StreamKind::Log => {
            (stream::RetentionPolicy::Limits, WEEK, Duration::from_secs(600))
        }
    };
    stream::Config {
        name: subjects.stream(kind),
        subjects: vec![subjects.all(kind)],
        retention,
        max_age,
        duplicate_window: window,
        storage: storage(settings),
        num_replicas: settings.replicas,
        ..Default::default()
    }
}

fn storage(settings: &NatsSettings) -> stream::StorageType {
    if settings.memory_storage {
        stream::StorageType::Memory
    } else {
        stream::StorageType::File
    }
}

/// Turns off direct gets on a bucket: with several replicas a direct get
/// may be answered by a follower that lags, and the records decide who runs
/// what (an outbox seen empty on a stale copy stays unpublished for good).
/// Reads then go through the stream's leader, after every acknowledged
/// write.
async fn read_from_leader(nats: &Nats, bucket: &str) -> Result<(), NatsError> {
    let name = format!("KV_{bucket}");
    let failed = |e: &dyn std::fmt::Display| NatsError::Bucket {
        name: bucket.to_owned(),
        reason: e.to_string(),
    };
    let mut stream = nats.js.get_stream(&name).await.map_err(|e| failed(&e))?;
    let mut config = stream.info().await.map_err(|e| failed(&e))?.config.clone();
    if config.allow_direct {
        config.allow_direct = false;
        nats.js.update_stream(config).await.map_err(|e| failed(&e))?;
    }
    Ok(())
}

/// Creates or updates every stream and bucket.
pub async fn ensure_layout(nats: &Nats, settings: &NatsSettings) -> Result<(), NatsError> {
    for kind in StreamKind::ALL {
        let config = stream_config(&nats.subjects, settings, kind);
        let name = config.name.clone();
        nats.js
            .create_or_update_stream(config)
            .await
            .map_err(|e| NatsError::Stream {
                name,
                reason: e.to_string(),
            })?;
    }
    let buckets = [
        (nats.subjects.config_bucket(), 10, Duration::ZERO),
        (nats.subjects.runs_bucket(), 1, Duration::from_secs(7 * 24 * 3600)),
        (nats.subjects.state_bucket(), 1, Duration::ZERO),
        (nats.subjects.decisions_bucket(), 1, Duration::from_secs(7 * 24 * 3600)),
        // Pending approvals leave when decided or expired, never by age.
        (nats.subjects.approvals_bucket(), 1, Duration::ZERO),
        // Longer than any retry schedule keeps a delivery alive.
        (nats.subjects.delivered_bucket(), 1, Duration::from_secs(7 * 24 * 3600)),
        // A thread may be followed up months later.
        (nats.subjects.threads_bucket(), 1, Duration::from_secs(180 * 24 * 3600)),
    ];
    for (bucket, history, max_age) in buckets {
        if nats.js.get_key_value(&bucket).await.is_ok() {
            read_from_leader(nats, &bucket).await?;
            continue;
        }
        nats.js
            .create_key_value(kv::Config {
                bucket: bucket.clone(),
                history,
                max_age,
                storage: storage(settings),
                num_replicas: settings.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| NatsError::Bucket {
                name: bucket.clone(),
                reason: e.to_string(),
            })?;
        read_from_leader(nats, &bucket).await?;
    }
    Ok(())
}

/// Where a service finds NATS and how it lays out its streams.
#[derive(Clone, Debug)]
pub struct NatsSettings {
    /// `HOOKLINE_NATS_URL`, default `nats://127.0.0.1:4222`: one server or
    /// a comma-separated list of a cluster's servers (any one may be down).
    pub url: String,
    /// `HOOKLINE_PREFIX`, default `hookline`.
    pub prefix: String,
    /// `HOOKLINE_REPLICAS`: 1 alone, 3 in a cluster.
    pub replicas: usize,
    /// `HOOKLINE_STORAGE`: `file` (default) or `memory`.
    pub memory_storage: bool,
    /// `HOOKLINE_DEDUPE_WINDOW` for inbound delivery ids, default 24h.
    pub dedupe_window: Duration,
}

impl NatsSettings {
    /// Reads the NATS settings every service shares.
    pub fn read(r: &mut Reader<'_>) -> Self {
        let prefix = r.string("HOOKLINE_PREFIX", "hookline");
        if hookline_model::ids::Id::parse(&prefix).is_err() {
            r.problem(format!("HOOKLINE_PREFIX={prefix:?}: use 1-64 of a-z, 0-9, '_' and '-'"));
        }
        let replicas = r.parse("HOOKLINE_REPLICAS", 1usize);
        if !(1..=5).contains(&replicas) {
            r.problem(format!("HOOKLINE_REPLICAS={replicas}: use 1 to 5"));
        }
        let storage = r.string("HOOKLINE_STORAGE", "file");
        if storage != "file" && storage != "memory" {
            r.problem(format!("HOOKLINE_STORAGE={storage:?}: use file or memory"));
        }
        let url = r.string("HOOKLINE_NATS_URL", "nats://127.0.0.1:4222");
        if let Err(e) = nats_servers(&url) {
            r.problem(format!("HOOKLINE_NATS_URL: {e}"));
        }
        Self {
            url,
            prefix,
            replicas,
            memory_storage: storage == "memory",
            dedupe_window: r.duration("HOOKLINE_DEDUPE_WINDOW", Duration::from_secs(24 * 3600)),
        }
    }

    /// Settings for a given URL with every other value at its default.
    pub fn for_url(url: &str) -> Self {
        let url = url.to_owned();
        let lookup = move |k: &str| (k == "HOOKLINE_NATS_URL").then(|| url.clone());
        Self::read(&mut Reader::new(&lookup))
    }
}

/// The servers in a `HOOKLINE_NATS_URL`: one URL, or several separated by
/// commas (as every NATS client accepts).
pub fn nats_servers(text: &str) -> Result<Vec<async_nats::ServerAddr>, String> {
    let servers: Vec<async_nats::ServerAddr> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|e| format!("`{s}` is not a NATS server URL: {e}")))
        .collect::<Result<_, _>>()?;
    if servers.is_empty() {
        return Err("give at least one NATS server URL".to_owned());
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_urls_are_one_server_or_a_list() {
        assert_eq!(nats_servers("nats://127.0.0.1:4222").map(|s| s.len()), Ok(1));
        let cluster = nats_servers("nats://a:4222, nats://b:4223,nats://c:4224").expect("a list");
        assert_eq!(cluster.len(), 3);
        assert!(nats_servers("").is_err());
        assert!(nats_servers("nats://a:notaport").is_err());
    }

    #[test]
    fn every_bad_setting_is_reported_at_once() {
        let lookup = |k: &str| match k {
            "HOOKLINE_PREFIX" => Some("Bad Prefix".to_owned()),
            "HOOKLINE_REPLICAS" => Some("three".to_owned()),
            "HOOKLINE_DEDUPE_WINDOW" => Some("forever".to_owned()),
            _ => None,
        };
        let mut reader = Reader::new(&lookup);
        NatsSettings::read(&mut reader);
        let err = reader.finish().expect_err("three problems");
        assert_eq!(err.0.len(), 3, "{err}");
    }
}
