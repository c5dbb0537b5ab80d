//! `ordered = "run"`: each run's events reach the subscriber in the order
//! they were emitted, while different runs are delivered in parallel.
//! The subscription's consumer reads the events stream in stream order (a
//! run's events are stored in the order it emitted them); as each arrives, in order, it is
//! chained behind the run's previous delivery still in flight, and starts
//! only when that one is settled. When that one failed for now (retried
//! later), it holds its run back: the ones behind it, and any of the run
//! arriving before it is settled, are put back too, a little later than
//! it comes back, so they stay behind it. The order holds within one notifier copy: with
//! several copies, a subscription that needs it should run on one, or use
//! `ordered = true`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use hookline_bus::consume::{self, Outcome};
use hookline_proto::{Event, Message as _};
use tokio::sync::oneshot;

/// How much later than the delivery ahead of it a delivery put back with
/// it comes back.
const BEHIND: Duration = Duration::from_millis(50);

/// How long past its retry time a held-back delivery that has not come
/// back here still holds its run.
const FORGET: Duration = Duration::from_secs(60);

/// How a delivery ended for the one behind it: settled, or to be tried
/// again after this long.
type Settled = Option<Duration>;

type Link = Shared<BoxFuture<'static, Settled>>;

/// Per run: its last delivery in flight, and the delivery that failed for
/// now and holds the run back until it is settled.
#[derive(Default)]
struct RunState {
    tail: Option<(u64, Link)>,
    /// Stream sequence of the held-back delivery, and when it comes back.
    blocker: Option<(u64, Instant)>,
}

/// The runs with deliveries in flight or held back.
#[derive(Default)]
pub struct Chains {
    runs: Mutex<HashMap<String, RunState>>,
    next: std::sync::atomic::AtomicU64,
}

impl Chains {
    /// Chains `msg` behind its run's previous delivery (called in stream
    /// order), and answers the rest of its work: wait for that one, then
    /// `deliver` it (or put it back behind it).
    pub fn issue<F, Fut>(
        self: &Arc<Self>,
        msg: Arc<jetstream::Message>,
        keep_alive_every: Duration,
        deliver: F,
    ) -> BoxFuture<'static, Outcome>
    where
        F: FnOnce(Arc<jetstream::Message>) -> Fut + Send + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let run = Event::decode(msg.payload.as_ref())
            .map(|e| e.run_id)
            .unwrap_or_default();
        let Some(sequence) = msg.info().ok().map(|i| i.stream_sequence).filter(|_| !run.is_empty()) else {
            return Box::pin(deliver(msg));
        };
        let (tx, rx) = oneshot::channel::<Settled>();
        let link: Link = rx.map(|r| r.unwrap_or(None)).boxed().shared();
        let generation = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ahead = {
            let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
            let state = runs.entry(run.clone()).or_default();
            match state.blocker {
                // One whose retry never came back here (another copy took
                // it, or it was settled elsewhere) stops holding the run.
                Some((_, back_at)) if back_at + FORGET < Instant::now() => {
                    state.blocker = None;
                    state.tail.replace((generation, link)).map(|(_, l)| l)
                }
                // An earlier delivery of the run waits for its retry: this
                // one goes back behind it, unsent.
                Some((blocker, back_at)) if blocker != sequence => {
                    let wait = back_at.saturating_duration_since(Instant::now()) + BEHIND;
                    return Box::pin(std::future::ready(Outcome::Retry(wait)));
                }
                _ => state.tail.replace((generation, link)).map(|(_, l)| l),
            }
        };
        let chains = self.clone();
        Box::pin(async move {
            let waited = match ahead {
                None => None,
                Some(ahead) => {
                    let _alive = consume::keep_alive(msg.clone(), keep_alive_every);
                    ahead.await
                }
            };
            let (outcome, attempted) = match waited {
                None => (deliver(msg).await, true),
                Some(delay) => (Outcome::Retry(delay + BEHIND), false),
            };
            let settled = match &outcome {
                Outcome::Retry(delay) => Some(*delay),
                _ => None,
            };
            let _ = tx.send(settled);
            let mut runs = chains.runs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(state) = runs.get_mut(&run) {
                match (attempted, settled) {
                    (true, Some(delay)) => state.blocker = Some((sequence, Instant::now() + delay)),
                    (true, None) if state.blocker.is_some_and(|(b, _)| b == sequence) => state.blocker = None,
                    _ => {}
                }
                if state.tail.as_ref().is_some_and(|(g, _)| *g == generation) {
                    state.tail = None;
                }
                if state.tail.is_none() && state.blocker.is_none() {
                    runs.remove(&run);
                }
            }
            outcome
        })
    }
}
