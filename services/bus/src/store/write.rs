//! Writing the `hookline_config` bucket. Every write names the revision it
//! read (or that the key must be absent), so two writers never silently
//! overwrite each other: the second is refused with [`StoreError::Conflict`]
//! and the entry keeps the first one's value. `apply`, the admin API and the
//! notifier's auto-disable all write through here.

use std::collections::BTreeMap;

use async_nats::jetstream::{context, kv};
use futures::StreamExt;
use serde::Serialize;

use super::{StoreError, open};
use crate::nats::Nats;
use hookline_model::catalog::Catalog;
use hookline_model::subjects::ConfigKind;

/// One stored object with the revision a write must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The object as JSON.
    pub value: Vec<u8>,
    /// The bucket's revision of this key.
    pub revision: u64,
    /// When this revision was written.
    pub written_at: time::OffsetDateTime,
}

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No object under the key (created now).
    Absent,
    /// The object at this revision (replaced now).
    Revision(u64),
}

fn conflict(key: &str, expect: Expect) -> StoreError {
    StoreError::Conflict {
        key: key.to_owned(),
        expected: match expect {
            Expect::Absent => "absent".to_owned(),
            Expect::Revision(r) => format!("revision {r}"),
        },
    }
}

fn is_wrong_revision(error: &(dyn std::error::Error + 'static)) -> bool {
    error
        .source()
        .and_then(|s| s.downcast_ref::<context::PublishError>())
        .is_some_and(|p| p.kind() == context::PublishErrorKind::WrongLastSequence)
}

/// Reads one object with its revision (`None` when absent or deleted).
pub async fn read(nats: &Nats, kind: ConfigKind, id: &str) -> Result<Option<Entry>, StoreError> {
    let store = open(nats).await?;
    read_key(&store, &nats.subjects.config_key(kind, id)).await
}

async fn read_key(store: &kv::Store, key: &str) -> Result<Option<Entry>, StoreError> {
    let entry = store.entry(key).await.map_err(StoreError::kv("read"))?;
    Ok(entry.filter(|e| e.operation == kv::Operation::Put).map(|e| Entry {
        value: e.value.to_vec(),
        revision: e.revision,
        written_at: e.created,
    }))
}

/// Every object of `kind`, by id.
pub async fn list(nats: &Nats, kind: ConfigKind) -> Result<BTreeMap<String, Entry>, StoreError> {
    let store = open(nats).await?;
    let mut out = BTreeMap::new();
    for key in keys(&store).await? {
        if let Some((k, id)) = nats.subjects.parse_config_key(&key)
            && k == kind
            && let Some(entry) = read_key(&store, &key).await?
        {
            out.insert(id.to_owned(), entry);
        }
    }
    Ok(out)
}

async fn keys(store: &kv::Store) -> Result<Vec<String>, StoreError> {
    let mut keys = store.keys().await.map_err(StoreError::kv("list"))?;
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        out.push(key.map_err(StoreError::kv("list"))?);
    }
    Ok(out)
}

/// Writes one object if the key is as `expect` says; answers the new
/// revision.
pub async fn write(nats: &Nats, kind: ConfigKind, id: &str, value: &[u8], expect: Expect) -> Result<u64, StoreError> {
    let store = open(nats).await?;
    write_key(&store, &nats.subjects.config_key(kind, id), value, expect).await
}

async fn write_key(store: &kv::Store, key: &str, value: &[u8], expect: Expect) -> Result<u64, StoreError> {
    let bytes = bytes::Bytes::copy_from_slice(value);
    match expect {
        Expect::Absent => store.create(key, bytes).await.map_err(|e| match e.kind() {
            kv::CreateErrorKind::AlreadyExists => conflict(key, expect),
            _ => StoreError::kv("write")(e),
        }),
        Expect::Revision(revision) => store.update(key, bytes, revision).await.map_err(|e| match e.kind() {
            kv::UpdateErrorKind::WrongLastRevision => conflict(key, expect),
            _ => StoreError::kv("write")(e),
        }),
    }
}

