//! The operations GitHub's and Gitea's APIs spell alike (Gitea's v1 API
//! follows GitHub's v3 for these): a thread's comments made and edited,
//! labels added, and who someone is on the repository. Each adapter calls
//! them with its own [`Rest`] client (its base URL and credential).

use http::Method;
use serde_json::json;

use crate::rest::{Rest, comment_of, text};
use crate::{Comment, ForgeError, Repo, Thread};

/// `/repos/{owner}/{name}`.
pub(crate) fn repo_path(repo: &Repo) -> String {
    format!("/repos/{}/{}", repo.owner, repo.name)
}

/// Adds a comment to an issue or pull request.
pub(crate) async fn create_comment(rest: &Rest, thread: &Thread, body: &str) -> Result<Comment, ForgeError> {
    let path = format!("{}/issues/{}/comments", repo_path(&thread.repo), thread.number);
    let answer = rest.call(Method::POST, &path, Some(&json!({ "body": body }))).await?;
    comment_of(&path, &answer)
}

/// Replaces a comment's text.
pub(crate) async fn edit_comment(rest: &Rest, repo: &Repo, id: u64, body: &str) -> Result<(), ForgeError> {
    let path = format!("{}/issues/comments/{id}", repo_path(repo));
    rest.call(Method::PATCH, &path, Some(&json!({ "body": body }))).await?;
    Ok(())
}

/// Adds labels, by name, to an issue or pull request (Gitea 1.19 and later
/// take names as well as ids).
pub(crate) async fn add_labels(rest: &Rest, thread: &Thread, labels: &[String]) -> Result<(), ForgeError> {
    let path = format!("{}/issues/{}/labels", repo_path(&thread.repo), thread.number);
    rest.call(Method::POST, &path, Some(&json!({ "labels": labels })))
        .await?;
    Ok(())
}

/// `login`'s permission through the collaborator permission API
/// (`GET /repos/{owner}/{repo}/collaborators/{login}/permission`).
pub(crate) async fn collaborator_permission(rest: &Rest, repo: &Repo, login: &str) -> Result<String, ForgeError> {
    let login: String = form_urlencoded::byte_serialize(login.as_bytes()).collect();
    let path = format!("{}/collaborators/{login}/permission", repo_path(repo));
    match rest.call(Method::GET, &path, None).await {
        Ok(answer) => Ok(text(&answer, "/permission")),
        // Not a user the forge knows on the project.
        Err(ForgeError::Status { status: 404, .. }) => Ok("none".to_owned()),
        Err(e) => Err(e),
    }
}
