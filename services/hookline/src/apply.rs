//! `hookline apply -f FILE [--dry-run]`.

use std::path::Path;

use anyhow::Context as _;
use hookline_bus::nats;
use hookline_bus::settings::NatsSettings;
use hookline_bus::store;
use hookline_model::catalog::Catalog;
use hookline_model::settings::Reader;

/// Validates `file` and makes the config bucket match it.
pub async fn run(file: &Path, dry_run: bool) -> anyhow::Result<()> {
    let catalog = Catalog::load(file)?;
    check_targets(&catalog, &|k| std::env::var(k).ok())?;
    let nats = connect().await?;
    let report = store::apply(&nats, &catalog, dry_run).await?;
    let verb = if dry_run { "would be " } else { "" };
    for key in &report.created {
        say!("+ {key} ({verb}created)");
    }
    for key in &report.updated {
        let fields = report.changed_fields.get(key).map(|f| f.join(", ")).unwrap_or_default();
        say!("~ {key} ({verb}changed: {fields})");
    }
    for key in &report.removed {
        say!("- {key} ({verb}removed)");
    }
    say!("{} unchanged", report.unchanged);
    Ok(())
}

/// Refuses subscriptions and model upstreams the address rule refuses
/// (names are checked again, resolved, at every connection), reading the
/// allow-lists through `lookup`.
pub fn check_targets(catalog: &Catalog, lookup: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    use hookline_model::ssrf::{DELIVERY_ALLOW, EGRESS_ALLOW, Guard};
    let allow = |setting| lookup(setting).unwrap_or_default();
    let delivery = Guard::parse_setting(DELIVERY_ALLOW, &allow(DELIVERY_ALLOW))
        .map_err(|e| anyhow::anyhow!("{DELIVERY_ALLOW}: {e}"))?;
    let egress =
        Guard::parse_setting(EGRESS_ALLOW, &allow(EGRESS_ALLOW)).map_err(|e| anyhow::anyhow!("{EGRESS_ALLOW}: {e}"))?;
    hookline_model::ssrf::check_catalog(&delivery, &egress, catalog)
        .map_err(|problems| anyhow::anyhow!("invalid configuration:\n  - {}", problems.join("\n  - ")))
}

/// Connects to the NATS named by `HOOKLINE_NATS_URL` (and the other
/// `HOOKLINE_*` NATS settings).
pub async fn connect() -> anyhow::Result<nats::Nats> {
    let vars: std::collections::HashMap<String, String> =
        std::env::vars().filter(|(k, _)| k.starts_with("HOOKLINE_")).collect();
    let lookup = |k: &str| vars.get(k).cloned();
    let mut reader = Reader::new(&lookup);
    let settings = NatsSettings::read(&mut reader);
    reader.finish()?;
    tokio::time::timeout(
        std::time::Duration::from_secs(70),
        nats::connect(&settings, "hookline-cli"),
    )
    .await
    .with_context(|| format!("NATS at {} did not answer", settings.url))?
    .map_err(Into::into)
}
