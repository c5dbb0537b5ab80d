//! Reading a stream back for people: the newest matching messages first,
//! paged by stream sequence ([`newest`]) or, for log records that may be
//! stored several to a message, by record position ([`newest_records`]),
//! within a time window; or every message on a subject as it arrives
//! ([`follow`]).
//!
//! Logs live in JetStream (invocations, attempts, run output, dead letters),
//! so any copy of any service can answer from them; nothing keeps a second
//! copy in memory. A read is an ordered consumer over one subject filter,
//! which the server narrows before sending, so a quiet source is cheap to
//! read even when the stream is busy.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::consumer::{self, DeliverPolicy};
use async_nats::jetstream::{self, Message};
use futures::{Stream, StreamExt as _};

use crate::nats::Nats;

/// How long one message may take to arrive before a read gives up.
const STALL: Duration = Duration::from_secs(5);

/// What to read.
#[derive(Debug, Clone)]
pub struct Query {
    /// The subject filter, such as `hookline.log.attempt.ops`.
    pub subject: String,
    /// Only messages stored at or after this (unix ms).
    pub since_ms: Option<i64>,
    /// Only messages with a sequence below this (the previous page's cursor).
    pub before_seq: Option<u64>,
    /// Page size.
    pub limit: usize,
}

/// One page, newest first.
#[derive(Debug)]
pub struct Page<T> {
    /// `(stream sequence, item)`, newest first.
    pub items: Vec<(u64, T)>,
    /// Pass as `before_seq` for the next (older) page; `None` on the last.
    pub next_before: Option<u64>,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The stream could not be read.
    #[error("{stream}: {reason}")]
    Read {
        /// The stream.
        stream: String,
        /// What NATS said.
        reason: String,
    },
}

/// An ordered consumer over `subject` in `stream`.
async fn reader(
    nats: &Nats,
    stream: &str,
    subject: &str,
    deliver_policy: DeliverPolicy,
) -> Result<(jetstream::consumer::Consumer<consumer::pull::OrderedConfig>, String), HistoryError> {
    let name = stream.to_owned();
    let err = |e: &dyn std::fmt::Display| HistoryError::Read {
        stream: name.clone(),
        reason: e.to_string(),
    };
    let stream = nats.js.get_stream(&name).await.map_err(|e| err(&e))?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| err(&e))?;
    Ok((consumer, name))
}

/// The newest `query.limit` messages that `keep` turns into items, each
/// at its stream sequence (`query.before_seq` is a sequence).
pub async fn newest<T>(
    nats: &Nats,
    stream: &str,
    query: &Query,
    mut keep: impl FnMut(&Message) -> Option<T>,
) -> Result<Page<T>, HistoryError> {
    scan(nats, stream, query, |seq, message, items| {
        if query.before_seq.is_some_and(|b| seq >= b) {
            return false;
        }
        if let Some(item) = keep(message) {
            items.push((seq, item));
        }
        true
    })
    .await
}

/// A log record's position: its message's stream sequence and its place in
/// that message ([`crate::log_sink`] may store several records in one).
pub fn record_position(sequence: u64, index: usize) -> u64 {
    sequence.saturating_mul(RECORDS_PER_MESSAGE) + index as u64
}

/// Every line of one run's log, oldest first, that `keep` takes (a
/// transcript is the run log's `transcript` lines).
pub async fn run_lines(
    nats: &Nats,
    agent: &str,
    run_id: &str,
    keep: impl Fn(&hookline_proto::RunLog) -> bool,
) -> Result<Vec<String>, HistoryError> {
    use hookline_proto::Message as _;
    let query = Query {
        subject: nats.subjects.log_run(agent, run_id),
        since_ms: None,
        before_seq: None,
        limit: usize::MAX / 2,
    };
    let stream = nats.subjects.stream(hookline_model::subjects::StreamKind::Log);
    let page = newest_records(nats, &stream, &query, |record| {
        hookline_proto::RunLog::decode(record)
            .ok()
            .filter(&keep)
            .map(|line| line.line)
    })
    .await?;
    Ok(page.items.into_iter().rev().map(|(_, line)| line).collect())
}

/// More than a stored batch of log records can hold: the sink never groups
/// more than one wake-up's records ([`crate::log_sink::BATCH`]).
const RECORDS_PER_MESSAGE: u64 = 1024;
const _: () = assert!(crate::log_sink::BATCH as u64 <= RECORDS_PER_MESSAGE);

