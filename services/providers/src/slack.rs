//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<ts>:<body>">`
//! with `X-Slack-Request-Timestamp` within 300 s; the delivery id is the
//! body's `event_id`. Its `url_verification` handshake is answered by
//! ingest ([`crate::body::slack_challenge`]).

use hookline_model::signing;
use hookline_proto::{Actor, InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, first, hex_sig, pair, parse_timestamp, text, within};
use crate::{Spec, TIMESTAMP_TOLERANCE_SECS, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &["x-slack-signature"],
    context,
};

fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let ts_text = r.header("x-slack-request-timestamp")?;
    let header = r.header("x-slack-signature")?;
    let hex = header
        .strip_prefix("v0=")
        .ok_or_else(|| VerifyError::Malformed("x-slack-signature header".to_owned()))?;
    let sig = hex_sig(hex, "x-slack-signature header")?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[b"v0:", ts_text.as_bytes(), b":", r.body], &sig))?;
    within(
        r.now,
        parse_timestamp(ts_text, "x-slack-request-timestamp header")?,
        TIMESTAMP_TOLERANCE_SECS,
    )?;
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.json().get("event_id").and_then(Value::as_str).map(str::to_owned)
}

fn sign(s: &SignRequest<'_>) -> Headers {
    let ts = s.now.to_string();
    let sig = signing::hmac_sha256(s.secret.as_bytes(), &[b"v0:", ts.as_bytes(), b":", s.body]);
    vec![
        pair("x-slack-request-timestamp", ts),
        pair("x-slack-signature", format!("v0={}", hex::encode(sig))),
    ]
}

fn context(_: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = first(body, &["/event/type", "/type", "/command"]);
    ctx.action = text(body, "/event/subtype");
    ctx.author = text(body, "/event/user");
    ctx.project = text(body, "/event/channel");
    ctx.organization = text(body, "/team_id");
    ctx.actor = Some(Actor {
        login: first(body, &["/user_name", "/user/username", "/user/name"]),
        id: first(body, &["/event/user", "/user_id", "/user/id"]),
        bot: body.pointer("/event/bot_id").is_some(),
        ..Default::default()
    });
}
