//! Services as real processes, for tests that kill them: each is one of
//! the workspace's service binaries, started with the test's settings in
//! its environment and its output in a log file, killed with SIGKILL (as a
//! crash, not a shutdown) and started again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::workspace_binary;

/// One service binary run as a child process.
pub struct ServiceProcess {
    binary: PathBuf,
    env: HashMap<String, String>,
    log: PathBuf,
    child: Option<Child>,
}

impl ServiceProcess {
    /// Starts `binary` (such as `hookline-executor`) with `env` (and no
    /// other `HOOKLINE_*` setting), appending its output to
    /// `<logs>/<binary>.log`.
    pub fn start(binary: &str, env: &HashMap<String, String>, logs: &Path) -> Self {
        let mut process = Self {
            binary: workspace_binary(binary),
            env: env.clone(),
            log: logs.join(format!("{binary}.log")),
            child: None,
        };
        process.spawn();
        process
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let err = log.try_clone().expect("log file");
        let inherited = std::env::vars().filter(|(k, _)| !k.starts_with("HOOKLINE_"));
        let child = Command::new(&self.binary)
            .env_clear()
            .envs(inherited)
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
    }

    /// Kills it with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills it (if it runs) and starts it again with the same settings.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Its output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
