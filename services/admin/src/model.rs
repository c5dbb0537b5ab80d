//! The admin API's requests and answers as types: the server builds its
//! answers from them and the `hookline` CLI reads them with the same types,
//! so neither side spells a field by hand. `docs/openapi.json` describes
//! the same shapes field by field; the schema-driven fuzz test checks every
//! answer against it.

use hookline_bus::runs::{RunRecord, RunStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error's code, message and, for invalid requests, every problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `invalid`, `not_found`, `conflict`, …
    pub code: String,
    /// For people.
    pub message: String,
    /// Every problem found, for 400 and 409.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<String>>,
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T, C> {
    /// The entries.
    pub items: Vec<T>,
    /// Pass as `before` for the next (older) page; `None` on the last.
    pub next_before: Option<C>,
}

/// One request a source received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// Its position in the log stream (a paging cursor).
    pub seq: u64,
    /// RFC 3339.
    pub at: String,
    /// The HTTP status answered.
    pub status: u32,
    /// `stored`, `duplicate`, `handshake` or the error code.
    pub reason: String,
    /// The stored event, if one was.
    pub event_id: String,
    /// The delivery id the request named.
    pub delivery_id: String,
    /// The client address.
    pub source_ip: String,
    /// Body bytes.
    pub size: u64,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its position in the log stream (a paging cursor).
    pub seq: u64,
    /// RFC 3339.
    pub at: String,
    /// The event delivered.
    pub event_id: String,
    /// 1 for the first.
    pub attempt: u32,
    /// The HTTP status, 0 when none came.
    pub status: u32,
    /// Why there was no status, if there was none.
    pub error: String,
    /// The whole attempt.
    pub latency_ms: u64,
    /// The first 1 KiB of the answer.
    pub response_body: String,
    /// When the next attempt is due (RFC 3339), if one is.
    pub next_attempt_at: Option<String>,
}

/// One dead letter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Its DLQ sequence: what a replay of this one letter names.
    pub seq: u64,
    /// Whose delivery it was.
    pub subscription: String,
    /// The event.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's failure.
    pub last_error: String,
    /// RFC 3339.
    pub failed_at: String,
}

/// One line of a run's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// RFC 3339.
    pub at: String,
    /// `stdout`, `stderr` or `hookline`.
    pub stream: String,
    /// The text.
    pub line: String,
}

/// `GET /v1/runs/{run_id}/log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLog {
    /// The run.
    pub run_id: String,
    /// Where it stands.
    pub status: RunStatus,
    /// Its output so far, oldest first.
    pub lines: Vec<LogLine>,
}

/// `GET /v1/runs/{run_id}/transcript`: what the agent did, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// The run.
    pub run_id: String,
    /// Where it stands.
    pub status: RunStatus,
    /// Its entries so far, oldest first (every attempt's).
    pub entries: Vec<hookline_model::transcript::Entry>,
}

/// `GET /v1/runs/{run_id}/artifacts`: what the run kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifacts {
    /// The run.
    pub run_id: String,
    /// Each artifact, in the order stored.
    pub artifacts: Vec<hookline_model::runs::ArtifactRef>,
}

/// One NDJSON item of a followed log: a line, then the final record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Followed {
    /// The run is final, or waits on an operator (held for approval, or
    /// queued for a disabled or deleted agent): the last item.
    End {
        /// Its record.
        run: Box<RunRecord>,
    },
    /// A line as the agent printed it.
    Line(LogLine),
}

/// `POST /v1/sources/{id}/test`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestEventRequest {
    /// The provider's event type, default `ping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The body to send; a small default otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// What a test event met at the webhook port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestEventAnswer {
    /// The source.
    pub source: String,
    /// The event type sent.
    pub event: String,
    /// The delivery id sent.
    pub delivery_id: String,
    /// The status ingest answered.
    pub status: u16,
    /// Ingest's JSON answer.
    pub answer: Value,
}

/// `POST /v1/agents/{id}/run`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManualRunRequest {
    /// The run's event body (`{{body.x}}` in the prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// A run requested by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManualRunAnswer {
    /// The run.
    pub run_id: String,
    /// Its agent.
    pub agent: String,
    /// The event made for it.
    pub event_id: String,
}

