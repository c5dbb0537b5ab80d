//! Trust policies: who may start an agent's run, read from the verified
//! payload, never from an API call. A policy sits on a trigger or, as the
//! default for its triggers, on an agent.
//!
//! The order is: a denied actor is untrusted; an allowed actor is trusted;
//! a bot (a GitHub `sender.type` of `Bot`, or a login ending in `[bot]`) is
//! untrusted unless allowed by its exact login; on GitHub, the actor's
//! `author_association` must be one of `associations` (default `OWNER`,
//! `MEMBER`, `COLLABORATOR` for issues, comments, pull requests, reviews
//! and discussions); elsewhere, when `allow` is not empty, only listed
//! actors are trusted. Anyone else is handled as the agent's `untrusted`
//! says: `skip` (default) or `approve`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A GitHub `author_association`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Association {
    /// Owns the repository.
    Owner,
    /// A member of the organization.
    Member,
    /// Invited to collaborate.
    Collaborator,
    /// Has contributed before.
    Contributor,
    /// First contribution to this repository.
    FirstTimeContributor,
    /// First contribution to GitHub.
    FirstTimer,
    /// A placeholder for an imported user.
    Mannequin,
    /// No association.
    None,
}

impl Association {
    /// Every association, as GitHub spells them.
    pub const ALL: [Association; 8] = [
        Association::Owner,
        Association::Member,
        Association::Collaborator,
        Association::Contributor,
        Association::FirstTimeContributor,
        Association::FirstTimer,
        Association::Mannequin,
        Association::None,
    ];

    /// Those trusted when a policy names none: people with write access.
    pub const DEFAULT: [Association; 3] = [Association::Owner, Association::Member, Association::Collaborator];

    /// As GitHub spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Association::Owner => "OWNER",
            Association::Member => "MEMBER",
            Association::Collaborator => "COLLABORATOR",
            Association::Contributor => "CONTRIBUTOR",
            Association::FirstTimeContributor => "FIRST_TIME_CONTRIBUTOR",
            Association::FirstTimer => "FIRST_TIMER",
            Association::Mannequin => "MANNEQUIN",
            Association::None => "NONE",
        }
    }

    /// The association GitHub spelled `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl fmt::Display for Association {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may start a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSpec {
    /// GitHub: the author associations trusted (default `OWNER`, `MEMBER`,
    /// `COLLABORATOR` for item events); an empty list trusts none by
    /// association.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associations: Option<Vec<Association>>,
    /// Actors always trusted: a login, email or user id, exactly (logins
    /// and emails ignore case). The only way to trust a bot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Actors never trusted, whatever else says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// For sources whose provider names no actor field: a JSON pointer to
    /// the actor (`/user/email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

impl TrustSpec {
    /// Adds what is wrong with the policy to `problems`, each prefixed
    /// with `what`.
    pub fn check(&self, what: &str, problems: &mut Vec<String>) {
        if self.allow.iter().chain(&self.deny).any(|a| a.trim().is_empty()) {
            problems.push(format!("{what}: allow and deny entries must not be empty"));
        }
        if let Some(pointer) = &self.actor
            && !pointer.starts_with('/')
        {
            problems.push(format!("{what}: actor must be a JSON pointer such as `/user/email`"));
        }
    }
}

/// What happens to an event from an actor outside the policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Untrusted {
    /// No run; the decision says why.
    #[default]
    Skip,
    /// A run that waits for a person to approve it.
    Approve,
}
