//! Hookline's outbound HTTP clients, and nothing else (no NATS, no
//! serving): the one HTTPS client for direct calls ([`https`]: the CLI to
//! the admin API, model APIs, the forge, OTLP export) and the client whose
//! resolver the address rule checks at connect time ([`guarded_http`]:
//! subscriber deliveries, the model gateway). It consumes URLs and the
//! address rule; it emits requests.

pub mod guarded_http;
pub mod https;
