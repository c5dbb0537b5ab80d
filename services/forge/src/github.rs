//! GitHub's REST API (v3), for github.com and GitHub Enterprise Server
//! (`api_url = "https://<host>/api/v3"`). Requests carry the token as a
//! bearer, the API version header, and are tried again on 5xx, 429 and
//! network errors (a few times, backing off, honouring `Retry-After`).

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};

use crate::{Comment, Forge, ForgeError, HttpsClient, NewPullRequest, PullRequest, Repo, ReviewComment, Thread};

/// Largest answer read.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// Pages of 100 read when listing.
const MAX_PAGES: u32 = 10;
/// Tries of one call.
const TRIES: u32 = 4;
/// Longest one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A GitHub API client with one token.
pub struct GitHub {
    base: String,
    token: String,
    client: HttpsClient,
}

impl GitHub {
    /// A client for the API at `api_url` (no trailing slash needed),
    /// calling through `client`.
    pub fn new(api_url: &str, token: String, client: HttpsClient) -> Self {
        Self {
            base: api_url.trim_end_matches('/').to_owned(),
            token,
            client,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ForgeError> {
        let name = method_name(&method);
        let mut pause = Duration::from_millis(250);
        let mut tries = 0;
        loop {
            tries += 1;
            match self.once(method.clone(), path, body).await {
                Ok(value) => return Ok(value),
                // A POST the forge may have carried out is not sent again
                // here (the caller finds what it made, by its marker);
                // one refused for the rate limit was not carried out.
                Err((e, retry_after)) if retryable(&method, &e) && tries < TRIES => {
                    let wait = retry_after.unwrap_or(pause).min(Duration::from_secs(60));
                    tracing::warn!(method = name, path, error = %e, ?wait, "Forge call failed; trying again.");
                    tokio::time::sleep(wait).await;
                    pause *= 2;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, (ForgeError, Option<Duration>)> {
        let name = method_name(&method);
        let transport = |message: String| {
            (
                ForgeError::Transport {
                    method: name,
                    path: path.to_owned(),
                    message,
                },
                None,
            )
        };
        let payload = body.map(Value::to_string).unwrap_or_default();
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header("user-agent", "hookline")
            .header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| transport(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| transport(e.to_string()))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| transport(e.to_string()))?
                .to_bytes();
            Ok((status, retry_after, bytes))
        };
        let (status, retry_after, bytes) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| transport("timed out".to_owned()))??;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(600).collect());
            // GitHub's secondary rate limit answers 403 with Retry-After.
            let status = if status == StatusCode::FORBIDDEN && retry_after.is_some() {
                429
            } else {
                status.as_u16()
            };
            return Err((
                ForgeError::Status {
                    method: name,
                    path: path.to_owned(),
                    status,
                    message,
                },
                retry_after,
            ));
        }
        if bytes.is_empty() || status == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            (
                ForgeError::Answer {
                    path: path.to_owned(),
                    message: e.to_string(),
                },
                None,
            )
        })
    }

    /// Every page of a list (up to [`MAX_PAGES`]).
    async fn list(&self, path: &str) -> Result<Vec<Value>, ForgeError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let separator = if path.contains('?') { '&' } else { '?' };
            let answer = self
                .call(Method::GET, &format!("{path}{separator}per_page=100&page={page}"), None)
                .await?;
            let Value::Array(items) = answer else {
                return Err(unexpected(path, "not a list"));
            };
            let full = items.len() == 100;
            all.extend(items);
            if !full {
                break;
            }
        }
        Ok(all)
    }
}

fn retryable(method: &Method, e: &ForgeError) -> bool {
    match (method, e) {
        (&Method::POST, ForgeError::Status { status, .. }) => *status == 429,
        (&Method::POST, _) => false,
        _ => e.is_transient(),
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "HTTP",
    }
}

fn unexpected(path: &str, message: &str) -> ForgeError {
    ForgeError::Answer {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn comment_of(path: &str, value: &Value) -> Result<Comment, ForgeError> {
    Ok(Comment {
        id: value
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| unexpected(path, "no id"))?,
        url: value
            .get("html_url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        body: value.get("body").and_then(Value::as_str).unwrap_or_default().to_owned(),
    })
}

fn pull_of(path: &str, value: &Value) -> Result<PullRequest, ForgeError> {
    Ok(PullRequest {
        number: value
            .get("number")
            .and_then(Value::as_u64)
            .ok_or_else(|| unexpected(path, "no number"))?,
        url: value
            .get("html_url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        head_sha: value
            .pointer("/head/sha")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

fn repo_path(repo: &Repo) -> String {
    format!("/repos/{}/{}", repo.owner, repo.name)
}

impl Forge for GitHub {
    fn comments<'a>(&'a self, thread: &'a Thread) -> BoxFuture<'a, Result<Vec<Comment>, ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/issues/{}/comments", repo_path(&thread.repo), thread.number);
            self.list(&path).await?.iter().map(|c| comment_of(&path, c)).collect()
        })
    }

    fn create_comment<'a>(&'a self, thread: &'a Thread, body: &'a str) -> BoxFuture<'a, Result<Comment, ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/issues/{}/comments", repo_path(&thread.repo), thread.number);
            let answer = self.call(Method::POST, &path, Some(&json!({ "body": body }))).await?;
            comment_of(&path, &answer)
        })
    }

    fn edit_comment<'a>(&'a self, repo: &'a Repo, id: u64, body: &'a str) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/issues/comments/{id}", repo_path(repo));
            self.call(Method::PATCH, &path, Some(&json!({ "body": body }))).await?;
            Ok(())
        })
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
        Box::pin(async move {
            let path = format!("{}/issues/{}/labels", repo_path(&thread.repo), thread.number);
            self.call(Method::POST, &path, Some(&json!({ "labels": labels })))
                .await?;
            Ok(())
        })
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
