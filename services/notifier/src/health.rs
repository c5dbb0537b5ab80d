//! Endpoint health: a subscription with no successful delivery for a whole
//! window (default 5 days) while deliveries kept failing is disabled, and a
//! `subscription.disabled` event tells everyone else. When it started
//! failing is kept in the `hookline_state` bucket
//! (`subscription.<id>.failing_since`), so the window survives restarts and
//! is shared by every notifier copy; a success clears it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hookline_bus::nats::Nats;
use hookline_bus::state::State;
use hookline_bus::store;
use hookline_model::clock;
use hookline_model::outbox;
use hookline_model::subjects::ConfigKind;
use hookline_proto::Event;

/// What this copy knows of a subscription.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    Healthy,
    FailingSince(i64),
}

/// Tracks failures and disables endpoints that only fail.
pub struct Health {
    nats: Nats,
    state: State,
    window: Duration,
    known: Mutex<HashMap<String, Known>>,
}

impl Health {
    /// Health tracking with a disable `window`.
    pub async fn new(nats: Nats, window: Duration) -> Self {
        let state = State::new(&nats);
        Self {
            nats,
            state,
            window,
            known: Mutex::new(HashMap::new()),
        }
    }

    fn known(&self, subscription: &str) -> Option<Known> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(subscription)
            .copied()
    }

    fn remember(&self, subscription: &str, known: Known) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(subscription.to_owned(), known);
    }

    /// A delivery succeeded.
    pub async fn success(&self, subscription: &str) {
        if self.known(subscription) == Some(Known::Healthy) {
            return;
        }
        if let Err(e) = self.state.clear_failing(subscription).await {
            tracing::debug!(subscription, error = %e, "failing_since not cleared.");
        }
        self.remember(subscription, Known::Healthy);
    }

    /// An attempt failed; disables the subscription when it has failed for
    /// the whole window. Returns true when it was disabled now.
    pub async fn failure(&self, subscription: &str) -> bool {
        let now = clock::now_ms();
        let since = match self.known(subscription) {
            Some(Known::FailingSince(since)) => since,
            _ => self.failing_since(subscription, now).await,
        };
        self.remember(subscription, Known::FailingSince(since));
        let window_ms = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        if now - since < window_ms {
            return false;
        }
        // Announced first, under an id and a dedupe id fixed by the
        // subscription and its failing window: every copy that reaches this
        // point at once, and a redelivery, publish the same event, which
        // JetStream stores once; a copy that dies before the disable below
        // leaves it to the next failure, which announces the same event.
        if let Err(e) = self.announce(subscription, since, since + window_ms).await {
            tracing::warn!(subscription, error = %e, "subscription.disabled not stored; disabling at the next failure.");
            return false;
        }
        match store::write::set_enabled(&self.nats, ConfigKind::Subscription, subscription, false).await {
            Ok(changed) => {
                if changed {
                    tracing::warn!(
                        subscription,
                        since,
                        "Endpoint failed for the whole window; subscription disabled."
                    );
                }
                if let Err(e) = self.state.clear_failing(subscription).await {
                    tracing::debug!(subscription, error = %e, "failing_since not cleared.");
                }
                self.remember(subscription, Known::Healthy);
                changed
            }
            Err(e) => {
                tracing::error!(subscription, error = %e, "Could not disable a failing subscription.");
                false
            }
        }
    }

    /// When the subscription started failing, recording `now` if nobody had.
    async fn failing_since(&self, subscription: &str, now: i64) -> i64 {
        self.state.mark_failing(subscription, now).await.unwrap_or(now)
    }

    /// Publishes `subscription.disabled` for the window that began at
    /// `since` and ended at `at_ms`: its id and dedupe id are functions of
    /// the subscription and `since` alone.
    async fn announce(&self, subscription: &str, since: i64, at_ms: i64) -> Result<(), async_nats::Error> {
        let data = serde_json::json!({
            "subscription": subscription,
            "reason": "every delivery failed for the whole window",
            "failing_since": clock::rfc3339_ms(since),
        });
        let (scope, dedupe) = (format!("subscription.{subscription}"), format!("disabled/{since}"));
        let event = Event {
            id: outbox::event_id(&scope, &dedupe, at_ms),
            r#type: hookline_model::event_types::SUBSCRIPTION_DISABLED.to_owned(),
            timestamp_ms: at_ms,
            data_json: data.to_string().into_bytes(),
            ..Default::default()
        };
        hookline_bus::events::publish(&self.nats, &event, &scope, &dedupe, None).await?;
        Ok(())
    }
}
