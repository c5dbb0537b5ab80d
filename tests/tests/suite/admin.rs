//! The admin API end to end: configuration created by API reaches every
//! service live, tokens are required, secrets never come back.

use std::time::{Duration, Instant};

use hookline_model::catalog::Catalog;
use hookline_tests::{ADMIN_TOKEN, Pipeline, Receiver, Service, WAIT, eventually, post_github, request};
use serde_json::{Value, json};

pub(crate) const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SOURCE_SECRET: &str = "api-created-source-secret";

/// Ingest and the admin service on a fresh NATS with nothing configured.
pub(crate) async fn edge_and_admin() -> Pipeline {
    Pipeline::start_services(
        &Catalog::default(),
        &[],
        &[hookline_tests::Service::Ingest, hookline_tests::Service::Admin],
    )
    .await
}

/// PUTs `body` at `path` and expects it created.
pub(crate) async fn create(pipeline: &Pipeline, path: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, answer) = admin(pipeline, "PUT", path, body).await;
    assert_eq!(status, 201, "PUT {path}: {answer}");
    answer
}

pub(crate) fn auth() -> String {
    format!("Bearer {ADMIN_TOKEN}")
}

pub(crate) async fn admin(
    pipeline: &Pipeline,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_api_is_served_by_the_admin_service_only() {
    let pipeline = edge_and_admin().await;
    let token = auth();
    let headers = [("authorization", token.as_str())];
    for (method, path) in hookline_admin::routes() {
        let path = path
            .replace("{kind}", "sources")
            .replace("{id}", "x")
            .replace("{run_id}", "r")
            .replace("{event_id}", "e");
        if path == "/healthz" || path == "/readyz" || path == "/metrics" {
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
async fn a_refused_request_leaves_the_delivery_id_it_claimed() {
    let pipeline = edge_and_admin().await;
    create(
        &pipeline,
        "/v1/sources/gh",
        json!({"provider": "github", "secrets": [SOURCE_SECRET]}),
    )
    .await;
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

/// Durations, schedules, sizes, event patterns and egress rules are read
/// into typed values when an item is written: a bad one is refused there,
/// with the field it is in, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_duration_schedule_size_pattern_or_egress_rule_is_refused_naming_its_field() {
    let pipeline = edge_and_admin().await;
    let agent = |field: &str, value: serde_json::Value| {
        let mut body = json!({"prompt": "p", "runner": {"type": "command", "command": ["true"]}});
        match field.split_once('.') {
            Some((outer, inner)) => body[outer] = json!({ inner: value }),
            None => body[field] = value,
        }
        body
    };
    let cases = [
        (
            "/v1/agents/a",
            agent("timeout", json!("5 weeks")),
            "agent `a`: timeout: `5 weeks`",
        ),
        (
            "/v1/agents/a",
            agent("approval_timeout", json!("soon")),
            "agent `a`: approval_timeout: `soon`",
        ),
        (
            "/v1/agents/a",
            agent("schedule", json!("* * *")),
            "agent `a`: schedule: `* * *`",
        ),
        (
            "/v1/agents/a",
            agent("limits.memory", json!("4T")),
            "agent `a`: limits.memory:",
        ),
        (
            "/v1/agents/a",
            agent("limits.cpu_time", json!("1 hour")),
            "agent `a`: limits.cpu_time:",
        ),
        (
            "/v1/profiles/p",
            json!({"egress": ["api.github.com", "bad host"]}),
            "profile `p`: egress `bad host`",
        ),
        (
            "/v1/subscriptions/s",
            json!({"url": "https://example.com/hook", "events": ["run.>.x"], "secrets": [WHSEC]}),
            "subscription `s`: `run.>.x`",
        ),
    ];
    for (path, body, named) in cases {
        let (status, answer) = admin(&pipeline, "PUT", path, body).await;
        let problem = answer["error"]["problems"][0].as_str().unwrap_or("").to_owned();
        assert_eq!(status, 400, "PUT {path}: {answer}");
        assert!(
            problem.starts_with(named),
            "PUT {path}: the problem names the field: {problem}"
        );
        assert_eq!(
            admin(&pipeline, "GET", path, serde_json::Value::Null).await.0,
            404,
            "nothing stored at {path}"
        );
    }
}

/// A preset agent written through the API: refused without its model
/// entry (naming what to add); accepted with it, its MCP credential
/// answered as a hint, never the credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_preset_agent_needs_its_model_and_its_mcp_credential_is_never_shown() {
    let pipeline = Pipeline::start_services(&Catalog::default(), &[], &[Service::Admin]).await;
    let agent = json!({"prompt": "Fix it", "profile": "p",
                       "runner": {"type": "claude-code", "model": "claude-sonnet-4-5", "max_turns": 20},
                       "mcp": {"linear": {"url": "https://mcp.linear.app/mcp", "secret": "lin-api-secret-9931", "tools": ["get_issue"]}}});
    let (status, _) = admin(&pipeline, "PUT", "/v1/profiles/p", json!({})).await;
    assert_eq!(status, 201);
    let (status, refused) = admin(&pipeline, "PUT", "/v1/agents/fixer", agent.clone()).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused.to_string().contains("add `[profiles.p.models.anthropic]`"),
        "{refused}"
    );
    let profile = json!({"models": {"anthropic": {"upstream": "https://api.anthropic.com", "header": "x-api-key",
                         "secret": "env:ANTHROPIC_API_KEY"}}});
    let (status, answer) = admin(&pipeline, "PUT", "/v1/profiles/p", profile).await;
    assert_eq!(status, 200, "{answer}");
    let (status, written) = admin(&pipeline, "PUT", "/v1/agents/fixer", agent).await;
    assert_eq!(status, 201, "{written}");
    let (_, read) = admin(&pipeline, "GET", "/v1/agents/fixer", Value::Null).await;
    for shown in [&written, &read] {
        assert_eq!(shown["mcp"]["linear"]["secret"], json!("…9931"), "{shown}");
        assert!(!shown.to_string().contains("lin-api-secret"), "{shown}");
        assert_eq!(shown["runner"]["type"], json!("claude-code"));
    }
}
