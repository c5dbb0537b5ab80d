//! What the console's templates show: one struct per page (askama,
//! compiled in, escaped by default) and the rows they share, built from the
//! admin API's own answers so a page never says something the API would not.

use askama::Template;

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

pub use super::rows::*;

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
    /// Its last 30 days: runs, cost, pull requests and what became of them.
    pub health: String,
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

/// `/console/runs?view=board`: runs by state, as cards.
#[derive(Template)]
#[template(path = "runs_board.html")]
pub struct RunsBoard {
    pub chrome: Chrome,
    /// (title, id, cards) per column.
    pub columns: Vec<(&'static str, &'static str, Vec<RunRow>)>,
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
    pub session: super::session_view::SessionView,
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
    /// Recent events (shown when none is asked for).
    pub recent: Vec<crate::model::EventSummary>,
    /// The event as stored, pretty, with its headers.
    pub stored: Option<(Vec<(String, String)>, String)>,
    /// Agents it can be replayed to.
    pub agents: Vec<String>,
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
