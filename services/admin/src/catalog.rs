//! CRUD for sources, profiles, agents and subscriptions. Reads come from the
//! `hookline_config` bucket itself (so a write is read back at once); a
//! write is validated against the whole catalog first, with every problem
//! listed, and is made only if the object is still at the revision read
//! (or at the `revision` the client names, in the body or in `If-Match`):
//! a concurrent `apply` or API edit is answered 409, never overwritten.
//! Secrets are accepted on write and never returned: an answer shows a hint
//! (`…abcd`, or the `env:`/`file:` reference). A PUT without `secrets`
//! keeps the secrets already stored.

use hookline_bus::store::{self, Entry, Expect, StoreError};
use hookline_model::catalog::{
    AgentSpec, Catalog, ProfileSecret, ProfileSpec, SecretRef, SecretScope, SourceSpec, SubscriptionSpec,
};
use hookline_model::ids::Id;
use hookline_model::subjects::ConfigKind;
use serde_json::{Value, json};

use crate::error::{AdminError, Answer};
use crate::route::{Call, Route, json_route};
use crate::state::AdminState;

/// The kind named in a path (`sources`, …).
pub fn parse_kind(text: &str) -> Result<ConfigKind, AdminError> {
    ConfigKind::from_plural(text).ok_or_else(|| AdminError::NotFound(format!("no such collection `{text}`")))
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => AdminError::Conflict(vec![e.to_string()]),
            other => AdminError::unavailable(other),
        }
    }
}

fn hint(value: &Value) -> Value {
    serde_json::from_value::<SecretRef>(value.clone()).map_or(json!("…"), |s| json!(s.hint()))
}

/// A profile secret's hint, with its scope when it is not the default
/// (`…abcd [agent]`).
fn profile_hint(value: &Value) -> Value {
    match serde_json::from_value::<ProfileSecret>(value.clone()) {
        Ok(s) if s.scope == SecretScope::Agent => json!(format!("{} [agent]", s.secret.hint())),
        Ok(s) if s.scope == SecretScope::Forge => json!(format!("{} [forge]", s.secret.hint())),
        Ok(s) => json!(s.secret.hint()),
        Err(_) => json!("…"),
    }
}

/// The object as answered: secrets replaced by hints, its id and revision
/// added.
fn redact(kind: ConfigKind, id: &str, mut value: Value, revision: u64) -> Value {
    match kind {
        ConfigKind::Source | ConfigKind::Subscription => {
            if let Some(secrets) = value.get_mut("secrets").and_then(Value::as_array_mut) {
                for secret in secrets.iter_mut() {
                    *secret = hint(secret);
                }
            }
        }
        ConfigKind::Profile => {
            if let Some(secrets) = value.get_mut("secrets").and_then(Value::as_object_mut) {
                for secret in secrets.values_mut() {
                    *secret = profile_hint(secret);
                }
            }
            if let Some(models) = value.get_mut("models").and_then(Value::as_object_mut) {
                for key in models.values_mut().filter_map(|m| m.get_mut("secret")) {
                    *key = hint(key);
                }
            }
        }
        ConfigKind::Agent => {
            if let Some(key) = value.pointer_mut("/runner/api_key") {
                *key = hint(key);
            }
            if let Some(servers) = value.get_mut("mcp").and_then(Value::as_object_mut) {
                for key in servers.values_mut().filter_map(|m| m.get_mut("secret")) {
                    *key = hint(key);
                }
            }
        }
    }
    if let Some(object) = value.as_object_mut() {
        object.insert("id".to_owned(), json!(id));
        object.insert("revision".to_owned(), json!(revision));
    }
    value
}

fn decode(entry: &Entry) -> Result<Value, AdminError> {
    serde_json::from_slice(&entry.value).map_err(AdminError::unavailable)
}

fn not_found(kind: ConfigKind, id: &str) -> AdminError {
    AdminError::NotFound(format!("no {} `{id}`", kind.word()))
}

async fn read(state: &AdminState, kind: ConfigKind, id: &str) -> Result<Option<Entry>, AdminError> {
    Ok(store::write::read(&state.nats, kind, id).await?)
}

/// `GET /v1/{kind}`.
pub async fn list(state: &AdminState, kind: ConfigKind) -> Result<(u16, Value), AdminError> {
    let mut items = Vec::new();
    for (id, entry) in store::write::list(&state.nats, kind).await? {
        items.push(redact(kind, &id, decode(&entry)?, entry.revision));
    }
    Ok((200, json!({ "items": items })))
}

/// `GET /v1/{kind}/{id}`.
pub async fn get(state: &AdminState, kind: ConfigKind, id: &str) -> Result<(u16, Value), AdminError> {
    let entry = read(state, kind, id).await?.ok_or_else(|| not_found(kind, id))?;
    Ok((200, redact(kind, id, decode(&entry)?, entry.revision)))
}

