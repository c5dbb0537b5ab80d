//! The admin API end to end: configuration created by API reaches every
//! service live, tokens are required, secrets never come back.

use std::time::{Duration, Instant};

use hookline_core::catalog::Catalog;
use hookline_tests::{ADMIN_TOKEN, Pipeline, Receiver, WAIT, eventually, post_github, request};
use serde_json::json;

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SOURCE_SECRET: &str = "api-created-source-secret";

fn auth() -> String {
    format!("Bearer {ADMIN_TOKEN}")
}

async fn admin(pipeline: &Pipeline, method: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    pipeline.admin(method, path, body).await
}

async fn send(pipeline: &Pipeline, delivery: &str) -> u16 {
    let body = json!({"action": "labeled", "label": {"name": "agent"}, "issue": {"title": "api"}}).to_string();
    post_github(&pipeline.webhook_url("gh"), SOURCE_SECRET, "issues", delivery, &body)
        .await
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn everything_created_by_api_works_live_without_a_restart() {
    let subscriber = Receiver::start(|_, _| 200).await;
    let pipeline = Pipeline::start(&Catalog::default(), &[]).await;

    let (status, source) = admin(
        &pipeline,
        "PUT",
        "/v1/sources/gh",
        json!({"provider": "github", "secrets": [SOURCE_SECRET]}),
    )
    .await;
    assert_eq!(status, 201, "{source}");
    assert_eq!(source["secrets"], json!(["…cret"]), "a hint, never the secret");
    let (status, agent) = admin(
        &pipeline,
        "PUT",
        "/v1/agents/triage",
        json!({"prompt": "Triage {{body.issue.title}}", "runner": {"type": "command", "command": ["true"]},
               "triggers": [{"source": "gh", "events": ["issues"]}]}),
    )
    .await;
    assert_eq!(status, 201, "{agent}");
    let (status, sub) = admin(
        &pipeline,
        "PUT",
        "/v1/subscriptions/ops",
        json!({"url": subscriber.url(), "events": ["run.*"], "secrets": [WHSEC]}),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    assert!(!sub.to_string().contains("MfKQ9r8G"), "{sub}");

    // The services pick the configuration up live.
    let deadline = Instant::now() + WAIT;
    while send(&pipeline, &format!("live-{}", deadline.elapsed().as_nanos())).await != 202 {
        assert!(Instant::now() < deadline, "the new source never took effect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = subscriber
        .wait_until("run.started and run.completed", |all| {
            all.iter().any(|r| r.json()["type"] == "run.completed")
                && all.iter().any(|r| r.json()["type"] == "run.started")
        })
        .await;
    for r in &got {
        standardwebhooks::Webhook::new(WHSEC)
            .expect("secret")
            .verify(&r.body, &r.headers)
            .expect("signed");
    }

    // Disable: 403 within a second; enable: 202 again.
    let (status, _) = admin(&pipeline, "POST", "/v1/sources/gh/disable", serde_json::Value::Null).await;
    assert_eq!(status, 200);
    let disabled_at = Instant::now();
    loop {
        if send(&pipeline, &format!("off-{}", disabled_at.elapsed().as_nanos())).await == 403 {
            break;
        }
        assert!(
            disabled_at.elapsed() < Duration::from_secs(1),
            "still accepted a second after disabling"
        );
    }
    let (status, _) = admin(&pipeline, "POST", "/v1/sources/gh/enable", serde_json::Value::Null).await;
    assert_eq!(status, 200);
    let enabled_at = Instant::now();
    while send(&pipeline, &format!("on-{}", enabled_at.elapsed().as_nanos())).await != 202 {
        assert!(
            enabled_at.elapsed() < Duration::from_secs(1),
            "not accepted a second after enabling"
        );
    }

    // A source still used by an agent cannot be deleted; the run is readable.
    let (status, conflict) = admin(&pipeline, "DELETE", "/v1/sources/gh", serde_json::Value::Null).await;
    assert_eq!(status, 409, "{conflict}");
    assert!(
        conflict["error"]["problems"][0]
            .as_str()
            .unwrap_or("")
            .contains("unknown source `gh`")
    );
    let run_id = got[0].json()["data"]["run_id"].as_str().expect("run id").to_owned();
    let (status, run) = admin(&pipeline, "GET", &format!("/v1/runs/{run_id}"), serde_json::Value::Null).await;
    assert_eq!((status, run["agent"].as_str()), (200, Some("triage")));
    let event_id = run["event_id"].as_str().expect("event id").to_owned();
    let (status, why) = admin(
        &pipeline,
        "GET",
        &format!("/v1/events/{event_id}/explain"),
        serde_json::Value::Null,
    )
    .await;
    assert_eq!((status, why["matched"].clone()), (200, json!(["triage"])));

    // Once nothing refers to it, the source can be deleted: 404 at ingest.
    let (status, _) = admin(&pipeline, "DELETE", "/v1/agents/triage", serde_json::Value::Null).await;
    assert_eq!(status, 204);
    let (status, _) = admin(&pipeline, "DELETE", "/v1/sources/gh", serde_json::Value::Null).await;
    assert_eq!(status, 204);
    let (status, _) = admin(&pipeline, "GET", "/v1/sources/gh", serde_json::Value::Null).await;
    assert_eq!(status, 404);
    let deleted_at = Instant::now();
    while send(&pipeline, &format!("gone-{}", deleted_at.elapsed().as_nanos())).await != 404 {
        assert!(
            deleted_at.elapsed() < Duration::from_secs(1),
            "still served a second after deleting"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_valid_token_nothing_is_read_or_changed() {
    let pipeline = Pipeline::start(&Catalog::default(), &[]).await;
    let url = |path: &str| format!("http://{}{path}", pipeline.admin);
    let body = json!({"provider": "none"}).to_string();
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong-token-wrong-token")],
        vec![("authorization", ADMIN_TOKEN)],
    ] {
        let (status, answer) = request("PUT", &url("/v1/sources/sneaky"), &headers, body.clone()).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthorized")));
        assert_eq!(request("GET", &url("/v1/sources"), &headers, "").await.0, 401);
    }
    let (status, list) = admin(&pipeline, "GET", "/v1/sources", serde_json::Value::Null).await;
    assert_eq!((status, list["items"].clone()), (200, json!([])), "nothing was created");
    let (status, invalid) = admin(&pipeline, "PUT", "/v1/sources/Bad", json!({"provider": "github"})).await;
    assert_eq!(status, 400, "{invalid}");
    let (status, invalid) = admin(&pipeline, "PUT", "/v1/sources/gh", json!({"provider": "github"})).await;
    assert_eq!(status, 400);
    assert!(
        invalid["error"]["problems"][0]
            .as_str()
            .unwrap_or("")
            .contains("needs at least one secret"),
        "{invalid}"
    );
    assert_eq!(
        request("GET", &url("/healthz"), &[], "").await.0,
        200,
        "health needs no token"
    );
}

fn openapi() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json")).expect("valid JSON")
}

#[test]
fn the_openapi_document_lists_exactly_the_routes_served() {
    let doc = openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("ops")
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let mut served: Vec<(String, String)> = hookline_admin::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_documented_route_answers_as_documented() {
    let pipeline = Pipeline::start(&Catalog::default(), &[]).await;
    const WALK_SECRET: &str = "walk-secret-value-0123456789";
    let (status, _) = admin(
        &pipeline,
        "PUT",
        "/v1/sources/walk",
        json!({"provider": "shared_secret", "secrets": [WALK_SECRET]}),
    )
    .await;
    assert_eq!(status, 201);
    let doc = openapi();
    let token = auth();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            let concrete = path
                .replace("{kind}", "sources")
                .replace("{id}", "walk")
                .replace("{run_id}", "no-such-run")
                .replace("{event_id}", "no-such-event");
            let body = if op.get("requestBody").is_some() {
                json!({"provider": "none"}).to_string()
            } else {
                String::new()
            };
            let headers = [("authorization", token.as_str()), ("content-type", "application/json")];
            let (status, answer) = request(
                &method.to_uppercase(),
                &format!("http://{}{concrete}", pipeline.admin),
                &headers,
                body,
            )
            .await;
            assert!(
                !answer.to_string().contains(WALK_SECRET),
                "{method} {concrete} answered a secret: {answer}"
            );
            let documented = op["responses"].as_object().expect("responses");
            assert!(
                documented.contains_key(&status.to_string()),
                "{method} {concrete} answered {status} {answer}, documented {:?}",
                documented.keys()
            );
            if status >= 400 {
                assert!(
                    answer["error"]["code"].is_string(),
                    "{method} {concrete}: error body {answer}"
                );
            }
            if op.get("security").is_none() {
                let (status, _) = request(
                    &method.to_uppercase(),
                    &format!("http://{}{concrete}", pipeline.admin),
                    &[],
                    "",
                )
                .await;
                assert_eq!(status, 401, "{method} {concrete} without a token");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_with_a_stale_revision_is_refused_and_changes_nothing() {
    let pipeline = Pipeline::start_services(&Catalog::default(), &[], &[hookline_tests::Service::Admin]).await;
    let path = "/v1/sources/rev";
    let (status, first) = admin(
        &pipeline,
        "PUT",
        path,
        json!({"provider": "github", "secrets": ["s1-secret"]}),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let r1 = first["revision"].as_u64().expect("revision answered");
    let (status, second) = admin(
        &pipeline,
        "PUT",
        path,
        json!({"provider": "github", "max_body_bytes": 1000, "revision": r1}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["revision"].as_u64().expect("revision");
    assert!(r2 > r1);

    // The body's revision, and If-Match, are checked against the stored one.
    let (status, refused) = admin(
        &pipeline,
        "PUT",
        path,
        json!({"provider": "github", "max_body_bytes": 5, "revision": r1}),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{refused}"
    );
    assert!(refused.to_string().contains("changed by another writer"), "{refused}");
    let token = auth();
    let stale = format!("\"{r1}\"");
    let url = format!("http://{}{path}", pipeline.admin);
    let headers = [("authorization", token.as_str()), ("if-match", stale.as_str())];
    assert_eq!(request("DELETE", &url, &headers, "").await.0, 409);
    assert_eq!(request("POST", &format!("{url}/disable"), &headers, "").await.0, 409);
    let (status, now) = admin(&pipeline, "GET", path, serde_json::Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(
        (now["revision"].as_u64(), now["max_body_bytes"].as_u64()),
        (Some(r2), Some(1000))
    );
    assert_eq!(now["enabled"], json!(true), "the stale disable changed nothing");

    // apply reads, then writes only what is still as it read it.
    let mut catalog = Catalog::default();
    catalog.sources.insert(
        "rev".to_owned(),
        serde_json::from_value(json!({"provider": "github", "secrets": ["from-apply"]})).expect("spec"),
    );
    let plan = hookline_core::store::plan(&pipeline.nats, &catalog)
        .await
        .expect("plan");
    assert_eq!(plan.report.updated, ["source.rev"]);
    let (status, _) = admin(
        &pipeline,
        "PUT",
        path,
        json!({"provider": "github", "max_body_bytes": 2000}),
    )
    .await;
    assert_eq!(status, 200);
    let error = hookline_core::store::execute(&pipeline.nats, &plan)
        .await
        .expect_err("the entry changed after apply read it");
    assert!(
        error
            .to_string()
            .contains("`source.rev` was changed by another writer since it was read"),
        "{error}"
    );
    let (_, now) = admin(&pipeline, "GET", path, serde_json::Value::Null).await;
    assert_eq!(now["max_body_bytes"].as_u64(), Some(2000), "the API's write stands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_api_refuses_subscription_urls_with_the_same_words_as_apply() {
    let pipeline = Pipeline::start_services(&Catalog::default(), &[], &[hookline_tests::Service::Admin]).await;
    let guard = hookline_core::ssrf::Guard::parse("127.0.0.1").expect("allow-list");
    for url in [
        "http://169.254.169.254/latest",
        "http://10.0.0.1/x",
        "http://127.0.0.2/x",
        "http://[::1]/x",
        "http://0.0.0.0/x",
        "http://100.64.0.1/x",
        "http://224.0.0.1/x",
    ] {
        let spec = json!({"url": url, "secrets": [WHSEC]});
        let (status, answer) = admin(&pipeline, "PUT", "/v1/subscriptions/ssrf", spec.clone()).await;
        assert_eq!(status, 400, "{url}: {answer}");
        let mut catalog = Catalog::default();
        catalog
            .subscriptions
            .insert("ssrf".to_owned(), serde_json::from_value(spec).expect("spec"));
        let apply_says = hookline_core::ssrf::check_catalog(&guard, &catalog).expect_err("apply refuses it too");
        assert_eq!(answer["error"]["problems"], json!(apply_says), "{url}");
    }
    let (_, list) = admin(&pipeline, "GET", "/v1/subscriptions", serde_json::Value::Null).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_api_is_served_by_the_admin_service_only() {
    let pipeline = Pipeline::start_services(
        &Catalog::default(),
        &[],
        &[hookline_tests::Service::Ingest, hookline_tests::Service::Admin],
    )
    .await;
    let token = auth();
    let headers = [("authorization", token.as_str())];
    for (method, path) in hookline_admin::ROUTES {
        let path = path
            .replace("{kind}", "sources")
            .replace("{id}", "x")
            .replace("{run_id}", "r")
            .replace("{event_id}", "e");
        if path == "/healthz" || path == "/readyz" {
            continue; // Every service has its own.
        }
        let (status, answer) = request(method, &format!("http://{}{path}", pipeline.ingest), &headers, "").await;
        assert!(
            status == 404 || status == 405,
            "ingest answered {method} {path} with {status} {answer}"
        );
    }
    let (status, _) = request("GET", &format!("http://{}/v1/sources", pipeline.admin), &headers, "").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_clear_answer_never_a_5xx() {
    let pipeline = Pipeline::start_services(
        &Catalog::default(),
        &[],
        &[hookline_tests::Service::Ingest, hookline_tests::Service::Admin],
    )
    .await;
    let (status, _) = admin(
        &pipeline,
        "PUT",
        "/v1/subscriptions/ops",
        json!({"url": "https://example.com/h", "secrets": [WHSEC]}),
    )
    .await;
    assert_eq!(status, 201);
    let token = auth();
    let headers = [("authorization", token.as_str())];
    let url = |path: &str| format!("http://{}{path}", pipeline.admin);
    let rows: [(&str, &str, u16, &str); 9] = [
        (
            "GET",
            "/v1/subscriptions/ops/attempts?since=99999999999999999999d",
            400,
            "an age past any window",
        ),
        (
            "GET",
            "/v1/subscriptions/ops/attempts?since=123456789012345678901234567890",
            400,
            "a 30-digit since",
        ),
        ("GET", "/v1/sources/a..b/invocations", 400, "a dotted id"),
        ("GET", "/v1/sources/a%20b", 400, "a space"),
        ("GET", "/v1/agents/%C3%A9t%C3%A9", 400, "non-ASCII"),
        ("GET", "/v1/dlq?subscription=*", 400, "a subject wildcard in a filter"),
        ("GET", "/v1/dlq?subscription=%3E", 400, "the other wildcard"),
        ("GET", "/v1/runs/a.b", 404, "a run id that cannot be a key"),
        (
            "POST",
            "/v1/runs/no-such-run/cancel",
            404,
            "an unknown run, answered at once",
        ),
    ];
    for (method, path, expected, why) in rows {
        let started = Instant::now();
        let (status, answer) = request(method, &url(path), &headers, "").await;
        assert_eq!(status, expected, "{why}: {method} {path} answered {answer}");
        assert!(answer["error"]["code"].is_string(), "{why}: {answer}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{why}: took {:?}",
            started.elapsed()
        );
    }
    let (status, answer) = admin(&pipeline, "POST", "/v1/dlq/replay", json!({"subscription": ">"})).await;
    assert_eq!(status, 400, "{answer}");

    // 405 names what the path does answer (RFC 9110).
    let answer = hookline_tests::call("PATCH", &url("/v1/sources/x"), &headers, "").await;
    assert_eq!(answer.status, 405);
    assert_eq!(
        answer.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("DELETE, GET, PUT")
    );
    let answer = hookline_tests::call("DELETE", &url("/v1/runs"), &headers, "").await;
    assert_eq!(
        (answer.status, answer.headers.get("allow").and_then(|v| v.to_str().ok())),
        (405, Some("GET"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_request_leaves_the_delivery_id_it_claimed() {
    let pipeline = Pipeline::start_services(
        &Catalog::default(),
        &[],
        &[hookline_tests::Service::Ingest, hookline_tests::Service::Admin],
    )
    .await;
    let (status, _) = admin(
        &pipeline,
        "PUT",
        "/v1/sources/gh",
        json!({"provider": "github", "secrets": [SOURCE_SECRET]}),
    )
    .await;
    assert_eq!(status, 201);
    let url = pipeline.webhook_url("gh");
    let refused = eventually("the source to be live", || async {
        match post_github(&url, "not-the-secret", "issues", "forged-delivery-1", "{}").await {
            (401, answer) => Ok(answer),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(refused["error"]["code"], "signature_invalid");
    let item = eventually("the refusal in the invocation log", || async {
        let (_, page) = admin(
            &pipeline,
            "GET",
            "/v1/sources/gh/invocations?outcome=refused",
            serde_json::Value::Null,
        )
        .await;
        page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["delivery_id"] == "forged-delivery-1").cloned())
            .ok_or_else(|| page.to_string())
    })
    .await;
    assert_eq!(
        (item["status"].as_u64(), item["reason"].as_str()),
        (Some(401), Some("signature_invalid"))
    );
}
