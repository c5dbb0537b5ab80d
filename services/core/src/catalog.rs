//! The configuration catalog: sources, profiles, agents and subscriptions,
//! as written in `hookline.toml` and stored in the `hookline_config` bucket.
//!
//! The file model keeps ids as text so that [`Catalog::validate`] can report
//! every problem at once instead of stopping at the first.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{EventPattern, Id};
use crate::settings::parse_duration;

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

/// Why a secret reference could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `env:NAME` with NAME unset.
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// `file:PATH` unreadable.
    #[error("cannot read secret file {0}: {1}")]
    File(String, std::io::Error),
    /// An empty secret.
    #[error("secret is empty")]
    Empty,
}

/// A secret as configured: `env:NAME`, `file:PATH` or a literal. Stored as
/// given; resolved by the service that uses it. Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(String);

impl SecretRef {
    /// A reference from configuration text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// Reads the secret's value now.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let value = if let Some(name) = self.0.strip_prefix("env:") {
            std::env::var(name).map_err(|_| SecretError::MissingEnv(name.to_owned()))?
        } else if let Some(path) = self.0.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map_err(|e| SecretError::File(path.to_owned(), e))?
                .trim_end_matches(['\n', '\r'])
                .to_owned()
        } else {
            self.0.clone()
        };
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret(value))
    }

    /// The last four characters of a literal, for showing which one it is.
    pub fn hint(&self) -> String {
        if self.0.starts_with("env:") || self.0.starts_with("file:") {
            return self.0.clone();
        }
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({})", self.hint())
    }
}

/// A resolved secret value. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for signing and verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How a source's requests are verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Github,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    StandardWebhooks,
    /// `X-Webhook-Secret: <secret>`.
    SharedSecret,
    /// No verification: only when the operator says so.
    None,
}

/// An inbound webhook endpoint, `POST /webhooks/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// How requests are verified.
    pub provider: Provider,
    /// Active secrets, several during a rotation.
    #[serde(default)]
    pub secrets: Vec<SecretRef>,
    /// A disabled source answers 403 and keeps its URL.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Largest accepted body, default 256 KiB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

/// Environment for an agent's runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Plain environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secrets, given to the agent as environment variables only.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretRef>,
    /// Commands run in the workspace before the agent.
    #[serde(default)]
    pub setup: Vec<String>,
}

/// The process or endpoint that does an agent's work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RunnerSpec {
    /// Any agent CLI: argv, prompt on stdin and in `HOOKLINE_PROMPT_FILE`.
    Command {
        /// Program and arguments.
        command: Vec<String>,
    },
}

/// Which webhooks start an agent. Every field is optional; fields AND,
/// values within a list OR.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// The source the webhook came through.
    pub source: String,
    /// Provider event names (`issues`, `pull_request`, …).
    #[serde(default)]
    pub events: Vec<String>,
    /// Actions (`opened`, `labeled`, …).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Labels, any of which must be on the item.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Repositories as `owner/name`.
    #[serde(default)]
    pub repos: Vec<String>,
}

/// What runs when an event matches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// The prompt template.
    pub prompt: String,
    /// The runner.
    pub runner: RunnerSpec,
    /// Environment profile.
    #[serde(default)]
    pub profile: Option<String>,
    /// Webhook triggers.
    #[serde(default)]
    pub triggers: Vec<TriggerSpec>,
    /// Longest a run may take, such as `10m`.
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// Runs at once across all executors.
    #[serde(default = "one")]
    pub max_concurrency: u32,
    /// A disabled agent starts no runs.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl AgentSpec {
    /// The timeout as a duration (validated when the catalog was).
    pub fn timeout(&self) -> Duration {
        parse_duration(&self.timeout).unwrap_or(Duration::from_secs(600))
    }
}