/// Puts `value` (typed) into `catalog` under `id`; a type error is a problem.
fn insert(catalog: &mut Catalog, kind: ConfigKind, id: &str, value: Value) -> Result<Value, String> {
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(value: Value) -> Result<(T, Value), String> {
        let spec: T = hookline_model::catalog::read_json(value)?;
        let normal = serde_json::to_value(&spec).map_err(|e| e.to_string())?;
        Ok((spec, normal))
    }
    let id = id.to_owned();
    Ok(match kind {
        ConfigKind::Source => {
            let (spec, normal) = typed::<SourceSpec>(value)?;
            catalog.sources.insert(id, spec);
            normal
        }
        ConfigKind::Profile => {
            let (spec, normal) = typed::<ProfileSpec>(value)?;
            catalog.profiles.insert(id, spec);
            normal
        }
        ConfigKind::Agent => {
            let (spec, normal) = typed::<AgentSpec>(value)?;
            catalog.agents.insert(id, spec);
            normal
        }
        ConfigKind::Subscription => {
            let (spec, normal) = typed::<SubscriptionSpec>(value)?;
            catalog.subscriptions.insert(id, spec);
            normal
        }
    })
}

fn remove(catalog: &mut Catalog, kind: ConfigKind, id: &str) {
    match kind {
        ConfigKind::Source => drop(catalog.sources.remove(id)),
        ConfigKind::Profile => drop(catalog.profiles.remove(id)),
        ConfigKind::Agent => drop(catalog.agents.remove(id)),
        ConfigKind::Subscription => drop(catalog.subscriptions.remove(id)),
    }
}

/// What the write expects: the revision the client named, else the one read.
fn expect(named: Option<u64>, existing: Option<&Entry>) -> Expect {
    match (named, existing) {
        (Some(revision), _) => Expect::Revision(revision),
        (None, Some(entry)) => Expect::Revision(entry.revision),
        (None, None) => Expect::Absent,
    }
}

async fn write(
    state: &AdminState,
    kind: ConfigKind,
    id: &str,
    value: Value,
    expect: Expect,
) -> Result<(u16, Value), AdminError> {
    let mut candidate = state.catalog.borrow().as_ref().clone();
    let normal = insert(&mut candidate, kind, id, value).map_err(|e| AdminError::Invalid(vec![e]))?;
    candidate.validate().map_err(AdminError::Invalid)?;
    state.check_targets(&candidate)?;
    let bytes = serde_json::to_vec(&normal).map_err(AdminError::unavailable)?;
    let revision = store::write::write(&state.nats, kind, id, &bytes, expect).await?;
    settle(state, |live| same_entry(live, &candidate, kind, id)).await;
    let status = if expect == Expect::Absent { 201 } else { 200 };
    Ok((status, redact(kind, id, normal, revision)))
}

/// Longest a write waits for the live catalog to show it.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits until the live catalog (which the next write is validated
/// against) shows this write, so a client's next request sees its own
/// write: a profile created, then an agent naming it, is not refused as
/// naming an unknown profile. Bounded: a view that lags longer is only
/// slower to agree.
async fn settle(state: &AdminState, shown: impl Fn(&Catalog) -> bool) {
    let mut live = state.catalog.clone();
    let _ = tokio::time::timeout(SETTLE, live.wait_for(|catalog| shown(catalog))).await;
}

/// Whether `a` and `b` hold the same `kind` object `id` (or both none).
fn same_entry(a: &Catalog, b: &Catalog, kind: ConfigKind, id: &str) -> bool {
    match kind {
        ConfigKind::Source => a.sources.get(id) == b.sources.get(id),
        ConfigKind::Profile => a.profiles.get(id) == b.profiles.get(id),
        ConfigKind::Agent => a.agents.get(id) == b.agents.get(id),
        ConfigKind::Subscription => a.subscriptions.get(id) == b.subscriptions.get(id),
    }
}

/// A revision named in the body (`"revision": N`), taken out of it.
fn take_revision(value: &mut Value) -> Result<Option<u64>, AdminError> {
    match value.as_object_mut().and_then(|o| o.remove("revision")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(_) => Err(AdminError::Invalid(vec!["revision: must be a whole number".to_owned()])),
    }
}

/// `PUT /v1/{kind}/{id}`: create or replace; `if_match` is the revision
/// named in an `If-Match` header.
pub async fn put(
    state: &AdminState,
    kind: ConfigKind,
    id: &str,
    mut value: Value,
    if_match: Option<u64>,
) -> Result<(u16, Value), AdminError> {
    Id::parse(id).map_err(|e| AdminError::Invalid(vec![e.to_string()]))?;
    if !value.is_object() {
        return Err(AdminError::Invalid(vec!["the body must be a JSON object".to_owned()]));
    }
    crate::json_numbers::normalize(&mut value);
    let named = take_revision(&mut value)?.or(if_match);
    if let Some(id) = value.as_object_mut().and_then(|o| o.remove("id"))
        && !id.is_string()
    {
        return Err(AdminError::Invalid(vec![
            "id: the path names the object; a body `id` must be a string".to_owned(),
        ]));
    }
    let existing = read(state, kind, id).await?;
    if let (Some(old), Some(object)) = (&existing, value.as_object_mut())
        && !object.contains_key("secrets")
        && let Some(secrets) = decode(old)?.get("secrets")
    {
        object.insert("secrets".to_owned(), secrets.clone());
    }
    write(state, kind, id, value, expect(named, existing.as_ref())).await
}

