//! A run's git workspace: clone the agent's repository, start the run's own
//! branch `hookline/<agent>/<run id>`, and afterwards read what the agent
//! committed and push it. Git runs as a real process with the run's
//! environment only, so credentials come from the profile (for example
//! `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_0`/`GIT_CONFIG_VALUE_0` setting a
//! credential helper, or a token in `GIT_ASKPASS`), never from the executor.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tokio::process::Command;

/// Why git failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// A git command could not run or failed.
    #[error("git {command}: {message}")]
    Git {
        /// The git subcommand.
        command: String,
        /// Its error output.
        message: String,
    },
}

/// A cloned repository on the run's branch.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The working tree.
    pub dir: PathBuf,
    /// The repository as configured.
    pub repository: String,
    /// The branch the run started from.
    pub base_branch: String,
    /// Its commit.
    pub base_sha: String,
    /// The run's branch.
    pub branch: String,
}

/// One commit the agent made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commit {
    /// Full sha.
    pub sha: String,
    /// Subject line.
    pub message: String,
}

/// What the agent changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    /// New commits on the run's branch, oldest first.
    pub commits: Vec<Commit>,
    /// Files changed across them.
    pub files: Vec<String>,
}

pub(crate) async fn git(
    dir: &Path,
    env: &[(String, String)],
    args: &[&str],
    timeout: Duration,
) -> Result<String, WorkspaceError> {
    let command = args.first().copied().unwrap_or("").to_owned();
    let fail = |message: String| WorkspaceError::Git {
        command: command.clone(),
        message,
    };
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("GIT_TERMINAL_PROMPT", "0")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, output)
        .await
        .map_err(|_| fail("timed out".to_owned()))?
        .map_err(|e| fail(e.to_string()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(fail(String::from_utf8_lossy(&output.stderr).trim().to_owned()))
    }
}

/// Clones `repository` into `dir` and checks out the run's branch.
pub async fn clone(
    repository: &str,
    base_branch: Option<&str>,
    dir: &Path,
    branch: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<Checkout, WorkspaceError> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let target = dir.display().to_string();
    let mut args = vec!["clone", "--quiet", "--no-tags"];
    if let Some(base) = base_branch {
        args.extend(["--branch", base]);
    }
    args.extend(["--", repository, target.as_str()]);
    git(parent, env, &args, timeout).await?;
    let base_branch = git(dir, env, &["rev-parse", "--abbrev-ref", "HEAD"], timeout).await?;
    let base_sha = git(dir, env, &["rev-parse", "HEAD"], timeout).await?;
    git(dir, env, &["checkout", "--quiet", "-b", branch], timeout).await?;
    set_identity(dir, env, timeout).await?;
    Ok(Checkout {
        dir: dir.to_path_buf(),
        repository: repository.to_owned(),
        base_branch,
        base_sha,
        branch: branch.to_owned(),
    })
}

/// An identity for the agent's commits, unless the repository's own
/// configuration sets one (the executor's global one is not there for a
/// sandboxed agent).
async fn set_identity(dir: &Path, env: &[(String, String)], timeout: Duration) -> Result<(), WorkspaceError> {
    for (key, value) in [
        ("user.name", "Hookline agent"),
        ("user.email", "agent@hookline.invalid"),
    ] {
        if git(dir, env, &["config", "--local", key], timeout).await.is_err() {
            git(dir, env, &["config", key, value], timeout).await?;
        }
    }
    Ok(())
}

/// Clones `repository` into `dir` on an earlier run's `branch`, to add
/// commits to it (a follow-up): what the agent commits is counted from
/// the branch's tip, and pushing it fast-forwards the branch.
pub async fn continue_branch(
    repository: &str,
    dir: &Path,
    branch: &str,
    base_branch: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<Checkout, WorkspaceError> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let target = dir.display().to_string();
    let args = [
        "clone",
        "--quiet",
        "--no-tags",
        "--branch",
        branch,
        "--",
        repository,
        target.as_str(),
    ];
    git(parent, env, &args, timeout).await?;
    let base_sha = git(dir, env, &["rev-parse", "HEAD"], timeout).await?;
    set_identity(dir, env, timeout).await?;
    Ok(Checkout {
        dir: dir.to_path_buf(),
        repository: repository.to_owned(),
        base_branch: base_branch.to_owned(),
        base_sha,
        branch: branch.to_owned(),
    })
}

/// The commits on the run's branch since its base, and the files they touch.
pub async fn changes(
    checkout: &Checkout,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<Changes, WorkspaceError> {
    let range = format!("{}..{}", checkout.base_sha, checkout.branch);
    let log = git(
        &checkout.dir,
        env,
        &["log", "--reverse", "--format=%H%x1f%s", &range],
        timeout,
    )
    .await?;
    let commits = log
        .lines()
        .filter_map(|line| line.split_once('\u{1f}'))
        .map(|(sha, message)| Commit {
            sha: sha.to_owned(),
            message: message.to_owned(),
        })
        .collect();
    let files = git(&checkout.dir, env, &["diff", "--name-only", &range], timeout)
        .await?
        .lines()
        .map(str::to_owned)
        .collect();
    Ok(Changes { commits, files })
}

/// Pushes the run's branch to `origin`.
pub async fn push(checkout: &Checkout, env: &[(String, String)], timeout: Duration) -> Result<(), WorkspaceError> {
    let refspec = format!("{0}:refs/heads/{0}", checkout.branch);
    git(&checkout.dir, env, &["push", "--quiet", "origin", &refspec], timeout).await?;
    Ok(())
}
