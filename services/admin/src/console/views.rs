//! What the console's templates show: one struct per page (askama,
//! compiled in, escaped by default) and the rows they share, built from the
//! admin API's own answers so a page never says something the API would not.

use askama::Template;
use hookline_bus::runs::{RunRecord, RunStatus};
use hookline_model::catalog::{AgentSpec, SubscriptionSpec};
use hookline_model::clock;

use crate::model;

/// The navigation: `(href, label, key)`.
pub const NAV: &[(&str, &str, &str)] = &[
    ("/console", "Overview", "overview"),
    ("/console/sources", "Sources", "sources"),
    ("/console/agents", "Agents", "agents"),
    ("/console/runs", "Runs", "runs"),
    ("/console/events", "Events", "events"),
    ("/console/subscriptions", "Subscriptions", "subscriptions"),
];

/// What every signed-in page carries.
pub struct Chrome {
    /// The navigation key of the page.
    pub active: &'static str,
    /// The session's CSRF token, for the page's forms.
    pub csrf: String,
    /// Who is signed in (a token fingerprint).
    pub caller: String,
    /// What the last action did.
    pub notice: Option<String>,
}

/// The enable/disable card of a source, agent or subscription.
pub struct Toggle {
    /// `sources/gh`: where its actions are.
    pub path: String,
    pub enabled: bool,
    /// `source`, `agent`, `subscription`.
    pub noun: &'static str,
    /// What disabling it does.
    pub when_disabled: &'static str,
    /// What enabling it does.
    pub when_enabled: &'static str,
}

impl Toggle {
    /// The card for a source.
    pub fn source(id: &str, enabled: bool) -> Self {
        Self {
            path: format!("sources/{id}"),
            enabled,
            noun: "source",
            when_disabled: "A disabled source answers 404 and stores nothing.",
            when_enabled: "It will accept webhooks again.",
        }
    }

    /// The card for an agent.
    pub fn agent(id: &str, enabled: bool) -> Self {
        Self {
            path: format!("agents/{id}"),
            enabled,
            noun: "agent",
            when_disabled: "A disabled agent starts no new runs.",
            when_enabled: "It will start runs again.",
        }
    }

    /// The card for a subscription.
    pub fn subscription(id: &str, enabled: bool) -> Self {
        Self {
            path: format!("subscriptions/{id}"),
            enabled,
            noun: "subscription",
            when_disabled: "Events for it are kept, not sent.",
            when_enabled: "Deliveries resume.",
        }
    }
}

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
            runner: match &spec.runner {
                hookline_model::catalog::RunnerSpec::Command { .. } => "command".to_owned(),
                hookline_model::catalog::RunnerSpec::Http { model, .. } => format!("http ({model})"),
            },
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

#[derive(Template)]
#[template(path = "login.html")]
pub struct Login {
    pub next: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub title: String,
    pub message: String,
    pub problems: Vec<String>,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct Overview {
    pub chrome: Chrome,
    pub sources: Vec<SourceRow>,
    pub subscriptions: Vec<SubscriptionRow>,
    pub in_progress: Vec<RunRow>,
    pub awaiting: Vec<RunRow>,
    pub dead_letters: u64,
}

#[derive(Template)]
#[template(path = "sources.html")]
pub struct Sources {
    pub chrome: Chrome,
    pub sources: Vec<SourceRow>,
}

#[derive(Template)]
#[template(path = "source.html")]
pub struct Source {
    pub chrome: Chrome,
    pub source: SourceRow,
    pub toggle: Toggle,
    pub default_event: String,
    pub outcome: String,
    pub outcomes: &'static [&'static str],
    pub invocations: Vec<model::Invocation>,
}

#[derive(Template)]
#[template(path = "agents.html")]
pub struct Agents {
    pub chrome: Chrome,
    pub agents: Vec<AgentRow>,
}

#[derive(Template)]
#[template(path = "agent.html")]
pub struct Agent {
    pub chrome: Chrome,
    pub agent: AgentRow,
    pub toggle: Toggle,
    pub runs: Vec<RunRow>,
}

#[derive(Template)]
#[template(path = "runs.html")]
pub struct Runs {
    pub chrome: Chrome,
    pub runs: Vec<RunRow>,
    pub agents: Vec<String>,
    pub statuses: Vec<&'static str>,
    pub agent: String,
    pub status: String,
    pub next_before: Option<String>,
}

/// One run, as its page shows it.
pub struct RunView {
    pub run_id: String,
    pub short_id: String,
    pub agent: String,
    pub status: String,
    pub tone: &'static str,
    pub attempt: u32,
    pub will_retry: bool,
    pub event_id: String,
    pub requested: String,
    pub started: String,
    pub finished: String,
    pub exit_code: String,
    pub reason: String,
    pub approval: String,
    pub held_because: String,
    pub usage: String,
    pub branch: Option<String>,
    pub pull_request: Option<(u64, String)>,
    pub comment_url: String,
    pub summary: String,
    pub outputs: Vec<(String, String, String)>,
    /// Not final: it can be cancelled, and its log is followed.
    pub live: bool,
    pub awaiting: bool,
}

/// An event a run emitted.
pub struct EventRow {
    pub id: String,
    pub event_type: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "run.html")]
pub struct Run {
    pub chrome: Chrome,
    pub run: RunView,
    pub lines: Vec<model::LogLine>,
    pub events: Vec<EventRow>,
}

/// A routing decision, as the explain page shows it.
pub struct DecisionView {
    pub source: String,
    pub at: String,
    pub context: Vec<(String, String)>,
    pub ignored: String,
    /// `(agent, outcome, why)`.
    pub agents: Vec<(String, String, String)>,
    pub other_agents: u64,
}

#[derive(Template)]
#[template(path = "explain.html")]
pub struct Explain {
    pub chrome: Chrome,
    pub event_id: String,
    pub decision: Option<DecisionView>,
}

#[derive(Template)]
#[template(path = "subscriptions.html")]
pub struct Subscriptions {
    pub chrome: Chrome,
    pub subscriptions: Vec<SubscriptionRow>,
}

#[derive(Template)]
#[template(path = "subscription.html")]
pub struct Subscription {
    pub chrome: Chrome,
    pub subscription: SubscriptionRow,
    pub toggle: Toggle,
    pub latency: String,
    pub outcome: String,
    pub outcomes: &'static [&'static str],
    pub dead_letters: Vec<model::DeadLetter>,
    pub attempts: Vec<model::Attempt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_lose_what_may_be_a_credential() {
        assert_eq!(
            endpoint("https://user:pw@hooks.example.com/in?token=s3cret#x"),
            "https://hooks.example.com/in"
        );
        assert_eq!(endpoint("http://127.0.0.1:9/a"), "http://127.0.0.1:9/a");
    }
}
