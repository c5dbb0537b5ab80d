//! `hookline up`: everything on one machine. Finds (or installs) a
//! nats-server, starts it with JetStream and a data folder, applies the
//! configuration file, starts the five services in this process and a demo
//! receiver, prints a signed `curl` that triggers the demo agent, and stops
//! it all cleanly on Ctrl-C.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hookline::stack::{self, Service};
use hookline_core::catalog::{Catalog, Provider};
use hookline_core::shutdown;
use hookline_core::{nats, nats_server, signing, store};

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

struct LocalNats(Child);

impl Drop for LocalNats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nats(args: &UpArgs) -> anyhow::Result<(String, LocalNats)> {
    let root = std::env::current_dir()?;
    let bin = nats_server::find_or_install(&root).map_err(anyhow::Error::msg)?;
    let port = if TcpListener::bind(("127.0.0.1", args.nats_port)).is_ok() {
        args.nats_port
    } else {
        TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()
    };
    let store_dir = args.data_dir.join("nats");
    std::fs::create_dir_all(&store_dir)?;
    let child = Command::new(&bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(&store_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let child = LocalNats(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("nats-server did not start on port {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "nats-server {} running on port {port}, data in {}",
        bin.display(),
        store_dir.display()
    );
    Ok((format!("nats://127.0.0.1:{port}"), child))
}

/// Runs everything until Ctrl-C.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let catalog = Catalog::load(&args.config)?;
    let (nats_url, local) = match &args.nats_url {
        Some(url) => (url.clone(), None),
        None => {
            let (url, child) = start_nats(&args)?;
            (url, Some(child))
        }
    };
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
        .or_insert_with(|| format!("hl_{}", hookline_core::clock::new_id().replace('-', "")))
        .clone();
    // The demo receiver is on this machine: let deliveries reach loopback.
    vars.entry("HOOKLINE_DELIVERY_ALLOW".into())
        .or_insert_with(|| "127.0.0.1".into());
    crate::apply::check_targets(&catalog, &|k| vars.get(k).cloned())?;
    let lookup = move |k: &str| vars.get(k).cloned();

    let mut reader = hookline_core::settings::Reader::new(&lookup);
    let nats_settings = hookline_core::settings::NatsSettings::read(&mut reader);
    reader.finish()?;
    let admin = nats::connect(&nats_settings, "hookline-up").await?;
    let report = store::apply(&admin, &catalog, false).await?;
    println!(
        "configuration {}: {} created, {} changed, {} removed",
        args.config.display(),
        report.created.len(),
        report.updated.len(),
        report.removed.len()
    );

    let stop = shutdown::on_signal();
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
    println!("Admin API: http://{admin_addr}  (Authorization: Bearer {token})");
    println!("Console:   http://{admin_addr}/console  (sign in with the token {token})");
    let cli = std::env::current_exe().map_or_else(|_| "hookline".to_owned(), |p| p.display().to_string());
    println!("For the CLI, in another shell:");
    println!("  export HOOKLINE_ADMIN_URL=http://{admin_addr} HOOKLINE_ADMIN_TOKEN={token}");
    println!("  {cli} list sources; {cli} runs; {cli} events tail");
    println!("  (or put it on PATH: cargo install --path services/hookline)\n");

    let tasks: Vec<_> = started.into_iter().map(|s| s.task).collect();
    stop.cancelled().await;
    for task in tasks {
        let _ = task.await;
    }
    drop(local);
    println!("stopped");
    Ok(())
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
    println!("\nHookline is up. Ctrl-C stops everything.");
    println!("  demo receiver:  http://{receiver}/");
    for (id, source) in &catalog.sources {
        println!("  webhook URL:    http://{addr}/webhooks/{id}  ({:?})", source.provider);
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
    println!("\nTrigger the demo agent with a GitHub-signed webhook:\n");
    println!(
        "curl -i http://{addr}/webhooks/{id} \\\n  -H 'content-type: application/json' \\\n  -H 'x-github-event: issues' \\\n  -H \"x-github-delivery: $(date +%s%N)\" \\\n  -H 'x-hub-signature-256: {signature}' \\\n  -d '{body}'\n"
    );
}
