//! The admin API as the CLI sees it: one HTTP client (http or https), the
//! bearer token, and the one place where an answer becomes an exit code.

use std::time::Duration;

use bytes::Bytes;
use hookline_http::https::HttpsClient;
use http_body_util::{BodyExt as _, Full};
use serde_json::Value;

/// How long one API call may take (a followed log is not bounded).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a command failed, and the exit code it ends with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The API refused the request (400, 401, 404, 409): exit 1.
    #[error("{0}")]
    Refused(String),
    /// The API or NATS could not be reached or failed (5xx): exit 3.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (a bad file, bad flags the parser could not see): exit 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CliError {
    /// The process exit code: 1 refused or invalid, 3 unavailable (2 is
    /// the argument parser's, for usage errors).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Refused(_) | CliError::Other(_) => 1,
            CliError::Unavailable(_) => 3,
        }
    }
}

/// A connection to the admin API.
pub struct Api {
    base: String,
    token: Option<String>,
    client: HttpsClient,
}

impl Api {
    /// An API client for `base` (such as `http://127.0.0.1:8081`).
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            client: hookline_http::https::client(),
        }
    }

    /// The full URL of `path` on the admin listener.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, CliError> {
        let url = format!("{}{path}", self.base);
        let mut request = hyper::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(value) => {
                request = request.header(hyper::header::CONTENT_TYPE, "application/json");
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| CliError::Refused(format!("{url}: {e}")))?;
        tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| CliError::Unavailable(format!("{url}: no answer in {}s", TIMEOUT.as_secs())))?
            .map_err(|e| CliError::Unavailable(format!("cannot reach the admin API at {}: {e}", self.base)))
    }

    /// An answer's status and whole body.
    async fn answer(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Bytes), CliError> {
        let response = self.send(method, path, body).await?;
        let status = response.status().as_u16();
        let bytes = tokio::time::timeout(TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| CliError::Unavailable("the answer stalled".into()))?
            .map_err(|e| CliError::Unavailable(e.to_string()))?
            .to_bytes();
        Ok((status, bytes))
    }

    /// Calls the API; a 2xx answer's JSON, or the error it gave.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let (status, bytes) = self.answer(method, path, body).await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(value);
        }
        Err(error_of(status, &value))
    }

    /// Reads `path` as it is served (a diff, an artifact): the bytes of a
    /// 2xx answer, or the error it gave.
    pub async fn fetch(&self, path: &str) -> Result<Vec<u8>, CliError> {
        let (status, bytes) = self.answer("GET", path, None).await?;
        if (200..300).contains(&status) {
            return Ok(bytes.to_vec());
        }
        Err(error_of(status, &serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// Calls the API and hands each line of a streamed answer to `line`.
    pub async fn stream_lines(&self, path: &str, mut line: impl FnMut(&str)) -> Result<(), CliError> {
        let response = self.send("GET", path, None).await?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        if !(200..300).contains(&status) {
            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            return Err(error_of(status, &serde_json::from_slice(&bytes).unwrap_or(Value::Null)));
        }
        let mut pending = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| CliError::Unavailable(format!("the log stream broke: {e}")))?;
            let Ok(data) = frame.into_data() else { continue };
            pending.extend_from_slice(&data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let text: Vec<u8> = pending.drain(..=end).collect();
                line(String::from_utf8_lossy(&text[..end]).as_ref());
            }
        }
        Ok(())
    }
}

/// The error an API answer carries, as the user should read it.
fn error_of(status: u16, value: &Value) -> CliError {
    let error = &value["error"];
    let mut text = format!(
        "{} ({status} {})",
        error["message"].as_str().unwrap_or("the admin API refused the request"),
        error["code"].as_str().unwrap_or("error")
    );
    if let Some(problems) = error["problems"].as_array() {
        for problem in problems {
            text.push_str(&format!("\n  - {}", problem.as_str().unwrap_or_default()));
        }
    }
    if status == 401 {
        text.push_str("\n  (set HOOKLINE_ADMIN_TOKEN or pass --token; `hookline up` prints one)");
    }
    if status >= 500 {
        CliError::Unavailable(text)
    } else {
        CliError::Refused(text)
    }
}
