//! The console closed without a session, and to other sites (CSRF,
//! framing).

use super::console::*;
use hookline_tests::browser::Browser;
use hookline_tests::{ADMIN_TOKEN, Pipeline, Receiver, call, eventually};
use serde_json::Value;

/// A session cookie and this session's CSRF token, signed in over HTTP.
pub(crate) async fn http_session(console: &str) -> (String, String) {
    let form = format!("token={ADMIN_TOKEN}&next=%2Fconsole");
    let answer = call(
        "POST",
        &format!("{console}/login"),
        &[("content-type", "application/x-www-form-urlencoded")],
        form,
    )
    .await;
    assert_eq!(answer.status, 303);
    let cookie = answer.headers["set-cookie"].to_str().expect("cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains(ADMIN_TOKEN), "the cookie never holds the token");
    let cookie = cookie.split(';').next().expect("pair").to_owned();
    let page = call("GET", console, &[("cookie", &cookie)], "").await;
    let html = String::from_utf8_lossy(&page.body).into_owned();
    let csrf = html
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a csrf field")
        .to_owned();
    (cookie, csrf)
}

pub(crate) async fn agent_enabled(pipeline: &Pipeline) -> bool {
    let (_, agent) = pipeline.admin("GET", "/v1/agents/worker", Value::Null).await;
    agent["enabled"]
        .as_bool()
        .unwrap_or_else(|| panic!("no `enabled` in {agent}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_is_closed_without_a_session_and_to_other_sites() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("gate"), "").expect("gate");
    let subscriber = Receiver::start(|_, _| 200).await;
    let pipeline = Pipeline::start(&catalog(dir.path(), &subscriber.url()), &[]).await;
    let console = format!("http://{}/console", pipeline.admin);
    let event = open_issue(&pipeline, "closed-1", "ann", "MEMBER").await;
    let run_id = run_with(&pipeline, "succeeded").await;

    // Without a session every page and every action goes to the login.
    let pages = [
        String::new(),
        "/sources".into(),
        "/sources/gh".into(),
        "/agents".into(),
        "/agents/worker".into(),
        "/runs".into(),
        format!("/runs/{run_id}"),
        format!("/runs/{run_id}/log"),
        format!("/events?id={event}"),
        "/subscriptions".into(),
        "/subscriptions/flaky".into(),
    ];
    for page in &pages {
        let answer = call("GET", &format!("{console}{page}"), &[], "").await;
        assert_eq!(answer.status, 303, "GET {page}");
        let to = answer.headers["location"].to_str().expect("location");
        assert!(to.starts_with("/console/login"), "GET {page} went to {to}");
    }
    let actions = [
        "/sources/gh/test",
        "/sources/gh/disable",
        "/agents/worker/disable",
        "/agents/worker/run",
        &format!("/runs/{run_id}/cancel"),
        &format!("/runs/{run_id}/approve"),
        "/dlq/replay",
        "/subscriptions/flaky/disable",
    ];
    for action in actions {
        let answer = call("POST", &format!("{console}{action}"), &[], "subscription=flaky").await;
        assert_eq!(
            (answer.status, answer.headers["location"].to_str().ok()),
            (303, Some("/console/login")),
            "POST {action}"
        );
    }
    assert!(agent_enabled(&pipeline).await);

    // With a session: another origin, or no CSRF token, is refused; the
    // same form from the console's own page is done.
    let (cookie, csrf) = http_session(&console).await;
    let form = ("content-type", "application/x-www-form-urlencoded");
    let disable = format!("{console}/agents/worker/disable");
    let from_elsewhere = call(
        "POST",
        &disable,
        &[("cookie", &cookie), form, ("origin", "http://evil.example")],
        format!("_csrf={csrf}"),
    )
    .await;
    assert_eq!(from_elsewhere.status, 403);
    let without_token = call("POST", &disable, &[("cookie", &cookie), form], "").await;
    assert_eq!(without_token.status, 403);
    assert!(agent_enabled(&pipeline).await, "neither disabled the agent");
    let own_origin = format!("http://{}", pipeline.admin);
    let done = call(
        "POST",
        &disable,
        &[("cookie", &cookie), form, ("origin", &own_origin)],
        format!("_csrf={csrf}"),
    )
    .await;
    assert_eq!(done.status, 303);
    eventually("the agent disabled", || async {
        if agent_enabled(&pipeline).await {
            Err("enabled".to_owned())
        } else {
            Ok(())
        }
    })
    .await;
    let enable = call(
        "POST",
        &format!("{console}/agents/worker/enable"),
        &[("cookie", &cookie), form],
        format!("_csrf={csrf}"),
    )
    .await;
    assert_eq!(enable.status, 303);

    // No page shows a secret: the source's, the subscription's signing
    // secret, the credential in its URL, or the admin token.
    for page in &pages {
        let answer = call("GET", &format!("{console}{page}"), &[("cookie", &cookie)], "").await;
        assert_eq!(answer.status, 200, "GET {page}");
        let body = String::from_utf8_lossy(&answer.body);
        for secret in [SECRET, WHSEC, URL_SECRET, ADMIN_TOKEN] {
            assert!(!body.contains(secret), "{page} shows {secret}");
        }
    }

    // In a real browser: a page on another origin posts a form at the
    // console while the operator is signed in. The strict cookie is not
    // sent and the origin is not the console's: nothing changes.
    let browser = Browser::start(shots()).await;
    sign_in(&browser, &console).await;
    eventually("the agent enabled again", || async {
        if agent_enabled(&pipeline).await {
            Ok(())
        } else {
            Err("disabled".to_owned())
        }
    })
    .await;
    let attacker = format!(
        "data:text/html,<form method=post action='{console}/agents/worker/disable'><input name=_csrf value=guess></form><script>document.forms[0].submit()</script>"
    );
    browser.goto(&attacker).await;
    eventually("the forged form to be answered", || async {
        let path = browser.path().await;
        if path.starts_with("/console") {
            Ok(path)
        } else {
            Err(path)
        }
    })
    .await;
    assert!(
        agent_enabled(&pipeline).await,
        "a form from another origin changed nothing"
    );
    browser.close().await;
}
