//! The routing decision: why one event started what it started. The router
//! writes one per event in the `hookline_decisions` bucket; the admin API
//! answers it at `GET /v1/events/{id}/explain` and the console shows it.
//! The JSON is the API's `Decision` schema (docs/openapi.json).

use serde::{Deserialize, Serialize};

use crate::catalog::Untrusted;

/// One event's routing decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingDecision {
    /// The event.
    pub event_id: String,
    /// Its source.
    pub source: String,
    /// When it was routed.
    pub at_ms: i64,
    /// The fields the decision read from the event.
    pub context: DecisionContext,
    /// Agents that run.
    pub matched: Vec<String>,
    /// Why the whole event was ignored (Hookline's own comment), if it was.
    pub ignored: Option<String>,
    /// Runs that continue an earlier run's branch, and follow-ups skipped.
    #[serde(default)]
    pub follow_ups: Vec<FollowUpDecision>,
    /// Matched agents skipped because their daily token budget is spent.
    #[serde(default)]
    pub budget_spent: Vec<Explained>,
    /// Runs requested whose actor only the forge can vouch for: the
    /// executor asks it before the agent starts (the run's log says what
    /// it answered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forge_checks: Vec<Explained>,
    /// Agents whose trigger matched but whose actor is not trusted.
    #[serde(default)]
    pub untrusted: Vec<UntrustedAgent>,
    /// Agents listening to the source that do not run, with the first
    /// filter their first trigger failed.
    #[serde(default)]
    pub unmatched: Vec<Unmatched>,
    /// Agents with no trigger on the source.
    #[serde(default)]
    pub other_agents: usize,
}

/// The fields of the event's context a decision shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionContext {
    /// The provider's event name.
    pub event: String,
    /// Its action.
    pub action: String,
    /// The repository.
    pub repo: String,
    /// Labels on the item.
    pub labels: Vec<String>,
    /// The branch.
    pub branch: String,
    /// The author of the item.
    pub author: String,
    /// A check's conclusion.
    pub conclusion: String,
}

impl DecisionContext {
    /// The fields as `(name, value)`, by name, leaving out empty label lists.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("action", self.action.clone()),
            ("author", self.author.clone()),
            ("branch", self.branch.clone()),
            ("conclusion", self.conclusion.clone()),
            ("event", self.event.clone()),
        ];
        if !self.labels.is_empty() {
            fields.push(("labels", serde_json::json!(self.labels).to_string()));
        }
        fields.push(("repo", self.repo.clone()));
        fields
    }
}

/// A follow-up: a run continuing a branch, or one not started and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FollowUpDecision {
    /// The agent.
    pub agent: String,
    /// Why it runs (`mention`, `ci_failure`, …); none when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The branch it continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The issue or pull request it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<u64>,
    /// In words.
    pub explain: String,
}

/// An agent and why, in words.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Explained {
    /// The agent.
    pub agent: String,
    /// Why.
    pub explain: String,
}

/// An agent whose actor is not trusted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UntrustedAgent {
    /// The agent.
    pub agent: String,
    /// The actor, as the payload names them.
    pub actor: String,
    /// Why they are not trusted.
    pub reason: String,
    /// `skip` or `approve`.
    pub outcome: Untrusted,
    /// `skipped: …` or `awaiting approval: …`.
    pub explain: String,
}

/// An agent on the source whose trigger did not match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Unmatched {
    /// The agent.
    pub agent: String,
    /// The first filter its first trigger failed.
    pub failed: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_reads_back_and_keeps_the_api_shape() {
        let decision = RoutingDecision {
            event_id: "e1".into(),
            source: "gh".into(),
            matched: vec!["a".into()],
            follow_ups: vec![FollowUpDecision {
                agent: "b".into(),
                explain: "skipped: no".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let json = serde_json::to_value(&decision).expect("json");
        assert_eq!(json["ignored"], serde_json::Value::Null);
        assert_eq!(
            json["follow_ups"][0],
            serde_json::json!({"agent": "b", "explain": "skipped: no"})
        );
        let back: RoutingDecision = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, decision);
    }
}
