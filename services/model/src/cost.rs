//! Model usage in money: a price per million tokens of each kind, per
//! model, from the profile's price table; amounts kept as whole
//! micro-dollars (exact to add up, written as dollars in JSON).

use serde::{Deserialize, Serialize};

pub use crate::money::{dollars, micros_of};

use crate::runs::TokenUsage;

/// What a model costs, in US dollars per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Input tokens read afresh.
    #[serde(default)]
    pub input: f64,
    /// Output tokens.
    #[serde(default)]
    pub output: f64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read: f64,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write: f64,
}

impl Price {
    /// What `usage` costs, in micro-dollars (a dollar per million tokens
    /// is a micro-dollar per token), rounded once.
    pub fn cost_micros(&self, usage: &TokenUsage) -> u64 {
        #[allow(clippy::cast_precision_loss)]
        let micros = usage.input_tokens as f64 * self.input
            + usage.output_tokens as f64 * self.output
            + usage.cache_read_tokens as f64 * self.cache_read
            + usage.cache_write_tokens as f64 * self.cache_write;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let micros = micros.round().max(0.0) as u64;
        micros
    }

    /// Whether every figure is a finite amount, not below zero.
    pub fn is_valid(&self) -> bool {
        [self.input, self.output, self.cache_read, self.cache_write]
            .iter()
            .all(|p| p.is_finite() && *p >= 0.0)
    }
}

/// What a budget counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Model tokens of every kind.
    Tokens,
    /// Cost, in micro-dollars.
    CostMicros,
}

impl Measure {
    /// Its word in state keys.
    pub fn key(self) -> &'static str {
        match self {
            Measure::Tokens => "tokens",
            Measure::CostMicros => "cost_micros",
        }
    }

    /// How much of it `usage` is.
    pub fn of(self, usage: &TokenUsage) -> u64 {
        match self {
            Measure::Tokens => usage.total(),
            Measure::CostMicros => usage.cost_micros,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_costs_its_tokens_at_their_prices_rounded_once() {
        let price = Price {
            input: 3.0,
            output: 15.0,
            cache_read: 0.3,
            cache_write: 3.75,
        };
        let usage = TokenUsage {
            calls: 1,
            input_tokens: 120,
            output_tokens: 30,
            cache_read_tokens: 40,
            cache_write_tokens: 10,
            cost_micros: 0,
        };
        // 360 + 450 + 12 + 37.5 = 859.5 micro-dollars.
        assert_eq!(price.cost_micros(&usage), 860);
        assert_eq!(micros_of(2.5), 2_500_000);
        assert!((dollars(860) - 0.00086).abs() < 1e-12);
        assert!(!Price { input: -1.0, ..price }.is_valid());
    }
}
