//! An agent left running after its turn ended, while it finishes writing
//! its own session files (agents write their last turn just after its
//! answer, and keep running after their input closes, so neither the
//! answer nor an exit says when they are done). The run goes on meanwhile:
//! its result does not wait for the agent's session state, only keeping
//! that state does ([`Lingering::stop`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::runner;

/// How long the agent's state folders must go unwritten after its turn
/// ended before it is stopped, and the longest that is waited for.
const SETTLED: Duration = Duration::from_millis(300);
const SETTLE_AT_MOST: Duration = Duration::from_secs(3);

/// An agent whose turn ended, still running; it is stopped when this is
/// dropped, at the latest.
#[derive(Debug)]
pub struct Lingering {
    child: Option<tokio::process::Child>,
    pgid: u32,
    state: Vec<PathBuf>,
    /// When its turn ended.
    since: Instant,
}

impl Lingering {
    pub(super) fn new(child: tokio::process::Child, pgid: u32, state: Vec<PathBuf>, since: Instant) -> Self {
        Self {
            child: Some(child),
            pgid,
            state,
            since,
        }
    }

    /// Waits until no file under the agent's state folders was written for
    /// [`SETTLED`] (and that long after its turn at least: its last write
    /// may not have begun when the answer came), at most
    /// [`SETTLE_AT_MOST`] after its turn; then stops it.
    pub async fn stop(mut self) {
        while self.since.elapsed() < SETTLE_AT_MOST {
            let newest = self.state.iter().filter_map(|f| newest_write(f)).max();
            let quiet = newest
                .and_then(|at| at.elapsed().ok())
                .is_none_or(|since| since >= SETTLED);
            if quiet && self.since.elapsed() >= SETTLED {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        runner::kill_group(self.pgid);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait().await;
        }
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        if self.child.is_some() {
            runner::kill_group(self.pgid);
        }
    }
}

/// When a file under `folder` was last written (links not followed).
fn newest_write(folder: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if let Ok(at) = meta.modified() {
                newest = newest.max(Some(at));
            }
        }
    }
    newest
}
