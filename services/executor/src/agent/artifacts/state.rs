//! The agent's own session state, kept as the `session.tar` artifact and
//! restored into a later run's home to resume it: the folders a preset
//! names ([`hookline_sandbox::preset::state_folders`]), or the whole home
//! of an `acp` agent. Plain files and folders only (a link the agent left
//! could point anywhere on the executor's host), each text file redacted,
//! at most [`MAX_STATE`] bytes.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::agent::artifacts::redact::Redactor;

/// Largest session state kept.
pub(crate) const MAX_STATE: u64 = 32 * 1024 * 1024;

/// Why the state could not be packed or restored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    #[error("the agent's session state is over {MAX_STATE} bytes")]
    TooLarge,
    #[error("the session state has an entry outside its home: {0}")]
    Escapes(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A tar of `folders` (in `home`, or `home` itself), named from `home`,
/// redacted.
pub(crate) fn pack(home: &Path, folders: &[PathBuf], redactor: &Redactor) -> Result<Vec<u8>, StateError> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut total = 0u64;
    let mut stack: Vec<PathBuf> = folders
        .iter()
        .filter(|folder| folder.is_dir())
        .filter_map(|folder| folder.strip_prefix(home).ok())
        .map(Path::to_path_buf)
        .collect();
    while let Some(folder) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(home.join(&folder))?.flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let relative = folder.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(relative);
            } else if kind.is_file() {
                let mut bytes = Vec::new();
                std::fs::File::open(entry.path())?
                    .take(MAX_STATE + 1)
                    .read_to_end(&mut bytes)?;
                let bytes = redactor.bytes(bytes);
                total += bytes.len() as u64;
                if total > MAX_STATE {
                    return Err(StateError::TooLarge);
                }
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o600);
                header.set_cksum();
                builder.append_data(&mut header, &relative, bytes.as_slice())?;
            }
        }
    }
    Ok(builder.into_inner()?)
}

/// Unpacks `tar` into `home`, refusing any entry that is not a plain file
/// inside it.
pub(crate) fn restore(home: &Path, tar: &[u8]) -> Result<usize, StateError> {
    let mut archive = tar::Archive::new(tar);
    let mut files = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let inside = path.components().all(|c| matches!(c, Component::Normal(_)));
        if !inside || !entry.header().entry_type().is_file() {
            return Err(StateError::Escapes(path.display().to_string()));
        }
        let target = home.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        std::fs::write(target, bytes)?;
        files += 1;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_without_links_and_never_escapes_home() {
        let from = tempfile::tempdir().expect("dir");
        let sessions = from.path().join(".claude/projects/-workspace");
        std::fs::create_dir_all(&sessions).expect("mkdir");
        std::fs::write(sessions.join("s1.jsonl"), "{\"turn\":1}\n").expect("write");
        std::fs::write(from.path().join("elsewhere"), "not kept").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", from.path().join(".claude/link")).expect("link");
        let tar = pack(from.path(), &[from.path().join(".claude")], &Redactor::default()).expect("packs");
        let to = tempfile::tempdir().expect("dir");
        assert_eq!(restore(to.path(), &tar).expect("restores"), 1);
        let back = std::fs::read_to_string(to.path().join(".claude/projects/-workspace/s1.jsonl")).expect("read");
        assert_eq!(back, "{\"turn\":1}\n");
        assert!(!to.path().join("elsewhere").exists() && !to.path().join(".claude/link").exists());

        let mut evil = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o600);
        // `append_data` refuses `..` itself: write the name raw.
        header.as_gnu_mut().expect("gnu").name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        evil.append(&header, &b"x"[..]).expect("append");
        let evil = evil.into_inner().expect("tar");
        assert!(matches!(restore(to.path(), &evil), Err(StateError::Escapes(_))));
        assert!(!to.path().parent().expect("parent").join("escape").exists());
    }
}
