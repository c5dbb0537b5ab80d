//! The rows and small helpers the console's pages share: sources,
//! subscriptions, agents and runs as a table shows them, and times and
//! endpoints in few words.

use hookline_bus::runs::{RunRecord, RunStatus};
use hookline_model::catalog::{AgentSpec, SubscriptionSpec};
use hookline_model::clock;

use crate::model;

/// A source in a table.
pub struct SourceRow {
    pub id: String,
    pub provider: String,
    pub enabled: bool,
    pub last_triggered: String,
    pub accepted: u64,
    pub refused: u64,
}

/// A subscription in a table.
pub struct SubscriptionRow {
    pub id: String,
    /// Scheme, host and path: never the query or user info, which may
    /// carry credentials.
    pub endpoint: String,
    pub events: String,
    pub enabled: bool,
    pub success_rate: String,
    pub pending: u64,
    pub dead_letters: u64,
    pub failing_since: String,
}

impl SubscriptionRow {
    /// The row for `spec` with its health.
    pub fn new(id: &str, spec: &SubscriptionSpec, health: &model::SubscriptionHealth) -> Self {
        Self {
            id: id.to_owned(),
            endpoint: endpoint(&spec.url),
            events: spec.events.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
            enabled: health.enabled,
            success_rate: health
                .success_rate
                .map_or_else(|| "–".to_owned(), |r| format!("{:.1} %", r * 100.0)),
            pending: health.pending,
            dead_letters: health.dead_letters,
            failing_since: health.failing_since.as_deref().map(short_time).unwrap_or_default(),
        }
    }
}

/// An agent in a table.
pub struct AgentRow {
    pub id: String,
    pub runner: String,
    pub enabled: bool,
    pub triggers: String,
    pub repository: String,
}

impl AgentRow {
    /// The row for `spec`.
    pub fn new(id: &str, spec: &AgentSpec) -> Self {
        let mut sources: Vec<&str> = spec.triggers.iter().map(|t| t.source.as_str()).collect();
        sources.dedup();
        let mut triggers = sources.join(", ");
        if let Some(schedule) = &spec.schedule {
            triggers = if triggers.is_empty() {
                format!("schedule {schedule}")
            } else {
                format!("{triggers}, schedule {schedule}")
            };
        }
        Self {
            id: id.to_owned(),
            runner: spec.runner.describe(),
            enabled: spec.enabled,
            triggers: if triggers.is_empty() {
                "manual only".to_owned()
            } else {
                triggers
            },
            repository: spec.repository.clone().unwrap_or_default(),
        }
    }
}

/// A run in a table.
pub struct RunRow {
    pub run_id: String,
    pub short_id: String,
    pub agent: String,
    pub status: String,
    pub tone: &'static str,
    pub requested: String,
    pub took: String,
    pub reason: String,
}

/// The pill colour of a status.
pub fn tone(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "ok",
        RunStatus::Running | RunStatus::Queued => "live",
        RunStatus::AwaitingApproval => "warn",
        RunStatus::Failed | RunStatus::TimedOut | RunStatus::Expired => "bad",
        RunStatus::Cancelled | RunStatus::Rejected => "off",
    }
}

/// `2026-11-24 08:01:02` (UTC), or `–` for 0.
pub fn when(ms: i64) -> String {
    if ms <= 0 {
        return "–".to_owned();
    }
    short_time(&clock::rfc3339_ms(ms))
}

impl From<&RunRecord> for RunRow {
    fn from(r: &RunRecord) -> Self {
        let took = if r.finished_at_ms > 0 && r.started_at_ms > 0 {
            format!("{:.1} s", (r.finished_at_ms - r.started_at_ms) as f64 / 1000.0)
        } else {
            String::new()
        };
        Self {
            run_id: r.run_id.clone(),
            short_id: r.run_id.chars().take(13).collect(),
            agent: r.agent.clone(),
            status: r.status.to_string(),
            tone: tone(r.status),
            requested: when(r.requested_at_ms),
            took,
            reason: r.reason.to_string(),
        }
    }
}

/// An RFC 3339 time from the API as the pages print it:
/// `2026-11-24 08:01:02` (UTC).
pub fn short_time(rfc3339: &str) -> String {
    rfc3339
        .get(..19)
        .map_or_else(|| rfc3339.to_owned(), |t| t.replace('T', " "))
}

/// A URL without its query, fragment or user info.
pub fn endpoint(url: &str) -> String {
    let cut = url.find(['?', '#']).map_or(url, |i| &url[..i]);
    match cut.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => cut.to_owned(),
    }
}
