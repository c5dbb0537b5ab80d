//! Ingest throughput and latency against a real nats-server with a
//! file-storage stream, with the raw JetStream publish rate measured in the
//! same run as the baseline.
//!
//!     cargo bench -p hookline-tests --bench ingest
//!
//! `BENCH_SECS` (default 10) sets each measurement's length, `BENCH_ROUNDS`
//! (default 3) how many rounds; every figure printed is the median round.
//! The load generator runs in this process, so it shares the machine's cores
//! with ingest and nats-server.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use async_nats::jetstream::stream;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hookline_model::catalog::Catalog;
use hookline_model::signing;
use hookline_tests::stats::median;
use hookline_tests::{Pipeline, Service};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONNECTIONS: usize = 64;
const SECRET: &str = "bench-secret";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn payload() -> Bytes {
    let head =
        r#"{"action":"opened","issue":{"number":1,"title":"bench"},"repository":{"full_name":"acme/api"},"pad":""#;
    let pad = "x".repeat(1024 - head.len() - 2);
    Bytes::from(format!("{head}{pad}\"}}"))
}

/// p50, p99, p99.9 in milliseconds.
fn percentiles(mut micros: Vec<u64>) -> (f64, f64, f64) {
    if micros.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() as f64 * q) as usize).min(micros.len() - 1)] as f64 / 1000.0;
    (at(0.50), at(0.99), at(0.999))
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(addr: std::net::SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    sender
}

async fn send(sender: &mut Sender, addr: std::net::SocketAddr, body: &Bytes, signature: &str, delivery: &str) -> u16 {
    let request = hyper::Request::post(format!("http://{addr}/webhooks/bench"))
        .header("host", "bench")
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature)
        .body(Full::new(body.clone()))
        .expect("request");
    sender.ready().await.expect("ready");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

