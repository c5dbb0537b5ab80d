//! The `http` runner: one request to an OpenAI-compatible
//! `/v1/chat/completions` endpoint. The prompt is the user message (after an
//! optional system message); the answer is the run's output, logged line by
//! line and written to `output_file` in the workspace when configured.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use hookline_model::catalog::SecretRef;
use hookline_model::runs::TokenUsage;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::runner::Exit;

/// Largest answer read.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// One chat completion to request.
pub struct ChatRequest<'a> {
    /// The endpoint.
    pub url: &'a str,
    /// The model.
    pub model: &'a str,
    /// Its key, if any.
    pub api_key: Option<&'a SecretRef>,
    /// A system message.
    pub system: Option<&'a str>,
    /// The rendered prompt.
    pub prompt: &'a str,
    /// `max_tokens`.
    pub max_tokens: Option<u32>,
    /// Where the answer goes, relative to `workspace`.
    pub output_file: Option<&'a str>,
    /// The run's workspace.
    pub workspace: &'a Path,
    /// Longest it may take.
    pub timeout: Duration,
    /// Cancelled to stop it.
    pub cancel: CancellationToken,
}

/// The request body: the system message (if any), then the prompt.
pub fn body(model: &str, system: Option<&str>, prompt: &str, max_tokens: Option<u32>) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": prompt}));
    let mut body = json!({"model": model, "messages": messages});
    if let Some(max) = max_tokens {
        body["max_tokens"] = json!(max);
    }
    body
}

/// The answer in a chat completions response.
pub fn answer(response: &Value) -> Option<&str> {
    response.pointer("/choices/0/message/content").and_then(Value::as_str)
}

/// Calls the endpoint; `log` gets the answer (or the error) line by line.
/// Answers how it ended and the tokens the answer reports using.
pub async fn run(request: ChatRequest<'_>, log: impl FnMut(&str, String)) -> (Exit, Option<TokenUsage>) {
    let mut usage = None;
    let exit = call(request, log, &mut usage).await;
    (exit, usage)
}

async fn call(request: ChatRequest<'_>, mut log: impl FnMut(&str, String), usage: &mut Option<TokenUsage>) -> Exit {
    let client = hookline_http::https::client();
    let payload = body(request.model, request.system, request.prompt, request.max_tokens).to_string();
    let mut builder = hyper::Request::post(request.url).header("content-type", "application/json");
    if let Some(key) = request.api_key {
        match key.resolve() {
            Ok(secret) => builder = builder.header("authorization", format!("Bearer {}", secret.expose())),
            Err(e) => {
                log("hookline", format!("api_key unavailable: {e}"));
                return Exit::Exited(1);
            }
        }
    }
    let Ok(http_request) = builder.body(Full::new(Bytes::from(payload))) else {
        log("hookline", format!("invalid runner url {}", request.url));
        return Exit::Exited(1);
    };
    let exchange = async {
        let response = client.request(http_request).await.map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, bytes))
    };
    let result = tokio::select! {
        _ = request.cancel.cancelled() => return Exit::Cancelled,
        result = tokio::time::timeout(request.timeout, exchange) => result,
    };
    let (status, bytes) = match result {
        Err(_) => return Exit::TimedOut,
        Ok(Err(e)) => {
            log("hookline", format!("chat completion request failed: {e}"));
            return Exit::Crashed(0);
        }
        Ok(Ok(pair)) => pair,
    };
    *usage = Some(crate::usage::usage_of(&bytes)).filter(|u| u.calls > 0);
    let text = String::from_utf8_lossy(&bytes);
    if !(200..300).contains(&status) {
        log(
            "stderr",
            format!("HTTP {status}: {}", text.chars().take(1000).collect::<String>()),
        );
        return Exit::Exited(1);
    }
    let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let Some(content) = answer(&parsed) else {
        log("stderr", "the response has no choices[0].message.content".to_owned());
        return Exit::Exited(1);
    };
    for line in content.lines() {
        log("stdout", line.to_owned());
    }
    if let Some(file) = request.output_file {
        let path = request.workspace.join(file);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, content));
        if let Err(e) = written {
            log("hookline", format!("cannot write {file}: {e}"));
            return Exit::Exited(1);
        }
    }
    Exit::Exited(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answer_follow_the_chat_completions_shape() {
        let b = body("gpt-x", Some("be brief"), "hello", Some(64));
        assert_eq!(b["messages"][0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(b["messages"][1], json!({"role": "user", "content": "hello"}));
        assert_eq!(b["max_tokens"], 64);
        assert!(body("m", None, "p", None).get("max_tokens").is_none());
        let response = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "done"}}]});
        assert_eq!(answer(&response), Some("done"));
        assert_eq!(answer(&json!({"choices": []})), None);
    }
}
