//! Shared by every Hookline service, and by nothing that is a service. It
//! consumes and emits nothing by itself: it is how services reach NATS.
//!
//! It owns the JetStream contract: every subject, stream, bucket, KV key,
//! state key and dedupe id ([`subjects`]); the configuration catalog and
//! its bucket, with a live view and revision-checked writes ([`catalog`],
//! [`store`]); the state bucket ([`state`]); run records and the one way to
//! request a run ([`runs`]); validated identifiers ([`ids`]); how to reach
//! NATS and lay out its streams ([`nats`]); the consume → handle →
//! one-ack-decision loop ([`consume`]) and one consumer per configured item
//! ([`supervise`]); the one way log records are written ([`log_sink`]) and
//! read back ([`history`]); cancel and
//! replay ([`control`]); the SSRF rule ([`ssrf`]); webhook signatures
//! ([`signing`]); how service settings are read ([`settings`]); the HTTP
//! accept loop ([`serve`]); tracing ([`telemetry`]) and shutdown
//! ([`shutdown`]). With the `test-util` feature, [`testing`] starts a real
//! nats-server for tests.

pub mod approvals;
pub mod catalog;
pub mod clock;
pub mod consume;
pub mod control;
pub mod event_catalog;
pub mod event_docs;
pub mod forge_state;
pub mod guarded_http;
pub mod history;
pub mod https;
pub mod ids;
pub mod log_sink;
pub mod metrics;
pub mod nats;
pub mod nats_server;
pub mod outbox;
pub mod probe;
pub mod runs;
pub mod secret;
pub mod serve;
pub mod settings;
pub mod shutdown;
pub mod signing;
pub mod ssrf;
pub mod state;
pub mod store;
pub mod subjects;
pub mod supervise;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod threads;
pub mod tracing_export;