/// Closed loop: every connection sends as fast as answers come back.
async fn closed_loop(addr: std::net::SocketAddr, round: usize, secs: u64) -> (f64, Vec<u64>) {
    let body = payload();
    let signature = signing::github_signature(SECRET, &body);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let (body, signature) = (body.clone(), signature.clone());
            tokio::spawn(async move {
                let mut sender = connect(addr).await;
                let mut latencies = Vec::with_capacity(100_000);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let status = send(&mut sender, addr, &body, &signature, &format!("r{round}-c{c}-{n}")).await;
                    assert_eq!(status, 202, "every request is stored");
                    latencies.push(t.elapsed().as_micros() as u64);
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("load task"));
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (rate, all)
}

/// Open loop at `rate` requests/s spread over the connections; latency is
/// measured from each request's scheduled time, so queueing counts.
async fn fixed_rate(addr: std::net::SocketAddr, round: usize, secs: u64, rate: u64) -> Vec<u64> {
    let body = payload();
    let signature = signing::github_signature(SECRET, &body);
    let per_connection = Duration::from_secs_f64(CONNECTIONS as f64 / rate as f64);
    let total_per_connection = (secs * rate) / CONNECTIONS as u64;
    let start = Instant::now() + Duration::from_millis(200);
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let (body, signature) = (body.clone(), signature.clone());
            tokio::spawn(async move {
                let mut sender = connect(addr).await;
                let offset = per_connection.mul_f64(c as f64 / CONNECTIONS as f64);
                let mut latencies = Vec::with_capacity(total_per_connection as usize);
                for n in 0..total_per_connection {
                    let scheduled = start + offset + per_connection * n as u32;
                    tokio::time::sleep_until(scheduled.into()).await;
                    let status = send(&mut sender, addr, &body, &signature, &format!("f{round}-c{c}-{n}")).await;
                    assert_eq!(status, 202);
                    latencies.push(scheduled.elapsed().as_micros() as u64);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("load task"));
    }
    all
}

/// The baseline: pipelined JetStream publishes of 1 KiB messages to a
/// file-storage stream, up to 1024 acks outstanding.
async fn raw_publish(js: &async_nats::jetstream::Context, secs: u64) -> f64 {
    let body = payload();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut acked = 0u64;
    while Instant::now() < deadline {
        while pending.len() < 1024 {
            pending.push(
                js.publish("bench.raw", body.clone())
                    .await
                    .expect("publish")
                    .into_future(),
            );
        }
        if let Some(ack) = pending.next().await {
            ack.expect("ack");
            acked += 1;
        }
    }
    while let Some(ack) = pending.next().await {
        ack.expect("ack");
        acked += 1;
    }
    acked as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench binaries too; only measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("ingest benchmark skipped: run it with `cargo bench -p hookline-tests --bench ingest`");
        return;
    }
    let secs = env_or("BENCH_SECS", 10);
    let rounds = env_or("BENCH_ROUNDS", 3) as usize;
    let catalog = Catalog::parse(&format!(
        "[sources.bench]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\nrate_limit_per_minute = 0\nmax_in_flight = 0\n"
    ))
    .expect("catalog");
    let pipeline = Pipeline::start_services(&catalog, &[("HOOKLINE_GLOBAL_RATE_LIMIT", "0")], &[Service::Ingest]).await;
    pipeline
        .nats
        .js
        .create_stream(stream::Config {
            name: "BENCH_RAW".into(),
            subjects: vec!["bench.raw".into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .expect("baseline stream");
    let addr = pipeline.ingest;
    println!("ingest benchmark: {CONNECTIONS} keep-alive connections, signed 1 KiB GitHub webhooks,");
    println!("file-storage JetStream, {secs} s per measurement, median of {rounds} rounds\n");

    let (mut rates, mut p50s, mut p99s, mut p999s, mut raws, mut fixed99, mut fixed50) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut rates_without_metrics, mut ratios) = (vec![], vec![]);
    for round in 0..rounds {
        let raw = raw_publish(&pipeline.nats.js, secs).await;
        // The same load with metric recording off, before the measurement
        // with it on in even rounds and after it in odd ones (the stream
        // grows as the run goes on, so neither always has the fuller one).
        let without_metrics = async |round: usize| {
            hookline_runtime::metrics::set_enabled(false);
            let (without, _) = closed_loop(addr, round + 1000, secs).await;
            hookline_runtime::metrics::set_enabled(true);
            without
        };
        let mut without = 0.0;
        if round % 2 == 0 {
            without = without_metrics(round).await;
        }
        let (rate, latencies) = closed_loop(addr, round, secs).await;
        if round % 2 == 1 {
            without = without_metrics(round).await;
        }
        rates_without_metrics.push(without);
        ratios.push(rate / without);
        let (p50, p99, p999) = percentiles(latencies);
        let fixed = fixed_rate(addr, round, secs, 5000).await;
        let (f50, f99, _) = percentiles(fixed);
        println!("round {round}: ingest without metrics {without:>8.0}/s");
        println!(
            "round {round}: raw publish {raw:>8.0}/s | ingest {rate:>8.0}/s p50 {p50:.2} ms p99 {p99:.2} ms p99.9 {p999:.2} ms | at 5000/s p50 {f50:.2} ms p99 {f99:.2} ms"
        );
        raws.push(raw);
        rates.push(rate);
        p50s.push(p50);
        p99s.push(p99);
        p999s.push(p999);
        fixed50.push(f50);
        fixed99.push(f99);
    }
    let (raw, rate) = (median(raws), median(rates));
    println!("\nmedian of {rounds} rounds");
    println!("  raw JetStream publish (1 KiB, pipelined): {raw:.0} msg/s");
    println!("  ingest accepted webhooks:                 {rate:.0} req/s");
    println!("  ingest / raw publish:                     {:.2}", rate / raw);
    let without = median(rates_without_metrics);
    println!("  ingest with metrics off:                  {without:.0} req/s");
    println!("  with metrics / without (median of rounds): {:.3}", median(ratios));
    println!(
        "  latency at 64 connections:                p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
        median(p50s),
        median(p99s),
        median(p999s)
    );
    println!(
        "  latency at a fixed 5000 req/s:            p50 {:.2} ms, p99 {:.2} ms",
        median(fixed50),
        median(fixed99)
    );
}
