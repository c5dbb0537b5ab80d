//! A real local HTTP endpoint that records what it receives and answers as
//! the test says: the subscriber in delivery tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookline_runtime::serve;
use hookline_runtime::shutdown::CancellationToken;
use http_body_util::BodyExt;

use tokio::sync::Notify;

use crate::WAIT;

/// One request a [`Receiver`] got.
#[derive(Clone, Debug)]
pub struct Received {
    /// Its headers.
    pub headers: http::HeaderMap,
    /// Its raw body.
    pub body: Bytes,
    /// What the receiver answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// One header as text.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// Decides a receiver's answer from the request and how many requests with
/// the same `webhook-id` came before it (0 for the first).
pub type Policy = Arc<dyn Fn(&Received, usize) -> u16 + Send + Sync>;

/// A real local HTTP endpoint that records what it receives.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
    /// Woken on each request, so a waiter sees it at once.
    arrivals: Arc<Notify>,
    _stop: tokio_util::sync::DropGuard,
}

impl Receiver {
    /// Starts a receiver answering per `policy`.
    pub async fn start(policy: impl Fn(&Received, usize) -> u16 + Send + Sync + 'static) -> Self {
        Self::start_slow(Duration::ZERO, policy).await
    }

    /// Starts a receiver that takes `delay` to answer each request (a slow
    /// endpoint), answering per `policy`.
    pub async fn start_slow(delay: Duration, policy: impl Fn(&Received, usize) -> u16 + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests: Arc<Mutex<Vec<Received>>> = Arc::default();
        let policy: Policy = Arc::new(policy);
        let stop = CancellationToken::new();
        let arrivals: Arc<Notify> = Arc::default();
        let (seen, woken) = (requests.clone(), arrivals.clone());
        tokio::spawn(serve::serve(
            listener,
            move |req: hyper::Request<hyper::body::Incoming>, _peer| {
                let (seen, policy, woken) = (seen.clone(), policy.clone(), woken.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let arrived = Instant::now();
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let mut received = Received {
                        headers: parts.headers,
                        body,
                        status: 0,
                        at: arrived,
                    };
                    let mut all = seen.lock().expect("lock");
                    let id = received.header("webhook-id");
                    let before = all.iter().filter(|r| r.header("webhook-id") == id).count();
                    received.status = policy(&received, before);
                    let status = received.status;
                    all.push(received);
                    drop(all);
                    woken.notify_waiters();
                    serve::json(status, &serde_json::json!({"ok": status < 300}))
                }
            },
            serve::Limits::default(),
            stop.clone(),
            Duration::from_secs(1),
        ));
        Self {
            addr,
            requests,
            arrivals,
            _stop: stop.drop_guard(),
        }
    }

    /// `http://<addr>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Checks every event received so far against the event catalog (its
    /// `data` against its type's JSON Schema, with the `jsonschema` crate)
    /// and the envelope; panics naming each one that does not match.
    pub fn assert_events_match_catalog(&self) -> usize {
        let catalog = hookline_model::event_catalog::EventCatalog::builtin();
        let mut problems = Vec::new();
        let received = self.received();
        for r in &received {
            let body = r.json();
            let event_type = body["type"].as_str().unwrap_or_default();
            let enveloped = ["id", "type", "timestamp"].iter().all(|k| body[k].is_string()) && body["data"].is_object();
            if !enveloped {
                problems.push(format!("not an envelope: {body}"));
            } else if !catalog.matches(event_type, &body["data"]) {
                problems.push(format!("{event_type} does not match its schema: {body}"));
            }
        }
        assert!(
            problems.is_empty(),
            "events outside the catalog:\n{}",
            problems.join("\n")
        );
        received.len()
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.requests.lock().expect("lock").clone()
    }

    /// Waits until `done` holds for what was received, or panics after
    /// [`WAIT`]. It looks again as each request arrives (not on a timer), so
    /// a benchmark can take the arrival as the end of its measurement.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // Registered before looking, so a request landing in between
            // still wakes this waiter.
            let arrival = self.arrivals.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            let received = self.received();
            if done(&received) {
                return received;
            }
            if tokio::time::timeout_at(deadline, arrival).await.is_err() {
                panic!(
                    "timed out waiting for {what}: received: {:#?}",
                    received.iter().map(|r| (r.status, r.json())).collect::<Vec<_>>()
                );
            }
        }
    }
}
