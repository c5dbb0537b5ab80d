//! What can be checked of `compose.yaml` and the `Dockerfile` without a
//! Docker engine: every service, binary and setting they name exists, each
//! service has a health check and a restart policy, the configuration they
//! apply is valid, and the health listener they probe answers.

use std::collections::BTreeSet;
use std::path::Path;

use hookline_model::catalog::Catalog;
use hookline_tests::{Pipeline, Service, get, workspace_binary};
use hookline_tests::{free_port, workspace_root};

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The top-level blocks of `services:`, by name, as text.
fn compose_services(text: &str) -> Vec<(String, String)> {
    let body = text.split("\nservices:\n").nth(1).expect("a services: section");
    let body = body.split("\nvolumes:").next().unwrap_or(body);
    let mut services: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !name.starts_with(' ')
        {
            services.push((name.to_owned(), String::new()));
        } else if let Some((_, block)) = services.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    services
}

/// Every `HOOKLINE_*` name a Rust source file under `dir` spells in quotes.
fn settings_read_by_code(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            settings_read_by_code(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source");
            for piece in text.split("\"HOOKLINE_").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                found.insert(format!("HOOKLINE_{name}"));
            }
        }
    }
}

fn binaries() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ["ingest", "admin", "router", "executor", "notifier"]
        .iter()
        .map(|s| {
            let manifest = read(&format!("services/{s}/Cargo.toml"));
            let bin = manifest.split("[[bin]]").nth(1).expect("a [[bin]]");
            bin.split('"').nth(1).expect("its name").to_owned()
        })
        .collect();
    names.insert("hookline".into());
    names
}

