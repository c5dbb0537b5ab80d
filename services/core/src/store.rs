//! The `hookline_config` bucket: [`apply`] makes it match a [`Catalog`];
//! [`watch`] keeps a live snapshot that services read on every message, so a
//! change applies without a restart.
//!
//! Keys are `<kind>.<id>` (`source.github`, `agent.triage`, …); values are
//! the spec as JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_nats::jetstream::kv;
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::nats::Nats;

/// Why the config bucket could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A NATS KV operation failed.
    #[error("config bucket: {0}")]
    Kv(String),
}

fn kv_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Kv(e.to_string())
}

/// What [`apply`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Keys written that did not exist.
    pub created: Vec<String>,
    /// Keys whose value changed.
    pub updated: Vec<String>,
    /// Keys removed because the catalog no longer has them.
    pub removed: Vec<String>,
    /// Keys left as they were.
    pub unchanged: usize,
    /// For each updated key, the fields whose value changed (names only:
    /// a diff never shows values, which may be secrets).
    pub changed_fields: BTreeMap<String, Vec<String>>,
}

/// The top-level fields that differ between two JSON objects.
fn changed_fields(old: &[u8], new: &[u8]) -> Vec<String> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::from_slice(old), serde_json::from_slice(new))
    else {
        return Vec::new();
    };
    let mut fields: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

fn entries(catalog: &Catalog) -> BTreeMap<String, Vec<u8>> {
    fn put<T: Serialize>(out: &mut BTreeMap<String, Vec<u8>>, kind: &str, items: &BTreeMap<String, T>) {
        for (id, spec) in items {
            // Serializing these plain structs cannot fail.
            if let Ok(json) = serde_json::to_vec(spec) {
                out.insert(format!("{kind}.{id}"), json);
            }
        }
    }
    let mut out = BTreeMap::new();
    put(&mut out, "source", &catalog.sources);
    put(&mut out, "profile", &catalog.profiles);
    put(&mut out, "agent", &catalog.agents);
    put(&mut out, "subscription", &catalog.subscriptions);
    out
}

async fn open(nats: &Nats) -> Result<kv::Store, StoreError> {
    nats.js
        .get_key_value(nats.subjects.config_bucket())
        .await
        .map_err(kv_err)
}

/// Makes the bucket hold exactly `catalog` (with `dry_run`, only reports
/// what it would change). Applying the same catalog twice changes nothing
/// the second time.
pub async fn apply(nats: &Nats, catalog: &Catalog, dry_run: bool) -> Result<ApplyReport, StoreError> {
    let store = open(nats).await?;
    let wanted = entries(catalog);
    let mut report = ApplyReport::default();
    let mut existing = Vec::new();
    let mut keys = store.keys().await.map_err(kv_err)?;
    while let Some(key) = keys.next().await {
        existing.push(key.map_err(kv_err)?);
    }
    for key in existing {
        if !wanted.contains_key(&key) {
            if !dry_run {
                store.delete(&key).await.map_err(kv_err)?;
            }
            report.removed.push(key);
        }
    }
    for (key, value) in wanted {
        match store.get(&key).await.map_err(kv_err)? {
            Some(current) if current.as_ref() == value.as_slice() => report.unchanged += 1,
            current => {
                if !dry_run {
                    store.put(&key, value.clone().into()).await.map_err(kv_err)?;
                }
                if let Some(current) = current {
                    report
                        .changed_fields
                        .insert(key.clone(), changed_fields(&current, &value));
                    report.updated.push(key);
                } else {
                    report.created.push(key);
                }
            }
        }
    }
    Ok(report)
}

fn set_entry(catalog: &mut Catalog, key: &str, value: Option<&[u8]>) {
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
    let Some((kind, id)) = key.split_once('.') else {
        return;
    };
    match kind {
        "source" => upsert(&mut catalog.sources, id, value),
        "profile" => upsert(&mut catalog.profiles, id, value),
        "agent" => upsert(&mut catalog.agents, id, value),
        "subscription" => upsert(&mut catalog.subscriptions, id, value),
        _ => tracing::warn!(key, "Unknown config key ignored."),
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
    let mut keys = store.keys().await.map_err(kv_err)?;
    let mut names = Vec::new();
    while let Some(key) = keys.next().await {
        names.push(key.map_err(kv_err)?);
    }
    for key in names {
        if let Some(entry) = store.entry(&key).await.map_err(kv_err)? {
            last_revision = last_revision.max(entry.revision);
            let value = (entry.operation == kv::Operation::Put).then_some(entry.value.as_ref());
            set_entry(&mut catalog, &key, value);
        }
    }
    let mut updates = store.watch_all_from_revision(last_revision + 1).await.map_err(kv_err)?;
    let (tx, rx) = watch::channel(Arc::new(catalog.clone()));
    tokio::spawn(async move {
        loop {
            let entry = tokio::select! {
                _ = shutdown.cancelled() => return,
                entry = updates.next() => entry,
            };
            match entry {
                Some(Ok(entry)) => {
                    let value = (entry.operation == kv::Operation::Put).then_some(entry.value.as_ref());
                    set_entry(&mut catalog, &entry.key, value);
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

/// Enables or disables one subscription in the bucket (the notifier
/// disables a subscription whose endpoint answered 410 Gone).
pub async fn set_subscription_enabled(nats: &Nats, id: &str, enabled: bool) -> Result<(), StoreError> {
    let store = open(nats).await?;
    let key = format!("subscription.{id}");
    let Some(current) = store.get(&key).await.map_err(kv_err)? else {
        return Ok(());
    };
    let mut spec: crate::catalog::SubscriptionSpec = serde_json::from_slice(&current).map_err(kv_err)?;
    if spec.enabled == enabled {
        return Ok(());
    }
    spec.enabled = enabled;
    let json = serde_json::to_vec(&spec).map_err(kv_err)?;
    store.put(&key, json.into()).await.map_err(kv_err)?;
    Ok(())
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
