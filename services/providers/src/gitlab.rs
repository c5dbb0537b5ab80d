//! GitLab: the secret token itself in `X-Gitlab-Token`; delivery id
//! `X-Gitlab-Event-UUID`; the event is the body's `object_kind`.

use hookline_model::signing;
use hookline_proto::{Actor, InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, first, names, pair, text};
use crate::{Spec, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &["x-gitlab-token"],
    context,
};

fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let token = r.header("x-gitlab-token")?;
    r.any_secret(|key| signing::constant_time_eq(key, token.as_bytes()))?;
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.header_opt("x-gitlab-event-uuid")
        .or_else(|| r.header_opt("idempotency-key"))
}

fn sign(s: &SignRequest<'_>) -> Headers {
    vec![
        pair("x-gitlab-token", s.secret),
        pair("x-gitlab-event-uuid", s.delivery_id),
        pair("x-gitlab-event", s.event),
    ]
}

fn context(_: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = text(body, "/object_kind");
    ctx.action = text(body, "/object_attributes/action");
    ctx.repo = text(body, "/project/path_with_namespace");
    ctx.org = ctx.repo.split('/').next().unwrap_or_default().to_owned();
    names(body, "/labels", "title", &mut ctx.labels);
    ctx.author = first(body, &["/user/username", "/user_username"]);
    ctx.sender = ctx.author.clone();
    ctx.assignee = text(body, "/assignees/0/username");
    ctx.branch = match ctx.event.as_str() {
        "push" | "tag_push" => text(body, "/ref").trim_start_matches("refs/heads/").to_owned(),
        _ => first(
            body,
            &[
                "/object_attributes/source_branch",
                "/merge_request/source_branch",
                "/object_attributes/ref",
            ],
        ),
    };
    // The issue or merge request (their own number spaces: `iid`s) the
    // event is about, and a note's text.
    let on_merge_request = match ctx.event.as_str() {
        "merge_request" => true,
        "note" => text(body, "/object_attributes/noteable_type") == "MergeRequest",
        _ => false,
    };
    ctx.on_pull_request = on_merge_request;
    ctx.thread = match ctx.event.as_str() {
        "issue" | "merge_request" => body.pointer("/object_attributes/iid").and_then(Value::as_u64),
        "note" if on_merge_request => body.pointer("/merge_request/iid").and_then(Value::as_u64),
        "note" => body.pointer("/issue/iid").and_then(Value::as_u64),
        _ => None,
    }
    .unwrap_or(0);
    if ctx.event == "note" {
        ctx.comment = text(body, "/object_attributes/note");
    }
    ctx.merged = ctx.action == "merge";
    if ctx.event == "pipeline" || ctx.event == "build" {
        ctx.conclusion = first(body, &["/object_attributes/status", "/build_status"]);
    }
    ctx.actor = Some(Actor {
        login: first(body, &["/user/username", "/user_username"]),
        email: first(body, &["/user/email", "/user_email"]),
        id: first(body, &["/user/id", "/user_id"]),
        ..Default::default()
    });
}
