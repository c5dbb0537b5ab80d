//! One delivery attempt: the signed POST with the subscription's headers
//! and trace context, its answer read (a bounded body), and why there is
//! no answer when there is none. The client refuses targets the address
//! rule forbids, at connect time too.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use hookline_http::guarded_http::{self as connect, HttpClient};
use hookline_model::catalog::{Catalog, Secret, SubscriptionSpec};
use hookline_model::clock;
use hookline_model::ssrf::Guard;
use hookline_proto::Event;
use http_body_util::{BodyExt, Full, Limited};

use crate::outbound;
use crate::retry;

/// Response bytes kept in the attempt log.
const LOGGED_BODY_BYTES: usize = 1024;

/// Subscription id → its secrets and when each stops signing.
pub type ResolvedSecrets = HashMap<String, Vec<(Secret, Option<i64>)>>;

/// Resolves every subscription's secrets; one that cannot be resolved is
/// logged and left out.
pub fn resolve_secrets(catalog: &Catalog) -> ResolvedSecrets {
    catalog
        .subscriptions
        .iter()
        .map(|(id, sub)| {
            let secrets = sub
                .secrets
                .iter()
                .filter_map(|s| match s.resolve() {
                    Ok(secret) => Some((secret, s.until_ms())),
                    Err(e) => {
                        tracing::error!(subscription = %id, secret = %s.hint(), error = %e, "Signing secret cannot be resolved.");
                        None
                    }
                })
                .collect();
            (id.clone(), secrets)
        })
        .collect()
}

/// Why an attempt got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AttemptError {
    /// The SSRF guard refused the target: final, never retried.
    #[error("refused by the SSRF guard: {0}")]
    Refused(String),
    /// The subscription has no secret that may sign now.
    #[error("no usable signing secret")]
    NoSecret,
    /// The request could not be built (a header the endpoint cannot take).
    #[error("invalid request: {0}")]
    InvalidRequest(#[source] hyper::http::Error),
    /// Connecting, sending or reading failed.
    #[error("{0}")]
    Network(String),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// What one attempt got back.
pub(crate) struct Response {
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub body: String,
    /// Why there is no status, when there is none.
    pub failure: Option<AttemptError>,
}

impl Response {
    pub fn error(&self) -> String {
        self.failure.as_ref().map(ToString::to_string).unwrap_or_default()
    }
}

/// One signed POST of `event` to `subscription`'s endpoint, within
/// `timeout`, signed with each of its secrets that may sign now.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn post(
    client: &HttpClient,
    guard: &Guard,
    timeout: Duration,
    signing: &ResolvedSecrets,
    subscription: &str,
    sub: &SubscriptionSpec,
    event: &Event,
    trace: Option<&str>,
) -> Response {
    let failed = |failure: AttemptError| Response {
        status: None,
        retry_after: None,
        body: String::new(),
        failure: Some(failure),
    };
    if let Err(e) = guard.check_url(&sub.url) {
        return failed(AttemptError::Refused(e.to_string()));
    }
    let now_ms = clock::now_ms();
    let secrets: Vec<&str> = signing
        .get(subscription)
        .map(|all| {
            all.iter()
                .filter(|(_, until)| until.is_none_or(|u| now_ms < u))
                .map(|(secret, _)| secret.expose())
                .collect()
        })
        .unwrap_or_default();
    if secrets.is_empty() {
        return failed(AttemptError::NoSecret);
    }
    let body = outbound::body(event);
    let mut request = hyper::Request::post(&sub.url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, outbound::USER_AGENT);
    for (name, value) in outbound::signature_headers(&secrets, &event.id, clock::now_ms() / 1000, &body) {
        request = request.header(name, value);
    }
    if let Some(trace) = trace {
        request = request.header("traceparent", trace);
    }
    for (name, value) in &sub.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = match request.body(Full::new(Bytes::from(body))) {
        Ok(r) => r,
        Err(e) => return failed(AttemptError::InvalidRequest(e)),
    };
    let exchange = async {
        let response = client.request(request).await.map_err(|e| {
            if connect::is_refused(&e) {
                AttemptError::Refused(error_chain(&e))
            } else {
                AttemptError::Network(error_chain(&e))
            }
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        let bytes = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let shown = &bytes[..bytes.len().min(LOGGED_BODY_BYTES)];
        Ok::<_, AttemptError>(Response {
            status: Some(status),
            retry_after,
            body: String::from_utf8_lossy(shown).into_owned(),
            failure: None,
        })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => failed(e),
        Err(_) => failed(AttemptError::Timeout(timeout)),
    }
}

/// An error and its sources, as one line (the guard's refusal is deep in a
/// connect error's chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The attempt's answer in a few words.
pub(crate) fn describe(r: &Response) -> String {
    match r.status {
        Some(status) => format!("HTTP {status}"),
        None => r.error(),
    }
}
