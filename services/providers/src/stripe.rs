//! Stripe: `Stripe-Signature: t=…,v1=<hex HMAC-SHA256 of "<t>.<body>">`,
//! any `v1` may match, `t` within 300 s; the delivery id is the event's
//! `id`, its type the body's `type`.

use hookline_model::signing;
use hookline_proto::{InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, pair, text, within};
use crate::{Spec, TIMESTAMP_TOLERANCE_SECS, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &["stripe-signature"],
    context,
};

/// The parts of a `Stripe-Signature` header.
#[derive(Debug, PartialEq, Eq)]
pub struct StripeHeader {
    /// `t`: when Stripe signed it.
    pub timestamp: i64,
    /// Every `v1` signature.
    pub v1: Vec<Vec<u8>>,
}

/// Parses `t=<unix>,v1=<hex>,v1=<hex>,v0=…` (unknown schemes are ignored).
pub fn parse_header(header: &str) -> Result<StripeHeader, VerifyError> {
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

fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let header = parse_header(r.header("stripe-signature")?)?;
    let t = header.timestamp.to_string();
    r.any_secret(|key| {
        header
            .v1
            .iter()
            .any(|sig| signing::verify_hmac_sha256(key, &[t.as_bytes(), b".", r.body], sig))
    })?;
    within(r.now, header.timestamp, TIMESTAMP_TOLERANCE_SECS)?;
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.json().get("id").and_then(Value::as_str).map(str::to_owned)
}

fn sign(s: &SignRequest<'_>) -> Headers {
    let ts = s.now.to_string();
    let sig = signing::hmac_sha256(s.secret.as_bytes(), &[ts.as_bytes(), b".", s.body]);
    vec![pair("stripe-signature", format!("t={ts},v1={}", hex::encode(sig)))]
}

fn context(_: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = text(body, "/type");
    ctx.resource = text(body, "/data/object/object");
    ctx.action = ctx.event.rsplit('.').next().unwrap_or_default().to_owned();
}