/// `DELETE /v1/{kind}/{id}`: refused while something refers to it.
pub async fn delete(
    state: &AdminState,
    kind: ConfigKind,
    id: &str,
    if_match: Option<u64>,
) -> Result<(u16, Value), AdminError> {
    let existing = read(state, kind, id).await?.ok_or_else(|| not_found(kind, id))?;
    let mut candidate = state.catalog.borrow().as_ref().clone();
    remove(&mut candidate, kind, id);
    candidate.validate().map_err(AdminError::Conflict)?;
    let revision = if_match.unwrap_or(existing.revision);
    store::write::remove(&state.nats, kind, id, revision).await?;
    settle(state, |live| same_entry(live, &candidate, kind, id)).await;
    Ok((204, Value::Null))
}

/// `POST /v1/{kind}/{id}/enable|disable`.
pub async fn set_enabled(
    state: &AdminState,
    kind: ConfigKind,
    id: &str,
    enabled: bool,
    if_match: Option<u64>,
) -> Result<(u16, Value), AdminError> {
    if kind == ConfigKind::Profile {
        return Err(AdminError::NotFound("profiles cannot be enabled or disabled".into()));
    }
    let existing = read(state, kind, id).await?.ok_or_else(|| not_found(kind, id))?;
    let mut value = decode(&existing)?;
    value["enabled"] = json!(enabled);
    write(state, kind, id, value, expect(if_match, Some(&existing))).await
}

/// This module's routes: every collection's, the same five verbs
/// (profiles are never disabled, so they have no enable or disable).
pub(crate) const ROUTES: &[Route] = &[
    json_route!("GET", "/v1/sources", |c| list(c.state, ConfigKind::Source)),
    json_route!("GET", "/v1/sources/{id}", |c| get(c.state, ConfigKind::Source, c.id(0))),
    json_route!("PUT", "/v1/sources/{id}", |c| put_call(c, ConfigKind::Source)),
    json_route!("DELETE", "/v1/sources/{id}", |c| delete_call(c, ConfigKind::Source)),
    json_route!("POST", "/v1/sources/{id}/enable", |c| toggle_call(
        c,
        ConfigKind::Source,
        true
    )),
    json_route!("POST", "/v1/sources/{id}/disable", |c| toggle_call(
        c,
        ConfigKind::Source,
        false
    )),
    json_route!("GET", "/v1/profiles", |c| list(c.state, ConfigKind::Profile)),
    json_route!("GET", "/v1/profiles/{id}", |c| get(
        c.state,
        ConfigKind::Profile,
        c.id(0)
    )),
    json_route!("PUT", "/v1/profiles/{id}", |c| put_call(c, ConfigKind::Profile)),
    json_route!("DELETE", "/v1/profiles/{id}", |c| delete_call(c, ConfigKind::Profile)),
    json_route!("GET", "/v1/agents", |c| list(c.state, ConfigKind::Agent)),
    json_route!("GET", "/v1/agents/{id}", |c| get(c.state, ConfigKind::Agent, c.id(0))),
    json_route!("PUT", "/v1/agents/{id}", |c| put_call(c, ConfigKind::Agent)),
    json_route!("DELETE", "/v1/agents/{id}", |c| delete_call(c, ConfigKind::Agent)),
    json_route!("POST", "/v1/agents/{id}/enable", |c| toggle_call(
        c,
        ConfigKind::Agent,
        true
    )),
    json_route!("POST", "/v1/agents/{id}/disable", |c| toggle_call(
        c,
        ConfigKind::Agent,
        false
    )),
    json_route!("GET", "/v1/subscriptions", |c| list(c.state, ConfigKind::Subscription)),
    json_route!("GET", "/v1/subscriptions/{id}", |c| get(
        c.state,
        ConfigKind::Subscription,
        c.id(0)
    )),
    json_route!("PUT", "/v1/subscriptions/{id}", |c| put_call(
        c,
        ConfigKind::Subscription
    )),
    json_route!("DELETE", "/v1/subscriptions/{id}", |c| delete_call(
        c,
        ConfigKind::Subscription
    )),
    json_route!("POST", "/v1/subscriptions/{id}/enable", |c| toggle_call(
        c,
        ConfigKind::Subscription,
        true
    )),
    json_route!("POST", "/v1/subscriptions/{id}/disable", |c| toggle_call(
        c,
        ConfigKind::Subscription,
        false
    )),
];

async fn put_call(call: Call<'_>, kind: ConfigKind) -> Answer {
    let (state, id, if_match) = (call.state, call.id(0).to_owned(), call.if_match()?);
    put(state, kind, &id, call.json().await?, if_match).await
}

async fn delete_call(call: Call<'_>, kind: ConfigKind) -> Answer {
    delete(call.state, kind, call.id(0), call.if_match()?).await
}

async fn toggle_call(call: Call<'_>, kind: ConfigKind, enabled: bool) -> Answer {
    set_enabled(call.state, kind, call.id(0), enabled, call.if_match()?).await
}
