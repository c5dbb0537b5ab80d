//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`,
//! delivery id `X-GitHub-Delivery`, event `X-GitHub-Event`; JSON or a form
//! body with `payload=<json>` (see [`crate::body`]).

use hookline_model::signing;
use hookline_proto::{Actor, InboundEvent, WebhookContext};
use serde_json::Value;

use crate::common::{Headers, Id, Request, SignRequest, first, header, hex_sig, names, pair, text};
use crate::{Spec, VerifyError};

pub(crate) const SPEC: Spec = Spec {
    verify,
    delivery_id,
    sign,
    secret_headers: &["x-hub-signature", "x-hub-signature-256"],
    context,
};

fn verify(r: &Request<'_>) -> Result<(), VerifyError> {
    let header = r.header("x-hub-signature-256")?;
    let hex = header
        .strip_prefix("sha256=")
        .ok_or_else(|| VerifyError::Malformed("x-hub-signature-256 header".to_owned()))?;
    let sig = hex_sig(hex, "x-hub-signature-256 header")?;
    r.any_secret(|key| signing::verify_hmac_sha256(key, &[r.body], &sig))?;
    Ok(())
}

/// The delivery id the request names (read before or without verifying).
fn delivery_id(r: &Request<'_>) -> Id {
    r.header_opt("x-github-delivery")
}

fn sign(s: &SignRequest<'_>) -> Headers {
    vec![
        pair("x-hub-signature-256", signing::github_signature(s.secret, s.body)),
        pair("x-github-delivery", s.delivery_id),
        pair("x-github-event", s.event),
    ]
}

fn context(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = header(event, "x-github-event").to_owned();
    ctx.action = text(body, "/action");
    ctx.repo = text(body, "/repository/full_name");
    ctx.org = first(body, &["/organization/login", "/repository/owner/login"]);
    ctx.sender = text(body, "/sender/login");
    if let Some(name) = body.pointer("/label/name").and_then(Value::as_str) {
        ctx.labels.push(name.to_owned());
    }
    names(body, "/issue/labels", "name", &mut ctx.labels);
    names(body, "/pull_request/labels", "name", &mut ctx.labels);
    ctx.author = first(
        body,
        &[
            "/issue/user/login",
            "/pull_request/user/login",
            "/comment/user/login",
            "/release/author/login",
            "/sender/login",
        ],
    );
    ctx.assignee = first(
        body,
        &[
            "/assignee/login",
            "/issue/assignee/login",
            "/pull_request/assignee/login",
        ],
    );
    ctx.thread = ["/issue/number", "/pull_request/number", "/number"]
        .iter()
        .find_map(|p| body.pointer(p).and_then(Value::as_u64))
        .unwrap_or(0);
    ctx.on_pull_request = body.pointer("/issue/pull_request").is_some() || body.pointer("/pull_request").is_some();
    ctx.comment = match (ctx.event.as_str(), ctx.action.as_str()) {
        ("issue_comment" | "pull_request_review_comment", "created") => text(body, "/comment/body"),
        ("pull_request_review", "submitted") => text(body, "/review/body"),
        _ => String::new(),
    };
    ctx.merged = body
        .pointer("/pull_request/merged")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    ctx.branch = match ctx.event.as_str() {
        "push" | "create" | "delete" => text(body, "/ref").trim_start_matches("refs/heads/").to_owned(),
        _ => first(
            body,
            &[
                "/pull_request/head/ref",
                "/workflow_run/head_branch",
                "/check_run/check_suite/head_branch",
                "/check_suite/head_branch",
            ],
        ),
    };
    ctx.conclusion = first(
        body,
        &[
            "/workflow_run/conclusion",
            "/check_run/conclusion",
            "/check_suite/conclusion",
        ],
    );
    ctx.resource = ctx.event.clone();
    ctx.actor = Some(actor(body, &ctx.action));
}

/// The items whose author's association GitHub reports, most specific first.
const ITEMS: [&str; 5] = ["/comment", "/review", "/pull_request", "/issue", "/discussion"];

/// Actions GitHub allows only to people with triage access or more: the
/// sender of one has at least that, whoever wrote the item.
const TRIAGE_ACTIONS: [&str; 6] = [
    "labeled",
    "unlabeled",
    "assigned",
    "unassigned",
    "milestoned",
    "demilestoned",
];

/// The sender, with the association of the item they wrote (an event's
/// items carry their author's association, the sender object does not).
fn actor(body: &Value, action: &str) -> Actor {
    let login = text(body, "/sender/login");
    let association = ITEMS
        .iter()
        .filter_map(|item| body.pointer(item))
        .find(|item| !login.is_empty() && text(item, "/user/login") == login)
        .map(|item| text(item, "/author_association"))
        .unwrap_or_default();
    let bot = text(body, "/sender/type") == "Bot" || login.ends_with("[bot]");
    Actor {
        id: text(body, "/sender/id"),
        email: text(body, "/sender/email"),
        association,
        bot,
        triage_action: if TRIAGE_ACTIONS.contains(&action) {
            action.to_owned()
        } else {
            String::new()
        },
        login,
        system: false,
    }
}
