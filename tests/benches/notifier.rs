//! Notifier throughput: signed deliveries per second to a local keep-alive
//! receiver, against the raw hyper client POST rate to the same receiver in
//! the same run; and the healthy endpoint's rate with a dead endpoint (one
//! that accepts connections and never answers) subscribed to the same
//! events, over the rate without it; and the rate of a subscription with
//! `ordered = "run"` (runs of four consecutive events), over the unordered
//! one.
//!
//!     cargo bench -p hookline-tests --bench notifier      # BENCH_EVENTS=20000, 3 rounds

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hookline_model::catalog::Catalog;
use hookline_model::clock;
use hookline_model::subjects::MSG_ID;
use hookline_proto::{Event, Message as _};
use hookline_runtime::serve;
use hookline_runtime::shutdown::CancellationToken;
use hookline_tests::stats::median;
use hookline_tests::{Pipeline, Service};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn receiver(count: Arc<AtomicUsize>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve::serve(
        listener,
        move |_req, _| {
            count.fetch_add(1, Ordering::Relaxed);
            async { serve::json(200, &serde_json::json!({})) }
        },
        serve::Limits::default(),
        CancellationToken::new(),
        Duration::from_secs(1),
    ));
    addr
}

async fn dead_endpoint() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

async fn raw_post_rate(addr: std::net::SocketAddr, secs: u64) -> f64 {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let body = Bytes::from(vec![b'x'; 400]);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (client, body, done) = (client.clone(), body.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let request = hyper::Request::post(format!("http://{addr}/raw"))
                        .header("content-type", "application/json")
                        .body(Full::new(body.clone()))
                        .expect("request");
                    let response = client.request(request).await.expect("response");
                    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn publish_events(pipeline: &Pipeline, n: usize) {
    let mut pending = FuturesUnordered::new();
    for i in 0..n {
        let event = Event {
            id: clock::new_id(),
            r#type: "run.completed".into(),
            timestamp_ms: clock::now_ms(),
            data_json: format!(r#"{{"run_id":"r{i}","agent":"bench","exit_code":0,"duration_ms":12}}"#).into_bytes(),
            // Four consecutive events per run, as a run's own events are.
            run_id: format!("r{}", i / 4),
            ..Default::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID, event.id.as_str());
        let publish = PublishMessage::build()
            .payload(Bytes::from(event.encode_to_vec()))
            .headers(headers);
        pending.push(
            pipeline
                .nats
                .js
                .send_publish("hookline.events.run.completed", publish)
                .await
                .expect("publish")
                .into_future(),
        );
        while pending.len() >= 1024 {
            pending.next().await.expect("some").expect("ack");
        }
    }
    while let Some(ack) = pending.next().await {
        ack.expect("ack");
    }
}

/// Publishes `n` events with the notifier stopped, starts it, and times
/// until the healthy receiver has all of them.
async fn delivery_rate(catalog: &Catalog, count: &Arc<AtomicUsize>, n: usize) -> f64 {
    let mut pipeline = Pipeline::start_services(
        catalog,
        &[
            ("HOOKLINE_DELIVERY_CONCURRENCY", "64"),
            ("HOOKLINE_DELIVERY_TIMEOUT", "60s"),
        ],
        &[],
    )
    .await;
    publish_events(&pipeline, n).await;
    let before = count.load(Ordering::Relaxed);
    let started = Instant::now();
    pipeline.start_service(Service::Notifier).await;
    while count.load(Ordering::Relaxed) - before < n {
        assert!(started.elapsed() < Duration::from_secs(300), "deliveries stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

use std::future::IntoFuture;

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("notifier benchmark skipped: run it with `cargo bench -p hookline-tests --bench notifier`");
        return;
    }
    let n: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let count = Arc::new(AtomicUsize::new(0));
    let healthy = receiver(count.clone()).await;
    let dead = dead_endpoint().await;
    let sub = |id: &str, addr: std::net::SocketAddr| {
        format!("[subscriptions.{id}]\nurl = \"http://{addr}/hook\"\nsecrets = [\"{SECRET}\"]\n")
    };
    let alone = Catalog::parse(&sub("healthy", healthy)).expect("catalog");
    let with_dead = Catalog::parse(&[sub("healthy", healthy), sub("dead", dead)].concat()).expect("catalog");
    let by_run = Catalog::parse(&format!("{}ordered = \"run\"\n", sub("healthy", healthy))).expect("catalog");

    let (mut raw, mut signed, mut beside_dead, mut run_ordered) = (vec![], vec![], vec![], vec![]);
    for round in 0..3 {
        let r = raw_post_rate(healthy, 3).await;
        let s = delivery_rate(&alone, &count, n).await;
        let d = delivery_rate(&with_dead, &count, n).await;
        let o = delivery_rate(&by_run, &count, n).await;
        println!(
            "round {round}: raw POST {r:>8.0}/s | signed deliveries {s:>8.0}/s | with a dead endpoint {d:>8.0}/s | ordered by run {o:>8.0}/s"
        );
        raw.push(r);
        signed.push(s);
        beside_dead.push(d);
        run_ordered.push(o);
    }
    let (raw, signed, beside_dead, run_ordered) =
        (median(raw), median(signed), median(beside_dead), median(run_ordered));
    println!("\nmedian of 3 rounds, {n} events per measurement, 64 deliveries in flight per subscription");
    println!("  raw hyper client POST, 64 connections:   {raw:.0} req/s");
    println!("  signed deliveries (read + POST + ack):   {signed:.0} /s");
    println!("  deliveries / raw POST:                    {:.2}", signed / raw);
    println!("  healthy rate with a dead endpoint:       {beside_dead:.0} /s");
    println!(
        "  with dead / without:                      {:.2}",
        beside_dead / signed
    );
    println!("  ordered = \"run\" (4 events per run):     {run_ordered:.0} /s");
    println!(
        "  ordered by run / unordered:               {:.2}",
        run_ordered / signed
    );
}
