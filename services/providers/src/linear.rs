//! Linear: `Linear-Signature: <hex HMAC-SHA256 of the body>`; the body's
//! `webhookTimestamp` (unix ms) must be within 60 s; delivery id
//! `Linear-Delivery`.

use hookline_model::signing;
use hookline_proto::{Actor, InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, first, hex_sig, names, pair, text, within};
use crate::{Spec, VerifyError};

/// Linear's tolerance for `webhookTimestamp`, seconds.
pub const TOLERANCE_SECS: i64 = 60;

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &["linear-signature"],
    context,
};

fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let sig = hex_sig(r.header("linear-signature")?, "linear-signature header")?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[r.body], &sig))?;
    let sent_ms = r
        .json()
        .get("webhookTimestamp")
        .and_then(Value::as_i64)
        .ok_or_else(|| VerifyError::Missing("webhookTimestamp field".to_owned()))?;
    within(r.now, sent_ms.div_euclid(1000), TOLERANCE_SECS)?;
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.header_opt("linear-delivery")
}

fn sign(s: &SignRequest<'_>) -> Headers {
    vec![
        pair(
            "linear-signature",
            hex::encode(signing::hmac_sha256(s.secret.as_bytes(), &[s.body])),
        ),
        pair("linear-delivery", s.delivery_id),
        pair("linear-event", s.event),
    ]
}

fn context(_: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = text(body, "/type");
    ctx.action = text(body, "/action");
    ctx.organization = text(body, "/organizationId");
    names(body, "/data/labels", "name", &mut ctx.labels);
    ctx.assignee = first(body, &["/data/assignee/name", "/data/assignee/email"]);
    ctx.author = first(body, &["/data/creator/name", "/data/user/name", "/actor/name"]);
    ctx.sender = text(body, "/actor/name");
    ctx.project = text(body, "/data/project/name");
    ctx.resource = ctx.event.clone();
    let kind = text(body, "/actor/type");
    ctx.actor = Some(Actor {
        login: text(body, "/actor/name"),
        email: text(body, "/actor/email"),
        id: text(body, "/actor/id"),
        bot: !kind.is_empty() && kind != "user",
        ..Default::default()
    });
}
