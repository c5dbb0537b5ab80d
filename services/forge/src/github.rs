//! GitHub's REST API (v3), for github.com and GitHub Enterprise Server
//! (`api_url = "https://<host>/api/v3"`). Requests carry the token as a
//! bearer and the API version header ([`crate::rest`] does the rest).

use futures::future::BoxFuture;
use http::Method;
use serde_json::{Value, json};

use crate::rest::{Rest, comment_of, pull_of};
use crate::shared::{self, repo_path};
use crate::{Comment, Forge, ForgeError, HttpsClient, NewPullRequest, PullRequest, Repo, ReviewComment, Thread};

/// A GitHub API client with one token.
pub struct GitHub {
    rest: Rest,
}

impl GitHub {
    /// A client for the API at `api_url` (no trailing slash needed),
    /// calling through `client`.
    pub fn new(api_url: &str, token: String, client: HttpsClient) -> Self {
        let headers = vec![
            ("accept", "application/vnd.github+json".to_owned()),
            ("x-github-api-version", "2022-11-28".to_owned()),
            ("authorization", format!("Bearer {token}")),
        ];
        Self {
            rest: Rest::new(api_url, headers, ("per_page", 100), client),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ForgeError> {
        self.rest.call(method, path, body).await
    }

    async fn list(&self, path: &str) -> Result<Vec<Value>, ForgeError> {
        self.rest.list(path).await
    }
}

impl Forge for GitHub {
    fn comments<'a>(&'a self, thread: &'a Thread) -> BoxFuture<'a, Result<Vec<Comment>, ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/issues/{}/comments", repo_path(&thread.repo), thread.number);
            self.list(&path).await?.iter().map(|c| comment_of(&path, c)).collect()
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
            let head: String = form_urlencoded::byte_serialize(format!("{}:{head}", repo.owner).as_bytes()).collect();
            let path = format!("{}/pulls?state=all&head={head}", repo_path(repo));
            let answer = self.call(Method::GET, &path, None).await?;
            match answer.as_array().and_then(|list| list.first()) {
                Some(first) => Ok(Some(pull_of(&path, first)?)),
                None => Ok(None),
            }
        })
    }

    fn open_pull_request<'a>(
        &'a self,
        repo: &'a Repo,
        request: &'a NewPullRequest,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/pulls", repo_path(repo));
            let body = json!({
                "title": request.title,
                "head": request.head,
                "base": request.base,
                "body": request.body,
                "draft": request.draft,
            });
            let answer = self.call(Method::POST, &path, Some(&body)).await?;
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
            self.call(Method::PATCH, &path, Some(&json!({ "title": title, "body": body })))
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
            let body = json!({ "state": "closed", "state_reason": "completed" });
            self.call(Method::PATCH, &path, Some(&body)).await?;
            Ok(())
        })
    }

    fn review_comments<'a>(&'a self, repo: &'a Repo, number: u64) -> BoxFuture<'a, Result<Vec<String>, ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/pulls/{number}/comments", repo_path(repo));
            Ok(self
                .list(&path)
                .await?
                .iter()
                .map(|c| c.get("body").and_then(Value::as_str).unwrap_or_default().to_owned())
                .collect())
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
            let path = format!("{}/pulls/{number}/comments", repo_path(repo));
            let body = json!({
                "body": comment.body,
                "commit_id": commit,
                "path": comment.path,
                "line": comment.line,
                "side": "RIGHT",
            });
            self.call(Method::POST, &path, Some(&body)).await?;
            Ok(())
        })
    }
}
