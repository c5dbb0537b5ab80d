//! Shared by every Hookline service, and by nothing that is a service.
//!
//! It holds what the services agree on: the identifiers and subjects they
//! share ([`ids`], [`subjects`]), how service settings are read ([`settings`]),
//! the configuration catalog in `hookline.toml` and the `hookline_config`
//! bucket ([`catalog`], [`store`]), how to reach NATS and lay out its streams
//! ([`nats`]), the consume → handle → one-ack-decision loop ([`consume`]) and one
//! consumer per configured item ([`supervise`]),
//! webhook signatures ([`signing`]), the HTTP accept loop ([`serve`]), tracing ([`telemetry`]) and shutdown
//! ([`shutdown`]). With the `test-util` feature, [`testing`] starts a real
//! nats-server for tests.

pub mod catalog;
pub mod clock;
pub mod consume;
pub mod control;
pub mod history;
pub mod ids;
pub mod nats;
pub mod nats_server;
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
