//! How Hookline's services reach NATS, and nothing else: no serving, no
//! telemetry (those are `hookline-runtime`), no rules (those are the pure
//! `hookline-model`). It consumes and emits nothing by itself.
//!
//! It owns the connection and the layout of streams and buckets ([`nats`],
//! with the NATS settings every service reads); the configuration bucket,
//! with a live view and revision-checked writes ([`store`]); the state
//! bucket ([`state`]); run records and the one way to request a run
//! ([`runs`]) and to answer an approval ([`approvals`]); conversation
//! threads ([`threads`]); run artifacts ([`artifacts`]); the consume → handle → one-ack-decision loop
//! ([`consume`]) and one consumer per configured item ([`supervise`]); the
//! one way log records are written ([`log_sink`]) and read back
//! ([`history`]); cancel and replay ([`control`]).

pub mod approvals;
pub mod artifacts;
pub mod buckets;
pub mod budget;
pub mod consume;
pub mod control;
pub mod events;
pub mod history;
pub mod log_sink;
pub mod nats;
pub mod runs;
pub mod settings;
pub mod state;
pub mod store;
pub mod supervise;
pub mod threads;
