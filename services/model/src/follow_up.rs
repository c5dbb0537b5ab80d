//! Why a run continues an earlier run's branch (`FollowUp.reason` on the
//! wire): written by the router, read by the executor, one typed value
//! instead of words compared as text.

/// Why a follow-up run was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUpReason {
    /// A trusted comment mentioned the agent on a thread one of its runs
    /// handled.
    Mention,
    /// The branch's checks failed: a fix-up run.
    CiFailure,
    /// The branch's checks failed again after the last fix-up allowed: no
    /// agent runs, a human is asked for.
    CiExhausted,
    /// An operator continues a run with a new prompt (`POST
    /// /v1/runs/{id}/fork`): the prompt is theirs, not the agent's template.
    Fork,
}

impl FollowUpReason {
    /// As written in `FollowUp.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpReason::Mention => "mention",
            FollowUpReason::CiFailure => "ci_failure",
            FollowUpReason::CiExhausted => "ci_exhausted",
            FollowUpReason::Fork => "fork",
        }
    }

    /// The reason `FollowUp.reason` names, if it names one.
    pub fn parse(word: &str) -> Option<Self> {
        [
            FollowUpReason::Mention,
            FollowUpReason::CiFailure,
            FollowUpReason::CiExhausted,
            FollowUpReason::Fork,
        ]
        .into_iter()
        .find(|r| r.as_str() == word)
    }
}

#[cfg(test)]
mod tests {
    use super::FollowUpReason;

    #[test]
    fn each_reason_reads_back_as_itself() {
        for reason in [
            FollowUpReason::Mention,
            FollowUpReason::CiFailure,
            FollowUpReason::CiExhausted,
            FollowUpReason::Fork,
        ] {
            assert_eq!(FollowUpReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(FollowUpReason::parse("whatever"), None);
    }
}
