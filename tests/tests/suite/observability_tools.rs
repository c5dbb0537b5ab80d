//! Reading what a service reports: promtool's check of its metrics text,
//! one scrape, one Prometheus query.

use hookline_tests::{call, try_call};
use std::io::Write as _;
use std::process::{Command, Stdio};

pub(crate) fn promtool_check(service: &str, text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/install-prometheus)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics on {service}: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) async fn metrics_text(url: &str) -> String {
    let answer = call("GET", url, &[], bytes::Bytes::new()).await;
    assert_eq!(answer.status, 200, "{url}");
    let content_type = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{url}: {content_type}"
    );
    String::from_utf8_lossy(&answer.body).into_owned()
}

/// A Prometheus instant query's single value.
pub(crate) async fn query(prometheus: &str, expr: &str) -> Option<f64> {
    let url = format!(
        "{prometheus}/api/v1/query?query={}",
        form_urlencoded::byte_serialize(expr.as_bytes()).collect::<String>()
    );
    // Prometheus may still be starting: no answer is no value yet.
    let answer = try_call("GET", &url, &[], bytes::Bytes::new()).await.ok()?;
    let value: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
    value["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}
