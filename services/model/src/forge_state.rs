//! What a run did on the forge, kept in its record so that whichever
//! executor copy finishes it (or takes it over) edits the same status
//! comment and never opens a second pull request; and the hidden
//! [`marker`]s in what Hookline writes there, by which a copy finds a
//! comment another copy made, and the router knows Hookline's own words.

use serde::{Deserialize, Serialize};

/// A run's forge side, in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgeRecord {
    /// `owner/name` of the thread the run reports on.
    pub repository: String,
    /// The issue or pull request the run came from (0: none).
    #[serde(default)]
    pub thread: u64,
    /// The status comment's id, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<u64>,
    /// Where a person reads it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment_url: String,
    /// Whether it shows the run's final state.
    #[serde(default)]
    pub comment_final: bool,
    /// The run's pull request, once opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestRef>,
    /// The agent's summary (its `summary` output), shortened.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// Each output the agent asked for, and what became of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<OutputResult>,
}

/// A pull request a run opened (or found already open for its branch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestRef {
    /// Its number.
    pub number: u64,
    /// Where a person reads it.
    pub url: String,
}

/// What became of a pull request a run opened, as the forge's webhook said
/// (recorded on that run, once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullOutcome {
    /// Merged, or closed unmerged.
    pub state: PullState,
    /// The pull (merge) request's number.
    pub number: u64,
    /// Where a person reads it.
    pub url: String,
    /// When it was opened and when it was merged or closed (unix ms).
    pub opened_at_ms: i64,
    pub at_ms: i64,
    /// Every run behind it: the one that opened it, then its follow-ups
    /// and fix-ups on the branch.
    pub runs: Vec<String>,
    /// What those runs cost, in micro-dollars at the profile's prices.
    pub cost_micros: u64,
}

/// How a pull request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullState {
    Merged,
    Closed,
}

impl PullState {
    /// The event it is published as.
    pub fn event_type(self) -> &'static str {
        match self {
            PullState::Merged => crate::event_types::PULL_REQUEST_MERGED,
            PullState::Closed => crate::event_types::PULL_REQUEST_CLOSED,
        }
    }
}

/// What became of one output an agent asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputOutcome {
    /// Done on the forge.
    Applied,
    /// Outside the agent's policy; not done.
    Refused,
    /// `outputs_preview`: would have been done.
    Previewed,
    /// Allowed, but the forge refused it.
    Failed,
}

/// One output request and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputResult {
    /// `comment`, `labels`, `close_issue`, `review_comment`,
    /// `pull_request`, `summary`, or what the agent wrote.
    pub kind: String,
    /// What became of it.
    pub outcome: OutputOutcome,
    /// Why, for anything not applied.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// What it asked, shortened (`labels: bug, admin`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The hidden markers Hookline puts in what it writes.
pub mod marker {
    /// Every marker starts so; the router never starts a run from a
    /// comment containing it.
    pub const PREFIX: &str = "<!-- hookline:";

    /// The marker of run `run_id`'s status comment.
    pub fn status(run_id: &str) -> String {
        format!("{PREFIX}status run={run_id} -->")
    }

    /// The marker of the `n`th output of `kind` a run asked for.
    pub fn output(run_id: &str, kind: &str, n: usize) -> String {
        format!("{PREFIX}output run={run_id} {kind}={n} -->")
    }

    /// Whether `text` is (or quotes) something Hookline wrote.
    pub fn is_ours(text: &str) -> bool {
        text.contains(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::marker;

    #[test]
    fn markers_are_recognised() {
        assert!(marker::is_ours(&format!("done\n{}", marker::status("r1"))));
        assert!(!marker::is_ours("<!-- a comment -->"));
    }
}
