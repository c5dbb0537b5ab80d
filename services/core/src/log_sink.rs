//! The one way log records (invocations, delivery attempts, run output)
//! reach the `HOOKLINE_LOG` stream: a bounded queue drained by one task, in
//! the order records were given, many at a time.
//!
//! A record is bookkeeping: handing one over never waits (an answer or a
//! delivery is never delayed by its log), and when the queue is full the
//! record is dropped and counted. Records still queued when a process is
//! killed are lost; events never travel this way. [`LogSink::flush`] at
//! shutdown publishes what is queued and flushes the client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

/// Records queued at most; more are dropped (and counted) until it drains.
pub const CAPACITY: usize = 65_536;
/// Records published per wake-up of the draining task at most.
pub const BATCH: usize = 512;

enum Item {
    Record(String, Bytes),
    Flush(oneshot::Sender<()>),
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
            while items.recv_many(&mut batch, BATCH).await > 0 {
                for item in batch.drain(..) {
                    match item {
                        Item::Record(subject, payload) => {
                            if let Err(e) = client.publish(subject, payload).await {
                                tracing::debug!(error = %e, "Log record not published.");
                            }
                        }
                        Item::Flush(done) => {
                            let _ = client.flush().await;
                            let _ = done.send(());
                        }
                    }
                }
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
    /// the client flushed (at shutdown).
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Item::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}
