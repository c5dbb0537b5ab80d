//! The configuration catalog: sources, profiles, agents and subscriptions,
//! as written in `hookline.toml` and stored in the `hookline_config` bucket.
//!
//! The file model keeps ids as text so that [`Catalog::validate`] can report
//! every problem at once instead of stopping at the first.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ids::{EventPattern, Id};
pub use crate::secret::{Secret, SecretError, SecretRef};
use crate::written::Written;

mod agent;
mod forge;
mod profile_secret;
mod sandbox;
mod schedule;
mod source;
mod trigger;
mod trust;

pub use agent::{AgentSpec, ModelSpec, ProfileSpec, RunnerSpec};
pub use forge::{ForgeKind, ForgeSpec, OutputPolicy, PullRequestSpec};
pub use profile_secret::{ProfileSecret, SecretScope};
pub use sandbox::{EgressRule, Limits, SIZE_PATTERN, SandboxMode, SandboxPaths, parse_size};
pub use schedule::{CronSchedule, parse_cron};
use source::yes;
pub use source::{EventTypeFrom, HmacAlgorithm, HmacEncoding, HmacSpec, Provider, SourceSpec};
pub use trigger::{Predicate, TriggerSpec, glob_to_regex};
pub use trust::{Association, TrustSpec, Untrusted};

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax or a value of the wrong type.
    #[error("{0}")]
    Parse(String),
    /// Every semantic problem found.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// An outbound endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// Where events are POSTed.
    pub url: String,
    /// Event-type filters; empty means every event.
    #[serde(default)]
    pub events: Vec<Written<EventPattern>>,
    /// Signing secrets (`whsec_…`); every one signs, so a rotation lists the
    /// new and the old until receivers have switched.
    pub secrets: Vec<SecretRef>,
    /// A disabled subscription receives nothing.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Headers added to every delivery (signature headers cannot be set).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `true`: strict order, one delivery in flight, retries included;
    /// `"run"`: each run's events in the order they were emitted, runs in
    /// parallel; `false` (default): no order.
    #[serde(default)]
    pub ordered: Ordering,
    /// Most deliveries per second to this endpoint, per notifier copy.
    #[serde(default)]
    pub rate_limit: Option<u32>,
}

/// The order a subscription's deliveries keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ordering {
    /// None: deliveries in parallel.
    #[default]
    None,
    /// Every event in stream order, one delivery in flight (`true`).
    Global,
    /// Each run's events in the order they were emitted; runs in parallel
    /// (`"run"`).
    Run,
}

impl Serialize for Ordering {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ordering::None => s.serialize_bool(false),
            Ordering::Global => s.serialize_bool(true),
            Ordering::Run => s.serialize_str("run"),
        }
    }
}

impl<'de> Deserialize<'de> for Ordering {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(false) => Ok(Ordering::None),
            serde_json::Value::Bool(true) => Ok(Ordering::Global),
            serde_json::Value::String(s) if s == "run" => Ok(Ordering::Run),
            _ => Err(serde::de::Error::custom("ordered: use true, false or \"run\"")),
        }
    }
}

/// Headers a subscription's `headers` may not set.
pub const RESERVED_HEADERS: [&str; 8] = [
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hookline-signature",
];

impl SubscriptionSpec {
    /// Whether an event of this type goes to this subscription.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|p| p.get().matches(event_type))
    }
}

/// Everything an installation is configured with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Inbound endpoints by id.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceSpec>,
    /// Environment profiles by id.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileSpec>,
    /// Agents by id.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentSpec>,
    /// Outbound endpoints by id.
    #[serde(default)]
    pub subscriptions: BTreeMap<String, SubscriptionSpec>,
}

/// Reads one catalog item from an API body, leniently (see
/// [`crate::written`]): its written values' problems are listed by
/// [`Catalog::validate`]; a shape error names its field (`limits: …`).
pub fn read_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    crate::written::leniently(|| serde_path_to_error::deserialize(value)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// Largest body a source may accept (25 MiB).
pub const MAX_BODY_LIMIT: usize = 25 * 1024 * 1024;

/// `path` without `.` and with `..` folded into its parent (without asking
/// the file system, so a path that does not exist yet stays as written).
fn lexically_normal(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(part);
                }
            }
            other => out.push(other),
        }
    }
    out
}

