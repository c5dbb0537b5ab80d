//! Generic HMAC per the source's [`HmacSpec`]: a configurable header,
//! SHA-256 or SHA-512, hex or base64, an optional prefix and an optional
//! signed timestamp header (`<ts>.<body>`); delivery id `Idempotency-Key`
//! or `webhook-id`. Its header is sensitive whatever it is named.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hookline_model::catalog::{HmacEncoding, HmacSpec};
use hookline_model::signing;
use hookline_proto::{InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, pair, parse_timestamp, within};
use crate::{Spec, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &[],
    context,
};

fn spec_of(hmac: Option<&HmacSpec>) -> HmacSpec {
    hmac.cloned().unwrap_or_else(HmacSpec::mintlify)
}

/// Verifies with the source's scheme (Mintlify's default when it has none).
pub(crate) fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let spec = spec_of(r.hmac);
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
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
pub(crate) fn delivery_id(r: &Request<'_>) -> Id {
    r.header_opt("idempotency-key").or_else(|| r.header_opt("webhook-id"))
}

/// Signs with the source's scheme (Mintlify's default when it has none).
pub(crate) fn sign(s: &SignRequest<'_>) -> Headers {
    let spec = spec_of(s.hmac);
    let key = s.secret.as_bytes();
    let ts = s.now.to_string();
    let sig = match &spec.timestamp_header {
        None => signing::hmac(spec.algorithm, key, &[s.body]),
        Some(_) => signing::hmac(spec.algorithm, key, &[ts.as_bytes(), b".", s.body]),
    };
    let encoded = match spec.encoding {
        HmacEncoding::Hex => hex::encode(sig),
        HmacEncoding::Base64 => B64.encode(sig),
    };
    let mut out = vec![
        pair(&spec.header.to_ascii_lowercase(), format!("{}{encoded}", spec.prefix)),
        pair("idempotency-key", s.delivery_id),
    ];
    if let Some(ts_header) = &spec.timestamp_header {
        out.push(pair(&ts_header.to_ascii_lowercase(), ts));
    }
    out
}

/// The event type is the generic reader's (`type`, `event`, …).
fn context(_: &InboundEvent, _: &Value, _: &mut WebhookContext) {}
