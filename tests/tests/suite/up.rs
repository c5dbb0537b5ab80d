//! `hookline up` stopped as a terminal stops it: Ctrl-C is SIGINT to the
//! whole foreground process group, and when the output goes through a pipe
//! (`hookline up | tee up.log`) the pipe's reader dies first. Every service
//! stops, the local nats-server is stopped and reaped, and the command
//! exits; a second Ctrl-C stops at once even while a run is in hand.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hookline_tests::free_port;
use hookline_tests::{ADMIN_TOKEN, eventually, processes_with, script, workspace_binary};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `hookline up` in its own process group, as a shell's foreground job,
/// its output into a pipe; answers once it printed that it is up, with
/// the admin API's address.
async fn up(dir: &Path, config: &Path, grace: Option<&str>) -> (Child, String) {
    let admin = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(workspace_binary("hookline"));
    if let Some(grace) = grace {
        command.env("HOOKLINE_GRACE", grace);
    }
    let mut child = command
        .arg("up")
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--receiver", &format!("127.0.0.1:{}", free_port())])
        .args(["--nats-port", &free_port().to_string()])
        .env("HOOKLINE_ADMIN_LISTEN", &admin)
        .env("HOOKLINE_ADMIN_TOKENS", ADMIN_TOKEN)
        .current_dir(hookline_tests::workspace_root())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr")).expect("stderr file"))
        .kill_on_drop(true)
        .spawn()
        .expect("hookline up");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.starts_with("Hookline is up.") {
                return;
            }
        }
        panic!("hookline up ended before it was up");
    })
    .await
    .expect("hookline up starts within a minute");
    // The reader dies (as `tee` does on Ctrl-C): the pipe has no reader.
    drop(lines);
    (child, admin)
}

/// SIGINT to the whole process group, as a terminal's Ctrl-C.
async fn ctrl_c(child: &Child) {
    let pgid = child.id().expect("running");
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .await
        .expect("kill");
    assert!(status.success());
}

async fn exits_within(child: &mut Child, limit: Duration, what: &str) {
    tokio::time::timeout(limit, child.wait())
        .await
        .unwrap_or_else(|_| panic!("hookline up still running {limit:?} after {what}"))
        .expect("wait");
}

fn config(dir: &Path) -> std::path::PathBuf {
    let agent = script(
        dir,
        "agent.sh",
        &format!("touch {}/agent-started\nexec sleep 317.5", dir.display()),
    );
    let path = dir.join("hookline.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[sources.github]
provider = "github"
secrets = ["up-test-secret-0123456789"]

[agents.slow]
prompt = "x"
runner = {{ type = "command", command = ["{agent}"] }}
sandbox_paths = {{ write = ["{dir}"] }}
"#,
            dir = dir.display()
        ),
    )
    .expect("config");
    path
}

/// Starts a run of the slow agent and waits for its agent to start.
async fn start_slow_run(dir: &Path, admin: &str) {
    let answer = hookline_tests::call(
        "POST",
        &format!("http://{admin}/v1/agents/slow/run"),
        &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        "{}",
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.json());
    eventually("the agent to start", || async {
        if dir.join("agent-started").exists() {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await;
}

/// Nothing of `hookline up` left: its nats-server (named by its store) and
/// the agent.
async fn all_gone(nats: &str) {
    hookline_tests::until_no_process("its nats-server and the agent gone, and reaped", |c| {
        c.contains(nats) || c.contains("sleep 317.5")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hookline_up_stops_on_ctrl_c_when_its_output_reader_died() {
    let dir = tempfile::tempdir().expect("dir");
    let config = config(dir.path());
    // The nats-server's own command line names its store.
    let nats = format!("-sd {}", dir.path().join("data/nats").display());
    let (mut child, admin) = up(dir.path(), &config, None).await;
    assert_eq!(processes_with(&nats).len(), 1, "its nats-server runs");
    // A run in hand: it gets a few seconds (HOOKLINE_GRACE, 5 s for `up`),
    // then it is left to be taken over next time.
    start_slow_run(dir.path(), &admin).await;
    ctrl_c(&child).await;
    exits_within(&mut child, Duration::from_secs(20), "one Ctrl-C").await;
    all_gone(&nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_stops_hookline_up_at_once_while_a_run_is_in_hand() {
    let dir = tempfile::tempdir().expect("dir");
    let config = config(dir.path());
    // The nats-server's own command line names its store.
    let nats = format!("-sd {}", dir.path().join("data/nats").display());
    let (mut child, admin) = up(dir.path(), &config, Some("60s")).await;
    start_slow_run(dir.path(), &admin).await;
    // The first Ctrl-C lets the run in hand finish (within HOOKLINE_GRACE).
    ctrl_c(&child).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        child.try_wait().expect("wait").is_none(),
        "still finishing the run in hand"
    );
    // The second one stops everything at once.
    ctrl_c(&child).await;
    exits_within(&mut child, Duration::from_secs(10), "a second Ctrl-C").await;
    all_gone(&nats).await;
}
