//! The forge a run closes its loop on: the status comment, the pull
//! request, and the outputs an agent asked for. It consumes a forge's REST
//! API (over the HTTPS client it is handed, so it stands on no Hookline
//! crate) and emits comments, pull requests, labels and review comments
//! there. Only the executor uses it, with a token the agent never sees. One
//! small trait ([`Forge`]); each forge is one file behind it ([`github`],
//! [`gitea`]), calling its REST API through [`rest`].

pub mod gitea;
pub mod github;
mod rest;
mod shared;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// A repository, `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Repo {
    /// The owner (user or organisation).
    pub owner: String,
    /// The repository's name.
    pub name: String,
}

impl Repo {
    /// Reads `owner/name`.
    pub fn parse(full_name: &str) -> Option<Self> {
        let (owner, name) = full_name.split_once('/')?;
        let ok = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        (ok(owner) && ok(name) && name != "." && name != "..").then(|| Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// An issue or pull request (they share one number space and one comment
/// thread on GitHub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    /// Its repository.
    pub repo: Repo,
    /// Its number.
    pub number: u64,
}

/// A comment as the forge answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The forge's id.
    pub id: u64,
    /// Where a person reads it.
    pub url: String,
    /// Its text.
    pub body: String,
}

/// A pull request as the forge answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// Where a person reads it.
    pub url: String,
    /// The head commit it shows.
    #[serde(default)]
    pub head_sha: String,
}

/// A pull request to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPullRequest {
    /// The branch with the changes.
    pub head: String,
    /// The branch it merges into.
    pub base: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Opened as a draft.
    pub draft: bool,
}

/// A comment on a line of a pull request's diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewComment {
    /// The file, relative to the repository root.
    pub path: String,
    /// The line in the file's new version.
    pub line: u64,
    /// Its text.
    pub body: String,
}

/// Why a forge call failed.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge answered with an error status.
    #[error("{method} {path}: HTTP {status}: {message}")]
    Status {
        /// The request's method.
        method: &'static str,
        /// The request's path (never the token).
        path: String,
        /// The status.
        status: u16,
        /// The forge's message, shortened.
        message: String,
    },
    /// The forge could not be reached.
    #[error("{method} {path}: {message}")]
    Transport {
        /// The request's method.
        method: &'static str,
        /// The request's path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The answer was not what the forge's API describes.
    #[error("{path}: unexpected answer: {message}")]
    Answer {
        /// The request's path.
        path: String,
        /// What was wrong.
        message: String,
    },
}

impl ForgeError {
    /// Whether trying again later may succeed (the forge was unreachable,
    /// busy or rate-limited), as opposed to a request it refuses.
    pub fn is_transient(&self) -> bool {
        match self {
            ForgeError::Status { status, .. } => *status >= 500 || *status == 429,
            ForgeError::Transport { .. } => true,
            ForgeError::Answer { .. } => false,
        }
    }
}

/// What the executor does on a forge. Each method is one API call (or a
/// few pages of one); idempotency is the caller's (hidden markers in what
/// it writes, and the run record).
pub trait Forge: Send + Sync {
    /// The thread's comments, oldest first (the most recent few hundred).
    fn comments<'a>(&'a self, thread: &'a Thread) -> BoxFuture<'a, Result<Vec<Comment>, ForgeError>>;
    /// Adds a comment to the thread.
    fn create_comment<'a>(&'a self, thread: &'a Thread, body: &'a str) -> BoxFuture<'a, Result<Comment, ForgeError>>;
    /// Replaces a comment's text.
    fn edit_comment<'a>(&'a self, repo: &'a Repo, id: u64, body: &'a str) -> BoxFuture<'a, Result<(), ForgeError>>;
    /// The pull request (open or closed) from `head`, if there is one.
    fn find_pull_request<'a>(
        &'a self,
        repo: &'a Repo,
        head: &'a str,
    ) -> BoxFuture<'a, Result<Option<PullRequest>, ForgeError>>;
    /// Opens a pull request.
    fn open_pull_request<'a>(
        &'a self,
        repo: &'a Repo,
        request: &'a NewPullRequest,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>>;
    /// Replaces a pull request's title and body.
    fn edit_pull_request<'a>(
        &'a self,
        repo: &'a Repo,
        number: u64,
        title: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), ForgeError>>;
    /// Adds labels to an issue or pull request.
    fn add_labels<'a>(&'a self, thread: &'a Thread, labels: &'a [String]) -> BoxFuture<'a, Result<(), ForgeError>>;
    /// Closes an issue as completed.
    fn close_issue<'a>(&'a self, thread: &'a Thread) -> BoxFuture<'a, Result<(), ForgeError>>;
    /// The review comments' texts on a pull request.
    fn review_comments<'a>(&'a self, repo: &'a Repo, number: u64) -> BoxFuture<'a, Result<Vec<String>, ForgeError>>;
    /// What `login` may do on the repository, as the forge says it
    /// (`admin`, `write`, `read`, `none`, …; someone it does not know:
    /// `none`). The one place Hookline asks a forge who someone is.
    fn permission<'a>(&'a self, repo: &'a Repo, login: &'a str) -> BoxFuture<'a, Result<String, ForgeError>>;
    /// Comments on a line of a pull request at `commit`.
    fn create_review_comment<'a>(
        &'a self,
        repo: &'a Repo,
        number: u64,
        commit: &'a str,
        comment: &'a ReviewComment,
    ) -> BoxFuture<'a, Result<(), ForgeError>>;
}

/// The HTTPS client adapters call through (the services' one outbound
/// client, `hookline_http::https::client()`, has this type), so this
/// crate stands on no Hookline crate.
pub type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_are_read_strictly() {
        assert_eq!(
            Repo::parse("octo/hello-world").map(|r| r.full_name()),
            Some("octo/hello-world".into())
        );
        for bad in ["octo", "/x", "octo/", "octo/../x", "octo/a b", "a/b/c", "octo/.."] {
            assert!(Repo::parse(bad).is_none(), "{bad}");
        }
    }
}
