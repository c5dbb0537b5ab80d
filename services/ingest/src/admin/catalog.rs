//! CRUD for sources, profiles, agents and subscriptions. Reads come from the
//! `hookline_config` bucket itself (so a write is read back at once); a
//! write is validated against the whole catalog first, with every problem
//! listed. Secrets are accepted on write and never returned: an answer shows
//! a hint (`…abcd`, or the `env:`/`file:` reference). A PUT without
//! `secrets` keeps the secrets already stored.

use async_nats::jetstream::kv;
use futures::StreamExt;
use hookline_core::catalog::{AgentSpec, Catalog, ProfileSpec, SecretRef, SourceSpec, SubscriptionSpec};
use hookline_core::ids::Id;
use serde_json::{Value, json};

use super::{AdminError, AdminState};

/// The four kinds of configuration object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/v1/sources`.
    Sources,
    /// `/v1/profiles`.
    Profiles,
    /// `/v1/agents`.
    Agents,
    /// `/v1/subscriptions`.
    Subscriptions,
}

impl Kind {
    /// The kind named in a path.
    pub fn parse(text: &str) -> Result<Self, AdminError> {
        Ok(match text {
            "sources" => Kind::Sources,
            "profiles" => Kind::Profiles,
            "agents" => Kind::Agents,
            "subscriptions" => Kind::Subscriptions,
            _ => return Err(AdminError::NotFound(format!("no such collection `{text}`"))),
        })
    }

    fn prefix(self) -> &'static str {
        match self {
            Kind::Sources => "source",
            Kind::Profiles => "profile",
            Kind::Agents => "agent",
            Kind::Subscriptions => "subscription",
        }
    }
}

async fn bucket(state: &AdminState) -> Result<kv::Store, AdminError> {
    state
        .nats
        .js
        .get_key_value(state.nats.subjects.config_bucket())
        .await
        .map_err(AdminError::unavailable)
}

fn hint(value: &Value) -> Value {
    serde_json::from_value::<SecretRef>(value.clone()).map_or(json!("…"), |s| json!(s.hint()))
}

/// The object as answered: secrets replaced by hints, its id added.
fn redact(kind: Kind, id: &str, mut value: Value) -> Value {
    match kind {
        Kind::Sources | Kind::Subscriptions => {
            if let Some(secrets) = value.get_mut("secrets").and_then(Value::as_array_mut) {
                for secret in secrets.iter_mut() {
                    *secret = hint(secret);
                }
            }
        }
        Kind::Profiles => {
            if let Some(secrets) = value.get_mut("secrets").and_then(Value::as_object_mut) {
                for secret in secrets.values_mut() {
                    *secret = hint(secret);
                }
            }
        }
        Kind::Agents => {
            if let Some(key) = value.pointer_mut("/runner/api_key") {
                *key = hint(key);
            }
        }
    }
    if let Some(object) = value.as_object_mut() {
        object.insert("id".to_owned(), json!(id));
    }
    value
}

async fn read(store: &kv::Store, kind: Kind, id: &str) -> Result<Option<Value>, AdminError> {
    let key = format!("{}.{id}", kind.prefix());
    match store.get(&key).await.map_err(AdminError::unavailable)? {
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(AdminError::unavailable)?)),
        None => Ok(None),
    }
}

/// `GET /v1/{kind}`.
pub async fn list(state: &AdminState, kind: Kind) -> Result<(u16, Value), AdminError> {
    let store = bucket(state).await?;
    let mut keys = store.keys().await.map_err(AdminError::unavailable)?;
    let prefix = format!("{}.", kind.prefix());
    let mut ids = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(AdminError::unavailable)?;
        if let Some(id) = key.strip_prefix(&prefix) {
            ids.push(id.to_owned());
        }
    }
    ids.sort();
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(value) = read(&store, kind, &id).await? {
            items.push(redact(kind, &id, value));
        }
    }
    Ok((200, json!({ "items": items })))
}

