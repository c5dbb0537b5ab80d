//! Standard Webhooks: `webhook-signature: v1,<base64> …` over
//! `<id>.<timestamp>.<body>` with a `whsec_` secret, timestamp within 300 s;
//! the delivery id is `webhook-id`.

use hookline_model::signing;
use hookline_proto::{InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, pair, parse_timestamp, within};
use crate::{Spec, TIMESTAMP_TOLERANCE_SECS, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &["webhook-signature"],
    context,
};

fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let id = r.header("webhook-id")?;
    let timestamp = r.header("webhook-timestamp")?;
    let signature = r.header("webhook-signature")?;
    if !r
        .secrets
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
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.header_opt("webhook-id")
}

fn sign(s: &SignRequest<'_>) -> Headers {
    vec![
        pair(
            "webhook-signature",
            signing::standard_signature(s.secret, s.delivery_id, s.now, s.body),
        ),
        pair("webhook-id", s.delivery_id),
        pair("webhook-timestamp", s.now.to_string()),
    ]
}

/// The event type is the generic reader's (`type`, `event`, …).
fn context(_: &InboundEvent, _: &Value, _: &mut WebhookContext) {}
