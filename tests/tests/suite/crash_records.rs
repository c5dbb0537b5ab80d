//! Reading what a crash scenario left: every run's record, and waiting
//! until the pipeline settled.

use hookline_bus::nats::Nats;
use hookline_bus::runs::RunRecord;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Event, Message as _};
use hookline_tests::{Receiver, stream_messages};
use std::collections::HashSet;

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The run records and run events once everything settled, or what is
/// still missing.
pub(crate) async fn settled(
    nats: &Nats,
    accepted: &HashSet<String>,
    receiver: &Receiver,
) -> Result<(Vec<RunRecord>, Vec<Event>), String> {
    let records = run_records(nats).await?;
    let with_record: HashSet<&str> = records.iter().map(|r| r.event_id.as_str()).collect();
    let missing = accepted.iter().filter(|e| !with_record.contains(e.as_str())).count();
    if missing > 0 {
        return Err(format!("{missing} accepted webhooks without a run record"));
    }
    let open: Vec<String> = records
        .iter()
        .filter(|r| !r.is_done() || !r.outbox.is_empty())
        .map(|r| format!("{} {} attempt {}", r.run_id, r.status, r.attempt))
        .collect();
    if !open.is_empty() {
        return Err(format!(
            "{} runs not final: {:?}",
            open.len(),
            &open[..open.len().min(5)]
        ));
    }
    let events: Vec<Event> = stream_messages(nats, StreamKind::Events)
        .await
        .iter()
        .filter_map(|m| Event::decode(m.payload.as_ref()).ok())
        .collect();
    let received: HashSet<String> = receiver.received().iter().map(|r| r.header("webhook-id")).collect();
    let undelivered = events.iter().filter(|e| !received.contains(&e.id)).count();
    if undelivered > 0 {
        return Err(format!("{undelivered} of {} events not delivered", events.len()));
    }
    Ok((records, events))
}

pub(crate) async fn run_records(nats: &Nats) -> Result<Vec<RunRecord>, String> {
    use futures::TryStreamExt as _;
    let kv = nats
        .js
        .get_key_value(nats.subjects.runs_bucket())
        .await
        .map_err(|e| e.to_string())?;
    let keys: Vec<String> = kv
        .keys()
        .await
        .map_err(|e| e.to_string())?
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    for key in keys {
        if let Some(bytes) = kv.get(&key).await.map_err(|e| e.to_string())? {
            records.push(serde_json::from_slice(&bytes).map_err(|e| e.to_string())?);
        }
    }
    Ok(records)
}
