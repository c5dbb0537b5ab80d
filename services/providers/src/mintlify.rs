//! Mintlify: its scheme is not public, so it is generic HMAC with
//! overridable defaults ([`HmacSpec::mintlify`]); the event is the body's
//! `event` or `type`.
//!
//! [`HmacSpec::mintlify`]: hookline_model::catalog::HmacSpec::mintlify

use hookline_proto::{InboundEvent, WebhookContext};
use serde_json::Value;

use crate::Spec;
use crate::common::{first, text};

pub(crate) const SPEC: Spec = Spec {
    verify: crate::hmac::verify,
    delivery_id: crate::hmac::delivery_id,
    sign: crate::hmac::sign,
    secret_headers: &[],
    context,
};

fn context(_: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = first(body, &["/event", "/type"]);
    ctx.action = text(body, "/action");
    ctx.project = first(body, &["/projectId", "/project/id", "/project"]);
    ctx.branch = text(body, "/branch");
}
