//! What one attempt needs from the executor, built once per attempt by the
//! consumer loop and lent to every step (the session, the forge steps, the
//! final record).

use std::path::Path;
use std::time::Duration;

use hookline_bus::log_sink::LogSink;
use hookline_bus::nats::Nats;
use hookline_bus::runs::Records;
use hookline_model::catalog::Catalog;
use hookline_runtime::shutdown::CancellationToken;

/// Everything one run needs from the executor.
pub struct RunEnv<'a> {
    /// NATS.
    pub nats: &'a Nats,
    /// Where run output goes.
    pub logs: &'a LogSink,
    /// The run records bucket.
    pub records: &'a Records,
    /// The catalog as it is now.
    pub catalog: &'a Catalog,
    /// Where run folders are made.
    pub work_root: &'a Path,
    /// This executor copy, as a lease names it.
    pub owner: &'a str,
    /// The attempt this copy makes (set when it takes the lease).
    pub attempt: u32,
    /// How long a lease lasts unless renewed.
    pub lease_ttl: Duration,
    /// Trace context for what the run publishes.
    pub traceparent: String,
    /// Cancelled to stop this run.
    pub cancel: CancellationToken,
    /// What the executor found at start about bubblewrap.
    pub sandbox: &'a hookline_sandbox::bwrap::Host,
    /// The state bucket (daily token totals).
    pub state: &'a hookline_bus::state::State,
    /// The threads bucket (forge thread → branch).
    pub threads: &'a hookline_bus::threads::Threads,
    /// The run's span, exported over OTLP when that is on.
    pub span: &'a hookline_runtime::tracing_export::StageSpan,
    /// Whether the run's transcript and artifacts are kept (`HOOKLINE_RECORD`).
    pub record: bool,
}
