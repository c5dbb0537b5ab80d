//! The one HTTP helper ([`call`]) and the thin wrappers over it, and
//! webhooks signed as a provider signs them (by the providers crate).

use bytes::Bytes;
use hookline_model::catalog::Provider;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::WAIT;

/// GETs `url`; returns the status and JSON answer.
pub async fn get(url: &str) -> (u16, serde_json::Value) {
    request("GET", url, &[], Bytes::new()).await
}

/// What [`call`] got back.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The whole body, as sent.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The one HTTP helper: any request, answered within [`WAIT`].
pub async fn call(method: &str, url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
    try_call(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// [`call`] for a server that may be down: a refused connection or a
/// missing answer is an `Err`, as a sender sees it.
pub async fn try_call(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Answer, String> {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut builder = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let req = builder.body(Full::new(body.into())).map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(WAIT, client.request(req))
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|e| format!("no response: {e}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = tokio::time::timeout(WAIT, response.into_body().collect())
        .await
        .map_err(|_| "no whole body in time".to_owned())?
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Answer { status, headers, body })
}

/// Any request; returns the status and JSON answer.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (u16, serde_json::Value) {
    let answer = call(method, url, headers, body).await;
    (answer.status, answer.json())
}

/// POSTs `body` with `headers`; returns the status and JSON answer.
pub async fn post(url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> (u16, serde_json::Value) {
    request("POST", url, headers, body).await
}

/// POSTs `body` to `url` signed as GitHub signs it with `secret`; returns
/// the status and JSON answer.
pub async fn post_github(url: &str, secret: &str, event: &str, delivery: &str, body: &str) -> (u16, serde_json::Value) {
    post_signed(Provider::Github, url, secret, event, delivery, body, &[]).await
}

/// POSTs a JSON `body` to `url` signed as `provider` signs it (by the
/// providers crate, the mirror of what ingest verifies), with
/// `extra_headers` (a `traceparent`, say).
pub async fn post_signed(
    provider: Provider,
    url: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    body: &str,
    extra_headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let signed = signed_headers(provider, secret, event, delivery, body);
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    headers.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    headers.extend_from_slice(extra_headers);
    post(url, &headers, body.to_owned()).await
}

/// The headers `provider` would sign `body` with (`event` and `delivery`
/// where the provider sends them).
pub fn signed_headers(
    provider: Provider,
    secret: &str,
    event: &str,
    delivery: &str,
    body: &str,
) -> Vec<(String, String)> {
    let scheme = hookline_providers::Scheme { provider, hmac: None };
    hookline_providers::sign(
        &scheme,
        &hookline_providers::SignRequest {
            secret,
            body: body.as_bytes(),
            now: hookline_model::clock::now_ms() / 1000,
            delivery_id: delivery,
            event,
            hmac: None,
        },
    )
}
