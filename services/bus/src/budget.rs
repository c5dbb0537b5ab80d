//! Token budgets, in one place: an agent's daily budget as it stands today
//! (the router skips an agent whose budget is spent, the executor starts no
//! run for it and caps a run at what is left), a run's cap, and a finished
//! run's tokens added to its day. Days are UTC. A total that cannot be read
//! counts as nothing used: a NATS hiccup does not stop every agent.

use hookline_model::catalog::AgentSpec;
use hookline_model::clock;

use crate::state::{State, StateError};

/// An agent's daily token budget on `day`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daily {
    /// The UTC day, `2026-12-07`.
    pub day: String,
    /// Tokens used so far that day.
    pub used: u64,
    /// The agent's daily budget.
    pub budget: u64,
}

impl Daily {
    /// Tokens left today.
    pub fn left(&self) -> u64 {
        self.budget.saturating_sub(self.used)
    }

    /// Whether nothing is left.
    pub fn spent(&self) -> bool {
        self.left() == 0
    }
}

/// `agent`'s daily budget as it stands now; none when it has no daily budget.
pub async fn daily(state: &State, agent_id: &str, agent: &AgentSpec) -> Option<Daily> {
    let budget = agent.daily_token_budget?;
    let day = clock::utc_day(clock::now_ms());
    let used = state.daily_tokens(agent_id, &day).await.unwrap_or(0);
    Some(Daily { day, used, budget })
}

/// What one run of `agent` may spend: its per-run budget, capped by what is
/// left of its day.
pub fn run_cap(agent: &AgentSpec, daily: Option<&Daily>) -> Option<u64> {
    match (agent.token_budget, daily.map(Daily::left)) {
        (Some(run), Some(day)) => Some(run.min(day)),
        (run, day) => run.or(day),
    }
}

/// Adds a run's `tokens` to `agent_id`'s total for the day the run ended.
pub async fn spend(state: &State, agent_id: &str, ended_at_ms: i64, tokens: u64) -> Result<u64, StateError> {
    state
        .add_daily_tokens(agent_id, &clock::utc_day(ended_at_ms), tokens)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_capped_by_its_own_budget_and_what_is_left_of_its_day() {
        let agent = |run: Option<u64>| -> AgentSpec {
            serde_json::from_value(serde_json::json!({"prompt": "p", "token_budget": run})).expect("an agent")
        };
        let day = |used| Daily {
            day: "2026-12-07".into(),
            used,
            budget: 1000,
        };
        assert_eq!(run_cap(&agent(Some(300)), Some(&day(900))), Some(100));
        assert_eq!(run_cap(&agent(Some(300)), Some(&day(0))), Some(300));
        assert_eq!(run_cap(&agent(None), Some(&day(400))), Some(600));
        assert_eq!(run_cap(&agent(Some(50)), None), Some(50));
        assert_eq!(run_cap(&agent(None), None), None);
        assert!(day(1200).spent() && !day(999).spent());
    }
}
