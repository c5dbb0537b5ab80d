//! Closing the loop on the forge: a profile's forge account, and what an
//! agent does with it (a draft pull request, one live status comment,
//! outputs it may ask for, follow-ups and CI fix-ups on its branch).
//!
//! ```toml
//! [profiles.repo]
//! secrets = { FORGE_TOKEN = { secret = "env:GITHUB_TOKEN", scope = "forge" } }
//! forge = { api_url = "https://api.github.com", token = "FORGE_TOKEN", login = "hookline-bot" }
//!
//! [agents.fixer]
//! pull_request = { draft = true, title = "Fix #{{event.issue.number}}" }
//! status_comment = true
//! outputs = { comments = 1, labels = ["bug", "triage"] }
//! mention = "@hookline"
//! ci_fixes = 1
//! ```

use serde::{Deserialize, Deserializer, Serialize};

use super::agent::{AgentSpec, ProfileSpec};
use super::profile_secret::SecretScope;

/// Which forge's API a profile talks to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgeKind {
    /// GitHub or GitHub Enterprise Server (REST v3).
    #[default]
    Github,
    /// Gitea (REST v1, `api_url = "https://<host>/api/v1"`).
    Gitea,
    /// Forgejo: Gitea's API, the same adapter.
    Forgejo,
}

/// A profile's forge account, used only by the executor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeSpec {
    /// The forge (default `github`).
    #[serde(default, rename = "type")]
    pub kind: ForgeKind,
    /// The REST API's base URL: `https://api.github.com`, or
    /// `https://<host>/api/v3` for GitHub Enterprise Server.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The name of the profile secret holding the token (scope `forge` or
    /// `git`; never `agent`).
    pub token: String,
    /// The account's login: what it writes never starts a run (Hookline's
    /// own comments are also known by a marker in their text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
}

fn default_api_url() -> String {
    "https://api.github.com".to_owned()
}

/// How a run's pull request is opened: `pull_request = true`, or a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequestSpec {
    /// Opened as a draft (default).
    #[serde(default = "yes")]
    pub draft: bool,
    /// Title template (the prompt's `{{…}}` values); the agent's own
    /// summary line when unset and allowed, else a default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Body template; a link to the source issue is always added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The branch it merges into; the run's base branch when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for PullRequestSpec {
    fn default() -> Self {
        Self {
            draft: true,
            title: None,
            body: None,
            base: None,
        }
    }
}

/// `pull_request = true | false | { … }` on an agent.
pub fn pull_request_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PullRequestSpec>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        On(bool),
        Table(PullRequestSpec),
    }
    Ok(match Option::<Form>::deserialize(d)? {
        None | Some(Form::On(false)) => None,
        Some(Form::On(true)) => Some(PullRequestSpec::default()),
        Some(Form::Table(spec)) => Some(spec),
    })
}

/// What an agent may ask the executor to do on the forge for it
/// (`$HOOKLINE_OUTPUTS_FILE`); everything else is refused. Nothing by
/// default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputPolicy {
    /// Comments on the source issue or pull request, at most this many.
    #[serde(default)]
    pub comments: u32,
    /// Labels it may add, by name.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Whether it may close the source issue.
    #[serde(default)]
    pub close_issue: bool,
    /// Review comments on the run's pull request (or the source one), at
    /// most this many.
    #[serde(default)]
    pub review_comments: u32,
    /// Whether it may set the title and body of the run's pull request.
    #[serde(default)]
    pub pull_request: bool,
}

impl OutputPolicy {
    /// Whether the policy allows anything at all.
    pub fn allows_anything(&self) -> bool {
        *self != Self::default()
    }
}

/// The forge settings of `agent`, checked against its profile.
pub(crate) fn check(id: &str, agent: &AgentSpec, profile: Option<&ProfileSpec>, problems: &mut Vec<String>) {
    let wants_forge = agent.pull_request.is_some()
        || agent.status_comment
        || agent.outputs.allows_anything()
        || agent.mention.is_some()
        || agent.ci_fixes > 0;
    if !wants_forge {
        return;
    }
    if profile.and_then(|p| p.forge.as_ref()).is_none() {
        problems.push(format!(
            "agent `{id}`: pull_request, status_comment, outputs, mention and ci_fixes need a profile with a forge"
        ));
    }
    if (agent.pull_request.is_some() || agent.mention.is_some() || agent.ci_fixes > 0)
        && (agent.repository.is_none() || !agent.push)
    {
        problems.push(format!(
            "agent `{id}`: pull_request, mention and ci_fixes need a repository and push = true"
        ));
    }
    if let Some(mention) = &agent.mention
        && (mention.trim().len() < 2 || mention.chars().any(char::is_whitespace))
    {
        problems.push(format!("agent `{id}`: mention must be one word, such as \"@hookline\""));
    }
}

/// A profile's forge account, checked against its secrets.
pub(crate) fn check_profile(id: &str, profile: &ProfileSpec, problems: &mut Vec<String>) {
    let Some(forge) = &profile.forge else {
        return;
    };
    if forge.kind != ForgeKind::Github && forge.api_url == default_api_url() {
        problems.push(format!(
            "profile `{id}`: a {} forge needs its forge.api_url (`https://<host>/api/v1`)",
            if forge.kind == ForgeKind::Gitea {
                "Gitea"
            } else {
                "Forgejo"
            }
        ));
    }
    if !(forge.api_url.starts_with("https://") || forge.api_url.starts_with("http://")) {
        problems.push(format!("profile `{id}`: forge.api_url must be an http(s) URL"));
    }
    match profile.secrets.get(&forge.token) {
        None => problems.push(format!(
            "profile `{id}`: forge.token names `{}`, which is not one of its secrets",
            forge.token
        )),
        Some(secret) if secret.scope == SecretScope::Agent => problems.push(format!(
            "profile `{id}`: forge.token `{}` has scope agent; the forge token must never reach the agent (use scope \"forge\")",
            forge.token
        )),
        Some(_) => {}
    }
}
