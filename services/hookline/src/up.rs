//! `hookline up`: everything on one machine. Finds (or installs) a
//! nats-server, starts it with JetStream and a data folder, applies the
//! configuration file, starts the five services in this process and a demo
//! receiver, prints a signed `curl` that triggers the demo agent, and stops
//! it all cleanly on Ctrl-C.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookline::nats_server;
use hookline::stack::{self, Service};
use hookline_bus::nats;
use hookline_bus::store;
use hookline_model::catalog::{Catalog, Provider};
use hookline_model::signing;
use hookline_runtime::shutdown::{self, CancellationToken};

use crate::local_nats::LocalNats;

/// Options of `hookline up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// Configuration file applied at start-up.
    #[arg(long, default_value = "examples/hookline.toml")]
    config: PathBuf,
    /// Where webhooks are received.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the demo receiver listens (the example subscription points here).
    #[arg(long, default_value = "127.0.0.1:8787")]
    receiver: SocketAddr,
    /// Port for the local nats-server (a free one if taken).
    #[arg(long, default_value_t = 4222)]
    nats_port: u16,
    /// Folder for NATS data and run workspaces.
    #[arg(long, default_value = ".hookline")]
    data_dir: PathBuf,
    /// Use this NATS instead of starting one.
    #[arg(long, env = "HOOKLINE_NATS_URL")]
    nats_url: Option<String>,
}

/// Writes a line for the person who started `hookline up`. A closed
/// output (`hookline up | tee log`, and `tee` died on Ctrl-C) is ignored:
/// Hookline keeps running, and stops as asked.
macro_rules! show {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

fn start_nats(args: &UpArgs) -> anyhow::Result<LocalNats> {
    let root = std::env::current_dir()?;
    let bin = nats_server::find_or_install(&root).map_err(anyhow::Error::msg)?;
    let store_dir = args.data_dir.join("nats");
    let nats = LocalNats::start(&bin, args.nats_port, &store_dir)?;
    show!(
        "nats-server {} running at {}, data in {}",
        bin.display(),
        nats.url,
        store_dir.display()
    );
    Ok(nats)
}

/// Runs everything until Ctrl-C.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let catalog = Catalog::load(&args.config)?;
    let (nats_url, local) = match &args.nats_url {
        Some(url) => (url.clone(), None),
        None => {
            let nats = start_nats(&args)?;
            (nats.url.clone(), Some(nats))
        }
    };
    let local = Arc::new(Mutex::new(local));
    let stop = stop_on_signals(local.clone());
    let mut vars: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("HOOKLINE_")).collect();
    vars.insert("HOOKLINE_NATS_URL".into(), nats_url.clone());
    vars.insert("HOOKLINE_INGEST_LISTEN".into(), args.listen.to_string());
    vars.entry("HOOKLINE_WEBHOOK_URL".into())
        .or_insert_with(|| format!("http://{}", reachable(args.listen)));
    let workdir = std::path::absolute(args.data_dir.join("runs"))?;
    vars.entry("HOOKLINE_EXECUTOR_WORKDIR".into())
        .or_insert_with(|| workdir.display().to_string());
    // An admin token for this session, unless one is configured.
    let admin_token = vars
        .entry("HOOKLINE_ADMIN_TOKENS".into())
        .or_insert_with(|| format!("hl_{}", hookline_model::clock::new_id().replace('-', "")))
        .clone();
    // The demo receiver is on this machine: let deliveries reach loopback.
    vars.entry("HOOKLINE_DELIVERY_ALLOW".into())
        .or_insert_with(|| "127.0.0.1".into());
    // On one's own machine Ctrl-C means stop: work in hand gets a few
    // seconds, then waits in NATS for the next start.
    vars.entry("HOOKLINE_GRACE".into()).or_insert_with(|| "5s".into());
    crate::apply::check_targets(&catalog, &|k| vars.get(k).cloned())?;
    let lookup = move |k: &str| vars.get(k).cloned();

    let mut reader = hookline_model::settings::Reader::new(&lookup);
    let nats_settings = hookline_bus::settings::NatsSettings::read(&mut reader);
    // The services drain for as long as each of them would.
    let grace = reader.duration("HOOKLINE_GRACE", shutdown::GRACE) + Duration::from_secs(1);
    reader.finish()?;
    let admin = nats::connect(&nats_settings, "hookline-up").await?;
    let report = store::apply(&admin, &catalog, false).await?;
    show!(
        "configuration {}: {} created, {} changed, {} removed",
        args.config.display(),
        report.created.len(),
        report.updated.len(),
        report.removed.len()
    );

    let receiver_secrets = catalog
        .subscriptions
        .values()
        .flat_map(|s| s.secrets.iter().filter_map(|r| r.resolve().ok()))
        .collect();
    let receiver = crate::demo_receiver::start(args.receiver, receiver_secrets, stop.clone()).await?;

    let mut started = Vec::new();
    for service in Service::ALL {
        started.push(stack::start(service, &lookup, stop.clone()).await?);
    }
    let addr_of = |wanted| started.iter().find(|s| s.service == wanted).and_then(|s| s.addr);
    let (webhook_addr, admin_addr) = (
        addr_of(Service::Ingest).unwrap_or(args.listen),
        addr_of(Service::Admin).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081))),
    );
    print_banner(&catalog, webhook_addr, receiver);
    let token = admin_token.split(',').next().unwrap_or_default();
    show!("Admin API: http://{admin_addr}  (Authorization: Bearer {token})");
    show!("Console:   http://{admin_addr}/console  (sign in with the token {token})");
    let cli = std::env::current_exe().map_or_else(|_| "hookline".to_owned(), |p| p.display().to_string());
    show!("For the CLI, in another shell:");
    show!("  export HOOKLINE_ADMIN_URL=http://{admin_addr} HOOKLINE_ADMIN_TOKEN={token}");
    show!("  {cli} list sources; {cli} runs; {cli} events tail");
    show!("  (or put it on PATH: cargo install --path services/hookline)\n");

    let tasks: Vec<_> = started.into_iter().map(|s| s.task).collect();
    stop.cancelled().await;
    drain(tasks, &local, grace).await;
    if let Some(nats) = lock(&local).as_mut() {
        nats.stop(Duration::from_secs(5));
    }
    show!("stopped");
    // Not through the runtime's drop, which would wait for any blocking
    // task a service left behind.
    std::process::exit(0)
}

