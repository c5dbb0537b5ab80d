//! `hookline-router`: events to run requests, alone, against any NATS.

use hookline_model::settings;
use hookline_runtime::shutdown;
use hookline_runtime::telemetry;

// mimalloc: measured faster than the system allocator for ingest (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    hookline_runtime::tracing_export::init("hookline-router");
    let vars = settings::service_settings(
        "hookline-router",
        "turns stored webhooks into run requests, and fires schedules",
    );
    let config = hookline_router::Config::from_lookup(&|k| vars.get(k).cloned())?;
    let app = hookline_router::App::build(config).await?;
    app.run_until(shutdown::on_signal()).await;
    hookline_runtime::tracing_export::flush();
    Ok(())
}
