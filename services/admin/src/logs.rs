//! What happened, read back from the log streams: invocations per source,
//! delivery attempts per subscription, dead letters, and a run's output
//! (read whole, or followed as it is written).

use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use hookline_bus::history::{self, Page, Query};
use hookline_bus::runs::{RunRecord, RunStatus};
use hookline_bus::store::CatalogView;
use hookline_model::catalog::Catalog;
use hookline_model::clock;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Attempt, DeadLetter, Invocation, Message as _, RunLog};
use hookline_runtime::serve::{self, Body};
use hyper::Response;

use crate::error::AdminError;
use crate::model;
use crate::params::Params;
use crate::route::{Route, typed_route};
use crate::state::AdminState;

/// `status=404` (exact) or `status=4xx` (a class).
fn status_matches(wanted: Option<&str>, status: u32) -> bool {
    match wanted {
        None => true,
        Some(w) if w.len() == 3 && w.ends_with("xx") => w.as_bytes()[0] == b'0' + (status / 100) as u8,
        Some(w) => w.parse::<u32>().is_ok_and(|n| n == status),
    }
}

fn check_status(params: &Params) -> Result<Option<String>, AdminError> {
    let Some(text) = params.text("status") else {
        return Ok(None);
    };
    // `[1-5]` then two digits or `xx`: what docs/openapi.json says.
    let bytes = text.as_bytes();
    let valid = bytes.len() == 3
        && (b'1'..=b'5').contains(&bytes[0])
        && (text.ends_with("xx") || bytes[1..].iter().all(u8::is_ascii_digit));
    if valid {
        Ok(Some(text.to_owned()))
    } else {
        Err(AdminError::Invalid(vec![format!(
            "status: `{text}` is neither a status such as 404 nor a class such as 5xx"
        )]))
    }
}

/// A page of the log whose items learn their stream sequence.
fn page_of<T>(page: Page<T>, at_seq: impl Fn(&mut T, u64)) -> model::Page<T, u64> {
    let items = page
        .items
        .into_iter()
        .map(|(seq, mut item)| {
            at_seq(&mut item, seq);
            item
        })
        .collect();
    model::Page {
        items,
        next_before: page.next_before,
    }
}

fn query(params: &Params, subject: String, since_ms: Option<i64>) -> Result<Query, AdminError> {
    Ok(Query {
        subject,
        since_ms,
        before_seq: match params.number("before")? {
            Some(0) => return Err(AdminError::Invalid(vec!["before: a sequence, 1 or more".to_owned()])),
            before => before,
        },
        limit: params.limit()?,
    })
}

/// `GET /v1/sources/{id}/invocations`: every request the source received,
/// newest first; filters `outcome` (accepted|refused), `status`, `reason`,
/// `event_id`, `since`, `until`; paging `limit`, `before`.
pub async fn invocations(
    state: &AdminState,
    source: &str,
    params: &Params,
) -> Result<model::Page<model::Invocation, u64>, AdminError> {
    let outcome = params.text("outcome");
    if outcome.is_some_and(|o| o != "accepted" && o != "refused") {
        return Err(AdminError::Invalid(vec!["outcome: accepted or refused".into()]));
    }
    let status = check_status(params)?;
    let (reason, event_id, until) = (params.text("reason"), params.text("event_id"), params.time_ms("until")?);
    let query = query(
        params,
        state.nats.subjects.log_invocation(source),
        Some(params.since_ms()?),
    )?;
    let page = history::newest_records(&state.nats, &state.nats.subjects.stream(StreamKind::Log), &query, |r| {
        let i = Invocation::decode(r).ok()?;
        let accepted = (200..300).contains(&i.status);
        let keep = outcome.is_none_or(|o| (o == "accepted") == accepted)
            && status_matches(status.as_deref(), i.status)
            && reason.is_none_or(|r| r == i.reason)
            && event_id.is_none_or(|e| e == i.event_id)
            && until.is_none_or(|u| i.at_ms <= u);
        keep.then(|| model::Invocation {
            seq: 0,
            at: clock::rfc3339_ms(i.at_ms),
            status: i.status,
            reason: i.reason,
            event_id: i.event_id,
            delivery_id: i.delivery_id,
            source_ip: i.source_ip,
            size: i.size,
        })
    })
    .await
    .map_err(AdminError::unavailable)?;
    Ok(page_of(page, |i, seq| i.seq = seq))
}

