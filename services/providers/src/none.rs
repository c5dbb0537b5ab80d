//! No verification, only where the operator says so explicitly; the
//! delivery id is `Idempotency-Key` when the sender gives one.

use hookline_proto::{InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, pair};
use crate::{Spec, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &[],
    context,
};

fn verify(_: &Request<'_>) -> Result<(), VerifyError> {
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.header_opt("idempotency-key")
}

fn sign(s: &SignRequest<'_>) -> Headers {
    vec![pair("idempotency-key", s.delivery_id)]
}

/// The event type is the generic reader's (`type`, `event`, …).
fn context(_: &InboundEvent, _: &Value, _: &mut WebhookContext) {}