/// An outbound endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// Where events are POSTed.
    pub url: String,
    /// Event-type filters; empty means every event.
    #[serde(default)]
    pub events: Vec<String>,
    /// Signing secrets (`whsec_…`); the first signs, all sign during a rotation.
    pub secrets: Vec<SecretRef>,
    /// A disabled subscription receives nothing.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl SubscriptionSpec {
    /// Whether an event of this type goes to this subscription.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.is_empty()
            || self
                .events
                .iter()
                .filter_map(|p| EventPattern::parse(p).ok())
                .any(|p| p.matches(event_type))
    }
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_max_body() -> usize {
    256 * 1024
}
fn default_timeout() -> String {
    "10m".to_owned()
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

/// Largest body a source may accept (25 MiB).
pub const MAX_BODY_LIMIT: usize = 25 * 1024 * 1024;

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
            let RunnerSpec::Command { command } = &mut agent.runner;
            if let Some(program) = command.first_mut()
                && (program.starts_with("./") || program.starts_with("../"))
            {
                *program = base.join(&*program).display().to_string();
            }
        }
        catalog.validate().map_err(CatalogError::Invalid)?;
        Ok(catalog)
    }

    /// Parses TOML text without validating it.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        toml::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))
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
                if let Err(e) = secret.resolve() {
                    problems.push(format!("source `{id}`: secret {}: {e}", secret.hint()));
                }
            }
            if source.max_body_bytes == 0 || source.max_body_bytes > MAX_BODY_LIMIT {
                problems.push(format!(
                    "source `{id}`: max_body_bytes must be 1 to {MAX_BODY_LIMIT}"
                ));
            }
        }
        for (id, profile) in &self.profiles {
            check_id("profile", id, &mut problems);
            for (name, secret) in &profile.secrets {
                if let Err(e) = secret.resolve() {
                    problems.push(format!("profile `{id}`: secret {name}: {e}"));
                }
            }
        }
        for (id, agent) in &self.agents {
            check_id("agent", id, &mut problems);
            let RunnerSpec::Command { command } = &agent.runner;
            if command.is_empty() {
                problems.push(format!("agent `{id}`: runner.command is empty"));
            }
            if let Some(profile) = &agent.profile
                && !self.profiles.contains_key(profile)
            {
                problems.push(format!("agent `{id}`: unknown profile `{profile}`"));
            }
            if let Err(e) = parse_duration(&agent.timeout) {
                problems.push(format!("agent `{id}`: timeout: {e}"));
            }
            if agent.max_concurrency == 0 {
                problems.push(format!("agent `{id}`: max_concurrency must be at least 1"));
            }
            for trigger in &agent.triggers {
                if !self.sources.contains_key(&trigger.source) {
                    problems.push(format!(
                        "agent `{id}`: trigger names unknown source `{}`",
                        trigger.source
                    ));
                }
            }
        }
        for (id, sub) in &self.subscriptions {
            check_id("subscription", id, &mut problems);
            if !(sub.url.starts_with("http://") || sub.url.starts_with("https://")) {
                problems.push(format!(
                    "subscription `{id}`: url must be http:// or https://"
                ));
            }
            for pattern in &sub.events {
                if let Err(e) = EventPattern::parse(pattern) {
                    problems.push(format!("subscription `{id}`: {e}"));
                }
            }
            if sub.secrets.is_empty() {
                problems.push(format!("subscription `{id}`: needs a signing secret"));
            }
            for secret in &sub.secrets {
                if let Err(e) = secret.resolve() {
                    problems.push(format!(
                        "subscription `{id}`: secret {}: {e}",
                        secret.hint()
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[sources.github]
provider = "github"
secrets = ["literal-secret"]

[profiles.default]
env = { RUST_LOG = "info" }

[agents.triage]
prompt = "Look at {{repo}}"
runner = { type = "command", command = ["./agent.sh"] }
profile = "default"
triggers = [{ source = "github", events = ["issues"], actions = ["labeled"] }]

[subscriptions.ops]
url = "https://ops.example.com/hooks"
events = ["deployment.>", "run.*"]
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
"#;

    #[test]
    fn a_good_file_parses_and_validates() {
        let catalog = Catalog::parse(GOOD).expect("parses");
        catalog.validate().expect("valid");
        assert_eq!(
            catalog.agents["triage"].max_concurrency, 1,
            "default concurrency"
        );
        assert_eq!(
            catalog.sources["github"].max_body_bytes,
            256 * 1024,
            "default body limit"
        );
        assert!(catalog.subscriptions["ops"].wants("deployment.failed"));
        assert!(!catalog.subscriptions["ops"].wants("code.generated"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = r#"
[sources.Bad]
provider = "github"

[agents.a]
prompt = "x"
runner = { type = "command", command = [] }
profile = "missing"
timeout = "soon"
triggers = [{ source = "nowhere" }]

[subscriptions.s]
url = "ftp://x"
events = ["code.>.x"]
secrets = ["env:HOOKLINE_TEST_SURELY_UNSET"]
"#;
        let problems = Catalog::parse(bad)
            .expect("parses")
            .validate()
            .expect_err("invalid");
        let text = problems.join("\n");
        for expected in [
            "source `Bad` is not a valid identifier",
            "needs at least one secret",
            "runner.command is empty",
            "unknown profile `missing`",
            "timeout",
            "unknown source `nowhere`",
            "url must be http",
            "not a valid event filter",
            "HOOKLINE_TEST_SURELY_UNSET is not set",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn secrets_never_print_their_value() {
        let secret = SecretRef::new("supersecretvalue1234");
        assert!(!format!("{secret:?}").contains("supersecret"));
        let resolved = secret.resolve().expect("literal");
        assert_eq!(format!("{resolved:?}"), "Secret(***)");
        assert_eq!(secret.hint(), "…1234");
    }
}
