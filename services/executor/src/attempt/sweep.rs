//! Run folders and control groups left behind: a run's folder and groups
//! are removed when its run ends, but an executor killed mid-run leaves
//! them (and, in the instant between fork and exec, possibly a process).
//! At start, every folder is removed
//! whose run is done, whose live run nobody holds (no lease, or an expired
//! one: a holder stops its agent before its lease runs out, and a takeover
//! makes a fresh folder), or whose record is gone (records are kept 7 days;
//! an executor takes the lease before it makes the folder). A folder of a
//! run whose lease is fresh (another copy sharing this folder may be
//! running it) is left alone, and so is a failed run's folder that was kept
//! on purpose (`keep_failed_workspace`).

use std::path::{Path, PathBuf};

use hookline_bus::runs::{Records, RunRecord, RunStatus};
use hookline_model::clock;

/// Folder names start with this, then the run id.
pub const PREFIX: &str = "run-";

/// Control group names start with this, then the run id and attempt.
const GROUP_PREFIX: &str = "hookline-";

/// The name of the control groups of `run_id`'s attempt `attempt`.
pub fn group_name(run_id: &str, attempt: u32) -> String {
    format!("{GROUP_PREFIX}{run_id}-{attempt}")
}

/// The run id and attempt a group name carries, if it is a run's.
fn group_of(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_prefix(GROUP_PREFIX)?;
    let (id, attempt) = (rest.get(..36)?, rest.get(37..)?);
    uuid::Uuid::parse_str(id).ok()?;
    (rest.as_bytes().get(36) == Some(&b'-')).then_some(())?;
    Some((id, attempt.parse().ok()?))
}

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

/// Whether nothing uses the folder of a run whose record is `record`.
fn abandoned(record: Option<&RunRecord>, now_ms: i64, kept_failed: impl Fn(&str) -> bool) -> bool {
    let Some(record) = record else {
        return true;
    };
    if record.status == RunStatus::Failed && kept_failed(&record.agent) {
        return false;
    }
    record.is_done() || record.lease.as_ref().is_none_or(|l| l.expires_at_ms <= now_ms)
}

/// Removes the folders under `root` that nothing uses any more; answers
/// the folders removed.
pub async fn leftovers(root: &Path, records: &Records, kept_failed: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = run_id(&name) else { continue };
        // A record that cannot be read leaves the folder alone.
        let Ok(record) = records.get(id).await else {
            continue;
        };
        if abandoned(record.as_ref(), clock::now_ms(), &kept_failed) && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    if !removed.is_empty() {
        tracing::info!(
            count = removed.len(),
            "Removed the folders of runs that ended or that nobody holds."
        );
    }
    removed
}

/// Removes the control groups under `parents` of attempts nobody runs any
/// more (done, not held, or an earlier attempt than the record's), killing
/// whatever is still in them; answers the groups removed. A group whose
/// run this installation has no record of is left alone: the parent group
/// may be shared with executors of another installation (another NATS,
/// another prefix), whose runs are theirs to sweep.
pub async fn leftover_groups(parents: &[PathBuf], records: &Records) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for parent in parents {
        let Ok(entries) = std::fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((id, attempt)) = group_of(&name) else { continue };
            let Ok(Some(record)) = records.get(id).await else {
                continue;
            };
            if record.attempt != attempt || abandoned(Some(&record), clock::now_ms(), |_| false) {
                removed.push(entry.path());
            }
        }
    }
    if !removed.is_empty() {
        tracing::info!(
            count = removed.len(),
            "Removing the control groups of runs nobody holds."
        );
        hookline_sandbox::limits::remove_groups(removed.clone());
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_groups_carry_their_run_id_and_attempt() {
        let id = "01a20aa3-470a-734d-92d9-68bd80c9579f";
        assert_eq!(group_of(&group_name(id, 3)), Some((id, 3)));
        assert_eq!(group_of("hookline-not-a-run"), None);
        assert_eq!(group_of(&format!("hookline-{id}")), None);
        assert_eq!(group_of(&format!("other-{id}-1")), None);
    }

    #[test]
    fn run_folders_carry_their_run_id() {
        let id = "01a20aa3-470a-734d-92d9-68bd80c9579f";
        assert_eq!(run_id(&format!("{}abc123", prefix(id))), Some(id));
        assert_eq!(run_id("run-not-a-uuid-at-all-but-long-enough-xxxxx"), None);
        assert_eq!(run_id("hookline-triage-abc"), None);
    }

    #[test]
    fn only_a_folder_whose_run_is_held_or_kept_stays() {
        let now = 1_700_000_000_000;
        let mut record = RunRecord::queued("r", "a", "", now);
        record.status = RunStatus::Running;
        let held = |expires_at_ms| hookline_bus::runs::Lease {
            owner: "copy".into(),
            expires_at_ms,
            ..Default::default()
        };
        record.lease = Some(held(now + 1000));
        assert!(!abandoned(Some(&record), now, |_| false), "a fresh lease keeps it");
        record.lease = Some(held(now - 1));
        assert!(abandoned(Some(&record), now, |_| false), "an expired lease does not");
        record.lease = None;
        assert!(abandoned(Some(&record), now, |_| false), "nor does no lease");
        assert!(abandoned(None, now, |_| false), "nor a record that is gone");
        record.status = RunStatus::Failed;
        assert!(!abandoned(Some(&record), now, |_| true), "a kept failed run stays");
        assert!(abandoned(Some(&record), now, |_| false));
    }
}