#[test]
fn compose_names_only_services_binaries_and_settings_that_exist() {
    let compose = read("compose.yaml");
    let services = compose_services(&compose);
    let names: BTreeSet<&str> = services.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in ["nats", "config", "ingest", "admin", "router", "executor", "notifier"] {
        assert!(names.contains(wanted), "compose.yaml lacks {wanted}: {names:?}");
    }
    let anchor = compose.split("x-hookline: &hookline").nth(1).expect("the shared block");
    let anchor = anchor.split("\n\n").next().unwrap_or_default();
    assert!(anchor.contains("restart: unless-stopped"), "{anchor}");
    let bins = binaries();
    for (name, block) in &services {
        if name == "config" {
            assert!(
                block.contains("restart: on-failure"),
                "config retries until NATS takes it"
            );
            continue;
        }
        assert!(block.contains("healthcheck:"), "{name} has no health check");
        if name == "nats" {
            assert!(
                block.contains("restart:") && block.contains("nats-data:/data"),
                "{block}"
            );
            assert!(block.contains("--jetstream"), "{block}");
            continue;
        }
        assert!(block.contains("<<: *hookline"), "{name} lacks the restart policy");
        let command = block.split("command: [\"").nth(1).expect("a command");
        let binary = command.split('"').next().unwrap_or_default();
        assert!(bins.contains(binary), "{name} runs {binary}, not one of {bins:?}");
        // The probe reaches the port the service listens on.
        let probe = block.split("/readyz").next().unwrap_or_default();
        let port = probe.rsplit(':').next().unwrap_or_default();
        assert!(
            block.contains(&format!("0.0.0.0:{port}")),
            "{name} probes port {port} it does not listen on"
        );
    }

    let mut known = BTreeSet::new();
    settings_read_by_code(&workspace_root().join("services"), &mut known);
    let docs = read("docs/configuration.md");
    for piece in compose.split("HOOKLINE_").skip(1) {
        let name: String = piece
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        let setting = format!("HOOKLINE_{name}");
        if setting == "HOOKLINE_ADMIN_TOKEN" || setting == "HOOKLINE_SUBSCRIPTION_SECRET" {
            continue; // The operator's own variables, passed on under another name.
        }
        assert!(
            known.contains(&setting),
            "compose.yaml sets {setting}, which no service reads"
        );
        assert!(docs.contains(&setting), "{setting} is not in docs/configuration.md");
    }
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_ships_every_binary_in_another() {
    let dockerfile = read("Dockerfile");
    let stages: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(stages[0].ends_with(" AS build"));
    assert!(dockerfile.contains("cargo build --release --locked --bins"));
    for binary in binaries() {
        assert!(
            dockerfile.contains(&format!("/src/target/release/{binary} /usr/local/bin/{binary}")),
            "the image lacks {binary}"
        );
    }
    assert!(dockerfile.contains("git"), "the executor clones repositories");
    for path in read("deploy/hookline.toml")
        .split('"')
        .filter(|p| p.starts_with("/opt/hookline/"))
    {
        assert!(
            dockerfile.contains(&format!(" {path}\n")),
            "deploy/hookline.toml runs {path}, not in the image"
        );
    }
    assert!(dockerfile.contains("\nUSER "), "the services do not run as root");
    assert!(read(".dockerignore").lines().any(|l| l == "target"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_compose_applies_is_valid() {
    let server = hookline_tests::NatsServer::start();
    let output = tokio::process::Command::new(workspace_binary("hookline"))
        .args(["apply", "--dry-run", "-f"])
        .arg(workspace_root().join("deploy/hookline.toml"))
        .env("HOOKLINE_NATS_URL", server.url())
        .env("GITHUB_WEBHOOK_SECRET", "deploy-test-secret")
        .env("HOOKLINE_SUBSCRIPTION_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("+ source.github (would be created)"), "{stdout}");
    let catalog = Catalog::load(&workspace_root().join("examples/hookline.toml")).expect("example loads");
    assert!(catalog.validate().is_ok());
    let example = read("examples/hookline.toml");
    for provider in hookline_model::catalog::Provider::ALL {
        assert!(
            example.contains(&format!("provider = \"{}\"", provider.name())),
            "examples/hookline.toml does not show provider {}",
            provider.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_without_a_port_answer_health_checks_when_asked() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut pipeline = Pipeline::start_services(
        &Catalog::default(),
        &[("HOOKLINE_HEALTH_LISTEN", listen.as_str())],
        &[Service::Router],
    )
    .await;
    let deadline = std::time::Instant::now() + hookline_tests::WAIT;
    while get(&format!("http://{listen}/readyz")).await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "no readiness answer");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(get(&format!("http://{listen}/healthz")).await.0, 200);
    assert_eq!(get(&format!("http://{listen}/nope")).await.0, 404);
    pipeline.server.stop();
    let deadline = std::time::Instant::now() + hookline_tests::WAIT;
    let mut last = 0;
    while std::time::Instant::now() < deadline {
        last = get(&format!("http://{listen}/readyz")).await.0;
        if last == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last, 503, "not ready while NATS is down");
    assert_eq!(get(&format!("http://{listen}/healthz")).await.0, 200, "but alive");
}

#[test]
fn every_binary_answers_help_and_version_and_explains_a_bad_command_line() {
    for binary in binaries() {
        let path = workspace_binary(&binary);
        let help = std::process::Command::new(&path).arg("--help").output().expect("runs");
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(help.status.success(), "{binary} --help: {help:?}");
        assert!(
            text.contains(&binary) || text.contains("Usage"),
            "{binary} --help said: {text}"
        );
        let version = std::process::Command::new(&path)
            .arg("--version")
            .output()
            .expect("runs");
        assert!(version.status.success(), "{binary} --version: {version:?}");
        assert!(
            String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
            "{binary} --version"
        );
        if binary != "hookline" {
            let bad = std::process::Command::new(&path)
                .arg("--nats-url")
                .output()
                .expect("runs");
            assert_eq!(bad.status.code(), Some(2), "{binary} with a flag and no value");
            let said = String::from_utf8_lossy(&bad.stderr);
            assert!(said.contains("needs a value") && !said.contains("backtrace"), "{said}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_start_with_a_list_of_nats_servers_while_one_is_down() {
    let mut pipeline = Pipeline::start_services(&Catalog::default(), &[], &[]).await;
    let down = format!("nats://127.0.0.1:{}", free_port());
    pipeline.set("HOOKLINE_NATS_URL", format!("{down}, {}", pipeline.server.url()));
    pipeline.start_service(Service::Ingest).await;
    let (status, _) = get(&format!("http://{}/readyz", pipeline.ingest)).await;
    assert_eq!(status, 200, "ingest is connected through the server that is up");
}
