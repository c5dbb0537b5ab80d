//! Ingest against a real nats-server over real sockets: every status, the
//! limits, NATS outages, provider handshakes and the invocation log.

use std::time::{Duration, Instant};

use hookline_model::catalog::Catalog;
use hookline_model::signing;
use hookline_model::subjects::StreamKind;
use hookline_proto::{InboundEvent, Invocation, Message as _};
use hookline_tests::{Pipeline, Service, WAIT, call, get, post};
use tokio::io::AsyncWriteExt;

const SECRET: &str = "ingest-test-secret";

fn catalog(extra: &str) -> Catalog {
    let text = format!(
        r#"
[sources.gh]
provider = "github"
secrets = ["{SECRET}"]
{extra}

[sources.off]
provider = "github"
secrets = ["{SECRET}"]
enabled = false

[sources.slack]
provider = "slack"
secrets = ["{SECRET}"]
"#
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

async fn ingest_only(catalog: &Catalog, settings: &[(&str, &str)]) -> Pipeline {
    Pipeline::start_services(catalog, settings, &[Service::Ingest]).await
}

fn github_headers<'a>(signature: &'a str, delivery: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("content-type", "application/json"),
        ("x-github-event", "ping"),
        ("x-github-delivery", delivery),
        ("x-hub-signature-256", signature),
    ]
}

