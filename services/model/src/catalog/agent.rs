//! Profiles and agents: what runs when an event matches, and where.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SecretRef;
use super::forge::{ForgeSpec, OutputPolicy, PullRequestSpec, pull_request_setting};
use super::profile_secret::ProfileSecret;
use super::runner::{McpServerSpec, RunnerSpec};
use super::sandbox::{EgressRule, Limits, SandboxMode, SandboxPaths};
use super::source::yes;
use super::trigger::TriggerSpec;
use super::trust::{TrustSpec, Untrusted};
use crate::written::{Grammar, Written, WrittenDuration};

/// Environment for an agent's runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Plain environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secrets, by scope: `git` (default) only for the executor's clone
    /// and push, `agent` in the agent's environment.
    #[serde(default)]
    pub secrets: BTreeMap<String, ProfileSecret>,
    /// Commands run in the workspace before the agent.
    #[serde(default)]
    pub setup: Vec<String>,
    /// Hosts a sandboxed run may reach through the egress proxy:
    /// `api.github.com`, `*.npmjs.org`, `pypi.org:443` (ports 80 and 443
    /// when none is given). Empty: no network at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Written<EgressRule>>,
    /// Model APIs a sandboxed run calls through the executor's gateway,
    /// which adds the key: the agent gets `HOOKLINE_MODEL_<NAME>_URL`,
    /// never the key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, ModelSpec>,
    /// The forge account the executor uses for pull requests, status
    /// comments and outputs (its token never reaches the agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge: Option<ForgeSpec>,
}

/// One model API behind the gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Its base URL, such as `https://api.anthropic.com`.
    pub upstream: String,
    /// The header the key goes in: `authorization` (default, as
    /// `Bearer <key>`), or another such as `x-api-key` (the key alone).
    #[serde(default = "default_header")]
    pub header: String,
    /// The key (a literal, `env:` or `file:`).
    pub secret: SecretRef,
    /// The models a run may ask this API for (`claude-sonnet-*`, `*` any
    /// run of characters); empty: any. Another model is refused by the
    /// gateway with 403 `model_not_allowed`, never sent upstream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Written<ModelGlob>>,
    /// US dollars per million tokens, by model pattern:
    /// `{ "claude-sonnet-*" = { input = 3, output = 15, cache_read = 0.3,
    /// cache_write = 3.75 } }`. A call's cost is its tokens at the price of
    /// the most specific pattern its model fits; none: no cost counted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prices: BTreeMap<String, crate::cost::Price>,
}

impl ModelSpec {
    /// The price of `model`: the longest pattern it fits.
    pub fn price_of(&self, model: &str) -> Option<crate::cost::Price> {
        self.prices
            .iter()
            .filter(|(pattern, _)| ModelGlob::read(pattern).is_ok_and(|glob| glob.matches(model)))
            .max_by_key(|(pattern, _)| pattern.len())
            .map(|(_, price)| *price)
    }

    /// Whether a run may ask for `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|glob| glob.get().matches(model))
    }
}

/// A model name pattern: letters, digits, `.`, `-`, `_`, `:`, `/`, `@`,
/// and `*` for any run of characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelGlob(String);

impl ModelGlob {
    /// Whether `model` fits the pattern.
    pub fn matches(&self, model: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = model.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            return rest.is_empty();
        };
        for part in middle {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

impl Grammar for ModelGlob {
    fn read(text: &str) -> Result<Self, String> {
        let valid = !text.is_empty()
            && text.len() <= 128
            && text.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:/@*".contains(c));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "`{text}` is not a model pattern: letters, digits, . - _ : / @ and * for any run of characters"
            ))
        }
    }
    fn placeholder() -> Self {
        // Fits no model name: a refused catalog never uses it.
        Self("\u{0}".to_owned())
    }
}

fn default_header() -> String {
    "authorization".to_owned()
}