/// Deletes one object if it is still at `revision`.
pub async fn remove(nats: &Nats, kind: ConfigKind, id: &str, revision: u64) -> Result<(), StoreError> {
    let store = open(nats).await?;
    remove_key(&store, &nats.subjects.config_key(kind, id), revision).await
}

async fn remove_key(store: &kv::Store, key: &str, revision: u64) -> Result<(), StoreError> {
    store.delete_expect_revision(key, Some(revision)).await.map_err(|e| {
        if is_wrong_revision(&e) {
            conflict(key, Expect::Revision(revision))
        } else {
            StoreError::kv("delete")(e)
        }
    })
}

/// Sets `enabled` on one object, re-reading and retrying when another
/// writer got there first. Answers whether it changed anything.
pub async fn set_enabled(nats: &Nats, kind: ConfigKind, id: &str, enabled: bool) -> Result<bool, StoreError> {
    const TRIES: usize = 5;
    let store = open(nats).await?;
    let key = nats.subjects.config_key(kind, id);
    for _ in 0..TRIES {
        let Some(entry) = read_key(&store, &key).await? else {
            return Ok(false);
        };
        let mut value: serde_json::Value =
            serde_json::from_slice(&entry.value).map_err(|source| StoreError::Decode {
                key: key.clone(),
                source,
            })?;
        if value.get("enabled").and_then(serde_json::Value::as_bool) == Some(enabled) {
            return Ok(false);
        }
        value["enabled"] = serde_json::Value::Bool(enabled);
        let json = serde_json::to_vec(&value).map_err(|source| StoreError::Decode {
            key: key.clone(),
            source,
        })?;
        match write_key(&store, &key, &json, Expect::Revision(entry.revision)).await {
            Ok(_) => return Ok(true),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict {
        key,
        expected: format!("a stable revision ({TRIES} other writers got there first)"),
    })
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

/// The fields that differ between two stored objects, each named by its
/// path (`enabled`, `limits.memory`, `triggers[0].events`), compared as
/// JSON values: the same object written with its keys in another order (as
/// an enable through the API writes it) differs in nothing.
fn changed_fields(old: &[u8], new: &[u8]) -> Vec<String> {
    let (Ok(old), Ok(new)) = (
        serde_json::from_slice::<serde_json::Value>(old),
        serde_json::from_slice::<serde_json::Value>(new),
    ) else {
        return vec!["(the stored value is not JSON)".to_owned()];
    };
    let mut fields = Vec::new();
    differences("", &old, &new, &mut fields);
    fields
}

fn differences(path: &str, old: &serde_json::Value, new: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                differences(
                    &at,
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (n, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{n}]"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(path.to_owned()),
        _ => {}
    }
}

fn entries(nats: &Nats, catalog: &Catalog) -> BTreeMap<String, Vec<u8>> {
    fn put<T: Serialize>(
        out: &mut BTreeMap<String, Vec<u8>>,
        keys: impl Fn(&str) -> String,
        items: &BTreeMap<String, T>,
    ) {
        for (id, spec) in items {
            // Serializing these plain structs cannot fail.
            if let Ok(json) = serde_json::to_vec(spec) {
                out.insert(keys(id), json);
            }
        }
    }
    let key = |kind| move |id: &str| nats.subjects.config_key(kind, id);
    let mut out = BTreeMap::new();
    put(&mut out, key(ConfigKind::Source), &catalog.sources);
    put(&mut out, key(ConfigKind::Profile), &catalog.profiles);
    put(&mut out, key(ConfigKind::Agent), &catalog.agents);
    put(&mut out, key(ConfigKind::Subscription), &catalog.subscriptions);
    out
}

/// One change [`apply`] makes, with the revision it read.
#[derive(Debug, Clone)]
enum Change {
    Write {
        key: String,
        value: Vec<u8>,
        expect: Expect,
    },
    Remove {
        key: String,
        revision: u64,
    },
}

/// What applying a catalog would change, as read from the bucket.
#[derive(Debug)]
pub struct Plan {
    changes: Vec<Change>,
    /// What the changes amount to.
    pub report: ApplyReport,
}

/// Reads the bucket and works out what makes it hold exactly `catalog`.
pub async fn plan(nats: &Nats, catalog: &Catalog) -> Result<Plan, StoreError> {
    let store = open(nats).await?;
    let wanted = entries(nats, catalog);
    let mut report = ApplyReport::default();
    let mut changes = Vec::new();
    for key in keys(&store).await? {
        if !wanted.contains_key(&key)
            && let Some(entry) = read_key(&store, &key).await?
        {
            changes.push(Change::Remove {
                key: key.clone(),
                revision: entry.revision,
            });
            report.removed.push(key);
        }
    }
    for (key, value) in wanted {
        match read_key(&store, &key).await? {
            Some(current) => {
                let fields = changed_fields(&current.value, &value);
                if fields.is_empty() {
                    report.unchanged += 1;
                    continue;
                }
                report.changed_fields.insert(key.clone(), fields);
                report.updated.push(key.clone());
                let expect = Expect::Revision(current.revision);
                changes.push(Change::Write { key, value, expect });
            }
            None => {
                report.created.push(key.clone());
                changes.push(Change::Write {
                    key,
                    value,
                    expect: Expect::Absent,
                });
            }
        }
    }
    Ok(Plan { changes, report })
}

/// Makes the changes of `plan`, each only if its key is still as the plan
/// read it. Stops at the first conflict: what was written before it stays.
pub async fn execute(nats: &Nats, plan: &Plan) -> Result<(), StoreError> {
    let store = open(nats).await?;
    for change in &plan.changes {
        match change {
            Change::Write { key, value, expect } => {
                write_key(&store, key, value, *expect).await?;
            }
            Change::Remove { key, revision } => remove_key(&store, key, *revision).await?,
        }
    }
    Ok(())
}

/// Makes the bucket hold exactly `catalog` (with `dry_run`, only reports
/// what it would change). Applying the same catalog twice changes nothing
/// the second time; an entry changed by another writer meanwhile is not
/// overwritten ([`StoreError::Conflict`]).
pub async fn apply(nats: &Nats, catalog: &Catalog, dry_run: bool) -> Result<ApplyReport, StoreError> {
    let plan = plan(nats, catalog).await?;
    if !dry_run {
        execute(nats, &plan).await?;
    }
    Ok(plan.report)
}

#[cfg(test)]
mod tests {
    use super::changed_fields;

    #[test]
    fn a_diff_names_every_field_that_differs_and_nothing_else() {
        let stored = br#"{"provider":"github","enabled":true,"limits":{"rate":100,"body":"256K"},"triggers":[{"events":["issues"]}]}"#;
        let rows: [(&[u8], &[&str], &str); 5] = [
            (br#"{"triggers":[{"events":["issues"]}],"limits":{"body":"256K","rate":100},"enabled":true,"provider":"github"}"#, &[], "the same object, keys in another order"),
            (br#"{"provider":"github","enabled":false,"limits":{"rate":100,"body":"256K"},"triggers":[{"events":["issues"]}]}"#, &["enabled"], "one field"),
            (br#"{"provider":"github","enabled":true,"limits":{"rate":50,"body":"256K"},"triggers":[{"events":["push"]}]}"#, &["limits.rate", "triggers[0].events[0]"], "nested fields, by path"),
            (br#"{"provider":"github","enabled":true,"limits":{"rate":100,"body":"256K"},"triggers":[]}"#, &["triggers"], "a list of another length"),
            (br#"{"provider":"github","enabled":true,"limits":{"rate":100,"body":"256K"},"triggers":[{"events":["issues"]}],"secrets":["x"]}"#, &["secrets"], "a field added"),
        ];
        for (wanted, expected, why) in rows {
            assert_eq!(changed_fields(stored, wanted), expected, "{why}");
        }
    }
}
