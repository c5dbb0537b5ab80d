//! PagerDuty (webhooks v3): `X-PagerDuty-Signature: v1=<hex>,v1=<hex>`, any
//! may match; delivery id `X-Webhook-Id`.

use hookline_model::signing;
use hookline_proto::{Actor, InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, pair, text};
use crate::{Spec, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &["x-pagerduty-signature"],
    context,
};

fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
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
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.header_opt("x-webhook-id")
}

fn sign(s: &SignRequest<'_>) -> Headers {
    let sig = hex::encode(signing::hmac_sha256(s.secret.as_bytes(), &[s.body]));
    vec![
        pair("x-pagerduty-signature", format!("v1={sig}")),
        pair("x-webhook-id", s.delivery_id),
    ]
}

fn context(_: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = text(body, "/event/event_type");
    ctx.resource = text(body, "/event/resource_type");
    ctx.action = ctx.event.rsplit('.').next().unwrap_or_default().to_owned();
    ctx.project = text(body, "/event/data/service/summary");
    ctx.assignee = text(body, "/event/data/assignees/0/summary");
    // `agent` is who caused the event: a person (`user_reference`, such as
    // who acknowledged an incident) or PagerDuty and its integrations.
    let agent = text(body, "/event/agent/type");
    ctx.sender = text(body, "/event/agent/summary");
    ctx.actor = Some(Actor {
        login: ctx.sender.clone(),
        id: text(body, "/event/agent/id"),
        system: agent != "user_reference",
        ..Default::default()
    });
}
