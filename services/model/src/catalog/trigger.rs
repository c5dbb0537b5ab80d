//! Webhook triggers: which events start an agent.
//!
//! Every field is optional; fields AND, values within a list OR, text
//! comparisons ignore case. A filter on a field the event does not have
//! fails: an event without an action never matches `actions`, an item without
//! labels never matches `labels`, an event without a branch never matches
//! `branches`. `where` adds predicates over the JSON payload.

use serde::{Deserialize, Serialize};

/// A predicate over the payload, by JSON pointer (`/issue/title`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Predicate {
    /// The value at `path` equals `value` (strings ignore case).
    Eq {
        /// JSON pointer.
        path: String,
        /// Expected value.
        value: serde_json::Value,
    },
    /// The value at `path` equals one of `values`.
    In {
        /// JSON pointer.
        path: String,
        /// Accepted values.
        values: Vec<serde_json::Value>,
    },
    /// The string at `path` matches `pattern` (Rust regex syntax).
    Regex {
        /// JSON pointer.
        path: String,
        /// The pattern.
        pattern: String,
    },
    /// Something (not null) is at this pointer.
    Exists(String),
    /// Every predicate holds.
    And(Vec<Predicate>),
    /// At least one predicate holds.
    Or(Vec<Predicate>),
    /// The predicate does not hold.
    Not(Box<Predicate>),
}

impl Predicate {
    /// Every regex in the predicate, for validation and compilation.
    pub fn patterns(&self) -> Vec<&str> {
        match self {
            Predicate::Regex { pattern, .. } => vec![pattern.as_str()],
            Predicate::And(all) | Predicate::Or(all) => all.iter().flat_map(Predicate::patterns).collect(),
            Predicate::Not(inner) => inner.patterns(),
            _ => Vec::new(),
        }
    }
}

/// Which webhooks start an agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// The source the webhook came through.
    pub source: String,
    /// Event names (`issues`, `pull_request`, `Issue`, `invoice.paid`, …).
    #[serde(default)]
    pub events: Vec<String>,
    /// Actions (`opened`, `labeled`, `create`, …).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Labels, any of which must be on the item.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Repositories as `owner/name`.
    #[serde(default)]
    pub repos: Vec<String>,
    /// Organizations or repository owners.
    #[serde(default)]
    pub orgs: Vec<String>,
    /// Assignees (logins or names).
    #[serde(default)]
    pub assignees: Vec<String>,
    /// Authors of the item (logins or names).
    #[serde(default)]
    pub authors: Vec<String>,
    /// Branch globs: `*` is any run of characters but `/`, `**` any run at
    /// all, `?` one character.
    #[serde(default)]
    pub branches: Vec<String>,
    /// CI conclusions (`failure`, `success`, …).
    #[serde(default)]
    pub conclusions: Vec<String>,
    /// Sentry resources (`issue`, `error`, `event_alert`, …).
    #[serde(default)]
    pub resources: Vec<String>,
    /// Linear organization ids.
    #[serde(default)]
    pub organizations: Vec<String>,
    /// Mintlify (or Sentry) projects.
    #[serde(default)]
    pub projects: Vec<String>,
    /// Pull requests: only merged (`true`) or only unmerged (`false`) ones.
    #[serde(default)]
    pub merged: Option<bool>,
    /// Predicates over the JSON payload.
    #[serde(default, rename = "where")]
    pub predicate: Option<Predicate>,
    /// Who may start a run through this trigger (the agent's `trust`
    /// when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<super::trust::TrustSpec>,
}

/// Translates a branch glob into an anchored regex.
pub fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_branches() {
        let rows = [
            ("main", "main", true, "literal"),
            ("main", "main2", false, "anchored"),
            ("release/*", "release/1.2", true, "star"),
            ("release/*", "release/1.2/hotfix", false, "star stops at a slash"),
            ("release/**", "release/1.2/hotfix", true, "double star crosses slashes"),
            ("v?.x", "v1.x", true, "question mark"),
            ("feat.x", "featYx", false, "dots are literal"),
        ];
        for (glob, branch, expected, why) in rows {
            let re = regex::Regex::new(&glob_to_regex(glob)).expect("valid");
            assert_eq!(re.is_match(branch), expected, "{why}");
        }
    }

    #[test]
    fn predicates_read_from_toml() {
        let text = r#"
            source = "gh"
            where = { and = [
                { exists = "/issue" },
                { regex = { path = "/issue/title", pattern = "(?i)crash" } },
                { not = { eq = { path = "/issue/state", value = "closed" } } },
                { in = { path = "/issue/number", values = [1, 2, 3] } },
            ] }
        "#;
        let trigger: TriggerSpec = toml::from_str(text).expect("parses");
        let predicate = trigger.predicate.expect("where");
        assert_eq!(predicate.patterns(), ["(?i)crash"]);
    }
}
