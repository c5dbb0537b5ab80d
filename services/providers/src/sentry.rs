//! Sentry: `Sentry-Hook-Signature: <hex HMAC-SHA256 of the body>`; delivery
//! id `Request-ID`; the resource (`issue`, `error`, …) in
//! `Sentry-Hook-Resource`.

use hookline_model::signing;
use hookline_proto::{Actor, InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, first, header, hex_sig, pair, text};
use crate::{Spec, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &["sentry-hook-signature"],
    context,
};

fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let sig = hex_sig(r.header("sentry-hook-signature")?, "sentry-hook-signature header")?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[r.body], &sig))?;
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.header_opt("request-id")
}

fn sign(s: &SignRequest<'_>) -> Headers {
    vec![
        pair(
            "sentry-hook-signature",
            hex::encode(signing::hmac_sha256(s.secret.as_bytes(), &[s.body])),
        ),
        pair("request-id", s.delivery_id),
        pair("sentry-hook-resource", s.event),
    ]
}

fn context(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.resource = header(event, "sentry-hook-resource").to_owned();
    ctx.event = ctx.resource.clone();
    ctx.action = text(body, "/action");
    ctx.project = first(
        body,
        &["/data/issue/project/slug", "/data/event/project", "/data/error/project"],
    );
    ctx.assignee = text(body, "/data/issue/assignedTo/name");
    ctx.sender = text(body, "/actor/name");
    // `application` is Sentry itself (id `sentry`: alerts, issues it
    // raised) or another integration acting; `user` is a person.
    let application = text(body, "/actor/type") == "application";
    let sentry_itself = application && text(body, "/actor/id") == "sentry";
    ctx.actor = Some(Actor {
        login: text(body, "/actor/name"),
        id: text(body, "/actor/id"),
        bot: application && !sentry_itself,
        system: sentry_itself,
        ..Default::default()
    });
}
