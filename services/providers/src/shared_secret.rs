//! A shared secret sent as is: `X-Webhook-Secret: <secret>`; delivery id
//! `Idempotency-Key`.

use hookline_model::signing;
use hookline_proto::{InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, pair};
use crate::{Spec, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &["x-webhook-secret"],
    context,
};

fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let given = r.header("x-webhook-secret")?;
    r.any_secret(|key| signing::constant_time_eq(key, given.as_bytes()))?;
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.header_opt("idempotency-key")
}

fn sign(s: &SignRequest<'_>) -> Headers {
    vec![
        pair("x-webhook-secret", s.secret),
        pair("idempotency-key", s.delivery_id),
    ]
}

/// The event type is the generic reader's (`type`, `event`, …).
fn context(_: &InboundEvent, _: &Value, _: &mut WebhookContext) {}
