//! Shared by every Hookline service, and by nothing that is a service. It
//! consumes and emits nothing by itself: it is how services reach NATS.
//! The pure model (names, catalog, records, rules) is `hookline-model`,
//! re-exported here under the same paths.
//!
//! It owns the configuration bucket, with a live view and revision-checked
//! writes ([`store`]); the state bucket ([`state`]); run records and the one way to
//! request a run ([`runs`]); validated identifiers ([`ids`]); how to reach
//! NATS and lay out its streams ([`nats`]); the consume → handle →
//! one-ack-decision loop ([`consume`]) and one consumer per configured item
//! ([`supervise`]); the one way log records are written ([`log_sink`]) and
//! read back ([`history`]); cancel and
//! replay ([`control`]); the SSRF rule ([`ssrf`]); webhook signatures
//! ([`signing`]); how service settings are read ([`settings`]); the HTTP
//! accept loop ([`serve`]); tracing ([`telemetry`]) and shutdown
//! ([`shutdown`]).

pub mod approvals;
pub use hookline_model::{
    catalog, clock, event_catalog, event_docs, event_types, follow_up, forge_state, ids, outbox, secret, signing, ssrf,
    subjects,
};
pub mod consume;
pub mod control;
pub mod guarded_http;
pub mod history;
pub mod https;
pub mod log_sink;
pub mod metrics;
pub mod nats;
pub mod probe;
pub mod runs;
pub mod serve;
pub mod settings;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod supervise;
pub mod telemetry;
pub mod threads;
pub mod tracing_export;
