//! A share link shows one run's transcript and diff to someone without a
//! token, reaches nothing else, and stops working when it expires, is
//! revoked, or was tampered with.

use hookline_bus::runs::RunStatus;
use hookline_tests::{call, eventually};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_share_link_shows_one_run_and_nothing_else_until_it_ends() {
    let dir = tempfile::tempdir().expect("tmp");
    let (pipeline, _origin) = super::replay::one_fix(dir.path(), "share-1").await;
    let (_, runs) = pipeline.admin("GET", "/v1/runs", Value::Null).await;
    let run_id = runs["items"][0]["run_id"].as_str().expect("run").to_owned();
    assert_eq!(runs["items"][0]["status"], json!(RunStatus::Succeeded));

    let share = |lasts: &'static str| {
        let pipeline = &pipeline;
        let run_id = run_id.clone();
        async move {
            let (status, made) = pipeline
                .admin("POST", &format!("/v1/runs/{run_id}/share"), json!({ "for": lasts }))
                .await;
            assert_eq!(status, 201, "{made}");
            made
        }
    };
    let page = |path: String| {
        let url = format!("http://{}{path}", pipeline.admin);
        async move { call("GET", &url, &[], "").await }
    };

    // Without any token: the run's page, its diff in it.
    let made = share("1h").await;
    let path = made["path"].as_str().expect("path").to_owned();
    let shown = page(path.clone()).await;
    assert_eq!(shown.status, 200);
    let html = String::from_utf8_lossy(&shown.body).into_owned();
    assert!(html.contains(&run_id) && html.contains("+fixed"), "{html}");
    assert!(
        !html.contains("/console/runs") && !html.contains("Sign out"),
        "no way into the console from it"
    );
    assert_eq!(shown.headers["cache-control"], "no-store");

    // The link is not a credential for anything else.
    let token = path.trim_start_matches("/share/");
    for path in ["/v1/runs", &format!("/v1/runs/{run_id}/transcript"), "/v1/agents"] {
        let url = format!("http://{}{path}", pipeline.admin);
        let bearer = format!("Bearer {token}");
        let answer = call("GET", &url, &[("authorization", &bearer)], "").await;
        assert_eq!(answer.status, 401, "{path}");
    }
    let console = call(
        "GET",
        &format!("http://{}/console/runs/{run_id}", pipeline.admin),
        &[],
        "",
    )
    .await;
    assert_eq!(console.status, 303, "the console still asks to sign in");
    // A link whose signature was changed, or a share id made up, shows nothing.
    let mut tampered = path.clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == '0' { '1' } else { '0' });
    assert_eq!(page(tampered).await.status, 404);
    assert_eq!(
        page(format!("/share/{}.{}", "ab".repeat(12), "0".repeat(64)))
            .await
            .status,
        404
    );

    // Revoked: at once.
    let share_id = made["share_id"].as_str().expect("id");
    let (status, _) = pipeline
        .admin("DELETE", &format!("/v1/shares/{share_id}"), Value::Null)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page(path).await.status, 404);

    // Expired: once its time is up.
    let brief = share("2s").await;
    let path = brief["path"].as_str().expect("path").to_owned();
    assert_eq!(page(path.clone()).await.status, 200);
    eventually("the link to expire", || async {
        match page(path.clone()).await.status {
            404 => Ok(()),
            other => Err(format!("still {other}")),
        }
    })
    .await;
}
