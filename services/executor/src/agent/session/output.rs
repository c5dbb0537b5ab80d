//! What a session hands back to the attempt.

use hookline_bus::runs::RunReason;
use hookline_sandbox::limits::Hit;
use hookline_sandbox::runner::Exit;

use crate::agent::workspace::{Changes, Checkout};

/// What a run's session produced.
pub struct SessionOutput {
    /// How the agent ended.
    pub exit: Exit,
    /// A reason other than the exit's own (`setup`, `workspace`).
    pub reason: Option<RunReason>,
    /// The agent's transcript summed up, when it has one (ACP runners).
    pub summary: Option<hookline_model::transcript::Summary>,
    /// The events file's content.
    pub events_text: String,
    /// The outputs file's content ([`crate::forge::outputs`]).
    pub outputs_text: String,
    /// The repository, when the agent has one, and what the agent committed.
    pub code: Option<(Checkout, Changes, bool)>,
    /// The resource limit that ended the run, if one did.
    pub limit: Option<Hit>,
    /// `host:port`s the run's egress proxy refused.
    pub blocked_hosts: Vec<String>,
    /// Model tokens used through the gateway, when the run has models.
    pub usage: Option<hookline_bus::runs::TokenUsage>,
    /// Each model call through the gateway.
    pub model_calls: Vec<hookline_model::runs::ModelCall>,
    /// What is to be kept of the run, gathered while its folder existed
    /// (stored once its final record is written).
    pub kept: Option<crate::agent::artifacts::Gathered>,
    /// The run's branch and the branch it started from, when it has a
    /// repository.
    pub branch: Option<(String, String)>,
}

impl SessionOutput {
    /// A run that ended before its agent ran, for `reason`.
    pub fn failed(reason: RunReason) -> Self {
        Self {
            exit: Exit::Crashed(0),
            reason: Some(reason),
            summary: None,
            events_text: String::new(),
            outputs_text: String::new(),
            code: None,
            limit: None,
            blocked_hosts: Vec::new(),
            usage: None,
            model_calls: Vec::new(),
            kept: None,
            branch: None,
        }
    }

    /// Whether the run succeeded.
    pub fn success(&self) -> bool {
        self.exit.success() && self.reason.is_none()
    }
}
