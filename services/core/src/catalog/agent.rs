//! Profiles and agents: what runs when an event matches, and where.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SecretRef;
use super::source::yes;
use crate::settings::parse_duration;

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

fn one() -> u32 {
    1
}
fn default_timeout() -> String {
    "10m".to_owned()
}
