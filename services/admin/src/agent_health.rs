//! `GET /v1/agents/{id}/health`: what an agent's work came to over a
//! window (default 30 days: pull requests take days), from its run records:
//! runs and their cost, the pull requests its runs opened and what became
//! of them (merged, closed unmerged, still open), the merge rate and the
//! cost per merged pull request (every run behind it: the one that opened
//! it, its follow-ups and fix-ups).

use std::collections::BTreeSet;

use hookline_bus::runs::RunRecord;
use hookline_model::clock;
use hookline_model::forge_state::PullState;
use serde::{Deserialize, Serialize};

use crate::error::AdminError;
use crate::params::Params;
use crate::route::{Route, typed_route};
use crate::state::AdminState;

/// The window when `since` is not given.
const DEFAULT_WINDOW_MS: i64 = 30 * 24 * 3600 * 1000;

/// `GET /v1/agents/{id}/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentHealth {
    /// The agent.
    pub agent: String,
    /// The window's start (runs requested since), RFC 3339.
    pub since: String,
    /// Runs in the window, and how many succeeded.
    pub runs: u64,
    pub succeeded: u64,
    /// What they cost at the profile's prices, US dollars.
    pub cost_usd: f64,
    /// The pull requests they opened.
    pub pull_requests: PullRequests,
    /// Merged of those decided (merged or closed), `null` before any is.
    pub merge_rate: Option<f64>,
    /// What the runs behind each merged pull request cost, on average.
    pub cost_per_merged_usd: Option<f64>,
    /// From opening to merge, the median, seconds.
    pub median_time_to_merge_s: Option<i64>,
}

/// Pull requests by what became of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequests {
    pub opened: u64,
    pub merged: u64,
    pub closed_unmerged: u64,
    pub open: u64,
}

/// `GET /v1/agents/{id}/health`.
pub async fn agent(state: &AdminState, id: &str, params: &Params) -> Result<AgentHealth, AdminError> {
    state.find("agent", id, |c| c.agents.get(id).map(|_| ()))?;
    let since = params
        .time_ms("since")?
        .unwrap_or_else(|| clock::now_ms() - DEFAULT_WINDOW_MS);
    let records = crate::ops::records_since(state, since, |r| r.agent == id).await?;
    Ok(tally(id, since, &records))
}

/// The figures of `records` (one agent's, in the window).
pub fn tally(agent: &str, since: i64, records: &[RunRecord]) -> AgentHealth {
    let micros: u64 = records.iter().filter_map(|r| r.usage).map(|u| u.cost_micros).sum();
    // A follow-up's record names the pull request its first run opened.
    let opened: BTreeSet<(String, u64)> = records
        .iter()
        .filter_map(|r| {
            let forge = r.forge.as_ref()?;
            Some((forge.repository.clone(), forge.pull_request.as_ref()?.number))
        })
        .collect();
    let outcomes: Vec<_> = records.iter().filter_map(|r| r.outcome.as_ref()).collect();
    let merged: Vec<_> = outcomes.iter().filter(|o| o.state == PullState::Merged).collect();
    let closed = outcomes.len() - merged.len();
    let mut took: Vec<i64> = merged
        .iter()
        .filter(|o| o.opened_at_ms > 0)
        .map(|o| (o.at_ms - o.opened_at_ms).max(0) / 1000)
        .collect();
    took.sort_unstable();
    let merged_micros: u64 = merged.iter().map(|o| o.cost_micros).sum();
    let pull_requests = PullRequests {
        opened: opened.len() as u64,
        merged: merged.len() as u64,
        closed_unmerged: closed as u64,
        open: (opened.len() as u64).saturating_sub(outcomes.len() as u64),
    };
    AgentHealth {
        agent: agent.to_owned(),
        since: clock::rfc3339_ms(since),
        runs: records.len() as u64,
        succeeded: records
            .iter()
            .filter(|r| r.status == hookline_bus::runs::RunStatus::Succeeded)
            .count() as u64,
        cost_usd: micros as f64 / 1e6,
        merge_rate: (!outcomes.is_empty()).then(|| merged.len() as f64 / outcomes.len() as f64),
        cost_per_merged_usd: (!merged.is_empty()).then(|| merged_micros as f64 / 1e6 / merged.len() as f64),
        median_time_to_merge_s: (!took.is_empty()).then(|| took[took.len() / 2]),
        pull_requests,
    }
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[typed_route!("GET", "/v1/agents/{id}/health", |c| agent(
    c.state,
    c.id(0),
    c.params
))];
