//! Endpoint health: a subscription with no successful delivery for a whole
//! window (default 5 days) while deliveries kept failing is disabled, and a
//! `subscription.disabled` event tells everyone else. When it started
//! failing is kept in the `hookline_state` bucket
//! (`subscription.<id>.failing_since`), so the window survives restarts and
//! is shared by every notifier copy; a success clears it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use hookline_core::nats::Nats;
use hookline_core::state::State;
use hookline_core::subjects::ConfigKind;
use hookline_core::{clock, store};
use hookline_proto::{Event, Message as _};

/// What this copy knows of a subscription.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    Healthy,
    FailingSince(i64),
}

/// Tracks failures and disables endpoints that only fail.
pub struct Health {
    nats: Nats,
    state: Option<State>,
    window: Duration,
    known: Mutex<HashMap<String, Known>>,
}

impl Health {
    /// Health tracking with a disable `window`.
    pub async fn new(nats: Nats, window: Duration) -> Self {
        let state = State::open(&nats).await.ok();
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
        if let Some(state) = &self.state
            && let Err(e) = state.clear_failing(subscription).await
        {
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
        match store::write::set_enabled(&self.nats, ConfigKind::Subscription, subscription, false).await {
            Ok(_) => {
                tracing::warn!(
                    subscription,
                    since,
                    "Endpoint failed for the whole window; subscription disabled."
                );
                self.announce(subscription, since).await;
                if let Some(state) = &self.state
                    && let Err(e) = state.clear_failing(subscription).await
                {
                    tracing::debug!(subscription, error = %e, "failing_since not cleared.");
                }
                self.remember(subscription, Known::Healthy);
                true
            }
            Err(e) => {
                tracing::error!(subscription, error = %e, "Could not disable a failing subscription.");
                false
            }
        }
    }

    /// When the subscription started failing, recording `now` if nobody had.
    async fn failing_since(&self, subscription: &str, now: i64) -> i64 {
        let Some(state) = &self.state else {
            return now;
        };
        state.mark_failing(subscription, now).await.unwrap_or(now)
    }

    async fn announce(&self, subscription: &str, since: i64) {
        let data = serde_json::json!({
            "subscription": subscription,
            "reason": "every delivery failed for the whole window",
            "failing_since": clock::rfc3339_ms(since),
        });
        let event = Event {
            id: clock::new_id(),
            r#type: "subscription.disabled".to_owned(),
            timestamp_ms: clock::now_ms(),
            data_json: data.to_string().into_bytes(),
            ..Default::default()
        };
        let subject = self.nats.subjects.events("subscription.disabled");
        match self.nats.js.publish(subject, Bytes::from(event.encode_to_vec())).await {
            Ok(ack) => {
                if let Err(e) = ack.await {
                    tracing::warn!(error = %e, "subscription.disabled not stored.");
                }
            }
            Err(e) => tracing::warn!(error = %e, "subscription.disabled not published."),
        }
    }
}