/// The newest `query.limit` log records that `keep` turns into items, each
/// at its [`record_position`] (`query.before_seq` is a position): a stored
/// message may hold one record or a batch.
pub async fn newest_records<T>(
    nats: &Nats,
    stream: &str,
    query: &Query,
    mut keep: impl FnMut(&[u8]) -> Option<T>,
) -> Result<Page<T>, HistoryError> {
    scan(nats, stream, query, |seq, message, items| {
        if query.before_seq.is_some_and(|b| record_position(seq, 0) >= b) {
            return false;
        }
        for (index, record) in crate::log_sink::records(&message.payload, message.headers.as_ref())
            .iter()
            .enumerate()
        {
            let position = record_position(seq, index);
            if query.before_seq.is_some_and(|b| position >= b) {
                break;
            }
            if let Some(item) = keep(record) {
                items.push((position, item));
            }
        }
        true
    })
    .await
}

/// Reads `query.subject` oldest first from `query.since_ms`, handing each
/// message to `take` (which adds its items, or answers `false` to stop), and
/// keeps the newest `query.limit` items.
async fn scan<T>(
    nats: &Nats,
    stream: &str,
    query: &Query,
    mut take: impl FnMut(u64, &Message, &mut Vec<(u64, T)>) -> bool,
) -> Result<Page<T>, HistoryError> {
    let policy = match query.since_ms {
        Some(ms) => from_ms(ms),
        None => DeliverPolicy::All,
    };
    let (consumer, name) = reader(nats, stream, &query.subject, policy).await?;
    let mut page = Page {
        items: Vec::new(),
        next_before: None,
    };
    // What matched when the read began; messages stored later belong to the
    // next read (without this bound a busy subject would keep the scan
    // chasing its tail).
    let matching = consumer.cached_info().num_pending;
    if matching == 0 || query.limit == 0 {
        return Ok(page);
    }
    let err = |e: &dyn std::fmt::Display| HistoryError::Read {
        stream: name.clone(),
        reason: e.to_string(),
    };
    let mut messages = consumer.messages().await.map_err(|e| err(&e))?;
    let mut window: VecDeque<(u64, T)> = VecDeque::with_capacity(query.limit.min(1024) + 1);
    let mut dropped = false;
    let mut taken = Vec::new();
    for _ in 0..matching {
        let message = match tokio::time::timeout(STALL, messages.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => return Err(err(&e)),
            Ok(None) => break,
            Err(_) => return Err(err(&"timed out reading the stream")),
        };
        let info = message.info().map_err(|e| err(&e))?;
        let (seq, pending) = (info.stream_sequence, info.pending);
        if !take(seq, &message, &mut taken) {
            break;
        }
        for item in taken.drain(..) {
            window.push_back(item);
            if window.len() > query.limit {
                window.pop_front();
                dropped = true;
            }
        }
        if pending == 0 {
            break;
        }
    }
    page.next_before = window.front().filter(|_| dropped).map(|(seq, _)| *seq);
    page.items = window.into_iter().rev().collect();
    Ok(page)
}

/// Every message on `subject` from the start, then each new one as it is
/// stored, until the returned stream is dropped.
pub async fn follow(
    nats: &Nats,
    stream: &str,
    subject: &str,
    deliver_policy: DeliverPolicy,
) -> Result<impl Stream<Item = Message> + Send + 'static, HistoryError> {
    let (consumer, name) = reader(nats, stream, subject, deliver_policy).await?;
    let messages = consumer.messages().await.map_err(|e| HistoryError::Read {
        stream: name,
        reason: e.to_string(),
    })?;
    Ok(messages.filter_map(|m| async move { m.ok() }))
}

/// How many messages `stream` holds on `subject`.
pub async fn count(nats: &Nats, stream: &str, subject: &str) -> Result<u64, HistoryError> {
    let (consumer, _) = reader(nats, stream, subject, DeliverPolicy::All).await?;
    Ok(consumer.cached_info().num_pending)
}

/// A message's store time in unix ms.
pub fn stored_ms(message: &Message) -> i64 {
    message
        .info()
        .map(|i| i64::try_from(i.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Start with the first message stored at or after `ms` (unix ms).
pub fn from_ms(ms: i64) -> DeliverPolicy {
    DeliverPolicy::ByStartTime {
        start_time: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    }
}