async fn send(pipeline: &Pipeline, source: &str, delivery: &str) -> (u16, http::HeaderMap, serde_json::Value) {
    let body = format!(r#"{{"zen":"{delivery}"}}"#);
    let sig = signing::github_signature(SECRET, body.as_bytes());
    let answer = call(
        "POST",
        &pipeline.webhook_url(source),
        &github_headers(&sig, delivery),
        body,
    )
    .await;
    let json = answer.json();
    (answer.status, answer.headers, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_sources_and_oversized_streams_are_refused() {
    let pipeline = ingest_only(&catalog(""), &[]).await;
    let (status, _, answer) = send(&pipeline, "off", "d1").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (403, Some("source_disabled"))
    );

    // No Content-Length: the limit is enforced while reading.
    let mut stream = tokio::net::TcpStream::connect(pipeline.ingest).await.expect("connect");
    let head =
        "POST /webhooks/gh HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.expect("head");
    let chunk = vec![b'a'; 64 * 1024];
    let mut answer = Vec::new();
    for _ in 0..5 {
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk.clone(),
            b"\r\n".to_vec(),
        ]
        .concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_over_its_rate_gets_429_with_retry_after() {
    let pipeline = ingest_only(&catalog("rate_limit_per_minute = 3"), &[]).await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let (status, headers, answer) = send(&pipeline, "gh", &format!("rate-{n}")).await;
        statuses.push(status);
        if status == 429 {
            assert_eq!(answer["error"]["code"], "rate_limited");
            let retry: u64 = headers["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("seconds");
            assert!((1..=20).contains(&retry), "one token every 20 s: {retry}");
        }
    }
    assert_eq!(statuses, [202, 202, 202, 429]);
    assert_eq!(
        pipeline.stream_messages(StreamKind::Ingest).await.len(),
        3,
        "the refused one is not stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_rate_spans_sources() {
    let extra = format!("\n[sources.gh2]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n");
    let pipeline = ingest_only(&catalog(&extra), &[("HOOKLINE_GLOBAL_RATE_LIMIT", "4")]).await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        let source = if n % 2 == 0 { "gh" } else { "gh2" };
        let (status, headers, answer) = send(&pipeline, source, &format!("g-{n}")).await;
        statuses.push(status);
        if status == 429 {
            assert_eq!(answer["error"]["code"], "global_rate_limited");
            assert!(headers.contains_key("retry-after"));
        }
    }
    assert_eq!(statuses, [202, 202, 202, 202, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_per_source_are_capped() {
    let pipeline = ingest_only(&catalog("max_in_flight = 2"), &[]).await;
    // Two senders that announce a body and stall.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(pipeline.ingest).await.expect("connect");
        let head =
            "POST /webhooks/gh HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
        stream.write_all(head.as_bytes()).await.expect("head");
        stalled.push(stream);
    }
    let deadline = Instant::now() + WAIT;
    let (status, headers, answer) = loop {
        let reply = send(&pipeline, "gh", "while-stalled").await;
        if reply.0 == 429 || Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status, 429);
    assert_eq!(answer["error"]["code"], "too_many_in_flight");
    assert_eq!(headers["retry-after"], "1");
    drop(stalled);
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _, _) = send(&pipeline, "gh", "after-stall").await;
        if status == 202 {
            break;
        }
        assert!(Instant::now() < deadline, "slots never freed: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_outage_answers_503_and_ingest_recovers_without_a_restart() {
    let mut pipeline = ingest_only(&catalog(""), &[]).await;
    let mut accepted = 0;
    for n in 0..3 {
        assert_eq!(send(&pipeline, "gh", &format!("before-{n}")).await.0, 202);
        accepted += 1;
    }
    pipeline.server.stop();
    let deadline = Instant::now() + WAIT;
    let (status, headers, answer) = loop {
        let reply = send(&pipeline, "gh", "during").await;
        if reply.0 != 202 || Instant::now() > deadline {
            break reply;
        }
        accepted += 1;
    };
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "unavailable");
    assert!(headers.contains_key("retry-after"));
    let readyz = format!("http://{}/readyz", pipeline.ingest);
    assert_eq!(get(&readyz).await.0, 503, "not ready without NATS");
    assert_eq!(
        get(&format!("http://{}/healthz", pipeline.ingest)).await.0,
        200,
        "alive all the same"
    );

    pipeline.server.restart();
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _, _) = send(&pipeline, "gh", "after").await;
        if status == 202 {
            accepted += 1;
            break;
        }
        assert_eq!(status, 503, "only 503 while reconnecting");
        assert!(Instant::now() < deadline, "ingest never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = pipeline.stream_messages(StreamKind::Ingest).await;
    let deliveries: Vec<String> = stored
        .iter()
        .map(|m| InboundEvent::decode(m.payload.as_ref()).expect("event").delivery_id)
        .collect();
    assert_eq!(
        stored.len(),
        accepted,
        "every 202 is in the stream, nothing else: {deliveries:?}"
    );
    assert!(deliveries.contains(&"after".to_owned()));
    assert_eq!(get(&readyz).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_url_verification_is_answered_and_not_stored() {
    let pipeline = ingest_only(&catalog(""), &[]).await;
    let body =
        r#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let ts = (hookline_model::clock::now_ms() / 1000).to_string();
    let mac = signing::hmac_sha256(SECRET.as_bytes(), &[b"v0:", ts.as_bytes(), b":", body.as_bytes()]);
    let sig = format!("v0={}", hex::encode(mac));
    let headers = [
        ("content-type", "application/json"),
        ("x-slack-request-timestamp", ts.as_str()),
        ("x-slack-signature", sig.as_str()),
    ];
    let (status, answer) = post(&pipeline.webhook_url("slack"), &headers, body).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let unsigned = [("content-type", "application/json")];
    let (status, _) = post(&pipeline.webhook_url("slack"), &unsigned, body).await;
    assert_eq!(status, 401, "the handshake is answered only when signed");
    assert!(pipeline.stream_messages(StreamKind::Ingest).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_form_deliveries_are_stored_as_their_json() {
    let pipeline = ingest_only(&catalog(""), &[]).await;
    let form = "payload=%7B%22zen%22%3A%22Keep%20it%20logically%20awesome.%22%7D";
    let sig = signing::github_signature(SECRET, form.as_bytes());
    let mut headers = github_headers(&sig, "form-1");
    headers[0] = ("content-type", "application/x-www-form-urlencoded");
    let (status, answer) = post(&pipeline.webhook_url("gh"), &headers, form).await;
    assert_eq!(status, 202, "{answer}");
    let stored = pipeline.stream_messages(StreamKind::Ingest).await;
    let event = InboundEvent::decode(stored[0].payload.as_ref()).expect("event");
    assert_eq!(event.body.as_ref(), br#"{"zen":"Keep it logically awesome."}"#);
    assert_eq!(event.content_type, "application/json");
    assert!(
        event.headers.iter().all(|h| h.name != "x-hub-signature-256"),
        "signatures are not stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_logged_with_the_client_address() {
    let pipeline = ingest_only(&catalog(""), &[("HOOKLINE_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let body = r#"{"zen":"x"}"#;
    let sig = signing::github_signature(SECRET, body.as_bytes());
    let mut headers = github_headers(&sig, "logged-1");
    headers.push(("x-forwarded-for", "198.51.100.1, 203.0.113.7"));
    assert_eq!(post(&pipeline.webhook_url("gh"), &headers, body).await.0, 202);
    let forged = [
        ("content-type", "application/json"),
        ("x-hub-signature-256", "sha256=00"),
    ];
    assert_eq!(post(&pipeline.webhook_url("gh"), &forged, body).await.0, 401);

    // Waited for by record: the two may be stored as one batch.
    let logged = hookline_tests::eventually("two invocation records", || async {
        let records = pipeline.log_records("hookline.log.invocation.gh").await;
        if records.len() >= 2 {
            Ok(records)
        } else {
            Err(format!("{} records", records.len()))
        }
    })
    .await;
    let records: Vec<Invocation> = logged
        .iter()
        .map(|r| Invocation::decode(r.as_slice()).expect("record"))
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    let stored = records.iter().find(|r| r.status == 202).expect("stored one");
    assert_eq!(stored.source_ip, "203.0.113.7", "right-most untrusted hop");
    assert_eq!(stored.reason, "stored");
    assert_eq!(stored.delivery_id, "logged-1");
    assert!(!stored.event_id.is_empty());
    assert_eq!(stored.size, body.len() as u64);
    let refused = records.iter().find(|r| r.status == 401).expect("refused one");
    assert_eq!(refused.reason, "signature_invalid");

    let state = pipeline
        .nats
        .js
        .get_key_value("hookline_state")
        .await
        .expect("state bucket");
    let deadline = Instant::now() + WAIT;
    let last = loop {
        if let Some(value) = state.get("source.gh.last_triggered").await.expect("kv") {
            break value;
        }
        assert!(Instant::now() < deadline, "last_triggered never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let last_ms: i64 = String::from_utf8_lossy(&last).parse().expect("millis");
    assert!((hookline_model::clock::now_ms() - last_ms).abs() < 60_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_gets_408() {
    let pipeline = ingest_only(&catalog(""), &[("HOOKLINE_BODY_TIMEOUT", "300ms")]).await;
    let mut stream = tokio::net::TcpStream::connect(pipeline.ingest).await.expect("connect");
    let head =
        "POST /webhooks/gh HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.expect("head");
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut stream, &mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_out_secret_verifies_until_its_time_and_not_after() {
    let soon = chrono::Utc::now() + chrono::Duration::hours(1);
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let extra = format!(
        "\n[sources.rotating]\nprovider = \"github\"\nsecrets = [\"new-secret\", {{ secret = \"{SECRET}\", until = \"{}\" }}]\n\
         [sources.rotated]\nprovider = \"github\"\nsecrets = [\"new-secret\", {{ secret = \"{SECRET}\", until = \"{}\" }}]\n",
        soon.to_rfc3339(),
        past.to_rfc3339()
    );
    let pipeline = ingest_only(&catalog(&extra), &[]).await;
    assert_eq!(
        send(&pipeline, "rotating", "rot-1").await.0,
        202,
        "the old secret still works during the grace period"
    );
    let (status, _, answer) = send(&pipeline, "rotated", "rot-2").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("signature_invalid")),
        "and not after it"
    );
}

/// Stopping ingest while NATS is down still ends: the invocation records it
/// could not hand over are given up after a bounded wait, instead of the
/// process waiting for a server that may never come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_stops_even_while_nats_is_down() {
    let mut pipeline = ingest_only(&catalog(""), &[]).await;
    assert_eq!(send(&pipeline, "gh", "before").await.0, 202);
    pipeline.server.stop();
    // Refused while NATS is down; its invocation record waits in the sink.
    let deadline = Instant::now() + WAIT;
    while send(&pipeline, "gh", "during").await.0 == 202 {
        assert!(Instant::now() < deadline, "ingest never noticed NATS was gone");
    }
    let stopped = tokio::time::timeout(WAIT, pipeline.stop_service(Service::Ingest)).await;
    assert!(stopped.is_ok(), "ingest did not stop while NATS was down");
}
