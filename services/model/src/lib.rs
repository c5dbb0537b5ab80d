//! Hookline's pure model, on which everything else stands: no tokio, no
//! NATS, no hyper, so it is unit-tested in microseconds. It consumes and
//! emits nothing; it owns the names and rules the other crates share.
//!
//! It owns every subject, stream, bucket, KV key, state key and dedupe id
//! ([`subjects`]); validated identifiers and event patterns ([`ids`]); the
//! configuration catalog and its validation ([`catalog`]); secret
//! references ([`secret`]); webhook signatures ([`signing`]); the address
//! rule for every outbound target ([`ssrf`]); the grammars of durations and
//! address ranges ([`parse`]); run records, their statuses, reasons ([`reason`]),
//! leases, usage and ids ([`runs`]), approvals ([`approval`]) and outboxes ([`outbox`]);
//! a run's forge side ([`forge_state`]); the catalogue of event types with
//! their schemas ([`event_catalog`], files in `events/`) and the documents
//! made from it ([`event_docs`]); time and new ids ([`clock`]).

pub mod approval;
pub mod catalog;
pub mod clock;
pub mod cost;
pub mod decision;
pub mod event_catalog;
pub mod event_docs;
pub mod event_types;
pub mod follow_up;
pub mod forge_state;
pub mod ids;
pub mod money;
pub mod outbox;
pub mod parse;
pub mod reason;
pub mod runs;
pub mod secret;
pub mod settings;
pub mod signing;
pub mod ssrf;
pub mod subjects;
pub mod transcript;
mod validation;
pub mod written;
