//! A forge's JSON REST API, as the adapters call it: the token and the
//! forge's own headers on every request, a bounded answer, a timeout, a
//! few tries again on 5xx, 429 and network errors (backing off, honouring
//! `Retry-After`; a POST only when the forge refused it for the rate
//! limit), and lists read page by page.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use crate::{Comment, ForgeError, HttpsClient, PullRequest};

/// Largest answer read.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// Pages read when listing.
const MAX_PAGES: u32 = 10;
/// Tries of one call.
const TRIES: u32 = 4;
/// Longest one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A forge's JSON REST API with one token: the headers each request
/// carries (the credential among them) and how its lists are paged.
pub(crate) struct Rest {
    base: String,
    headers: Vec<(&'static str, String)>,
    client: HttpsClient,
    /// The query parameter of a page's size, and the size asked for.
    page_size: (&'static str, usize),
}

impl Rest {
    /// A client for the API at `api_url` (no trailing slash needed),
    /// sending `headers`, calling through `client`.
    pub(crate) fn new(
        api_url: &str,
        headers: Vec<(&'static str, String)>,
        page_size: (&'static str, usize),
        client: HttpsClient,
    ) -> Self {
        Self {
            base: api_url.trim_end_matches('/').to_owned(),
            headers,
            client,
            page_size,
        }
    }

    /// One call, tried again on 5xx, 429 and network errors (a few times,
    /// backing off, honouring `Retry-After`); its JSON answer (`null` when
    /// empty).
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ForgeError> {
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
            .header("user-agent", "hookline");
        for (name, value) in &self.headers {
            builder = builder.header(*name, value);
        }
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
            // A secondary rate limit (GitHub's) answers 403 with Retry-After.
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
    pub(crate) async fn list(&self, path: &str) -> Result<Vec<Value>, ForgeError> {
        let mut all = Vec::new();
        let (size_param, size) = self.page_size;
        for page in 1..=MAX_PAGES {
            let separator = if path.contains('?') { '&' } else { '?' };
            let answer = self
                .call(
                    Method::GET,
                    &format!("{path}{separator}{size_param}={size}&page={page}"),
                    None,
                )
                .await?;
            let Value::Array(items) = answer else {
                return Err(unexpected(path, "not a list"));
            };
            let full = items.len() == size;
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

pub(crate) fn unexpected(path: &str, message: &str) -> ForgeError {
    ForgeError::Answer {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// A comment as GitHub and Gitea answer it (`id`, `html_url`, `body`).
pub(crate) fn comment_of(path: &str, value: &Value) -> Result<Comment, ForgeError> {
    Ok(Comment {
        id: value
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| unexpected(path, "no id"))?,
        url: text(value, "/html_url"),
        body: text(value, "/body"),
    })
}

/// A pull request as GitHub and Gitea answer it (`number`, `html_url`,
/// `head.sha`).
pub(crate) fn pull_of(path: &str, value: &Value) -> Result<PullRequest, ForgeError> {
    Ok(PullRequest {
        number: value
            .get("number")
            .and_then(Value::as_u64)
            .ok_or_else(|| unexpected(path, "no number"))?,
        url: text(value, "/html_url"),
        head_sha: text(value, "/head/sha"),
    })
}

/// The string at `pointer`, or "".
pub(crate) fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
