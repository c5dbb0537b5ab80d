//! The one way log records (invocations, delivery attempts, run output)
//! reach the `HOOKLINE_LOG` stream: a bounded queue drained by one task, in
//! the order records were given, many at a time. Records of one subject
//! queued together are stored as one message (a [`LogBatch`], up to
//! [`BATCH_BYTES`]), so a busy service stores a message per subject per
//! wake-up instead of one per record; a quiet one still publishes each
//! record as it comes, with no wait added. [`records`] reads either form.
//!
//! A record is bookkeeping: handing one over never waits (an answer or a
//! delivery is never delayed by its log), and when the queue is full the
//! record is dropped and counted. Records still queued when a process is
//! killed are lost; events never travel this way. [`LogSink::flush`] at
//! shutdown publishes what is queued and flushes the client.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hookline_proto::{LogBatch, Message as _};
use tokio::sync::{mpsc, oneshot};

/// Records queued at most; more are dropped (and counted) until it drains.
pub const CAPACITY: usize = 65_536;
/// Records taken per wake-up of the draining task at most.
pub const BATCH: usize = 512;
/// Bytes of records in one stored batch at most (well under NATS's
/// default 1 MiB payload limit).
pub const BATCH_BYTES: usize = 256 * 1024;
/// How long [`LogSink::flush`] waits at most.
pub const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// The header that marks a stored [`LogBatch`], with its record count.
pub const BATCH_HEADER: &str = "Hookline-Log-Batch";

enum Item {
    Record(String, Bytes),
    Flush(oneshot::Sender<()>),
}

/// The records of one wake-up, by subject in order of first appearance.
#[derive(Default)]
struct Grouped {
    subjects: Vec<(String, Vec<Bytes>)>,
    index: HashMap<String, usize>,
}

impl Grouped {
    fn add(&mut self, subject: String, payload: Bytes) {
        match self.index.get(&subject) {
            Some(&i) => self.subjects[i].1.push(payload),
            None => {
                self.index.insert(subject.clone(), self.subjects.len());
                self.subjects.push((subject, vec![payload]));
            }
        }
    }

    /// Publishes each subject's records: one alone as it is, several as
    /// batches of at most [`BATCH_BYTES`].
    async fn publish(&mut self, client: &async_nats::Client) {
        self.index.clear();
        for (subject, records) in self.subjects.drain(..) {
            let mut records = records.into_iter().peekable();
            while let Some(first) = records.next() {
                let mut chunk = vec![first];
                let mut bytes = chunk[0].len();
                while let Some(next) = records.next_if(|r| bytes + r.len() <= BATCH_BYTES) {
                    bytes += next.len();
                    chunk.push(next);
                }
                let sent = if chunk.len() == 1 {
                    client.publish(subject.clone(), chunk.remove(0)).await
                } else {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert(BATCH_HEADER, chunk.len().to_string().as_str());
                    let batch = LogBatch { records: chunk };
                    client
                        .publish_with_headers(subject.clone(), headers, batch.encode_to_vec().into())
                        .await
                };
                if let Err(e) = sent {
                    tracing::debug!(error = %e, "Log records not published.");
                }
            }
        }
    }
}

/// The records a stored log message holds: itself, or each record of a
/// batch, oldest first (slices of the message's buffer, not copies).
pub fn records(payload: &Bytes, headers: Option<&async_nats::HeaderMap>) -> Vec<Bytes> {
    let batched = headers.is_some_and(|h| h.get(BATCH_HEADER).is_some());
    if !batched {
        return vec![payload.clone()];
    }
    match LogBatch::decode(payload.clone()) {
        Ok(batch) => batch.records,
        Err(e) => {
            tracing::debug!(error = %e, "Undecodable log batch skipped.");
            Vec::new()
        }
    }
}

/// A handle to the sink; clones share one queue and one order.
#[derive(Clone)]
pub struct LogSink {
    queue: mpsc::Sender<Item>,
    dropped: Arc<AtomicU64>,
}

impl LogSink {
    /// Starts the draining task on `client`.
    pub fn start(client: async_nats::Client) -> Self {
        let (queue, mut items) = mpsc::channel::<Item>(CAPACITY);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            let mut grouped = Grouped::default();
            while items.recv_many(&mut batch, BATCH).await > 0 {
                for item in batch.drain(..) {
                    match item {
                        Item::Record(subject, payload) => grouped.add(subject, payload),
                        Item::Flush(done) => {
                            grouped.publish(&client).await;
                            let _ = client.flush().await;
                            let _ = done.send(());
                        }
                    }
                }
                grouped.publish(&client).await;
            }
        });
        Self {
            queue,
            dropped: Arc::default(),
        }
    }

    /// Queues one record for `subject`; never waits.
    pub fn record(&self, subject: String, payload: impl Into<Bytes>) {
        if self.queue.try_send(Item::Record(subject, payload.into())).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "Log queue full; log records dropped.");
            }
        }
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every record queued before this call is published and
    /// the client flushed (at shutdown), for at most [`FLUSH_WAIT`]: with
    /// NATS unreachable the records are lost, and the process still stops.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        let wait = async {
            if self.queue.send(Item::Flush(done)).await.is_ok() {
                let _ = flushed.await;
            }
        };
        if tokio::time::timeout(FLUSH_WAIT, wait).await.is_err() {
            tracing::warn!("Log records not flushed: NATS did not take them in time.");
        }
    }
}