/// `GET /v1/subscriptions/{id}/attempts`: every delivery attempt, newest
/// first; filters `outcome` (succeeded|failed), `status`, `event_id`,
/// `since`, `until`; paging `limit`, `before`.
pub async fn attempts(
    state: &AdminState,
    subscription: &str,
    params: &Params,
) -> Result<model::Page<model::Attempt, u64>, AdminError> {
    let outcome = params.text("outcome");
    if outcome.is_some_and(|o| o != "succeeded" && o != "failed") {
        return Err(AdminError::Invalid(vec!["outcome: succeeded or failed".into()]));
    }
    let status = check_status(params)?;
    let (event_id, until) = (params.text("event_id"), params.time_ms("until")?);
    let query = query(
        params,
        state.nats.subjects.log_attempt(subscription),
        Some(params.since_ms()?),
    )?;
    let page = history::newest_records(&state.nats, &state.nats.subjects.stream(StreamKind::Log), &query, |r| {
        let a = Attempt::decode(r).ok()?;
        let succeeded = (200..300).contains(&a.status);
        let keep = outcome.is_none_or(|o| (o == "succeeded") == succeeded)
            && status_matches(status.as_deref(), a.status)
            && event_id.is_none_or(|e| e == a.event_id)
            && until.is_none_or(|u| a.at_ms <= u);
        keep.then(|| model::Attempt {
            seq: 0,
            at: clock::rfc3339_ms(a.at_ms),
            next_attempt_at: (a.next_attempt_at_ms > 0).then(|| clock::rfc3339_ms(a.next_attempt_at_ms)),
            event_id: a.event_id,
            attempt: a.attempt,
            status: a.status,
            error: a.error,
            latency_ms: a.latency_ms,
            response_body: a.response_body,
        })
    })
    .await
    .map_err(AdminError::unavailable)?;
    Ok(page_of(page, |a, seq| a.seq = seq))
}

/// `GET /v1/dlq`: dead letters, newest first; filters `subscription`,
/// `since`; paging `limit`, `before`. Replay one with its `seq`.
pub async fn dead_letters(
    state: &AdminState,
    params: &Params,
) -> Result<model::Page<model::DeadLetter, u64>, AdminError> {
    let subjects = &state.nats.subjects;
    let subject = params
        .id("subscription")?
        .map_or_else(|| subjects.all(StreamKind::Dlq), |s| subjects.dlq(s));
    let query = query(params, subject, params.time_ms("since")?)?;
    let page = history::newest(&state.nats, &state.nats.subjects.stream(StreamKind::Dlq), &query, |m| {
        let letter = DeadLetter::decode(m.payload.as_ref()).ok()?;
        let delivery = letter.delivery.unwrap_or_default();
        let event = delivery.event.unwrap_or_default();
        Some(model::DeadLetter {
            seq: 0,
            subscription: delivery.subscription,
            event_id: event.id,
            event_type: event.r#type,
            attempts: letter.attempts,
            last_error: letter.last_error,
            failed_at: clock::rfc3339_ms(letter.failed_at_ms),
        })
    })
    .await
    .map_err(AdminError::unavailable)?;
    Ok(page_of(page, |d, seq| d.seq = seq))
}

/// How a run's lines are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineText {
    /// As the agent printed them (the API: a client may render colours).
    AsPrinted,
    /// Without terminal escape sequences (colours, cursor moves): for a
    /// page, where they would show as raw text.
    Plain,
}

fn log_line(line: RunLog, text: LineText) -> model::LogLine {
    model::LogLine {
        at: clock::rfc3339_ms(line.at_ms),
        stream: line.stream,
        line: match text {
            LineText::AsPrinted => line.line,
            LineText::Plain => strip_ansi_escapes::strip_str(&line.line),
        },
    }
}

/// `GET /v1/runs/{run_id}/log`: the run's output so far, oldest first; with
/// `follow=true`, newline-delimited JSON that stays open until the run ends
/// or can go no further without an operator (see [`waits_on_operator`]).
pub async fn run_log(state: &AdminState, run_id: &str, params: &Params) -> Result<Response<Body>, AdminError> {
    run_log_as(state, run_id, params, LineText::AsPrinted).await
}

