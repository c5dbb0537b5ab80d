//! Why a run's attempt ended as it did: one typed value in the run's
//! record, written in records, the API and run events as the same words as
//! always (`exit`, `timeout`, `budget_exceeded`, …).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a run's attempt ended (or `Unset` while it is live).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunReason {
    /// Not ended yet.
    #[default]
    #[serde(rename = "")]
    Unset,
    /// The agent exited by itself (with its exit code).
    Exit,
    /// The agent ran past its timeout.
    Timeout,
    /// An operator cancelled it.
    Cancelled,
    /// The agent was killed by a signal nobody sent on purpose, or could
    /// not be started.
    Crashed,
    /// The executor stopped it for a reason recorded elsewhere.
    Stopped,
    /// A profile setup command failed.
    Setup,
    /// Its folder or repository could not be prepared.
    Workspace,
    /// Its commits could not be pushed.
    Push,
    /// It hit a resource limit (`limit` says which).
    ResourceLimit,
    /// Its token budget, or the agent's daily one, was spent.
    BudgetExceeded,
    /// Its sandbox could not be made on this host.
    SandboxUnavailable,
    /// Its program is not where its command says.
    AgentNotFound,
    /// Its branch's checks failed after the last fix-up allowed.
    NeedsHuman,
    /// A person refused it.
    Rejected,
    /// Nobody approved it in time.
    Expired,
    /// An ACP agent stopped answering: no reply to the handshake or the
    /// prompt before the run's timeout.
    AgentUnresponsive,
    /// An ACP agent broke the protocol (the message is in the run log),
    /// or exited before the handshake (with the tail of its stderr).
    ProtocolError,
    /// The agent answered the prompt with an error (its message is in the
    /// run log: a model API's refusal, a failed login).
    AgentError,
    /// The agent refused the prompt (ACP stop reason `refusal`).
    Refused,
    /// The agent hit its turn or output-token limit before it finished.
    TurnLimit,
    /// The forge said the event's actor is not one the agent's trust
    /// policy trusts (asked before the agent started: Gitea, Forgejo).
    Untrusted,
    /// A word this version does not know (written by a newer one).
    #[serde(other)]
    Other,
}

impl RunReason {
    /// Every reason, as written.
    pub const ALL: [RunReason; 23] = [
        RunReason::Unset,
        RunReason::Exit,
        RunReason::Timeout,
        RunReason::Cancelled,
        RunReason::Crashed,
        RunReason::Stopped,
        RunReason::Setup,
        RunReason::Workspace,
        RunReason::Push,
        RunReason::ResourceLimit,
        RunReason::BudgetExceeded,
        RunReason::SandboxUnavailable,
        RunReason::AgentNotFound,
        RunReason::NeedsHuman,
        RunReason::Rejected,
        RunReason::Expired,
        RunReason::AgentUnresponsive,
        RunReason::ProtocolError,
        RunReason::AgentError,
        RunReason::Refused,
        RunReason::TurnLimit,
        RunReason::Untrusted,
        RunReason::Other,
    ];

    /// The word records, the API and events use.
    pub fn as_str(self) -> &'static str {
        match self {
            RunReason::Unset => "",
            RunReason::Exit => "exit",
            RunReason::Timeout => "timeout",
            RunReason::Cancelled => "cancelled",
            RunReason::Crashed => "crashed",
            RunReason::Stopped => "stopped",
            RunReason::Setup => "setup",
            RunReason::Workspace => "workspace",
            RunReason::Push => "push",
            RunReason::ResourceLimit => "resource_limit",
            RunReason::BudgetExceeded => "budget_exceeded",
            RunReason::SandboxUnavailable => "sandbox_unavailable",
            RunReason::AgentNotFound => "agent_not_found",
            RunReason::NeedsHuman => "needs_human",
            RunReason::Rejected => "rejected",
            RunReason::Expired => "expired",
            RunReason::Untrusted => "untrusted",
            RunReason::AgentUnresponsive => "agent_unresponsive",
            RunReason::ProtocolError => "protocol_error",
            RunReason::AgentError => "agent_error",
            RunReason::Refused => "refused",
            RunReason::TurnLimit => "turn_limit",
            RunReason::Other => "other",
        }
    }

    /// Whether there is one (the attempt ended).
    pub fn is_set(self) -> bool {
        self != RunReason::Unset
    }
}

impl From<&str> for RunReason {
    /// The reason a word names; a word this version does not know is `Other`.
    fn from(word: &str) -> Self {
        RunReason::ALL
            .into_iter()
            .find(|r| r.as_str() == word && *r != RunReason::Other)
            .unwrap_or(RunReason::Other)
    }
}

impl fmt::Display for RunReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_written_as_the_same_word_serde_and_display_alike() {
        for reason in RunReason::ALL {
            let json = serde_json::to_string(&reason).expect("encode");
            assert_eq!(json, format!("\"{}\"", reason.as_str()), "{reason:?}");
            if reason != RunReason::Other {
                assert_eq!(serde_json::from_str::<RunReason>(&json).expect("decode"), reason);
            }
        }
        assert_eq!(
            serde_json::from_str::<RunReason>("\"a_newer_word\"").expect("decode"),
            RunReason::Other,
            "a record from a newer version still reads"
        );
    }
}