impl Catalog {
    /// Reads and validates a TOML file. Relative agent commands such as
    /// `./agent.sh` are made absolute against the file's folder.
    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut catalog = Self::parse(&text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
        for agent in catalog.agents.values_mut() {
            if let RunnerSpec::Command { command } = &mut agent.runner
                && let Some(program) = command.first_mut()
                && (program.starts_with("./") || program.starts_with("../"))
            {
                *program = lexically_normal(&base.join(&*program)).display().to_string();
            }
        }
        catalog.validate().map_err(CatalogError::Invalid)?;
        Ok(catalog)
    }

    /// Parses TOML text without validating it: a bad duration, schedule,
    /// size, pattern or egress rule is kept as a problem that
    /// [`Catalog::validate`] lists with the others.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        crate::written::leniently(|| toml::from_str(text)).map_err(|e| CatalogError::Parse(e.to_string()))
    }

    /// Every problem in the catalog, or Ok.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let check_id = |kind: &str, id: &str, problems: &mut Vec<String>| {
            if let Err(e) = Id::parse(id) {
                problems.push(format!("{kind} {e}"));
            }
        };
        for (id, source) in &self.sources {
            check_id("source", id, &mut problems);
            if source.provider != Provider::None && source.secrets.is_empty() {
                problems.push(format!(
                    "source `{id}`: provider {:?} needs at least one secret (or provider = \"none\")",
                    source.provider
                ));
            }
            for secret in &source.secrets {
                if let Err(e) = secret.check_form() {
                    problems.push(format!("source `{id}`: secret {}: {e}", secret.hint()));
                }
            }
            match (&source.provider, &source.hmac) {
                (Provider::Hmac, None) => problems.push(format!(
                    "source `{id}`: provider \"hmac\" needs an [sources.{id}.hmac] table"
                )),
                (Provider::Hmac | Provider::Mintlify, Some(spec)) => {
                    if spec.header.trim().is_empty() {
                        problems.push(format!("source `{id}`: hmac.header is empty"));
                    }
                    if let Some(e) = spec.tolerance.problem() {
                        problems.push(format!("source `{id}`: hmac.tolerance: {e}"));
                    }
                }
                (_, Some(_)) => problems.push(format!(
                    "source `{id}`: an hmac table only applies to provider \"hmac\" or \"mintlify\""
                )),
                _ => {}
            }
            if source.max_body_bytes == 0 || source.max_body_bytes > MAX_BODY_LIMIT {
                problems.push(format!("source `{id}`: max_body_bytes must be 1 to {MAX_BODY_LIMIT}"));
            }
        }
        for (id, profile) in &self.profiles {
            check_id("profile", id, &mut problems);
            for (name, secret) in &profile.secrets {
                if let Err(e) = secret.secret.check_form() {
                    problems.push(format!("profile `{id}`: secret {name}: {e}"));
                }
            }
        }
        for (id, agent) in &self.agents {
            check_id("agent", id, &mut problems);
            if agent.prompt.trim().is_empty() {
                problems.push(format!("agent `{id}`: prompt is missing or empty"));
            }
            match &agent.runner {
                RunnerSpec::Command { command } if command.is_empty() => {
                    problems.push(format!("agent `{id}`: runner.command is empty (or no runner is given)"));
                }
                RunnerSpec::Command { .. } => {}
                RunnerSpec::Http {
                    url,
                    model,
                    api_key,
                    output_file,
                    ..
                } => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        problems.push(format!("agent `{id}`: runner.url must be http:// or https://"));
                    }
                    if model.trim().is_empty() {
                        problems.push(format!("agent `{id}`: runner.model is empty"));
                    }
                    if let Some(Err(e)) = api_key.as_ref().map(SecretRef::check_form) {
                        problems.push(format!("agent `{id}`: runner.api_key: {e}"));
                    }
                    if output_file
                        .as_ref()
                        .is_some_and(|f| f.starts_with('/') || f.split('/').any(|part| part == ".."))
                    {
                        problems.push(format!(
                            "agent `{id}`: runner.output_file must be a path inside the workspace"
                        ));
                    }
                }
            }
            if let Some(profile) = &agent.profile
                && !self.profiles.contains_key(profile)
            {
                problems.push(format!("agent `{id}`: unknown profile `{profile}`"));
            }
            let written = [
                ("timeout", agent.timeout.problem()),
                ("approval_timeout", agent.approval_timeout.problem()),
                ("schedule", agent.schedule.as_ref().and_then(Written::problem)),
                ("limits.memory", agent.limits.memory.problem()),
                ("limits.file_size", agent.limits.file_size.problem()),
                (
                    "limits.cpu_time",
                    agent.limits.cpu_time.as_ref().and_then(Written::problem),
                ),
            ];
            for (field, problem) in written {
                if let Some(e) = problem {
                    problems.push(format!("agent `{id}`: {field}: {e}"));
                }
            }
            if agent.max_concurrency == 0 {
                problems.push(format!("agent `{id}`: max_concurrency must be at least 1"));
            }
            if agent.max_attempts == 0 {
                problems.push(format!("agent `{id}`: max_attempts must be at least 1"));
            }
            if agent.limits.processes == 0 {
                problems.push(format!("agent `{id}`: limits.processes must be at least 1"));
            }
            for path in agent.sandbox_paths.read.iter().chain(&agent.sandbox_paths.write) {
                if !path.starts_with('/') {
                    problems.push(format!(
                        "agent `{id}`: sandbox_paths: `{path}` must be an absolute path"
                    ));
                }
            }
            if let Some(trust) = &agent.trust {
                trust.check(&format!("agent `{id}`: trust"), &mut problems);
            }
            let profile = agent.profile.as_ref().and_then(|p| self.profiles.get(p));
            forge::check(id, agent, profile, &mut problems);
            for trigger in &agent.triggers {
                if let Some(trust) = &trigger.trust {
                    trust.check(
                        &format!("agent `{id}`: trigger on `{}`: trust", trigger.source),
                        &mut problems,
                    );
                }
                for glob in &trigger.branches {
                    if regex::Regex::new(&glob_to_regex(glob)).is_err() {
                        problems.push(format!("agent `{id}`: branch glob `{glob}` is invalid"));
                    }
                }
                for pattern in trigger.predicate.iter().flat_map(Predicate::patterns) {
                    if let Err(e) = regex::Regex::new(pattern) {
                        problems.push(format!("agent `{id}`: regex `{pattern}`: {e}"));
                    }
                }
                if !self.sources.contains_key(&trigger.source) {
                    problems.push(format!(
                        "agent `{id}`: trigger names unknown source `{}`",
                        trigger.source
                    ));
                }
            }
        }
        if let Err(mut declared) = crate::event_catalog::EventCatalog::with_declared(self) {
            problems.append(&mut declared);
        }
        for (id, profile) in &self.profiles {
            forge::check_profile(id, profile, &mut problems);
            for e in profile.egress.iter().filter_map(Written::problem) {
                problems.push(format!("profile `{id}`: {e}"));
            }
            for (name, model) in &profile.models {
                if !(model.upstream.starts_with("https://") || model.upstream.starts_with("http://")) {
                    problems.push(format!("profile `{id}`: models.{name}.upstream must be an http(s) URL"));
                }
                if hyper_header_ok(&model.header).is_err() {
                    problems.push(format!("profile `{id}`: models.{name}.header is not a header name"));
                }
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    problems.push(format!(
                        "profile `{id}`: model name `{name}`: use letters, digits and _"
                    ));
                }
                if let Err(e) = model.secret.check_form() {
                    problems.push(format!("profile `{id}`: models.{name}.secret: {e}"));
                }
            }
        }
        for (id, sub) in &self.subscriptions {
            check_id("subscription", id, &mut problems);
            if !(sub.url.starts_with("http://") || sub.url.starts_with("https://")) {
                problems.push(format!("subscription `{id}`: url must be http:// or https://"));
            }
            for e in sub.events.iter().filter_map(Written::problem) {
                problems.push(format!("subscription `{id}`: {e}"));
            }
            if sub.secrets.is_empty() {
                problems.push(format!("subscription `{id}`: needs a signing secret"));
            } else if !sub.secrets.iter().any(|s| s.active_at(crate::clock::now_ms())) {
                problems.push(format!("subscription `{id}`: every signing secret has expired"));
            }
            for name in sub.headers.keys() {
                let lower = name.to_ascii_lowercase();
                if RESERVED_HEADERS.contains(&lower.as_str()) || lower == "traceparent" {
                    problems.push(format!("subscription `{id}`: header `{name}` is set by Hookline"));
                } else if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    problems.push(format!("subscription `{id}`: `{name}` is not a header name"));
                }
            }
            if sub.rate_limit == Some(0) {
                problems.push(format!("subscription `{id}`: rate_limit must be at least 1 per second"));
            }
            for secret in &sub.secrets {
                if let Err(e) = secret.check_form() {
                    problems.push(format!("subscription `{id}`: secret {}: {e}", secret.hint()));
                }
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

#[cfg(test)]
mod tests;

/// Whether `name` is a valid HTTP header name.
fn hyper_header_ok(name: &str) -> Result<(), ()> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if valid { Ok(()) } else { Err(()) }
}
