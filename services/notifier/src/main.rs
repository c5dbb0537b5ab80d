//! `hookline-notifier`: signed outbound webhooks, alone, against any NATS.

use hookline_model::settings;
use hookline_runtime::shutdown;
use hookline_runtime::telemetry;

// mimalloc: measured faster than the system allocator for ingest (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    hookline_runtime::tracing_export::init("hookline-notifier");
    let vars = settings::service_settings("hookline-notifier", "delivers events to subscribers as signed webhooks");
    let config = hookline_notifier::Config::from_lookup(&|k| vars.get(k).cloned())?;
    let app = hookline_notifier::App::build(config).await?;
    app.run_until(shutdown::on_signal()).await;
    hookline_runtime::tracing_export::flush();
    Ok(())
}
