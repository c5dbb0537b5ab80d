//! The admin API against a schema-driven fuzzer (Schemathesis) reading
//! docs/openapi.json.

use super::admin::WHSEC;
use hookline_model::catalog::Catalog;
use hookline_tests::Pipeline;
use serde_json::json;
use std::time::Duration;

/// Where Schemathesis is installed (`scripts/install-schemathesis`).
pub(crate) fn schemathesis_path() -> std::path::PathBuf {
    std::env::var_os("HOOKLINE_SCHEMATHESIS_PATH")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| hookline_tests::workspace_root().join(".tools/py"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schema_driven_fuzzer_finds_no_server_error_and_no_disagreement_with_the_document() {
    let path = schemathesis_path();
    assert!(
        path.join("schemathesis").is_dir(),
        "Schemathesis is not installed at {}: run scripts/install-schemathesis (scripts/test does)",
        path.display()
    );
    let subscriber = hookline_tests::Receiver::start(|_, _| 200).await;
    let mut catalog = Catalog::default();
    catalog.sources.insert(
        "gh".to_owned(),
        serde_json::from_value(json!({"provider": "github", "secrets": ["fuzz-source-secret"]})).expect("source"),
    );
    catalog.agents.insert(
        "triage".to_owned(),
        serde_json::from_value(
            json!({"prompt": "x", "runner": {"type": "command", "command": ["true"]},
                                      "triggers": [{"source": "gh"}]}),
        )
        .expect("agent"),
    );
    catalog.subscriptions.insert(
        "ops".to_owned(),
        serde_json::from_value(json!({"url": subscriber.url(), "secrets": [WHSEC]})).expect("subscription"),
    );
    let pipeline = Pipeline::start(&catalog, &[]).await;
    let token = format!("Authorization: Bearer {}", hookline_tests::ADMIN_TOKEN);
    let doc = hookline_tests::workspace_root().join("docs/openapi.json");
    // Bounded: a fixed seed and a few examples per operation keep CI
    // repeatable; HOOKLINE_FUZZ_EXAMPLES raises it for a longer hunt.
    let examples = std::env::var("HOOKLINE_FUZZ_EXAMPLES").unwrap_or_else(|_| "10".to_owned());
    // Schemathesis and Hypothesis keep their databases in the working
    // folder: a temporary one keeps the tree clean.
    let scratch = tempfile::tempdir().expect("scratch folder");
    // Every check, positive data acceptance included; the rules no schema
    // can state are named in tests/fuzz/named_exceptions.py.
    let fuzz = hookline_tests::workspace_root().join("tests/fuzz");
    let run = tokio::process::Command::new("python3")
        .current_dir(scratch.path())
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(fuzz.join("schemathesis.toml"))
        .arg("run")
        .arg(&doc)
        .args(["--url", &format!("http://{}", pipeline.admin), "-H", &token])
        // Every check: `[checks] enabled = true` in the file, not
        // `--checks all`, which would override its per-operation lines.
        .args(["--max-examples", &examples, "--seed", "20261123", "--no-color"])
        // A request that hangs is a finding, not a stalled suite (the
        // slowest route, a cancel, gives executors 5 s to answer).
        .args(["--request-timeout", "10"])
        .env("PYTHONPATH", &path)
        .env("SCHEMATHESIS_HOOKS", fuzz.join("named_exceptions.py"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the fuzz run ends within 10 minutes")
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let summary = text
        .lines()
        .rev()
        .take(25)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    println!("{summary}");
    assert!(
        output.status.success(),
        "Schemathesis found problems:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("passed"), "no test case ran:\n{text}");
}
