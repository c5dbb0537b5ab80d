//! What every provider file uses: the request a scheme reads, header and
//! timestamp checks, and the JSON readers context extraction needs.

use hookline_model::catalog::{HmacSpec, Secret};
use hookline_proto::InboundEvent;
use http::HeaderMap;
use serde_json::Value;

use crate::VerifyError;

/// A provider's delivery id, if it sends one.
pub type Id = Option<String>;

/// What every verification reads.
pub struct Request<'a> {
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The raw body, as signed.
    pub body: &'a [u8],
    /// Unix seconds.
    pub now: i64,
    /// Every secret active now.
    pub secrets: &'a [Secret],
    /// The generic HMAC scheme (`hmac`, `mintlify`).
    pub hmac: Option<&'a HmacSpec>,
}

impl Request<'_> {
    /// A header that must be present and not blank.
    pub fn header(&self, name: &str) -> Result<&str, VerifyError> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| VerifyError::Missing(format!("{name} header")))
    }

    /// A header that may be absent.
    pub fn header_opt(&self, name: &str) -> Id {
        self.header(name).ok().map(str::to_owned)
    }

    /// Ok when any secret passes `check`.
    pub fn any_secret(&self, check: impl Fn(&[u8]) -> bool) -> Result<(), VerifyError> {
        if self.secrets.iter().any(|s| check(s.expose().as_bytes())) {
            Ok(())
        } else {
            Err(VerifyError::Invalid)
        }
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(self.body).unwrap_or(Value::Null)
    }
}

/// What signing a test event needs.
pub struct SignRequest<'a> {
    /// The secret to sign with.
    pub secret: &'a str,
    /// The body to sign.
    pub body: &'a [u8],
    /// Unix seconds.
    pub now: i64,
    /// The delivery id to send.
    pub delivery_id: &'a str,
    /// The event type to name, where the provider sends one.
    pub event: &'a str,
    /// The generic HMAC scheme (`hmac`, `mintlify`).
    pub hmac: Option<&'a HmacSpec>,
}

/// Header pairs as sent.
pub type Headers = Vec<(String, String)>;

/// `(name, value)` with an owned name.
pub fn pair(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

/// A hex signature, or why it is malformed.
pub fn hex_sig(text: &str, what: &str) -> Result<Vec<u8>, VerifyError> {
    hex::decode(text.trim()).map_err(|_| VerifyError::Malformed(what.to_owned()))
}

/// Ok when `timestamp` is within `tolerance` seconds of `now`.
pub fn within(now: i64, timestamp: i64, tolerance: i64) -> Result<(), VerifyError> {
    if now.abs_diff(timestamp) > tolerance.unsigned_abs() {
        Err(VerifyError::Stale)
    } else {
        Ok(())
    }
}

/// A unix-seconds header value.
pub fn parse_timestamp(text: &str, what: &str) -> Result<i64, VerifyError> {
    text.trim().parse().map_err(|_| VerifyError::Malformed(what.to_owned()))
}

/// A stored header's value, or "".
pub fn header<'a>(event: &'a InboundEvent, name: &str) -> &'a str {
    event
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
        .unwrap_or_default()
}

/// The string or number at `pointer`, or "".
pub fn text(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The first non-empty [`text`] of `pointers`.
pub fn first(value: &Value, pointers: &[&str]) -> String {
    pointers
        .iter()
        .map(|p| text(value, p))
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

/// Names from an array of strings or of objects with `key`, each once.
pub fn names(value: &Value, pointer: &str, key: &str, out: &mut Vec<String>) {
    if let Some(items) = value.pointer(pointer).and_then(Value::as_array) {
        for item in items {
            let name = item.get(key).and_then(Value::as_str).or_else(|| item.as_str());
            if let Some(name) = name
                && !out.iter().any(|l| l == name)
            {
                out.push(name.to_owned());
            }
        }
    }
}