/// [`run_log`], with the lines given as `text` says.
pub async fn run_log_as(
    state: &AdminState,
    run_id: &str,
    params: &Params,
    text: LineText,
) -> Result<Response<Body>, AdminError> {
    let record = crate::ops::read_record(state, run_id).await?;
    let subject = state.nats.subjects.log_run(&record.agent, run_id);
    if !params.flag("follow")? {
        let query = Query {
            subject,
            since_ms: None,
            before_seq: None,
            limit: usize::MAX / 2,
        };
        let page = history::newest_records(&state.nats, &state.nats.subjects.stream(StreamKind::Log), &query, |r| {
            RunLog::decode(r).ok().map(|line| log_line(line, text))
        })
        .await
        .map_err(AdminError::unavailable)?;
        let log = model::RunLog {
            run_id: run_id.to_owned(),
            status: record.status,
            lines: page.items.into_iter().rev().map(|(_, line)| line).collect(),
        };
        return Ok(serve::json(200, &log));
    }
    let body = follow_run(
        state,
        &record,
        move |line| Some(ndjson(&model::Followed::Line(log_line(line, text)))),
        |run| ndjson(&model::Followed::End { run: Box::new(run) }),
    )
    .await?;
    let mut response = Response::new(body);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

/// A body that sends each of `record`'s run log lines as `line` frames it
/// (none: skipped), from the first, as they are stored; once the run is
/// final (or waits on an operator) and a quiet moment has passed (lines
/// are published as the agent prints them, the final record right after),
/// the record as `end` frames it, and ends.
pub(crate) async fn follow_run(
    state: &AdminState,
    record: &RunRecord,
    line: impl Fn(RunLog) -> Option<Bytes> + Send + 'static,
    end: impl FnOnce(RunRecord) -> Bytes + Send + 'static,
) -> Result<Body, AdminError> {
    let subject = state.nats.subjects.log_run(&record.agent, &record.run_id);
    let lines = history::follow(
        &state.nats,
        &state.nats.subjects.stream(StreamKind::Log),
        &subject,
        DeliverPolicy::All,
    )
    .await
    .map_err(AdminError::unavailable)?;
    let (tx, rx) = futures::channel::mpsc::channel::<Bytes>(64);
    let nats = state.nats.clone();
    let run_id = record.run_id.clone();
    tokio::spawn(follow_until_final(
        nats,
        state.catalog.clone(),
        run_id,
        lines,
        tx,
        line,
        end,
    ));
    Ok(serve::streamed(rx))
}

async fn follow_until_final(
    nats: hookline_bus::nats::Nats,
    catalog: CatalogView,
    run_id: String,
    lines: impl futures::Stream<Item = async_nats::jetstream::Message> + Send,
    mut tx: futures::channel::mpsc::Sender<Bytes>,
    line: impl Fn(RunLog) -> Option<Bytes>,
    end: impl FnOnce(RunRecord) -> Bytes,
) {
    const QUIET: Duration = Duration::from_millis(300);
    let mut lines = std::pin::pin!(lines);
    let kv = nats.buckets.runs.clone();
    loop {
        match tokio::time::timeout(QUIET, lines.next()).await {
            Ok(Some(message)) => {
                for record in hookline_bus::log_sink::records(&message.payload, message.headers.as_ref()) {
                    let Some(framed) = RunLog::decode(record.as_ref()).ok().and_then(&line) else {
                        continue;
                    };
                    if tx.send(framed).await.is_err() {
                        return; // The reader went away.
                    }
                }
            }
            Ok(None) => return,
            Err(_) => {
                let record = kv.get(&run_id).await.ok().flatten();
                let record: Option<RunRecord> = record.and_then(|b| serde_json::from_slice(&b).ok());
                if let Some(run) = record.filter(|r| r.status.is_final() || waits_on_operator(&catalog.borrow(), r)) {
                    let _ = tx.send(end(run)).await;
                    return;
                }
                if tx.is_closed() {
                    return;
                }
            }
        }
    }
}

/// Whether `run` can go no further until an operator acts: held for
/// approval, or queued for an agent that is disabled or was deleted (its
/// runs wait in the stream for it to come back). A follower would otherwise
/// wait unboundedly with nothing to show; the record it gets instead says
/// why, and it can follow again after approving or enabling.
fn waits_on_operator(catalog: &Catalog, run: &RunRecord) -> bool {
    match run.status {
        RunStatus::AwaitingApproval => true,
        RunStatus::Queued => !catalog.agents.get(&run.agent).is_some_and(|agent| agent.enabled),
        _ => false,
    }
}

fn ndjson(item: &model::Followed) -> Bytes {
    let mut text = serde_json::to_string(item).unwrap_or_default();
    text.push('\n');
    Bytes::from(text)
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[
    typed_route!("GET", "/v1/sources/{id}/invocations", |c| invocations(
        c.state,
        c.id(0),
        c.params
    )),
    typed_route!("GET", "/v1/subscriptions/{id}/attempts", |c| attempts(
        c.state,
        c.id(0),
        c.params
    )),
    typed_route!("GET", "/v1/dlq", |c| dead_letters(c.state, c.params)),
    Route {
        method: "GET",
        template: "/v1/runs/{run_id}/log",
        public: false,
        handler: |c| Box::pin(async move { run_log(c.state, c.id(0), c.params).await }),
    },
];
