//! Every key-value bucket of DESIGN.md section 2, laid out and opened once
//! at start into one value ([`Buckets`]) that each service keeps in its
//! `Nats` handle. A service that cannot open one does not start,
//! and its error names the bucket: a missing bucket would otherwise mean
//! records, budgets or dedupe silently skipped.

use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store};
use hookline_model::subjects::Subjects;

use crate::settings::NatsSettings;

/// A bucket that could not be created or opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up bucket {name}: {reason}")]
pub struct BucketError {
    /// The bucket.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// Every bucket, open.
#[derive(Clone)]
pub struct Buckets {
    /// The catalog, by kind and name, with history.
    pub config: kv::Store,
    /// Run records, by run id.
    pub runs: kv::Store,
    /// Counters and last times (budgets, schedules, health).
    pub state: kv::Store,
    /// Routing decisions, by event id.
    pub decisions: kv::Store,
    /// Runs held for approval.
    pub approvals: kv::Store,
    /// Marks of deliveries made, by subscription and event.
    pub delivered: kv::Store,
    /// Conversation threads and their runs.
    pub threads: kv::Store,
    /// Runs' artifacts (an object store), kept as long as run logs.
    pub artifacts: object_store::ObjectStore,
}

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

impl Buckets {
    /// Creates any bucket that is missing, reads each through its stream's
    /// leader, and opens them all.
    pub async fn lay_out(
        js: &jetstream::Context,
        subjects: &Subjects,
        settings: &NatsSettings,
    ) -> Result<Self, BucketError> {
        // Boxed: the futures of the client's calls are large, and a service
        // may be started on a thread with a small stack (the tests).
        let open = |bucket: String, history: i64, max_age: Duration| {
            Box::pin(open_or_create(js, settings, bucket, history, max_age))
        };
        Ok(Self {
            config: open(subjects.config_bucket(), 10, Duration::ZERO).await?,
            runs: open(subjects.runs_bucket(), 1, WEEK).await?,
            state: open(subjects.state_bucket(), 1, Duration::ZERO).await?,
            decisions: open(subjects.decisions_bucket(), 1, WEEK).await?,
            // Pending approvals leave when decided or expired, never by age.
            approvals: open(subjects.approvals_bucket(), 1, Duration::ZERO).await?,
            // Longer than any retry schedule keeps a delivery alive.
            delivered: open(subjects.delivered_bucket(), 1, WEEK).await?,
            // A thread may be followed up months later.
            threads: open(subjects.threads_bucket(), 1, Duration::from_secs(180 * 24 * 3600)).await?,
            artifacts: Box::pin(open_objects(js, settings, subjects.artifacts_bucket())).await?,
        })
    }
}

async fn open_or_create(
    js: &jetstream::Context,
    settings: &NatsSettings,
    bucket: String,
    history: i64,
    max_age: Duration,
) -> Result<kv::Store, BucketError> {
    let failed = |e: &dyn std::fmt::Display| BucketError {
        name: bucket.clone(),
        reason: e.to_string(),
    };
    if js.get_key_value(&bucket).await.is_err() {
        js.create_key_value(kv::Config {
            bucket: bucket.clone(),
            history,
            max_age,
            storage: settings.storage_type(),
            num_replicas: settings.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| failed(&e))?;
    }
    read_from_leader(js, &bucket).await.map_err(|e| failed(&e))?;
    js.get_key_value(&bucket).await.map_err(|e| failed(&e))
}

async fn open_objects(
    js: &jetstream::Context,
    settings: &NatsSettings,
    bucket: String,
) -> Result<object_store::ObjectStore, BucketError> {
    let failed = |e: &dyn std::fmt::Display| BucketError {
        name: bucket.clone(),
        reason: e.to_string(),
    };
    match js.get_object_store(&bucket).await {
        Ok(store) => {
            // The retention may have changed since the bucket was made.
            let name = format!("OBJ_{bucket}");
            let mut stream = js.get_stream(&name).await.map_err(|e| failed(&e))?;
            let mut config = stream.info().await.map_err(|e| failed(&e))?.config.clone();
            if config.max_age != settings.retention {
                config.max_age = settings.retention;
                js.update_stream(config).await.map_err(|e| failed(&e))?;
            }
            Ok(store)
        }
        Err(_) => js
            .create_object_store(object_store::Config {
                bucket: bucket.clone(),
                max_age: settings.retention,
                storage: settings.storage_type(),
                num_replicas: settings.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| failed(&e)),
    }
}

/// Turns off direct gets on a bucket: with several replicas a direct get
/// may be answered by a follower that lags, and the records decide who runs
/// what (an outbox seen empty on a stale copy stays unpublished for good).
/// Reads then go through the stream's leader, after every acknowledged
/// write.
async fn read_from_leader(
    js: &jetstream::Context,
    bucket: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut stream = js.get_stream(format!("KV_{bucket}")).await?;
    let mut config = stream.info().await?.config.clone();
    if config.allow_direct {
        config.allow_direct = false;
        js.update_stream(config).await?;
    }
    Ok(())
}
