//! The one way an event is stored on `hookline.events.<type>`: under the id
//! and the dedupe id the outbox rules fix (model `outbox` and
//! `subjects::msg_id::emitted`), awaiting JetStream's ack, so publishing
//! the same event again (a redelivery, a redone completion, two copies at
//! once) stores it once. The executor publishes a run's events through it,
//! the approval gate `run.awaiting_approval`, the notifier
//! `subscription.disabled`.

use async_nats::jetstream::context::PublishError;
use hookline_model::outbox::PendingEvent;
use hookline_model::subjects::msg_id;
use hookline_proto::{Event, Message as _};

use crate::nats::{Nats, Stamp};

/// Stores `event`, deduplicated as `dedupe` within `scope` (a run id, or
/// `subscription.<id>`), with the trace it belongs to.
pub async fn publish(
    nats: &Nats,
    event: &Event,
    scope: &str,
    dedupe: &str,
    traceparent: Option<&str>,
) -> Result<(), PublishError> {
    let stamp = Stamp {
        msg_id: &msg_id::emitted(scope, dedupe),
        event_id: Some(&event.id),
        traceparent,
    };
    nats.send(nats.subjects.events(&event.r#type), event.encode_to_vec(), stamp)
        .await?
        .await?;
    Ok(())
}

/// The event a run's outbox holds, as it is published: under the run's
/// id and agent, and the inbound event that started the run.
pub fn of_run(pending: &PendingEvent, run_id: &str, agent: &str, source_event_id: &str) -> Event {
    Event {
        id: pending.id.clone(),
        r#type: pending.event_type.clone(),
        timestamp_ms: pending.timestamp_ms,
        data_json: serde_json::to_vec(&pending.data).unwrap_or_else(|_| b"{}".to_vec()),
        run_id: run_id.to_owned(),
        agent: agent.to_owned(),
        source_event_id: source_event_id.to_owned(),
    }
}
