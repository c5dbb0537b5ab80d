//! The `hookline_state` bucket: small facts services share and that must
//! survive restarts. Each fact has one typed getter and setter here; keys
//! come from [`hookline_model::subjects`], values are unix times as decimal text.

use async_nats::jetstream::kv;
use bytes::Bytes;
use hookline_model::cost::Measure;

use crate::nats::Nats;
use hookline_model::subjects::Subjects;

/// Why a state fact could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The bucket could not be opened.
    #[error("state bucket unavailable: {0}")]
    Open(#[from] async_nats::jetstream::context::KeyValueError),
    /// A read failed.
    #[error("state read failed: {0}")]
    Read(#[from] kv::EntryError),
    /// A write failed.
    #[error("state write failed: {0}")]
    Write(#[from] kv::PutError),
    /// A delete failed.
    #[error("state delete failed: {0}")]
    Delete(#[from] kv::DeleteError),
    /// A revision-checked write kept failing.
    #[error("state not written after several tries")]
    Busy,
}

/// The state bucket, opened once.
#[derive(Clone)]
pub struct State {
    kv: kv::Store,
    subjects: Subjects,
}

fn number(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

impl State {
    /// The state bucket of `nats`'s buckets.
    pub fn new(nats: &Nats) -> Self {
        Self {
            kv: nats.buckets.state.clone(),
            subjects: nats.subjects.clone(),
        }
    }

    async fn read(&self, key: String) -> Result<Option<i64>, StateError> {
        Ok(self.kv.get(key).await?.as_deref().and_then(number))
    }

    async fn write(&self, key: String, value: i64) -> Result<(), StateError> {
        self.kv.put(key, Bytes::from(value.to_string())).await?;
        Ok(())
    }

    /// When `source` last stored an event (unix ms).
    pub async fn last_triggered(&self, source: &str) -> Result<Option<i64>, StateError> {
        self.read(self.subjects.state_last_triggered(source)).await
    }

    /// Records when `source` stored an event.
    pub async fn set_last_triggered(&self, source: &str, at_ms: i64) -> Result<(), StateError> {
        self.write(self.subjects.state_last_triggered(source), at_ms).await
    }

    /// Since when every delivery to `subscription` failed (unix ms).
    pub async fn failing_since(&self, subscription: &str) -> Result<Option<i64>, StateError> {
        self.read(self.subjects.state_failing_since(subscription)).await
    }

    /// Records that `subscription` is failing from `now` unless another copy
    /// recorded an earlier start; answers the start that holds.
    pub async fn mark_failing(&self, subscription: &str, now_ms: i64) -> Result<i64, StateError> {
        let key = self.subjects.state_failing_since(subscription);
        if self.kv.create(&key, Bytes::from(now_ms.to_string())).await.is_ok() {
            return Ok(now_ms);
        }
        Ok(self.read(key).await?.unwrap_or(now_ms))
    }

    /// Forgets that `subscription` was failing (a delivery succeeded).
    pub async fn clear_failing(&self, subscription: &str) -> Result<(), StateError> {
        self.kv.delete(self.subjects.state_failing_since(subscription)).await?;
        Ok(())
    }

    /// The model tokens (or cost) `agent`'s runs used on `day` (UTC,
    /// `YYYY-MM-DD`).
    pub async fn daily(&self, measure: Measure, agent: &str, day: &str) -> Result<u64, StateError> {
        let used = self.read(self.subjects.state_daily(measure, agent, day)).await?;
        Ok(used.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    /// Adds `tokens` (or micro-dollars) to `agent`'s total for `day`,
    /// revision-checked (copies adding at once each add theirs); answers
    /// the new total.
    pub async fn add_daily(&self, measure: Measure, agent: &str, day: &str, tokens: u64) -> Result<u64, StateError> {
        let key = self.subjects.state_daily(measure, agent, day);
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        for _ in 0..10 {
            let entry = self.kv.entry(&key).await?;
            let (before, revision) = match &entry {
                Some(e) if e.operation == kv::Operation::Put => (number(&e.value).unwrap_or(0), Some(e.revision)),
                Some(e) => (0, Some(e.revision)),
                None => (0, None),
            };
            let total = before.saturating_add(tokens);
            let value = Bytes::from(total.to_string());
            let written = match revision {
                Some(revision) => self.kv.update(&key, value, revision).await.is_ok(),
                None => self.kv.create(&key, value).await.is_ok(),
            };
            if written {
                return Ok(u64::try_from(total).unwrap_or(0));
            }
        }
        Err(StateError::Busy)
    }

    /// The last schedule tick `agent` fired (unix seconds).
    pub async fn last_tick(&self, agent: &str) -> Result<Option<i64>, StateError> {
        self.read(self.subjects.state_last_tick(agent)).await
    }

    /// Records a schedule tick `agent` fired.
    pub async fn set_last_tick(&self, agent: &str, tick_secs: i64) {
        if let Err(e) = self.write(self.subjects.state_last_tick(agent), tick_secs).await {
            tracing::warn!(agent, error = %e, "Last schedule tick not recorded.");
        }
    }
}
