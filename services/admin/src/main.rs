//! `hookline-admin`: the control plane, alone, against any NATS.

use hookline_model::settings;
use hookline_runtime::shutdown;
use hookline_runtime::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    hookline_runtime::tracing_export::init("hookline-admin");
    let vars = settings::service_settings("hookline-admin", "the control plane: the admin API");
    let config = hookline_admin::Config::from_lookup(&|k| vars.get(k).cloned())?;
    let app = hookline_admin::App::build(config).await?;
    app.run_until(shutdown::on_signal()).await;
    hookline_runtime::tracing_export::flush();
    Ok(())
}
