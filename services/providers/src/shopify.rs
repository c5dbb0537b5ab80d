//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`;
//! delivery id `X-Shopify-Webhook-Id`, topic `X-Shopify-Topic`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hookline_model::signing;
use hookline_proto::{InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, header, pair};
use crate::{Spec, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &["x-shopify-hmac-sha256"],
    context,
};

fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let sig = B64
        .decode(r.header("x-shopify-hmac-sha256")?)
        .map_err(|_| VerifyError::Malformed("x-shopify-hmac-sha256 header".to_owned()))?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[r.body], &sig))?;
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.header_opt("x-shopify-webhook-id")
}

fn sign(s: &SignRequest<'_>) -> Headers {
    vec![
        pair(
            "x-shopify-hmac-sha256",
            B64.encode(signing::hmac_sha256(s.secret.as_bytes(), &[s.body])),
        ),
        pair("x-shopify-webhook-id", s.delivery_id),
        pair("x-shopify-topic", s.event),
    ]
}

fn context(event: &InboundEvent, _: &Value, ctx: &mut WebhookContext) {
    ctx.event = header(event, "x-shopify-topic").to_owned();
}
