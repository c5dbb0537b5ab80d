//! A run's record, as the `hookline_runs` bucket keeps it by run id: its
//! status, attempt, lease, usage, approval and outbox, and the pure
//! functions that name a run (its id from its event or schedule tick).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::approval::Approval;
use crate::outbox::PendingEvent;
pub use crate::reason::RunReason;

/// Where a run stands. The first three are live; the others are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Requested, not yet taken by an executor.
    Queued,
    /// Waiting for a person to approve it.
    AwaitingApproval,
    /// An executor runs it.
    Running,
    /// The agent exited 0 and everything it produced was published.
    Succeeded,
    /// The agent (or its setup) failed.
    Failed,
    /// The agent ran out of time.
    TimedOut,
    /// Cancelled by an operator.
    Cancelled,
    /// Refused by a person.
    Rejected,
    /// Nobody approved it in time.
    Expired,
}

impl RunStatus {
    /// Every status, live ones first.
    pub const ALL: [RunStatus; 9] = [
        RunStatus::Queued,
        RunStatus::AwaitingApproval,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::TimedOut,
        RunStatus::Cancelled,
        RunStatus::Rejected,
        RunStatus::Expired,
    ];

    /// The status as written in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::AwaitingApproval => "awaiting_approval",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Rejected => "rejected",
            RunStatus::Expired => "expired",
        }
    }

    /// Whether nothing more will happen to the run.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RunStatus::Queued | RunStatus::AwaitingApproval | RunStatus::Running
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a run status.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a run status (one of queued, awaiting_approval, running, succeeded, failed, timed_out, cancelled, rejected, expired)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for RunStatus {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| UnknownStatus(text.to_owned()))
    }
}

/// A run's record in the `hookline_runs` bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run.
    pub run_id: String,
    /// Its agent.
    pub agent: String,
    /// Where it stands.
    pub status: RunStatus,
    /// 1 for the first try.
    pub attempt: u32,
    /// The inbound event that started it, if any.
    pub event_id: String,
    /// Unix ms.
    pub requested_at_ms: i64,
    /// Unix ms.
    pub started_at_ms: i64,
    /// Unix ms, 0 while running.
    pub finished_at_ms: i64,
    /// The agent's exit code.
    pub exit_code: Option<i32>,
    /// Why the attempt ended; unset while it is live.
    #[serde(default)]
    pub reason: RunReason,
    /// A failed attempt that will be tried again (`max_attempts`): final for
    /// this attempt, not for the run.
    #[serde(default)]
    pub will_retry: bool,
    /// The executor copy running it, while one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Events of the finished attempt not yet known to be published
    /// ([`crate::outbox`]); empty once they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<PendingEvent>,
    /// Why the run needed a person's approval, until when, and who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// Model tokens its attempt used through the gateway, if it called any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
    /// Each model call of its attempt (its API, model, tokens and cost),
    /// the first thousand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_calls: Vec<ModelCall>,
    /// Its status comment, pull request and outputs on the forge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge: Option<crate::forge_state::ForgeRecord>,
    /// What the run kept in the artifacts store (prompt, transcript, diff,
    /// …), in the order stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRef>,
    /// The agent's own session id (ACP), which a follow-up or a fork
    /// resumes from the `session.tar` artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_session: Option<String>,
    /// The run's branch, when its agent has a repository (a fork continues it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch: String,
    /// The branch it started from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_branch: String,
    /// What became of the pull request it opened, once merged or closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<crate::forge_state::PullOutcome>,
}

/// One stored artifact of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// Its name (`transcript.jsonl`, `diff`, `files/report.md`).
    pub name: String,
    /// Bytes stored (after redaction).
    pub size: u64,
    /// `SHA-256=<base64url>` of what is stored, as the object store gives it.
    pub digest: String,
    /// Its media type.
    pub content_type: String,
}

/// One model call through the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelCall {
    /// The profile's model entry it went through (`anthropic`).
    pub api: String,
    /// The model it asked for.
    pub model: String,
    /// The upstream's HTTP status (0: not answered).
    #[serde(default)]
    pub status: u16,
    /// Milliseconds until the upstream's answer began.
    #[serde(default)]
    pub latency_ms: u64,
    /// Its tokens and cost.
    #[serde(flatten)]
    pub usage: TokenUsage,
}

/// Model token usage of one attempt. Each token is counted once, in one
/// field: `input_tokens` are the input tokens read afresh, the cache
/// fields the input tokens read from or written to the provider's prompt
/// cache (Anthropic reports them beside its input; OpenAI and Gemini
/// inside theirs, so the gateway moves them out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Calls answered.
    pub calls: u64,
    /// Input (prompt) tokens not served from a cache.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_tokens: u64,
    /// Input tokens written to the provider's prompt cache (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
    /// What the calls cost at the profile's prices, in micro-dollars;
    /// written as `cost_usd` in dollars (absent: no price known).
    #[serde(
        default,
        rename = "cost_usd",
        skip_serializing_if = "is_zero",
        serialize_with = "crate::money::serialize_dollars",
        deserialize_with = "crate::money::deserialize_dollars"
    )]
    pub cost_micros: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TokenUsage {
    /// Every token, of every kind: what token budgets count.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }

    /// Adds `other` to this.
    pub fn add(&mut self, other: &TokenUsage) {
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.cost_micros += other.cost_micros;
    }
}

/// An executor copy's exclusive, renewable hold on a live run: only the
/// holder runs the agent, and only until `expires_at_ms` unless it renews.
/// A copy that finds it expired first gives notice (`takeover_after_ms`)
/// and takes the run over only once the notice has run out, so a holder
/// that is alive but could not write (NATS was away) writes its result
/// first instead of seeing its finished work done again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The executor copy.
    pub owner: String,
    /// Unix ms; after it, another copy may give notice of a takeover.
    pub expires_at_ms: i64,
    /// Unix ms; set by the copy that found the lease expired: after it,
    /// that (or any) copy takes the run over, unless the holder has
    /// written meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeover_after_ms: Option<i64>,
}

impl RunRecord {
    /// Whether nothing more will happen to the run: its status is final
    /// and no further attempt is due.
    pub fn is_done(&self) -> bool {
        self.status.is_final() && !self.will_retry
    }
}

/// The run of `agent` for the webhook event `event_id` (received at
/// `received_at_ms`): a pure function of the two, so however often the
/// event is routed, every request names the same run.
pub fn webhook_run_id(event_id: &str, received_at_ms: i64, agent: &str) -> String {
    crate::ids::derived_id(received_at_ms, &["webhook", event_id, agent])
}

/// The run of `agent` for the schedule tick at `tick_ms`.
pub fn schedule_run_id(agent: &str, tick_ms: i64) -> String {
    crate::ids::derived_id(tick_ms, &["schedule", agent, &tick_ms.to_string()])
}

impl RunRecord {
    /// A record for a run just requested.
    pub fn queued(run_id: &str, agent: &str, event_id: &str, requested_at_ms: i64) -> Self {
        Self {
            run_id: run_id.to_owned(),
            agent: agent.to_owned(),
            status: RunStatus::Queued,
            attempt: 0,
            event_id: event_id.to_owned(),
            requested_at_ms,
            started_at_ms: 0,
            finished_at_ms: 0,
            exit_code: None,
            reason: RunReason::Unset,
            will_retry: false,
            lease: None,
            outbox: Vec::new(),
            approval: None,
            usage: None,
            model_calls: Vec::new(),
            forge: None,
            artifacts: Vec::new(),
            agent_session: None,
            branch: String::new(),
            base_branch: String::new(),
            outcome: None,
        }
    }
}
