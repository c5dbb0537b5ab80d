//! Gitea's and Forgejo's REST API (v1, one adapter for both):
//! `api_url = "https://<host>/api/v1"`, the token as `Authorization: token
//! …`. Issues and pull requests share one number space and one comment
//! thread, as on GitHub. A draft pull request is one whose title starts
//! with `WIP:` (the servers' default work-in-progress prefix; the API has
//! no draft flag). Review comments are comments of a review
//! (`event: COMMENT`), on the line of the new file (`new_position`).

use futures::future::BoxFuture;
use http::Method;
use serde_json::{Value, json};

use crate::rest::{Rest, comment_of, pull_of, text, unexpected};
use crate::shared::{self, repo_path};
use crate::{Comment, Forge, ForgeError, HttpsClient, NewPullRequest, PullRequest, Repo, ReviewComment, Thread};

/// The title prefix that makes a pull request a draft.
pub const WORK_IN_PROGRESS: &str = "WIP: ";

/// A Gitea (or Forgejo) API client with one token.
pub struct Gitea {
    rest: Rest,
}

impl Gitea {
    /// A client for the API at `api_url` (`https://<host>/api/v1`),
    /// calling through `client`.
    pub fn new(api_url: &str, token: String, client: HttpsClient) -> Self {
        let headers = vec![
            ("accept", "application/json".to_owned()),
            ("authorization", format!("token {token}")),
        ];
        // Gitea's default most items per page (`MAX_RESPONSE_ITEMS`).
        Self {
            rest: Rest::new(api_url, headers, ("limit", 50), client),
        }
    }
}

/// `title` as a draft's: with the work-in-progress prefix, once.
fn wip(title: &str) -> String {
    if title.starts_with(WORK_IN_PROGRESS) {
        title.to_owned()
    } else {
        format!("{WORK_IN_PROGRESS}{title}")
    }
}

impl Forge for Gitea {
    fn comments<'a>(&'a self, thread: &'a Thread) -> BoxFuture<'a, Result<Vec<Comment>, ForgeError>> {
        Box::pin(async move {
            // Not paged: the whole thread, oldest first.
            let path = format!("{}/issues/{}/comments", repo_path(&thread.repo), thread.number);
            let answer = self.rest.call(Method::GET, &path, None).await?;
            let Value::Array(items) = answer else {
                return Err(unexpected(&path, "not a list"));
            };
            items.iter().map(|c| comment_of(&path, c)).collect()
        })
    }

    fn create_comment<'a>(&'a self, thread: &'a Thread, body: &'a str) -> BoxFuture<'a, Result<Comment, ForgeError>> {
        Box::pin(shared::create_comment(&self.rest, thread, body))
    }

    fn edit_comment<'a>(&'a self, repo: &'a Repo, id: u64, body: &'a str) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(shared::edit_comment(&self.rest, repo, id, body))
    }

    fn find_pull_request<'a>(
        &'a self,
        repo: &'a Repo,
        head: &'a str,
    ) -> BoxFuture<'a, Result<Option<PullRequest>, ForgeError>> {
        Box::pin(async move {
            // No filter by head branch: the list, open and closed.
            let path = format!("{}/pulls?state=all", repo_path(repo));
            let pulls = self.rest.list(&path).await?;
            pulls
                .iter()
                .find(|p| text(p, "/head/ref") == head)
                .map(|p| pull_of(&path, p))
                .transpose()
        })
    }

    fn open_pull_request<'a>(
        &'a self,
        repo: &'a Repo,
        request: &'a NewPullRequest,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/pulls", repo_path(repo));
            let title = if request.draft {
                wip(&request.title)
            } else {
                request.title.clone()
            };
            let body = json!({
                "title": title,
                "head": request.head,
                "base": request.base,
                "body": request.body,
            });
            let answer = self.rest.call(Method::POST, &path, Some(&body)).await?;
            pull_of(&path, &answer)
        })
    }

    fn edit_pull_request<'a>(
        &'a self,
        repo: &'a Repo,
        number: u64,
        title: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/pulls/{number}", repo_path(repo));
            // A draft stays one: its prefix is kept.
            let current = self.rest.call(Method::GET, &path, None).await?;
            let title = if text(&current, "/title").starts_with(WORK_IN_PROGRESS) {
                wip(title)
            } else {
                title.to_owned()
            };
            self.rest
                .call(Method::PATCH, &path, Some(&json!({ "title": title, "body": body })))
                .await?;
            Ok(())
        })
    }

    fn add_labels<'a>(&'a self, thread: &'a Thread, labels: &'a [String]) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(shared::add_labels(&self.rest, thread, labels))
    }

    fn close_issue<'a>(&'a self, thread: &'a Thread) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/issues/{}", repo_path(&thread.repo), thread.number);
            self.rest
                .call(Method::PATCH, &path, Some(&json!({ "state": "closed" })))
                .await?;
            Ok(())
        })
    }

    fn review_comments<'a>(&'a self, repo: &'a Repo, number: u64) -> BoxFuture<'a, Result<Vec<String>, ForgeError>> {
        Box::pin(async move {
            let reviews_path = format!("{}/pulls/{number}/reviews", repo_path(repo));
            let mut bodies = Vec::new();
            for review in self.rest.list(&reviews_path).await? {
                let Some(id) = review.get("id").and_then(Value::as_u64) else {
                    continue;
                };
                let path = format!("{reviews_path}/{id}/comments");
                let answer = self.rest.call(Method::GET, &path, None).await?;
                bodies.extend(answer.as_array().into_iter().flatten().map(|c| text(c, "/body")));
            }
            Ok(bodies)
        })
    }

    fn permission<'a>(&'a self, repo: &'a Repo, login: &'a str) -> BoxFuture<'a, Result<String, ForgeError>> {
        Box::pin(shared::collaborator_permission(&self.rest, repo, login))
    }

    fn create_review_comment<'a>(
        &'a self,
        repo: &'a Repo,
        number: u64,
        commit: &'a str,
        comment: &'a ReviewComment,
    ) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/pulls/{number}/reviews", repo_path(repo));
            let body = json!({
                "commit_id": commit,
                "event": "COMMENT",
                "body": "",
                "comments": [{"path": comment.path, "body": comment.body, "new_position": comment.line}],
            });
            self.rest.call(Method::POST, &path, Some(&body)).await?;
            Ok(())
        })
    }
}
