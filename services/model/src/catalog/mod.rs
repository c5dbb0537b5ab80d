//! The configuration catalog: sources, profiles, agents and subscriptions,
//! as written in `hookline.toml` and stored in the `hookline_config` bucket.
//!
//! The file model keeps ids as text so that [`Catalog::validate`] can report
//! every problem at once instead of stopping at the first.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ids::EventPattern;
pub use crate::secret::{Secret, SecretError, SecretRef};
use crate::written::Written;

mod agent;
pub(crate) mod forge;
mod profile_secret;
mod runner;
mod sandbox;
mod schedule;
mod source;
mod trigger;
mod trust;

pub use agent::{AgentSpec, ModelGlob, ModelSpec, ProfileSpec};
pub use forge::{ForgeKind, ForgeSpec, OutputPolicy, PullRequestSpec};
pub use profile_secret::{ProfileSecret, SecretScope};
pub use runner::{McpServerSpec, Preset, PresetOptions, RunnerSpec};
pub use sandbox::{Bytes, EgressRule, Limits, SIZE_PATTERN, SandboxMode, SandboxPaths, parse_size};
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
            if let RunnerSpec::Command { command } | RunnerSpec::Acp { command, .. } = &mut agent.runner
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
}

#[cfg(test)]
mod tests;
