//! Run folders left behind: a run's folder is removed when its run ends, but
//! an executor killed mid-run leaves it. At start, every folder of a run
//! whose record says it is done is removed. A folder of a run that is not
//! done (another copy sharing this folder may be running it) and one of a
//! run without a record are left alone, and so is a failed run's folder
//! that was kept on purpose (`keep_failed_workspace`).

use std::path::{Path, PathBuf};

use hookline_core::runs::{Records, RunStatus};

/// Folder names start with this, then the run id.
pub const PREFIX: &str = "run-";

/// The folder prefix of one run (`run-<run id>-`).
pub fn prefix(run_id: &str) -> String {
    format!("{PREFIX}{run_id}-")
}

/// The run id a folder name carries, if it is a run folder.
fn run_id(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(PREFIX)?;
    // A run id is a UUID (36 characters); the rest is tempfile's suffix.
    rest.get(..36).filter(|id| uuid::Uuid::parse_str(id).is_ok())
}

/// Removes the folders under `root` of runs that are done; answers the
/// folders removed.
pub async fn leftovers(root: &Path, records: &Records, kept_failed: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = run_id(&name) else { continue };
        let Ok(Some(record)) = records.get(id).await else {
            continue;
        };
        let kept = record.status == RunStatus::Failed && kept_failed(&record.agent);
        if record.is_done() && !kept && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    if !removed.is_empty() {
        tracing::info!(count = removed.len(), "Removed the folders of runs that had ended.");
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folders_carry_their_run_id() {
        let id = "01a20aa3-470a-734d-92d9-68bd80c9579f";
        assert_eq!(run_id(&format!("{}abc123", prefix(id))), Some(id));
        assert_eq!(run_id("run-not-a-uuid-at-all-but-long-enough-xxxxx"), None);
        assert_eq!(run_id("hookline-triage-abc"), None);
    }
}
