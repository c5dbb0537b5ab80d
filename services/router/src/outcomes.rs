//! What became of the pull requests Hookline's runs opened: when the
//! forge says one from a run branch was merged or closed unmerged, the
//! outcome is recorded on the run that opened it, with every run behind
//! it and what they cost, and `pull_request.merged` or
//! `pull_request.closed` is published from that record's outbox, so a
//! redelivered webhook (or a router that crashed in between) publishes it
//! once, under the same id.

use hookline_bus::runs::{RecordError, Records, RunRecord};
use hookline_bus::threads::{ThreadLink, Threads, ThreadsError};
use hookline_model::forge_state::{PullOutcome, PullState};
use hookline_model::outbox::PendingEvent;
use hookline_proto::WebhookContext;
use hookline_providers::outcome::{PullClosed, pull_closed};
use serde_json::{Value, json};

use hookline_bus::nats::Nats;

/// Why an outcome was not recorded yet (the event is tried again).
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutcomeError {
    #[error(transparent)]
    Threads(#[from] ThreadsError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("outcome event not published: {0}")]
    Publish(#[from] async_nats::jetstream::context::PublishError),
    /// The run that opened the pull request has not written its final
    /// record yet (its executor holds the record): the event waits.
    #[error("run {0} is still finishing; its pull request's outcome waits for it")]
    Finishing(String),
}

/// Records the outcome the event reports, if it reports one on a run
/// branch; answers what was decided, for the event's decision record.
pub(crate) async fn record(
    nats: &Nats,
    records: &Records,
    threads: &Threads,
    ctx: &WebhookContext,
    body: &Value,
) -> Result<Option<String>, OutcomeError> {
    let Some(closed) = pull_closed(ctx, body) else {
        return Ok(None);
    };
    let Some(link) = threads.by_branch(&closed.repository, &closed.branch).await? else {
        return Ok(None);
    };
    let runs = runs_behind(&link);
    let mut behind = Vec::new();
    for run_id in &runs {
        if let Some(record) = records.get(run_id).await? {
            behind.push(record);
        }
    }
    // The run that opened it: the first whose record names it.
    let Some(opener) = behind
        .iter()
        .find(|r| {
            r.forge
                .as_ref()
                .and_then(|f| f.pull_request.as_ref())
                .is_some_and(|p| p.number == closed.number)
        })
        .or(behind.first())
        .map(|r| r.run_id.clone())
    else {
        return Ok(None);
    };
    // Its executor's final write checks the record's revision: a change
    // before it would cost the run its results.
    if let Some(unfinished) = behind.iter().find(|r| r.run_id == opener && !r.is_done()) {
        return Err(OutcomeError::Finishing(unfinished.run_id.clone()));
    }
    let outcome = PullOutcome {
        state: if closed.merged {
            PullState::Merged
        } else {
            PullState::Closed
        },
        number: closed.number,
        url: closed.url.clone(),
        opened_at_ms: closed.opened_at_ms,
        at_ms: if closed.closed_at_ms > 0 {
            closed.closed_at_ms
        } else {
            hookline_model::clock::now_ms()
        },
        runs: behind.iter().map(|r| r.run_id.clone()).collect(),
        cost_micros: behind.iter().filter_map(|r| r.usage).map(|u| u.cost_micros).sum(),
    };
    let event = event_of(&opener, &outcome, &link, &closed, ctx);
    records
        .update(&opener, |record| match &record.outcome {
            // Recorded once: a redelivery does not rewrite it; but a pull
            // request closed, reopened and then merged was merged.
            Some(was) if !(was.state == PullState::Closed && outcome.state == PullState::Merged) => false,
            _ => {
                record.outcome = Some(outcome.clone());
                record.outbox.push(PendingEvent::new(
                    &record.run_id,
                    outcome.state.event_type(),
                    event.clone(),
                    &format!("{}/{}", outcome.state.event_type(), outcome.number),
                    outcome.at_ms,
                ));
                true
            }
        })
        .await?;
    let Some(record) = records.get(&opener).await? else {
        return Ok(None);
    };
    publish_outbox(nats, records, &record).await?;
    let said = record.outcome.as_ref().map_or(outcome.state, |o| o.state);
    Ok(Some(format!(
        "pull request #{} of run {opener} recorded as {}",
        closed.number,
        match said {
            PullState::Merged => "merged",
            PullState::Closed => "closed unmerged",
        }
    )))
}

/// Every run that pushed the branch, oldest first (a link written before
/// runs were listed names its last one).
fn runs_behind(link: &ThreadLink) -> Vec<String> {
    if link.runs.is_empty() {
        vec![link.last_run_id.clone()]
    } else {
        link.runs.clone()
    }
}

/// The outcome event's data.
fn event_of(
    opener: &str,
    outcome: &PullOutcome,
    link: &ThreadLink,
    closed: &PullClosed,
    ctx: &WebhookContext,
) -> serde_json::Map<String, Value> {
    let at = chrono::DateTime::from_timestamp_millis(outcome.at_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let took = (outcome.opened_at_ms > 0).then(|| ((outcome.at_ms - outcome.opened_at_ms) / 1000).max(0));
    let (at_key, took_key) = match outcome.state {
        PullState::Merged => ("merged_at", "time_to_merge_s"),
        PullState::Closed => ("closed_at", "open_for_s"),
    };
    let mut data = json!({
        "run_id": opener,
        "agent": link.agent,
        "repository": closed.repository,
        "forge": ctx.provider,
        "number": outcome.number,
        "url": outcome.url,
        "branch": closed.branch,
        "runs": outcome.runs,
        "cost_usd": outcome.cost_micros as f64 / 1e6,
        at_key: at,
    });
    if let (Some(took), Value::Object(map)) = (took, &mut data) {
        map.insert(took_key.to_owned(), json!(took));
    }
    match data {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// Publishes what `record`'s outbox holds, then clears it.
async fn publish_outbox(nats: &Nats, records: &Records, record: &RunRecord) -> Result<(), OutcomeError> {
    if record.outbox.is_empty() {
        return Ok(());
    }
    for pending in &record.outbox {
        let event = hookline_bus::events::of_run(pending, &record.run_id, &record.agent, &record.event_id);
        hookline_bus::events::publish(nats, &event, &record.run_id, &pending.dedupe, None).await?;
    }
    records.clear_outbox(&record.run_id).await?;
    Ok(())
}