/// A token cancelled on the first SIGINT or SIGTERM; on the second, the
/// local NATS is stopped and the process ends at once.
fn stop_on_signals(local: Arc<Mutex<Option<LocalNats>>>) -> CancellationToken {
    let stop = CancellationToken::new();
    let first = stop.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        tracing::info!("Stopping: services finish the work in hand (Ctrl-C again to stop at once).");
        first.cancel();
        shutdown::signal().await;
        let _ = std::io::Write::write_all(&mut std::io::stderr(), b"stopping at once\n");
        if let Some(nats) = lock(&local).as_mut() {
            nats.stop(Duration::from_secs(2));
        }
        std::process::exit(130);
    });
    stop
}

fn lock(local: &Mutex<Option<LocalNats>>) -> std::sync::MutexGuard<'_, Option<LocalNats>> {
    local.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits for the services to drain: at most `grace`, and at most a few
/// seconds once the local NATS is gone (nothing in hand can be acknowledged
/// any more); what has not stopped by then is left behind.
async fn drain(tasks: Vec<tokio::task::JoinHandle<()>>, local: &Mutex<Option<LocalNats>>, grace: Duration) {
    const WITHOUT_NATS: Duration = Duration::from_secs(3);
    let started = Instant::now();
    let mut all = std::pin::pin!(futures::future::join_all(tasks));
    let mut nats_gone_at: Option<Instant> = None;
    loop {
        if tokio::time::timeout(Duration::from_millis(100), &mut all).await.is_ok() {
            return;
        }
        let gone = lock(local).as_mut().is_some_and(LocalNats::exited);
        if gone && nats_gone_at.is_none() {
            nats_gone_at = Some(Instant::now());
        }
        if started.elapsed() > grace || nats_gone_at.is_some_and(|at| at.elapsed() > WITHOUT_NATS) {
            tracing::warn!("Services did not finish in time; stopping without them.");
            return;
        }
    }
}

/// `addr` as this machine reaches it (`0.0.0.0` is reached on loopback).
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

fn print_banner(catalog: &Catalog, addr: SocketAddr, receiver: SocketAddr) {
    show!("\nHookline is up. Ctrl-C stops everything.");
    show!("  demo receiver:  http://{receiver}/");
    for (id, source) in &catalog.sources {
        show!("  webhook URL:    http://{addr}/webhooks/{id}  ({:?})", source.provider);
    }
    let Some((id, secret)) = catalog.sources.iter().find_map(|(id, s)| {
        (s.provider == Provider::Github)
            .then(|| {
                s.secrets
                    .first()
                    .and_then(|r| r.resolve().ok())
                    .map(|secret| (id, secret))
            })
            .flatten()
    }) else {
        return;
    };
    let body = serde_json::json!({
        "action": "labeled",
        "label": {"name": "hookline"},
        "issue": {"number": 1, "title": "Checkout page returns 500", "labels": [{"name": "hookline"}],
                  "user": {"login": "octocat"}, "author_association": "OWNER"},
        "repository": {"full_name": "demo/shop", "owner": {"login": "demo"}},
        "sender": {"login": "octocat"}
    })
    .to_string();
    let signature = signing::github_signature(secret.expose(), body.as_bytes());
    show!("\nTrigger the demo agent with a GitHub-signed webhook:\n");
    show!(
        "curl -i http://{addr}/webhooks/{id} \\\n  -H 'content-type: application/json' \\\n  -H 'x-github-event: issues' \\\n  -H \"x-github-delivery: $(date +%s%N)\" \\\n  -H 'x-hub-signature-256: {signature}' \\\n  -d '{body}'\n"
    );
}
