//! Gitea and Forgejo (one payload format): `X-Gitea-Signature: <hex
//! HMAC-SHA256 of the body>`, delivery id `X-Gitea-Delivery`, event
//! `X-Gitea-Event`; Forgejo sends the same as `X-Forgejo-*` (and the
//! `X-Gitea-*` names too, which are read when its own are absent). The
//! payloads are GitHub-like (`action`, `issue`, `pull_request`, `comment`,
//! `repository.full_name`, `sender.login`) without an author association:
//! who someone is on the project is for the forge's API to say.

use hookline_model::signing;
use hookline_proto::{Actor, InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, first, header, hex_sig, names, pair, text};
use crate::{Spec, VerifyError};

pub(crate) const GITEA: Spec = Spec {
    verify: gitea_verify,
    delivery_id: gitea_delivery,
    sign: gitea_sign,
    secret_headers: &["x-gitea-signature"],
    context: gitea_context,
};

pub(crate) const FORGEJO: Spec = Spec {
    verify: forgejo_verify,
    delivery_id: forgejo_delivery,
    sign: forgejo_sign,
    secret_headers: &["x-forgejo-signature", "x-gitea-signature"],
    context: forgejo_context,
};

fn gitea_verify(r: &Request<'_>) -> Result<(), VerifyError> {
    verify(r, "x-gitea-signature")
}

fn forgejo_verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let own = r.header("x-forgejo-signature").is_ok();
    verify(
        r,
        if own {
            "x-forgejo-signature"
        } else {
            "x-gitea-signature"
        },
    )
}

fn gitea_delivery(r: &Request<'_>) -> Id {
    r.header_opt("x-gitea-delivery")
}

fn gitea_sign(s: &SignRequest<'_>) -> Headers {
    sign(s, "gitea")
}

fn forgejo_sign(s: &SignRequest<'_>) -> Headers {
    sign(s, "forgejo")
}

fn gitea_context(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    context(event, body, ctx, "x-gitea-event");
}

fn forgejo_context(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    let own = !header(event, "x-forgejo-event").is_empty();
    context(event, body, ctx, if own { "x-forgejo-event" } else { "x-gitea-event" });
}

fn verify(r: &Request<'_>, name: &str) -> Result<(), VerifyError> {
    let sig = hex_sig(r.header(name)?, &format!("{name} header"))?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[r.body], &sig))?;
    Ok(())
}

fn forgejo_delivery(r: &Request<'_>) -> Id {
    r.header_opt("x-forgejo-delivery")
        .or_else(|| r.header_opt("x-gitea-delivery"))
}

fn sign(s: &SignRequest<'_>, forge: &str) -> Headers {
    let signature = hex::encode(signing::hmac_sha256(s.secret.as_bytes(), &[s.body]));
    vec![
        pair(&format!("x-{forge}-signature"), signature),
        pair(&format!("x-{forge}-delivery"), s.delivery_id),
        pair(&format!("x-{forge}-event"), s.event),
    ]
}

fn context(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext, event_header: &str) {
    ctx.event = header(event, event_header).to_owned();
    ctx.action = text(body, "/action");
    ctx.repo = text(body, "/repository/full_name");
    ctx.org = first(body, &["/organization/login", "/repository/owner/login"]);
    ctx.sender = text(body, "/sender/login");
    names(body, "/issue/labels", "name", &mut ctx.labels);
    names(body, "/pull_request/labels", "name", &mut ctx.labels);
    ctx.author = first(
        body,
        &[
            "/issue/user/login",
            "/pull_request/user/login",
            "/comment/user/login",
            "/sender/login",
        ],
    );
    ctx.assignee = first(body, &["/issue/assignee/login", "/pull_request/assignee/login"]);
    ctx.thread = ["/issue/number", "/pull_request/number", "/number"]
        .iter()
        .find_map(|p| body.pointer(p).and_then(Value::as_u64))
        .unwrap_or(0);
    ctx.on_pull_request = body.pointer("/pull_request").is_some_and(|p| !p.is_null())
        || body.pointer("/is_pull").and_then(Value::as_bool).unwrap_or(false)
        || body.pointer("/issue/pull_request").is_some_and(|p| !p.is_null());
    ctx.comment = match (ctx.event.as_str(), ctx.action.as_str()) {
        ("issue_comment", "created") => text(body, "/comment/body"),
        (review, _) if review.starts_with("pull_request_review") => text(body, "/review/content"),
        _ => String::new(),
    };
    ctx.merged = body
        .pointer("/pull_request/merged")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    ctx.branch = match ctx.event.as_str() {
        "push" | "create" | "delete" => text(body, "/ref").trim_start_matches("refs/heads/").to_owned(),
        _ => first(body, &["/pull_request/head/ref", "/workflow_run/head_branch"]),
    };
    ctx.conclusion = match ctx.event.as_str() {
        // A commit status: `failure`, `error`, `success`, `pending`.
        "status" => text(body, "/state"),
        _ => text(body, "/workflow_run/conclusion"),
    };
    ctx.resource = ctx.event.clone();
    let login = ctx.sender.clone();
    ctx.actor = Some(Actor {
        id: text(body, "/sender/id"),
        email: text(body, "/sender/email"),
        bot: login.ends_with("[bot]"),
        login,
        ..Actor::default()
    });
}
