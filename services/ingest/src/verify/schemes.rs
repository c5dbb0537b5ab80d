//! One function per provider, each as the provider documents its scheme.
//! Each returns the provider's delivery id, if it has one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hookline_core::catalog::{HmacEncoding, HmacSpec, Secret};
use hookline_core::signing;
use http::HeaderMap;
use serde_json::Value;

use super::{LINEAR_TOLERANCE_SECS, TIMESTAMP_TOLERANCE_SECS, VerifyError};

/// What every scheme reads.
pub(super) struct Request<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub now: i64,
    pub secrets: &'a [Secret],
}

type Id = Option<String>;

impl Request<'_> {
    fn header(&self, name: &str) -> Result<&str, VerifyError> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| VerifyError::Missing(format!("{name} header")))
    }

    pub(super) fn header_opt(&self, name: &str) -> Id {
        self.header(name).ok().map(str::to_owned)
    }

    fn any_secret(&self, check: impl Fn(&[u8]) -> bool) -> Result<(), VerifyError> {
        if self.secrets.iter().any(|s| check(s.expose().as_bytes())) {
            Ok(())
        } else {
            Err(VerifyError::Invalid)
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(self.body).unwrap_or(Value::Null)
    }
}

fn hex_sig(text: &str, what: &str) -> Result<Vec<u8>, VerifyError> {
    hex::decode(text.trim()).map_err(|_| VerifyError::Malformed(what.to_owned()))
}

fn within(now: i64, timestamp: i64, tolerance: i64) -> Result<(), VerifyError> {
    if now.abs_diff(timestamp) > tolerance.unsigned_abs() {
        Err(VerifyError::Stale)
    } else {
        Ok(())
    }
}

fn parse_timestamp(text: &str, what: &str) -> Result<i64, VerifyError> {
    text.trim().parse().map_err(|_| VerifyError::Malformed(what.to_owned()))
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
pub(super) fn github(r: &Request<'_>) -> Result<Id, VerifyError> {
    let header = r.header("x-hub-signature-256")?;
    let hex = header
        .strip_prefix("sha256=")
        .ok_or_else(|| VerifyError::Malformed("x-hub-signature-256 header".to_owned()))?;
    let sig = hex_sig(hex, "x-hub-signature-256 header")?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[r.body], &sig))?;
    Ok(r.header_opt("x-github-delivery"))
}

/// GitLab: the secret token itself in `X-Gitlab-Token`.
pub(super) fn gitlab(r: &Request<'_>) -> Result<Id, VerifyError> {
    let token = r.header("x-gitlab-token")?;
    r.any_secret(|key| signing::constant_time_eq(key, token.as_bytes()))?;
    Ok(r.header_opt("x-gitlab-event-uuid")
        .or_else(|| r.header_opt("idempotency-key")))
}

/// Sentry: `Sentry-Hook-Signature: <hex HMAC-SHA256 of the body>`.
pub(super) fn sentry(r: &Request<'_>) -> Result<Id, VerifyError> {
    let sig = hex_sig(r.header("sentry-hook-signature")?, "sentry-hook-signature header")?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[r.body], &sig))?;
    Ok(r.header_opt("request-id"))
}

/// Linear: `Linear-Signature: <hex HMAC-SHA256 of the body>`; the body's
/// `webhookTimestamp` (unix ms) must be within 60 s.
pub(super) fn linear(r: &Request<'_>) -> Result<Id, VerifyError> {
    let sig = hex_sig(r.header("linear-signature")?, "linear-signature header")?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[r.body], &sig))?;
    let sent_ms = r
        .json()
        .get("webhookTimestamp")
        .and_then(Value::as_i64)
        .ok_or_else(|| VerifyError::Missing("webhookTimestamp field".to_owned()))?;
    within(r.now, sent_ms.div_euclid(1000), LINEAR_TOLERANCE_SECS)?;
    Ok(r.header_opt("linear-delivery"))
}

/// The parts of a `Stripe-Signature` header.
#[derive(Debug, PartialEq, Eq)]
pub struct StripeHeader {
    /// `t`: when Stripe signed it.
    pub timestamp: i64,
    /// Every `v1` signature.
    pub v1: Vec<Vec<u8>>,
}

