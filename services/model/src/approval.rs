//! Why a run waits for a person's approval, until when, and who decided:
//! kept in the run's record (`runs::RunRecord`).

use serde::{Deserialize, Serialize};

/// Why a run waits for a person, until when, and who decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Why its actor was not trusted (`untrusted actor octocat (association NONE)`).
    pub reason: String,
    /// The actor, as the payload named them.
    pub actor: String,
    /// Unix ms; after it, the run expires.
    pub expires_at_ms: i64,
    /// Who approved or rejected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Unix ms of the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at_ms: Option<i64>,
}