/// `GET /v1/{kind}/{id}`.
pub async fn get(state: &AdminState, kind: Kind, id: &str) -> Result<(u16, Value), AdminError> {
    let store = bucket(state).await?;
    let value = read(&store, kind, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no {} `{id}`", kind.prefix())))?;
    Ok((200, redact(kind, id, value)))
}

/// Puts `value` (typed) into `catalog` under `id`; a type error is a problem.
fn insert(catalog: &mut Catalog, kind: Kind, id: &str, value: Value) -> Result<Value, String> {
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(value: Value) -> Result<(T, Value), String> {
        let spec: T = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let normal = serde_json::to_value(&spec).map_err(|e| e.to_string())?;
        Ok((spec, normal))
    }
    let id = id.to_owned();
    Ok(match kind {
        Kind::Sources => {
            let (spec, normal) = typed::<SourceSpec>(value)?;
            catalog.sources.insert(id, spec);
            normal
        }
        Kind::Profiles => {
            let (spec, normal) = typed::<ProfileSpec>(value)?;
            catalog.profiles.insert(id, spec);
            normal
        }
        Kind::Agents => {
            let (spec, normal) = typed::<AgentSpec>(value)?;
            catalog.agents.insert(id, spec);
            normal
        }
        Kind::Subscriptions => {
            let (spec, normal) = typed::<SubscriptionSpec>(value)?;
            catalog.subscriptions.insert(id, spec);
            normal
        }
    })
}

fn remove(catalog: &mut Catalog, kind: Kind, id: &str) {
    match kind {
        Kind::Sources => drop(catalog.sources.remove(id)),
        Kind::Profiles => drop(catalog.profiles.remove(id)),
        Kind::Agents => drop(catalog.agents.remove(id)),
        Kind::Subscriptions => drop(catalog.subscriptions.remove(id)),
    }
}

async fn write(
    state: &AdminState,
    kind: Kind,
    id: &str,
    value: Value,
    existed: bool,
) -> Result<(u16, Value), AdminError> {
    let mut candidate = state.catalog.borrow().as_ref().clone();
    let normal = insert(&mut candidate, kind, id, value).map_err(|e| AdminError::Invalid(vec![e]))?;
    candidate.validate().map_err(AdminError::Invalid)?;
    let store = bucket(state).await?;
    let bytes = serde_json::to_vec(&normal).map_err(AdminError::unavailable)?;
    store
        .put(format!("{}.{id}", kind.prefix()), bytes.into())
        .await
        .map_err(AdminError::unavailable)?;
    Ok((if existed { 200 } else { 201 }, redact(kind, id, normal)))
}

/// `PUT /v1/{kind}/{id}`: create or replace.
pub async fn put(state: &AdminState, kind: Kind, id: &str, mut value: Value) -> Result<(u16, Value), AdminError> {
    Id::parse(id).map_err(|e| AdminError::Invalid(vec![e.to_string()]))?;
    if !value.is_object() {
        return Err(AdminError::Invalid(vec!["the body must be a JSON object".to_owned()]));
    }
    if let Some(object) = value.as_object_mut() {
        object.remove("id");
    }
    let store = bucket(state).await?;
    let existing = read(&store, kind, id).await?;
    if let (Some(old), Some(object)) = (&existing, value.as_object_mut())
        && !object.contains_key("secrets")
        && let Some(secrets) = old.get("secrets")
    {
        object.insert("secrets".to_owned(), secrets.clone());
    }
    write(state, kind, id, value, existing.is_some()).await
}

/// `DELETE /v1/{kind}/{id}`: refused while something refers to it.
pub async fn delete(state: &AdminState, kind: Kind, id: &str) -> Result<(u16, Value), AdminError> {
    let store = bucket(state).await?;
    if read(&store, kind, id).await?.is_none() {
        return Err(AdminError::NotFound(format!("no {} `{id}`", kind.prefix())));
    }
    let mut candidate = state.catalog.borrow().as_ref().clone();
    remove(&mut candidate, kind, id);
    candidate.validate().map_err(AdminError::Conflict)?;
    store
        .delete(format!("{}.{id}", kind.prefix()))
        .await
        .map_err(AdminError::unavailable)?;
    Ok((204, Value::Null))
}

/// `POST /v1/{kind}/{id}/enable|disable`.
pub async fn set_enabled(state: &AdminState, kind: Kind, id: &str, enabled: bool) -> Result<(u16, Value), AdminError> {
    if kind == Kind::Profiles {
        return Err(AdminError::NotFound("profiles cannot be enabled or disabled".into()));
    }
    let store = bucket(state).await?;
    let mut value = read(&store, kind, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no {} `{id}`", kind.prefix())))?;
    value["enabled"] = json!(enabled);
    write(state, kind, id, value, true).await
}
