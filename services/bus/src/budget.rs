//! Token and money budgets, in one place: an agent's daily budget as it stands today
//! (the router skips an agent whose budget is spent, the executor starts no
//! run for it and caps a run at what is left), a run's cap, and a finished
//! run's tokens added to its day. Days are UTC. A total that cannot be read
//! counts as nothing used: a NATS hiccup does not stop every agent.

use hookline_model::catalog::AgentSpec;
use hookline_model::clock;
use hookline_model::cost::{self, Measure};
use hookline_model::runs::TokenUsage;

use crate::state::{State, StateError};

/// An agent's daily budget of one measure on `day`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daily {
    /// Tokens or cost.
    pub measure: Measure,
    /// The UTC day, `2026-12-07`.
    pub day: String,
    /// Used so far that day.
    pub used: u64,
    /// The agent's daily budget.
    pub budget: u64,
}

impl Daily {
    /// What is left today.
    pub fn left(&self) -> u64 {
        self.budget.saturating_sub(self.used)
    }

    /// Whether nothing is left.
    pub fn spent(&self) -> bool {
        self.left() == 0
    }

    /// Why a run is not started, for people.
    pub fn explain(&self) -> String {
        match self.measure {
            Measure::Tokens => format!(
                "daily token budget spent ({} of {} tokens on {})",
                self.used, self.budget, self.day
            ),
            Measure::CostMicros => format!(
                "daily budget spent (${:.2} of ${:.2} on {})",
                cost::dollars(self.used),
                cost::dollars(self.budget),
                self.day
            ),
        }
    }
}

/// The agent's daily budgets, tokens and money.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dailies {
    /// Its daily token budget, when it has one.
    pub tokens: Option<Daily>,
    /// Its daily budget in money, when it has one.
    pub cost: Option<Daily>,
}

impl Dailies {
    /// The first budget that is spent, if one is.
    pub fn spent(&self) -> Option<&Daily> {
        [&self.tokens, &self.cost].into_iter().flatten().find(|d| d.spent())
    }
}

/// `agent`'s daily budgets as they stand now.
pub async fn daily(state: &State, agent_id: &str, agent: &AgentSpec) -> Dailies {
    let day = clock::utc_day(clock::now_ms());
    let one = |measure: Measure, budget: Option<u64>| {
        let day = day.clone();
        async move {
            let budget = budget?;
            // A total that cannot be read counts as nothing used.
            let used = state.daily(measure, agent_id, &day).await.unwrap_or(0);
            Some(Daily {
                measure,
                day,
                used,
                budget,
            })
        }
    };
    Dailies {
        tokens: one(Measure::Tokens, agent.daily_token_budget).await,
        cost: one(Measure::CostMicros, agent.daily_budget_usd.map(cost::micros_of)).await,
    }
}

/// What one run may spend of a measure: its per-run budget, capped by
/// what is left of its day.
pub fn run_cap(per_run: Option<u64>, daily: Option<&Daily>) -> Option<u64> {
    match (per_run, daily.map(Daily::left)) {
        (Some(run), Some(day)) => Some(run.min(day)),
        (run, day) => run.or(day),
    }
}

/// Adds a run's `usage` (tokens and cost) to `agent_id`'s totals for the
/// day the run ended.
pub async fn spend(state: &State, agent_id: &str, ended_at_ms: i64, usage: &TokenUsage) -> Result<(), StateError> {
    let day = clock::utc_day(ended_at_ms);
    for measure in [Measure::Tokens, Measure::CostMicros] {
        let amount = measure.of(usage);
        if amount > 0 {
            state.add_daily(measure, agent_id, &day, amount).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_capped_by_its_own_budget_and_what_is_left_of_its_day() {
        let agent = |run: Option<u64>| run;
        let day = |used| Daily {
            measure: Measure::Tokens,
            day: "2026-12-07".into(),
            used,
            budget: 1000,
        };
        assert_eq!(run_cap(agent(Some(300)), Some(&day(900))), Some(100));
        assert_eq!(run_cap(agent(Some(300)), Some(&day(0))), Some(300));
        assert_eq!(run_cap(agent(None), Some(&day(400))), Some(600));
        assert_eq!(run_cap(agent(Some(50)), None), Some(50));
        assert_eq!(run_cap(agent(None), None), None);
        assert!(day(1200).spent() && !day(999).spent());
    }

    #[test]
    fn a_spent_money_budget_is_found_and_explained_in_dollars() {
        let cost = |used| Daily {
            measure: Measure::CostMicros,
            day: "2026-12-07".into(),
            used,
            budget: 5_000_000,
        };
        let dailies = Dailies {
            tokens: None,
            cost: Some(cost(5_250_000)),
        };
        let spent = dailies.spent().expect("spent");
        assert_eq!(spent.explain(), "daily budget spent ($5.25 of $5.00 on 2026-12-07)");
        assert_eq!(
            Dailies {
                cost: Some(cost(10)),
                ..Dailies::default()
            }
            .spent(),
            None
        );
        assert_eq!(run_cap(Some(2_000_000), Some(&cost(4_000_000))), Some(1_000_000));
    }
}