/// What runs when an event matches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// The prompt template (missing or empty is reported by validation,
    /// with every other problem).
    #[serde(default)]
    pub prompt: String,
    /// The runner (a missing one reads as an empty command, reported by
    /// validation with every other problem).
    #[serde(default)]
    pub runner: RunnerSpec,
    /// Environment profile.
    #[serde(default)]
    pub profile: Option<String>,
    /// MCP servers the agent's runner hands to the agent (`acp` and the
    /// presets): a stdio server runs inside the sandbox; a remote one is
    /// reached through the gateway, which adds its credential.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mcp: BTreeMap<String, McpServerSpec>,
    /// Webhook triggers.
    #[serde(default)]
    pub triggers: Vec<TriggerSpec>,
    /// Longest a run may take, such as `10m`.
    #[serde(default = "default_timeout")]
    pub timeout: WrittenDuration,
    /// Runs at once across all executors.
    #[serde(default = "one")]
    pub max_concurrency: u32,
    /// A disabled agent starts no runs.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A cron schedule (`*/15 * * * *`, UTC): runs without a webhook.
    #[serde(default)]
    pub schedule: Option<Written<cron::Schedule>>,
    /// Fire a tick missed while no router ran, once, when one starts again.
    #[serde(default)]
    pub catch_up: bool,
    /// A git repository (URL or local path) cloned into each run's workspace.
    #[serde(default)]
    pub repository: Option<String>,
    /// The branch runs start from; the repository's default when unset.
    #[serde(default)]
    pub base_branch: Option<String>,
    /// Push the run's branch when the agent committed to it.
    #[serde(default)]
    pub push: bool,
    /// Keep a failed run's workspace for inspection.
    #[serde(default)]
    pub keep_failed_workspace: bool,
    /// Keep the bodies of the run's model calls (requests and answers,
    /// redacted) among its artifacts, not only their model, tokens, cost,
    /// status and latency.
    #[serde(default)]
    pub record_model_calls: bool,
    /// Tries of a run whose agent exits non-zero, default 1 (no retry).
    #[serde(default = "one")]
    pub max_attempts: u32,
    /// Clean payload values of hidden text and secrets before they reach
    /// the prompt (default on).
    #[serde(default = "yes")]
    pub sanitize: bool,
    /// Who may start a run, unless a trigger says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustSpec>,
    /// What happens to an event from an actor outside the policy.
    #[serde(default)]
    pub untrusted: Untrusted,
    /// How long a run waits for approval before it expires, such as `7d`.
    #[serde(default = "default_approval_timeout")]
    pub approval_timeout: WrittenDuration,
    /// How `command` runs are contained (default `bubblewrap`).
    #[serde(default)]
    pub sandbox: SandboxMode,
    /// Resource limits of a run's processes.
    #[serde(default)]
    pub limits: Limits,
    /// Extra host paths a sandboxed run sees.
    #[serde(default, skip_serializing_if = "is_default")]
    pub sandbox_paths: SandboxPaths,
    /// Most model tokens (input and output) one run may use through the
    /// gateway; a call past it gets 429 and the run ends `budget_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u64>,
    /// Most model tokens all of this agent's runs may use in one UTC day:
    /// once spent, its triggers are skipped (the decision says why) and a
    /// run already under way gets no further model call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_token_budget: Option<u64>,
    /// Most a run may cost, in US dollars, at the profile's prices; a call
    /// past it gets 429 and the run ends `budget_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// Most all of this agent's runs may cost in one UTC day, in US
    /// dollars: once spent, its triggers are skipped and a run under way
    /// gets no further model call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget_usd: Option<f64>,
    /// Open a (draft) pull request from the pushed branch, once per run.
    #[serde(
        default,
        deserialize_with = "pull_request_setting",
        skip_serializing_if = "Option::is_none"
    )]
    pub pull_request: Option<PullRequestSpec>,
    /// Keep one comment on the source issue or pull request, edited at
    /// each phase and always ending in the run's final state.
    #[serde(default)]
    pub status_comment: bool,
    /// What the agent may ask for in `$HOOKLINE_OUTPUTS_FILE`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub outputs: OutputPolicy,
    /// Record what the outputs would do, and do nothing.
    #[serde(default)]
    pub outputs_preview: bool,
    /// A trusted comment containing this (`@hookline`) on a thread one of
    /// the agent's runs handled continues that run's branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<String>,
    /// Fix-up runs a failed check on the agent's branch may start (0: off).
    #[serde(default)]
    pub ci_fixes: u32,
    /// Event types of the operator's own the agent emits, each with the
    /// JSON Schema its `data` must match (`emits = { "acme.report" = {
    /// description = "…", schema = { type = "object" } } }`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub emits: BTreeMap<String, crate::event_catalog::EmittedType>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl AgentSpec {
    /// How long one attempt may run.
    pub fn timeout(&self) -> Duration {
        *self.timeout.get()
    }

    /// How long a held run waits for a decision.
    pub fn approval_timeout(&self) -> Duration {
        *self.approval_timeout.get()
    }
}

fn one() -> u32 {
    1
}
fn default_timeout() -> WrittenDuration {
    Written::known("10m", Duration::from_secs(600))
}
fn default_approval_timeout() -> WrittenDuration {
    Written::known("7d", Duration::from_secs(7 * 24 * 3600))
}
