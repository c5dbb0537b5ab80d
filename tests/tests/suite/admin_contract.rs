//! The admin API's contract: the OpenAPI document against the routes
//! served, revisions, one SSRF rule, and clear answers to bad input.

use std::time::{Duration, Instant};

use hookline_model::catalog::Catalog;
use hookline_tests::{Pipeline, request};
use serde_json::json;

use super::admin::{WHSEC, admin, auth, create, edge_and_admin};

pub(crate) fn openapi() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json")).expect("valid JSON")
}

/// The grammars the service parses durations and sizes with are the ones
/// the document states, so the fuzzer's two directions (valid data
/// accepted, invalid data refused) hold for every such field.
#[test]
fn the_document_states_the_services_own_duration_and_size_grammars() {
    let doc = openapi();
    let schemas = &doc["components"]["schemas"];
    let agent = &schemas["AgentWrite"]["properties"];
    for (what, schema) in [
        ("timeout", &agent["timeout"]),
        ("approval_timeout", &agent["approval_timeout"]),
        (
            "limits.cpu_time",
            &agent["limits"]["properties"]["cpu_time"]["oneOf"][0],
        ),
        (
            "hmac.tolerance",
            &schemas["SourceWrite"]["properties"]["hmac"]["oneOf"][0]["properties"]["tolerance"],
        ),
        ("since", &doc["components"]["parameters"]["since"]["schema"]["anyOf"][1]),
    ] {
        assert_eq!(schema["pattern"], hookline_model::settings::DURATION_PATTERN, "{what}");
    }
    for what in ["memory", "file_size"] {
        assert_eq!(
            agent["limits"]["properties"][what]["pattern"],
            hookline_model::catalog::SIZE_PATTERN,
            "limits.{what}"
        );
    }
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
    let mut served: Vec<(String, String)> = hookline_admin::routes()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
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
    let plan = hookline_bus::store::plan(&pipeline.nats, &catalog).await.expect("plan");
    assert_eq!(plan.report.updated, ["source.rev"]);
    let (status, _) = admin(
        &pipeline,
        "PUT",
        path,
        json!({"provider": "github", "max_body_bytes": 2000}),
    )
    .await;
    assert_eq!(status, 200);
    let error = hookline_bus::store::execute(&pipeline.nats, &plan)
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
    let guard = hookline_model::ssrf::Guard::parse("127.0.0.1").expect("allow-list");
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
        let apply_says = hookline_model::ssrf::check_catalog(&guard, &hookline_model::ssrf::Guard::default(), &catalog)
            .expect_err("apply refuses it too");
        assert_eq!(answer["error"]["problems"], json!(apply_says), "{url}");
    }
    let (_, list) = admin(&pipeline, "GET", "/v1/subscriptions", serde_json::Value::Null).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_clear_answer_never_a_5xx() {
    let pipeline = edge_and_admin().await;
    create(
        &pipeline,
        "/v1/subscriptions/ops",
        json!({"url": "https://example.com/h", "secrets": [WHSEC]}),
    )
    .await;
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
async fn a_secret_the_admin_service_cannot_read_does_not_block_writes() {
    // Only the executor would have this variable; the admin service never does.
    let pipeline = Pipeline::start_services(&Catalog::default(), &[], &[hookline_tests::Service::Admin]).await;
    assert!(std::env::var("HOOKLINE_TEST_EXECUTOR_ONLY_TOKEN").is_err());
    let (status, profile) = admin(
        &pipeline,
        "PUT",
        "/v1/profiles/deploy",
        json!({"secrets": {"GITHUB_TOKEN": "env:HOOKLINE_TEST_EXECUTOR_ONLY_TOKEN"}}),
    )
    .await;
    assert_eq!(status, 201, "{profile}");
    assert_eq!(
        profile["secrets"]["GITHUB_TOKEN"],
        "env:HOOKLINE_TEST_EXECUTOR_ONLY_TOKEN"
    );
    let (status, agent) = admin(
        &pipeline,
        "PUT",
        "/v1/agents/deployer",
        json!({"prompt": "deploy", "profile": "deploy", "runner": {"type": "command", "command": ["true"]}}),
    )
    .await;
    assert_eq!(status, 201, "{agent}");
    let (status, refused) = admin(
        &pipeline,
        "PUT",
        "/v1/profiles/bad",
        json!({"secrets": {"X": "env:not a name"}}),
    )
    .await;
    assert_eq!(status, 400, "a malformed reference is still refused: {refused}");
}
