//! Amounts of money: whole micro-dollars, exact to add up, written as
//! dollars for people and in JSON (`cost_usd: 0.0123`).

use serde::{Deserialize, Deserializer, Serializer};

/// Micro-dollars from dollars, as written in the catalog (`budget_usd`).
pub fn micros_of(dollars: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let micros = (dollars * 1_000_000.0).round().max(0.0) as u64;
    micros
}

/// Dollars from micro-dollars, for people and JSON.
pub fn dollars(micros: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let dollars = micros as f64 / 1_000_000.0;
    dollars
}

/// Writes micro-dollars as dollars (`cost_usd: 0.0123`).
pub fn serialize_dollars<S: Serializer>(micros: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(dollars(*micros))
}

/// Reads dollars into micro-dollars.
pub fn deserialize_dollars<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let dollars = f64::deserialize(deserializer)?;
    Ok(micros_of(dollars))
}
