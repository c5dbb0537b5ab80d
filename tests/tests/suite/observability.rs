//! Metrics and traces from every service, each a real process: promtool
//! (the Debian `prometheus` package, installed by `scripts/test`) checks
//! what each one exposes, a real Prometheus scrapes all five and answers
//! queries for webhooks accepted and deliveries failed with the numbers the
//! test caused, and an OTLP receiver built on the `opentelemetry-proto`
//! types gets each webhook's spans from every service under one trace id,
//! each stage the child of the one before.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::observability_tools::*;
use hookline_bus::nats;
use hookline_bus::settings::NatsSettings;
use hookline_bus::store;
use hookline_model::catalog::Catalog;
use hookline_model::subjects::StreamKind;
use hookline_tests::otlp::Collector;
use hookline_tests::{ADMIN_TOKEN, Receiver, ServiceProcess, post_github, stream_messages, try_call};
use hookline_tests::{NatsServer, free_port};
use serde_json::json;

pub(crate) const SECRET: &str = "metrics-test-github-secret";
pub(crate) const SUB_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub(crate) const ACCEPTED: usize = 5;
pub(crate) const FORGED: usize = 2;

pub(crate) fn catalog(healthy: &str, failing: &str) -> Catalog {
    let text = format!(
        r#"
[sources.github]
provider = "github"
secrets = ["{SECRET}"]

[agents.noop]
prompt = "x"
runner = {{ type = "command", command = ["true"] }}
triggers = [{{ source = "github", events = ["issues"] }}]

[subscriptions.healthy]
url = "{healthy}"
secrets = ["{SUB_SECRET}"]

[subscriptions.failing]
url = "{failing}"
secrets = ["{SUB_SECRET}"]
"#
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    catalog
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_scrapes_every_service_and_each_webhook_is_one_trace_across_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = NatsServer::start();
    let healthy = Receiver::start(|_, _| 200).await;
    let collector = Collector::start().await;
    let failing = Receiver::start(|_, _| 500).await;
    let nats = nats::connect(&NatsSettings::for_url(&server.url()), "metrics-test")
        .await
        .expect("connect");
    store::apply(&nats, &catalog(&healthy.url(), &failing.url()), false)
        .await
        .expect("apply");
    let ports: HashMap<&str, u16> = ["ingest", "admin", "router", "executor", "notifier"]
        .into_iter()
        .map(|s| (s, free_port()))
        .collect();
    let base: Vec<(String, String)> = [
        ("HOOKLINE_NATS_URL", server.url()),
        ("HOOKLINE_INGEST_LISTEN", format!("127.0.0.1:{}", ports["ingest"])),
        ("HOOKLINE_ADMIN_LISTEN", format!("127.0.0.1:{}", ports["admin"])),
        ("HOOKLINE_ADMIN_TOKENS", ADMIN_TOKEN.to_owned()),
        ("HOOKLINE_DELIVERY_ALLOW", "127.0.0.1".to_owned()),
        // One retry, then the dead-letter queue.
        ("HOOKLINE_RETRY_SCHEDULE", "100ms".to_owned()),
        ("HOOKLINE_RETRY_JITTER", "0".to_owned()),
        ("HOOKLINE_EXECUTOR_WORKDIR", dir.path().display().to_string()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let services: Vec<ServiceProcess> = ["ingest", "admin", "router", "executor", "notifier"]
        .into_iter()
        .map(|service| {
            let mut env: HashMap<String, String> = base.iter().cloned().collect();
            if matches!(service, "router" | "executor" | "notifier") {
                env.insert(
                    "HOOKLINE_HEALTH_LISTEN".to_owned(),
                    format!("127.0.0.1:{}", ports[service]),
                );
            }
            ServiceProcess::start(&format!("hookline-{service}"), &env, dir.path())
        })
        .collect();

    for (service, port, path) in [
        ("ingest", ports["ingest"], "/readyz"),
        ("admin", ports["admin"], "/readyz"),
    ] {
        let url = format!("http://127.0.0.1:{port}{path}");
        hookline_tests::eventually(&format!("{service} ready"), || async {
            match try_call("GET", &url, &[], bytes::Bytes::new()).await {
                Ok(answer) if answer.status == 200 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    let webhook = format!("http://127.0.0.1:{}/webhooks/github", ports["ingest"]);
    let issue = json!({"action": "opened", "issue": {"number": 1, "title": "t", "author_association": "OWNER", "user": {"login": "octocat"}},
                       "repository": {"full_name": "acme/api"}, "sender": {"login": "octocat"}})
    .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = 0;
    while sent < ACCEPTED {
        let (status, _) = post_github(&webhook, SECRET, "issues", &format!("d-{sent}"), &issue).await;
        match status {
            202 => sent += 1,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("ingest answered {other}"),
        }
    }
    for n in 0..FORGED {
        let (status, _) = post_github(&webhook, "not-the-secret", "issues", &format!("f-{n}"), &issue).await;
        assert_eq!(status, 401);
    }
    // Each run publishes run.started and run.completed: the healthy
    // endpoint gets them all, the failing one twice each, then they die.
    let events = ACCEPTED * 2;
    hookline_tests::eventually("every event at the healthy endpoint", || async {
        let got = healthy.received().len();
        if got >= events {
            Ok(())
        } else {
            let logs: String = services[2..4]
                .iter()
                .flat_map(|s| {
                    s.output()
                        .lines()
                        .filter(|l| !l.contains("TRACE"))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .filter(|l| l.contains("INFO") || l.contains("WARN") || l.contains("ERROR") || l.contains("routed"))
                .collect::<Vec<_>>()
                .join("\n");
            Err(format!(
                "{got} events; service logs:\n{}",
                &logs[logs.len().saturating_sub(4000)..]
            ))
        }
    })
    .await;
    hookline_tests::eventually("the failing endpoint's dead letters", || async {
        let letters = stream_messages(&nats, StreamKind::Dlq).await.len();
        if letters >= events {
            Ok(())
        } else {
            Err(format!("{letters} dead letters"))
        }
    })
    .await;

    // One console sign-in that works and one that does not.
    for (token, status) in [(ADMIN_TOKEN, 303), ("not-a-token-at-all-0000", 401)] {
        let answer = hookline_tests::call(
            "POST",
            &format!("http://127.0.0.1:{}/console/login", ports["admin"]),
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("token={token}&next=%2Fconsole"),
        )
        .await;
        assert_eq!(answer.status, status);
    }

    // Each service's own families, besides what every one shows.
    let endpoints = [
        (
            "ingest",
            ports["ingest"],
            vec![
                "hookline_webhooks_total{",
                "hookline_webhook_verification_failures_total{",
            ],
        ),
        (
            "admin",
            ports["admin"],
            vec![
                "hookline_admin_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"}",
                "hookline_admin_request_duration_seconds_count{route=\"/readyz\"}",
                "hookline_console_sign_ins_total{outcome=\"signed_in\"} 1",
                "hookline_console_sign_ins_total{outcome=\"refused\"} 1",
            ],
        ),
        (
            "router",
            ports["router"],
            vec![
                "hookline_router_decisions_total{",
                "hookline_runs_requested_total{",
                "hookline_consumer_pending_messages{stream=\"HOOKLINE_INGEST\"",
            ],
        ),
        (
            "executor",
            ports["executor"],
            vec![
                "hookline_runs_finished_total{",
                "hookline_run_duration_seconds_bucket{",
                "hookline_consumer_ack_pending_messages{stream=\"HOOKLINE_RUNS\"",
            ],
        ),
        (
            "notifier",
            ports["notifier"],
            vec![
                "hookline_deliveries_total{",
                "hookline_delivery_duration_seconds_bucket{",
                "hookline_delivery_retries_total{",
                "hookline_dead_letters_total{",
                "hookline_stream_messages{stream=\"HOOKLINE_DLQ\"} 10",
            ],
        ),
    ];
    for (service, port, families) in &endpoints {
        let text = metrics_text(&format!("http://127.0.0.1:{port}/metrics")).await;
        for family in families {
            assert!(text.contains(family), "{service} has no {family}:\n{text}");
        }
        promtool_check(service, &text);
    }

    // A real Prometheus scrapes all five.
    let prom_port = free_port();
    let targets: Vec<String> = endpoints
        .iter()
        .map(|(_, port, _)| format!("'127.0.0.1:{port}'"))
        .collect();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: hookline\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .expect("config");
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).expect("log"))
        .spawn()
        .expect("prometheus (scripts/install-prometheus)");
    let api = format!("http://127.0.0.1:{prom_port}");
    hookline_tests::eventually("Prometheus's answers", || async {
        let up = query(&api, "sum(up{job=\"hookline\"})").await;
        let accepted = query(&api, "sum(hookline_webhooks_total{status=\"202\"})").await;
        let forged = query(&api, "sum(hookline_webhook_verification_failures_total)").await;
        let failed = query(
            &api,
            "sum(hookline_deliveries_total{outcome=\"failed\",subscription=\"failing\"})",
        )
        .await;
        let dead = query(&api, "sum(hookline_dead_letters_total)").await;
        let runs = query(&api, "sum(hookline_runs_finished_total{status=\"succeeded\"})").await;
        let sign_ins = query(&api, "sum(hookline_console_sign_ins_total)").await;
        let seen = (up, accepted, forged, failed, dead, runs, sign_ins);
        let expected = (
            Some(5.0),
            Some(ACCEPTED as f64),
            Some(FORGED as f64),
            Some((events * 2) as f64),
            Some(events as f64),
            Some(ACCEPTED as f64),
            Some(2.0),
        );
        if seen == expected {
            Ok(())
        } else {
            Err(format!("{seen:?}, expected {expected:?}"))
        }
    })
    .await;
    let _ = prometheus.kill();
    let _ = prometheus.wait();

    // One trace per webhook, across ingest, router, executor and notifier,
    // each stage's span the child of the one before.
    let traces = hookline_tests::eventually("every webhook's spans", || async {
        let spans = collector.spans();
        let roots: Vec<_> = spans.iter().filter(|s| s.service == "hookline-ingest").collect();
        let complete = roots
            .iter()
            .filter(|root| {
                let of = |service: &str| {
                    spans
                        .iter()
                        .filter(|s| s.trace_id == root.trace_id && s.service == service)
                        .count()
                };
                of("hookline-router") == 1 && of("hookline-executor") == 1 && of("hookline-notifier") >= 6
            })
            .count();
        if complete == ACCEPTED {
            Ok(spans)
        } else {
            let seen: Vec<String> = spans
                .iter()
                .map(|s| {
                    format!(
                        "{} {} {} <- {}",
                        s.service,
                        &s.trace_id[..8],
                        s.span_id,
                        s.parent_span_id
                    )
                })
                .collect();
            Err(format!("{complete} complete traces of {}: {seen:#?}", roots.len()))
        }
    })
    .await;
    for root in traces.iter().filter(|s| s.service == "hookline-ingest") {
        let trace: Vec<_> = traces.iter().filter(|s| s.trace_id == root.trace_id).collect();
        let one = |service: &str| *trace.iter().find(|s| s.service == service).expect(service);
        let (route, run) = (one("hookline-router"), one("hookline-executor"));
        assert_eq!(
            route.parent_span_id, root.span_id,
            "route under the webhook: {trace:#?}"
        );
        assert_eq!(run.parent_span_id, route.span_id, "run under the route: {trace:#?}");
        assert!(
            route.start_ns >= root.start_ns && run.start_ns >= route.start_ns,
            "in order: {trace:#?}"
        );
        assert_eq!(run.attribute("hookline.status"), Some("succeeded"));
        let deliveries: Vec<_> = trace.iter().filter(|s| s.service == "hookline-notifier").collect();
        assert!(
            deliveries
                .iter()
                .all(|d| d.parent_span_id == run.span_id && d.name == "deliver"),
            "every delivery attempt under the run that emitted its event: {deliveries:#?}"
        );
        assert!(
            deliveries
                .iter()
                .any(|d| d.attribute("http.response.status_code") == Some("500"))
        );
    }
}
