//! The `hookline_config` bucket: [`watch`] keeps a live snapshot that
//! services read on every message, so a change applies without a restart;
//! [`write`] is the only way to change it, always against the revision read.
//!
//! Keys are `<kind>.<id>` (`source.github`, `agent.triage`, …, spelled by
//! [`hookline_model::subjects`]); values are the spec as JSON.

pub mod write;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_nats::jetstream::kv;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use write::{ApplyReport, Entry, Expect, Plan, apply, execute, plan};

use crate::nats::Nats;
use hookline_model::catalog::Catalog;
use hookline_model::subjects::{ConfigKind, Subjects};

type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why the config bucket could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A NATS KV operation failed.
    #[error("config bucket {op} failed: {source}")]
    Kv {
        /// What was tried: open, read, list, write, delete, watch.
        op: &'static str,
        /// Why.
        source: Source,
    },
    /// Another writer changed the entry since it was read; nothing was
    /// overwritten.
    #[error(
        "`{key}` was changed by another writer since it was read (expected {expected}); nothing was overwritten: read it again and retry"
    )]
    Conflict {
        /// The bucket key.
        key: String,
        /// What the write expected to find.
        expected: String,
    },
    /// An entry is not the JSON object it should be.
    #[error("config entry `{key}` is unreadable: {source}")]
    Decode {
        /// The bucket key.
        key: String,
        /// Why.
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Wraps a NATS error for operation `op`.
    fn kv<E: std::error::Error + Send + Sync + 'static>(op: &'static str) -> impl Fn(E) -> StoreError {
        move |e| StoreError::Kv {
            op,
            source: Box::new(e),
        }
    }
}

pub(crate) async fn open(nats: &Nats) -> Result<kv::Store, StoreError> {
    Ok(nats.buckets.config.clone())
}

fn set_entry(subjects: &Subjects, catalog: &mut Catalog, key: &str, value: Option<&[u8]>) {
    fn upsert<T: DeserializeOwned>(map: &mut BTreeMap<String, T>, id: &str, value: Option<&[u8]>) {
        match value.map(serde_json::from_slice::<T>) {
            Some(Ok(spec)) => {
                map.insert(id.to_owned(), spec);
            }
            Some(Err(e)) => {
                tracing::error!(key = id, error = %e, "Unreadable config entry ignored.");
                map.remove(id);
            }
            None => {
                map.remove(id);
            }
        }
    }
    match subjects.parse_config_key(key) {
        Some((ConfigKind::Source, id)) => upsert(&mut catalog.sources, id, value),
        Some((ConfigKind::Profile, id)) => upsert(&mut catalog.profiles, id, value),
        Some((ConfigKind::Agent, id)) => upsert(&mut catalog.agents, id, value),
        Some((ConfigKind::Subscription, id)) => upsert(&mut catalog.subscriptions, id, value),
        None => tracing::warn!(key, "Unknown config key ignored."),
    }
}

/// A live view of the catalog, updated as the bucket changes.
pub type CatalogView = watch::Receiver<Arc<Catalog>>;

/// Loads the bucket, then follows it until `shutdown`. The returned view
/// holds the full catalog from the start.
pub async fn watch(nats: &Nats, shutdown: CancellationToken) -> Result<CatalogView, StoreError> {
    let store = open(nats).await?;
    let mut catalog = Catalog::default();
    let mut last_revision = 0;
    let mut keys = store.keys().await.map_err(StoreError::kv("list"))?;
    let mut names = Vec::new();
    while let Some(key) = keys.next().await {
        names.push(key.map_err(StoreError::kv("list"))?);
    }
    for key in names {
        if let Some(entry) = store.entry(&key).await.map_err(StoreError::kv("read"))? {
            last_revision = last_revision.max(entry.revision);
            let value = (entry.operation == kv::Operation::Put).then_some(entry.value.as_ref());
            set_entry(&nats.subjects, &mut catalog, &key, value);
        }
    }
    let mut updates = store
        .watch_all_from_revision(last_revision + 1)
        .await
        .map_err(StoreError::kv("watch"))?;
    let (tx, rx) = watch::channel(Arc::new(catalog.clone()));
    let subjects = nats.subjects.clone();
    tokio::spawn(async move {
        loop {
            let entry = tokio::select! {
                _ = shutdown.cancelled() => return,
                entry = updates.next() => entry,
            };
            match entry {
                Some(Ok(entry)) => {
                    let value = (entry.operation == kv::Operation::Put).then_some(entry.value.as_ref());
                    set_entry(&subjects, &mut catalog, &entry.key, value);
                    tx.send_replace(Arc::new(catalog.clone()));
                    tracing::info!(key = %entry.key, "Configuration changed.");
                }
                Some(Err(e)) => tracing::warn!(error = %e, "Config watch error."),
                None => {
                    tracing::error!("Config watch ended; configuration will no longer update.");
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// A value computed from the catalog, recomputed on every change (resolved
/// secrets, a compiled routing table), so hot paths read it ready-made.
pub fn derive<T, F>(mut view: CatalogView, shutdown: CancellationToken, compute: F) -> watch::Receiver<Arc<T>>
where
    T: Send + Sync + 'static,
    F: Fn(&Arc<Catalog>) -> T + Send + 'static,
{
    let (tx, rx) = watch::channel(Arc::new(compute(&view.borrow_and_update())));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = view.changed() => if changed.is_err() { return },
            }
            tx.send_replace(Arc::new(compute(&view.borrow_and_update())));
        }
    });
    rx
}
