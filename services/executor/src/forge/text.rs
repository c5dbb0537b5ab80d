//! The words of a run's status comment: what the run is doing while it
//! runs, and how it ended.

use hookline_bus::runs::{RunRecord, RunStatus};
use hookline_model::forge_state::{ForgeRecord, OutputOutcome};

/// What the run is doing, for its status comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Cloning and setting up.
    Preparing,
    /// The agent works.
    Running,
    /// Pushing, opening the pull request, applying outputs.
    Publishing,
}

impl Phase {
    pub(crate) fn words(self) -> &'static str {
        match self {
            Phase::Preparing => "preparing the workspace",
            Phase::Running => "the agent is working",
            Phase::Publishing => "publishing the results",
        }
    }
}

/// The final text of a run's status comment.
pub fn final_text(record: &RunRecord, forge: &ForgeRecord) -> String {
    let head = match record.status {
        RunStatus::Succeeded => "✅ Succeeded.".to_owned(),
        RunStatus::Failed if record.reason == hookline_bus::runs::RunReason::NeedsHuman => {
            "🙋 The checks on this branch still fail after the fix-up runs allowed; a human is needed.".to_owned()
        }
        RunStatus::Failed if record.will_retry => format!(
            "⚠️ Attempt {} failed ({}); trying again.",
            record.attempt, record.reason
        ),
        RunStatus::Failed => format!("❌ Failed: {}.", record.reason),
        RunStatus::TimedOut => "⌛ Timed out.".to_owned(),
        RunStatus::Cancelled => "⏹️ Cancelled.".to_owned(),
        RunStatus::Rejected => "🚫 Rejected by a person.".to_owned(),
        RunStatus::Expired => "⌛ Expired: nobody approved it in time.".to_owned(),
        live => format!("⏳ {live}."),
    };
    let mut text = head;
    if let Some(pull) = &forge.pull_request {
        text.push_str(&format!("\n\nPull request: #{} {}", pull.number, pull.url));
    }
    if !forge.summary.is_empty() {
        let quoted: Vec<String> = forge.summary.lines().map(|l| format!("> {l}")).collect();
        text.push_str(&format!("\n\nSummary:\n{}", quoted.join("\n")));
    }
    let refused = forge
        .outputs
        .iter()
        .filter(|o| o.outcome == OutputOutcome::Refused)
        .count();
    if refused > 0 {
        text.push_str(&format!(
            "\n\n{refused} output request(s) refused by the agent's policy (see the run record)."
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_model::forge_state::{OutputResult, PullRequestRef};

    #[test]
    fn the_final_text_says_how_the_run_ended_with_its_pull_request_and_summary() {
        let mut record = RunRecord::queued("r1", "fixer", "e1", 0);
        let forge = ForgeRecord {
            pull_request: Some(PullRequestRef {
                number: 7,
                url: "https://github.com/o/r/pull/7".into(),
            }),
            summary: "Fixed it.\nTwo lines.".into(),
            outputs: vec![OutputResult {
                kind: "labels".into(),
                outcome: OutputOutcome::Refused,
                reason: "no".into(),
                detail: String::new(),
            }],
            ..Default::default()
        };
        record.status = RunStatus::Succeeded;
        let text = final_text(&record, &forge);
        assert!(text.starts_with("✅ Succeeded."), "{text}");
        assert!(
            text.contains("Pull request: #7 https://github.com/o/r/pull/7"),
            "{text}"
        );
        assert!(text.contains("> Fixed it.\n> Two lines."), "{text}");
        assert!(text.contains("1 output request(s) refused"), "{text}");
        for (status, reason, will_retry, words) in [
            (RunStatus::Failed, "exit", false, "❌ Failed: exit."),
            (RunStatus::Failed, "exit", true, "trying again"),
            (RunStatus::Failed, "needs_human", false, "a human is needed"),
            (RunStatus::TimedOut, "timeout", false, "Timed out"),
            (RunStatus::Cancelled, "cancelled", false, "Cancelled"),
        ] {
            record.status = status;
            record.reason = reason.into();
            record.will_retry = will_retry;
            let text = final_text(&record, &ForgeRecord::default());
            assert!(text.contains(words), "{status}: {text}");
        }
    }
}
