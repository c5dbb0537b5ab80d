//! An executor killed while setting a run up leaves no process behind, and
//! its control groups are swept by the next one.

use super::executor::*;
use hookline_model::catalog::Catalog;
use hookline_tests::{Pipeline, Service, WAIT, script, workspace_binary};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// An executor killed while a sandboxed run is still in its set-up leaves
/// no process of the run behind, and the next executor to start removes
/// the run's control groups once nobody holds the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_executor_killed_in_set_up_leaves_no_process_and_its_groups_are_swept() {
    let dir = tempfile::tempdir().expect("tmp");
    let agent = script(dir.path(), "agent.sh", "echo done");
    let text = format!(
        r#"
[sources.gh]
provider = "github"
secrets = ["{SECRET}"]

[profiles.p]
env = {{ OUT_DIR = "{out}" }}
setup = ["touch \"$OUT_DIR/setup-started\"; if [ \"$HOOKLINE_ATTEMPT\" = 1 ]; then exec sleep 313.25; fi"]

[agents.worker]
prompt = "x"
runner = {{ type = "command", command = ["{agent}"] }}
profile = "p"
triggers = [{{ source = "gh", events = ["issues"] }}]
sandbox_paths = {{ write = ["{out}"] }}
"#,
        out = dir.path().display()
    );
    let catalog = Catalog::parse(&text).expect("parse");
    catalog.validate().expect("valid");
    let mut pipeline = Pipeline::start_services(
        &catalog,
        &[("HOOKLINE_EXECUTOR_ACK_WAIT", "2s")],
        &[Service::Ingest, Service::Router],
    )
    .await;
    let workdir = tempfile::tempdir().expect("workdir");
    let mut child = executor_process(&pipeline, workdir.path());
    send_issue(&pipeline, "kill-setup-1", "crash in set-up").await;
    wait_for_file_to_exist(&dir.path().join("setup-started")).await;
    let run_id = std::fs::read_dir(workdir.path())
        .expect("workdir")
        .flatten()
        .find_map(|e| {
            Some(
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix("run-")?
                    .get(..36)?
                    .to_owned(),
            )
        })
        .expect("the run's folder");
    let group = hookline_executor::attempt::sweep::group_name(&run_id, 1);
    let groups: Vec<_> = hookline_sandbox::limits::group_parents()
        .into_iter()
        .map(|parent| parent.join(&group))
        .filter(|g| g.exists())
        .collect();

    // SIGKILL: no shutdown, no cleanup.
    child.kill().expect("kill");
    child.wait().expect("reaped");
    let marker = "sleep 313.25";
    hookline_tests::until_no_process("no process of the run left", |c| {
        c.contains(marker) || (c.starts_with("bwrap") && c.contains(&run_id))
    })
    .await;
    if groups.is_empty() {
        println!("this host gives the executor no control groups: the sweep is not exercised");
        return;
    }
    assert!(
        groups.iter().all(|g| g.exists()),
        "a killed executor leaves its groups: {groups:?}"
    );

    // Past the lease, the next executor finds the groups nobody holds.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    pipeline.set("HOOKLINE_EXECUTOR_WORKDIR", workdir.path().display().to_string());
    pipeline.start_service(Service::Executor).await;
    hookline_tests::eventually("the killed attempt's groups to go", || async {
        let left: Vec<_> = groups.iter().filter(|g| g.exists()).collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    })
    .await;
}

/// The executor as its own process (a SIGKILL is a crash, not a
/// shutdown), on `pipeline`'s NATS with a 2 s lease.
pub(crate) fn executor_process(pipeline: &Pipeline, workdir: &Path) -> std::process::Child {
    Command::new(workspace_binary("hookline-executor"))
        .env("HOOKLINE_NATS_URL", pipeline.server.url())
        .env("HOOKLINE_EXECUTOR_ACK_WAIT", "2s")
        .env("HOOKLINE_EXECUTOR_WORKDIR", workdir)
        .env("HOOKLINE_LOG", "warn")
        .spawn()
        .expect("start executor")
}

pub(crate) async fn wait_for_file_to_exist(path: &Path) {
    let deadline = Instant::now() + WAIT;
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