/// `POST /v1/runs/{run_id}/share`: a read-only link to one run's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareAnswer {
    /// Names the link, to revoke it (`DELETE /v1/shares/{share_id}`).
    pub share_id: String,
    /// The run it shows.
    pub run_id: String,
    /// The link's path on the admin listener (`/share/<token>`).
    pub path: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}

/// `GET /v1/events`: one inbound event and what it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    /// The event.
    pub event_id: String,
    /// Its source.
    pub source: String,
    /// When it was routed (RFC 3339).
    pub at: String,
    /// Its provider's event type and action, repository and actor.
    pub context: hookline_model::decision::DecisionContext,
    /// Agents it started.
    pub started: Vec<String>,
    /// Agents it did not start, each with why (`agent: why`).
    pub not_started: Vec<String>,
}

/// `GET /v1/events/{event_id}`: a stored inbound event as it was received
/// (its signature and credential headers were never stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub event_id: String,
    pub source: String,
    pub provider: String,
    pub delivery_id: String,
    /// When it was received (RFC 3339).
    pub received_at: String,
    /// (name, value) in the order received.
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    /// Its body: JSON when it is, else the text.
    pub body: Value,
}

/// `POST /v1/events/{event_id}/replay`: the run started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventReplayAnswer {
    pub run_id: String,
    pub agent: String,
    pub event_id: String,
    /// Nothing pushed, nothing written to the forge.
    pub preview: bool,
}

/// `POST /v1/runs/{run_id}/fork`: the run started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkAnswer {
    /// The new run.
    pub run_id: String,
    /// Its agent (the forked run's).
    pub agent: String,
    /// The run it continues.
    pub forked_from: String,
    /// The branch it continues (empty: the forked run had none).
    pub branch: String,
    /// Whether the forked run kept an agent session to resume.
    pub resumes_session: bool,
}

/// `POST /v1/runs/{run_id}/cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelAnswer {
    /// The run.
    pub run_id: String,
    /// Whether an executor stopped it.
    pub cancelled: bool,
}

/// `POST /v1/runs/{run_id}/approve` and `/reject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDecision {
    /// The run.
    pub run_id: String,
    /// Where it stands now: `queued` (approved) or `rejected`.
    pub status: String,
    /// Who decided: a name given with the decision, and the token's
    /// fingerprint.
    pub decided_by: String,
}

/// `POST /v1/dlq/replay`: one of the three forms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// One letter, by its seq.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Every letter of this subscription (with `since`: those since then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// Letters that died at or after this RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// How many letters were sent again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayAnswer {
    /// The count.
    pub replayed: usize,
}

/// `GET /v1/sources/{id}/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceHealth {
    /// The source.
    pub source: String,
    /// Whether it accepts webhooks.
    pub enabled: bool,
    /// The window's start, RFC 3339.
    pub since: String,
    /// When it last stored an event.
    pub last_triggered_at: Option<String>,
    /// When it last refused one.
    pub last_refused_at: Option<String>,
    /// Requests in the window.
    pub invocations: u64,
    /// Answered 2xx.
    pub accepted: u64,
    /// Refused.
    pub refused: u64,
    /// Counts by reason code.
    pub by_reason: std::collections::BTreeMap<String, u64>,
    /// Counts by status.
    pub by_status: std::collections::BTreeMap<String, u64>,
}

/// Latency percentiles, ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: Option<u64>,
    /// 95th percentile.
    pub p95: Option<u64>,
}

/// The last failed attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastFailure {
    /// RFC 3339.
    pub at: String,
    /// Its status or error.
    pub error: String,
}

/// `GET /v1/subscriptions/{id}/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionHealth {
    /// The subscription.
    pub subscription: String,
    /// Whether it receives events.
    pub enabled: bool,
    /// The window's start, RFC 3339.
    pub since: String,
    /// Attempts in the window.
    pub attempts: u64,
    /// 2xx answers.
    pub succeeded: u64,
    /// Others.
    pub failed: u64,
    /// succeeded / attempts, when there were any.
    pub success_rate: Option<f64>,
    /// Attempt latency.
    pub latency_ms: Latency,
    /// The last 2xx.
    pub last_success_at: Option<String>,
    /// The last failure.
    pub last_failure: Option<LastFailure>,
    /// Deliveries waiting or in flight.
    pub pending: u64,
    /// Letters in the DLQ.
    pub dead_letters: u64,
    /// Since when every attempt failed.
    pub failing_since: Option<String>,
}
