//! What every Hookline service binary runs beside its work: the HTTP
//! accept loop ([`serve`]), liveness and readiness probes with the
//! Prometheus scrape ([`probe`], [`metrics`]), tracing and its OTLP export
//! ([`telemetry`], [`tracing_export`], which exports through
//! `hookline-http`'s client), and the shutdown signal ([`shutdown`]). It consumes
//! and emits nothing on NATS; it reads the streams only to report them.

pub mod metrics;
pub mod probe;
pub mod serve;
pub mod shutdown;
pub mod telemetry;
pub mod tracing_export;