/// Parses `t=<unix>,v1=<hex>,v1=<hex>,v0=…` (unknown schemes are ignored).
pub fn parse_stripe_header(header: &str) -> Result<StripeHeader, VerifyError> {
    let malformed = || VerifyError::Malformed("stripe-signature header".to_owned());
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let (key, value) = item.trim().split_once('=').ok_or_else(malformed)?;
        match key {
            "t" => timestamp = Some(value.parse::<i64>().map_err(|_| malformed())?),
            "v1" => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(malformed)?;
    if v1.is_empty() {
        return Err(malformed());
    }
    Ok(StripeHeader { timestamp, v1 })
}

/// Stripe: `Stripe-Signature: t=…,v1=<hex HMAC-SHA256 of "<t>.<body>">`,
/// any `v1` may match, `t` within 300 s.
pub(super) fn stripe(r: &Request<'_>) -> Result<Id, VerifyError> {
    let header = parse_stripe_header(r.header("stripe-signature")?)?;
    let t = header.timestamp.to_string();
    r.any_secret(|key| {
        header
            .v1
            .iter()
            .any(|sig| signing::verify_hmac_sha256(key, &[t.as_bytes(), b".", r.body], sig))
    })?;
    within(r.now, header.timestamp, TIMESTAMP_TOLERANCE_SECS)?;
    Ok(r.json().get("id").and_then(Value::as_str).map(str::to_owned))
}

/// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<ts>:<body>">`
/// with `X-Slack-Request-Timestamp` within 300 s.
pub(super) fn slack(r: &Request<'_>) -> Result<Id, VerifyError> {
    let ts_text = r.header("x-slack-request-timestamp")?;
    let header = r.header("x-slack-signature")?;
    let hex = header
        .strip_prefix("v0=")
        .ok_or_else(|| VerifyError::Malformed("x-slack-signature header".to_owned()))?;
    let sig = hex_sig(hex, "x-slack-signature header")?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[b"v0:", ts_text.as_bytes(), b":", r.body], &sig))?;
    within(
        r.now,
        parse_timestamp(ts_text, "x-slack-request-timestamp header")?,
        TIMESTAMP_TOLERANCE_SECS,
    )?;
    Ok(r.json().get("event_id").and_then(Value::as_str).map(str::to_owned))
}

/// Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`.
pub(super) fn shopify(r: &Request<'_>) -> Result<Id, VerifyError> {
    let sig = B64
        .decode(r.header("x-shopify-hmac-sha256")?)
        .map_err(|_| VerifyError::Malformed("x-shopify-hmac-sha256 header".to_owned()))?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[r.body], &sig))?;
    Ok(r.header_opt("x-shopify-webhook-id"))
}

/// PagerDuty v3: `X-PagerDuty-Signature: v1=<hex>,v1=<hex>`, any may match.
pub(super) fn pagerduty(r: &Request<'_>) -> Result<Id, VerifyError> {
    let sigs: Vec<Vec<u8>> = r
        .header("x-pagerduty-signature")?
        .split(',')
        .filter_map(|s| s.trim().strip_prefix("v1="))
        .filter_map(|s| hex::decode(s).ok())
        .collect();
    if sigs.is_empty() {
        return Err(VerifyError::Malformed("x-pagerduty-signature header".to_owned()));
    }
    r.any_secret(|key| sigs.iter().any(|sig| signing::verify_hmac_sha256(key, &[r.body], sig)))?;
    Ok(r.header_opt("x-webhook-id"))
}

/// Standard Webhooks: `webhook-signature: v1,<base64> …` over
/// `<id>.<timestamp>.<body>`, timestamp within 300 s.
pub(super) fn standard_webhooks(r: &Request<'_>) -> Result<Id, VerifyError> {
    let id = r.header("webhook-id")?;
    let timestamp = r.header("webhook-timestamp")?;
    let signature = r.header("webhook-signature")?;
    let secrets = r.secrets;
    if !secrets
        .iter()
        .any(|s| signing::verify_standard(s.expose(), id, timestamp, r.body, signature))
    {
        return Err(VerifyError::Invalid);
    }
    within(
        r.now,
        parse_timestamp(timestamp, "webhook-timestamp header")?,
        TIMESTAMP_TOLERANCE_SECS,
    )?;
    Ok(Some(id.to_owned()))
}

/// `X-Webhook-Secret: <secret>`.
pub(super) fn shared_secret(r: &Request<'_>) -> Result<Id, VerifyError> {
    let given = r.header("x-webhook-secret")?;
    r.any_secret(|key| signing::constant_time_eq(key, given.as_bytes()))?;
    Ok(r.header_opt("idempotency-key"))
}

/// Generic HMAC per [`HmacSpec`].
pub(super) fn generic_hmac(r: &Request<'_>, spec: &HmacSpec) -> Result<Id, VerifyError> {
    let header_name = spec.header.to_ascii_lowercase();
    let value = r.header(&header_name)?;
    let encoded = value
        .strip_prefix(spec.prefix.as_str())
        .ok_or_else(|| VerifyError::Malformed(format!("{header_name} header")))?;
    let sig = match spec.encoding {
        HmacEncoding::Hex => hex::decode(encoded.trim()).ok(),
        HmacEncoding::Base64 => B64.decode(encoded.trim()).ok(),
    }
    .ok_or_else(|| VerifyError::Malformed(format!("{header_name} header")))?;
    match &spec.timestamp_header {
        None => r.any_secret(|key| signing::verify_hmac(spec.algorithm, key, &[r.body], &sig))?,
        Some(ts_header) => {
            let ts_name = ts_header.to_ascii_lowercase();
            let ts_text = r.header(&ts_name)?;
            r.any_secret(|key| signing::verify_hmac(spec.algorithm, key, &[ts_text.as_bytes(), b".", r.body], &sig))?;
            let tolerance = i64::try_from(spec.tolerance().as_secs()).unwrap_or(i64::MAX);
            within(
                r.now,
                parse_timestamp(ts_text, &format!("{ts_name} header"))?,
                tolerance,
            )?;
        }
    }
    Ok(r.header_opt("idempotency-key").or_else(|| r.header_opt("webhook-id")))
}

#[cfg(test)]
#[path = "schemes_tests.rs"]
mod tests;
