//! Health figures, computed from the logs over a window (default 24 h), so
//! every ingest copy gives the same answer and no service keeps counters:
//! per source (last triggered, accepted and refused counts by reason), per
//! subscription (success rate, attempts, latency, pending, dead letters,
//! disabled or not).

use std::collections::BTreeMap;

use hookline_bus::history::{self, Query};
use hookline_bus::state::State;
use hookline_model::clock;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Attempt, Invocation, Message as _};

use crate::error::AdminError;
use crate::model;
use crate::params::Params;
use crate::route::{Route, typed_route};
use crate::state::AdminState;

/// Reads every message on `subject` since `since_ms`, handing each to `count`.
async fn tally(
    state: &AdminState,
    subject: String,
    since_ms: i64,
    mut count: impl FnMut(&[u8]),
) -> Result<(), AdminError> {
    let query = Query {
        subject,
        since_ms: Some(since_ms),
        before_seq: None,
        limit: 1,
    };
    history::newest_records(&state.nats, &state.nats.subjects.stream(StreamKind::Log), &query, |r| {
        count(r);
        None::<()>
    })
    .await
    .map_err(AdminError::unavailable)?;
    Ok(())
}

async fn state(state: &AdminState) -> Result<State, AdminError> {
    Ok(State::new(&state.nats))
}

/// `GET /v1/sources/{id}/health`.
pub async fn source(state: &AdminState, id: &str, params: &Params) -> Result<model::SourceHealth, AdminError> {
    let enabled = state.find("source", id, |c| c.sources.get(id).map(|s| s.enabled))?;
    let since = params.since_ms()?;
    let (mut accepted, mut refused) = (0u64, 0u64);
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_status: BTreeMap<u32, u64> = BTreeMap::new();
    let mut last_refused: Option<i64> = None;
    tally(state, state.nats.subjects.log_invocation(id), since, |m| {
        let Ok(i) = Invocation::decode(m) else {
            return;
        };
        if (200..300).contains(&i.status) {
            accepted += 1;
        } else {
            refused += 1;
            last_refused = Some(i.at_ms);
        }
        *by_reason.entry(i.reason).or_default() += 1;
        *by_status.entry(i.status).or_default() += 1;
    })
    .await?;
    let last_triggered = self::state(state)
        .await?
        .last_triggered(id)
        .await
        .map_err(AdminError::unavailable)?;
    Ok(model::SourceHealth {
        source: id.to_owned(),
        enabled,
        since: clock::rfc3339_ms(since),
        last_triggered_at: last_triggered.map(clock::rfc3339_ms),
        last_refused_at: last_refused.map(clock::rfc3339_ms),
        invocations: accepted + refused,
        accepted,
        refused,
        by_reason,
        by_status: by_status.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    })
}

/// The `q` quantile (0..=1) of `values`, nearest rank.
fn quantile(values: &mut [u64], q: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

/// `GET /v1/subscriptions/{id}/health`.
pub async fn subscription(
    state: &AdminState,
    id: &str,
    params: &Params,
) -> Result<model::SubscriptionHealth, AdminError> {
    let enabled = state.find("subscription", id, |c| c.subscriptions.get(id).map(|s| s.enabled))?;
    let since = params.since_ms()?;
    let (mut succeeded, mut failed) = (0u64, 0u64);
    let mut latencies = Vec::new();
    let (mut last_success, mut last_failure): (Option<i64>, Option<(i64, String)>) = (None, None);
    tally(state, state.nats.subjects.log_attempt(id), since, |m| {
        let Ok(a) = Attempt::decode(m) else {
            return;
        };
        latencies.push(a.latency_ms);
        if (200..300).contains(&a.status) {
            succeeded += 1;
            last_success = Some(a.at_ms);
        } else {
            failed += 1;
            let why = if a.error.is_empty() {
                format!("HTTP {}", a.status)
            } else {
                a.error
            };
            last_failure = Some((a.at_ms, why));
        }
    })
    .await?;
    let attempts = succeeded + failed;
    let subjects = &state.nats.subjects;
    // Waiting plus in flight, on both of its consumers: its events, and its
    // replayed dead letters.
    let mut pending = 0;
    for kind in [StreamKind::Events, StreamKind::Deliveries] {
        let stream = state
            .nats
            .js
            .get_stream(subjects.stream(kind))
            .await
            .map_err(AdminError::unavailable)?;
        if let Ok(info) = stream.consumer_info(subjects.delivery_consumer(id)).await {
            pending += info.num_pending + info.num_ack_pending as u64;
        } // No consumer yet: nothing was ever delivered.
    }
    let dead_letters = history::count(&state.nats, &subjects.stream(StreamKind::Dlq), &subjects.dlq(id))
        .await
        .map_err(AdminError::unavailable)?;
    let failing_since = self::state(state)
        .await?
        .failing_since(id)
        .await
        .map_err(AdminError::unavailable)?;
    Ok(model::SubscriptionHealth {
        subscription: id.to_owned(),
        enabled,
        since: clock::rfc3339_ms(since),
        attempts,
        succeeded,
        failed,
        success_rate: (attempts > 0).then(|| succeeded as f64 / attempts as f64),
        latency_ms: model::Latency {
            p50: quantile(&mut latencies, 0.5),
            p95: quantile(&mut latencies, 0.95),
        },
        last_success_at: last_success.map(clock::rfc3339_ms),
        last_failure: last_failure.map(|(at, error)| model::LastFailure {
            at: clock::rfc3339_ms(at),
            error,
        }),
        pending,
        dead_letters,
        failing_since: failing_since.map(clock::rfc3339_ms),
    })
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[
    typed_route!("GET", "/v1/sources/{id}/health", |c| source(c.state, c.id(0), c.params)),
    typed_route!("GET", "/v1/subscriptions/{id}/health", |c| subscription(
        c.state,
        c.id(0),
        c.params
    )),
];

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let mut v = vec![40, 10, 30, 20];
        assert_eq!(quantile(&mut v, 0.5), Some(20));
        assert_eq!(quantile(&mut v, 0.95), Some(40));
        assert_eq!(quantile(&mut [7], 0.5), Some(7));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
