//! What the run's branch holds against its base, as artifacts: the diff
//! (binary files named by git, never inlined; cut at a file boundary past
//! [`MAX_DIFF`]) and the commits.

use std::time::Duration;

use serde::Serialize;

use crate::agent::workspace::{self, Checkout};

/// Largest diff kept; past it, whole files are left out and the diff says
/// how many.
pub(crate) const MAX_DIFF: usize = 4 * 1024 * 1024;

/// How long reading the branch may take.
const GIT_TIME: Duration = Duration::from_secs(60);

/// One commit of the run's branch.
#[derive(Debug, Serialize)]
pub(crate) struct CommitInfo {
    sha: String,
    author: String,
    at: String,
    subject: String,
    body: String,
}

/// `git diff <base> HEAD` of the checkout, ending in a newline, capped.
pub(crate) async fn diff(checkout: &Checkout, env: &[(String, String)]) -> Result<String, workspace::WorkspaceError> {
    let base = checkout.base_sha.as_str();
    let text = workspace::git(
        &checkout.dir,
        env,
        &["diff", "--no-color", "--no-ext-diff", "--find-renames", base, "HEAD"],
        GIT_TIME,
    )
    .await?;
    Ok(capped(text))
}

fn capped(mut text: String) -> String {
    if text.is_empty() {
        return text;
    }
    if text.len() > MAX_DIFF {
        let mut cut = MAX_DIFF;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = text[..cut].rfind("\ndiff --git ").map_or(0, |at| at + 1);
        let left_out = text[cut..].matches("diff --git ").count();
        text.truncate(cut);
        text.push_str(&format!(
            "# hookline: {left_out} more files left out (the diff is kept up to {MAX_DIFF} bytes)"
        ));
    }
    text.push('\n');
    text
}

/// The commits on the run's branch since its base, oldest first.
pub(crate) async fn commits(
    checkout: &Checkout,
    env: &[(String, String)],
) -> Result<Vec<CommitInfo>, workspace::WorkspaceError> {
    let range = format!("{}..HEAD", checkout.base_sha);
    let text = workspace::git(
        &checkout.dir,
        env,
        &[
            "log",
            "--reverse",
            "--format=%H%x1f%an <%ae>%x1f%aI%x1f%s%x1f%b%x1e",
            &range,
        ],
        GIT_TIME,
    )
    .await?;
    Ok(text
        .split('\u{1e}')
        .filter_map(|record| {
            let mut parts = record.trim_start_matches('\n').splitn(5, '\u{1f}');
            let sha = parts.next()?.to_owned();
            (!sha.is_empty()).then(|| CommitInfo {
                sha,
                author: parts.next().unwrap_or_default().to_owned(),
                at: parts.next().unwrap_or_default().to_owned(),
                subject: parts.next().unwrap_or_default().to_owned(),
                body: parts.next().unwrap_or_default().trim().to_owned(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_diff_is_cut_between_files_and_says_so() {
        let file = |n: usize| format!("diff --git a/f{n} b/f{n}\n+{}\n", "x".repeat(MAX_DIFF / 3));
        let text: String = (0..5).map(file).collect();
        let kept = capped(text);
        assert!(kept.len() <= MAX_DIFF + 200);
        assert_eq!(kept.matches("diff --git ").count(), 2, "two whole files kept");
        assert!(kept.ends_with("# hookline: 3 more files left out (the diff is kept up to 4194304 bytes)\n"));
        assert_eq!(capped(String::new()), "");
    }
}
