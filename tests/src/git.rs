//! Real git for tests: run a command, and a bare repository with one commit
//! on `main` for agents to clone and push to.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `git args` in `dir`; panics with git's error output if it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").args(args).current_dir(dir).output().expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare repository `<dir>/<name>.git` with a README committed on `main`.
pub fn bare_origin(dir: &Path, name: &str) -> PathBuf {
    let bare = dir.join(format!("{name}.git"));
    git(
        dir,
        &["init", "--quiet", "--bare", "-b", "main", bare.to_str().expect("utf8")],
    );
    let seed = dir.join(format!("{name}-seed"));
    git(
        dir,
        &[
            "clone",
            "--quiet",
            bare.to_str().expect("utf8"),
            seed.to_str().expect("utf8"),
        ],
    );
    std::fs::write(seed.join("README.md"), "hello\n").expect("write");
    git(&seed, &["add", "README.md"]);
    git(
        &seed,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "--quiet",
            "-m",
            "init",
        ],
    );
    git(&seed, &["push", "--quiet", "origin", "main"]);
    bare
}
