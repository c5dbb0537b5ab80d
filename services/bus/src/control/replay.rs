//! Replaying dead letters: one by its DLQ sequence, all of a subscription's,
//! or all since a time. Each replayed letter becomes a fresh delivery (its
//! attempts start again, its `webhook-id` is the event id as before) and
//! leaves the DLQ once the delivery is stored; if it fails again it comes
//! back as a new dead letter.

use crate::nats::{Nats, Stamp};
use hookline_model::subjects::{StreamKind, msg_id};
use hookline_proto::{DeadLetter, Message as _};

/// Which dead letters to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// One letter, by its sequence in the DLQ stream.
    One(u64),
    /// Every letter of a subscription.
    All(String),
    /// Every letter that died at or after a time (unix ms), of one
    /// subscription or of all.
    Since {
        /// Only this subscription's, if set.
        subscription: Option<String>,
        /// Unix milliseconds.
        since_ms: i64,
    },
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The DLQ could not be read or written.
    #[error("dead-letter queue: {0}")]
    Dlq(String),
    /// No letter has that sequence.
    #[error("no dead letter with sequence {0}")]
    NotFound(u64),
}

fn dlq_err(e: impl std::fmt::Display) -> ReplayError {
    ReplayError::Dlq(e.to_string())
}

/// Replays the selected letters; returns how many were sent again.
pub async fn replay(nats: &Nats, selection: &Selection) -> Result<usize, ReplayError> {
    let mut stream = nats
        .js
        .get_stream(nats.subjects.stream(StreamKind::Dlq))
        .await
        .map_err(dlq_err)?;
    let sequences: Vec<u64> = match selection {
        Selection::One(seq) => vec![*seq],
        _ => {
            let info = stream.info().await.map_err(dlq_err)?;
            (info.state.first_sequence..=info.state.last_sequence).collect()
        }
    };
    let prefix = format!("{}.dlq.", nats.subjects.prefix());
    let mut replayed = 0;
    for seq in sequences {
        let message = match stream.get_raw_message(seq).await {
            Ok(m) => m,
            // Deleted (replayed before) or expired.
            Err(_) if !matches!(selection, Selection::One(_)) => continue,
            Err(_) => return Err(ReplayError::NotFound(seq)),
        };
        let subscription = message
            .subject
            .as_str()
            .strip_prefix(&prefix)
            .unwrap_or_default()
            .to_owned();
        let wanted = match selection {
            Selection::One(_) => true,
            Selection::All(sub) => *sub == subscription,
            Selection::Since {
                subscription: only,
                since_ms,
            } => {
                let died_ms = message.time.unix_timestamp_nanos() / 1_000_000;
                only.as_ref().is_none_or(|s| *s == subscription) && died_ms >= i128::from(*since_ms)
            }
        };
        if !wanted {
            continue;
        }
        let letter = DeadLetter::decode(message.payload.as_ref()).map_err(dlq_err)?;
        let Some(delivery) = letter.delivery else {
            continue;
        };
        let event_id = delivery.event.as_ref().map(|e| e.id.clone()).unwrap_or_default();
        let stamp = Stamp {
            msg_id: &msg_id::replay(&event_id, &subscription, seq),
            event_id: Some(&event_id),
            traceparent: None,
        };
        nats.send(nats.subjects.deliveries(&subscription), delivery.encode_to_vec(), stamp)
            .await
            .map_err(dlq_err)?
            .await
            .map_err(dlq_err)?;
        stream.delete_message(seq).await.map_err(dlq_err)?;
        replayed += 1;
    }
    Ok(replayed)
}
