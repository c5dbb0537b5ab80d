//! Reading an inbound event into a `WebhookContext`: the fields filters and
//! prompts use. Pure code over headers and the JSON body, one function per
//! provider; a field a provider does not have stays empty.

use hookline_core::catalog::{EventTypeFrom, SourceSpec};
use hookline_proto::{InboundEvent, WebhookContext};
use serde_json::Value;

fn header<'a>(event: &'a InboundEvent, name: &str) -> &'a str {
    event
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
        .unwrap_or_default()
}

fn text(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn first(value: &Value, pointers: &[&str]) -> String {
    pointers
        .iter()
        .map(|p| text(value, p))
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

/// Names from an array of strings or of objects with `key`.
fn names(value: &Value, pointer: &str, key: &str, out: &mut Vec<String>) {
    if let Some(items) = value.pointer(pointer).and_then(Value::as_array) {
        for item in items {
            let name = item.get(key).and_then(Value::as_str).or_else(|| item.as_str());
            if let Some(name) = name
                && !out.iter().any(|l| l == name)
            {
                out.push(name.to_owned());
            }
        }
    }
}

/// The context of one inbound event; `source` is its source's configuration
/// (for generic sources' event type), when known.
pub fn read(event: &InboundEvent, source: Option<&SourceSpec>) -> WebhookContext {
    let body: Value = serde_json::from_slice(&event.body).unwrap_or(Value::Null);
    read_parsed(event, &body, source)
}

/// [`read`] with the body already parsed (`Null` when it is not JSON).
pub fn read_parsed(event: &InboundEvent, body: &Value, source: Option<&SourceSpec>) -> WebhookContext {
    let mut ctx = WebhookContext {
        source: event.source.clone(),
        provider: event.provider.clone(),
        ..Default::default()
    };
    match event.provider.as_str() {
        "github" => github(event, body, &mut ctx),
        "gitlab" => gitlab(body, &mut ctx),
        "sentry" => sentry(event, body, &mut ctx),
        "linear" => linear(body, &mut ctx),
        "stripe" => stripe(body, &mut ctx),
        "slack" => slack(body, &mut ctx),
        "mintlify" => mintlify(body, &mut ctx),
        "pagerduty" => pagerduty(body, &mut ctx),
        "shopify" => ctx.event = header(event, "x-shopify-topic").to_owned(),
        _ => {}
    }
    if let Some(from) = source.and_then(|s| s.event_type.as_ref()) {
        ctx.event = match from {
            EventTypeFrom::Pointer(pointer) => text(body, pointer),
            EventTypeFrom::Header(name) => header(event, name).to_owned(),
        };
    }
    if ctx.event.is_empty() {
        generic(event, body, &mut ctx);
    }
    ctx
}

fn github(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
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
}

fn gitlab(body: &Value, ctx: &mut WebhookContext) {
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
        _ => first(body, &["/object_attributes/source_branch", "/object_attributes/ref"]),
    };
    ctx.merged = ctx.action == "merge";
    if ctx.event == "pipeline" || ctx.event == "build" {
        ctx.conclusion = first(body, &["/object_attributes/status", "/build_status"]);
    }
}

fn sentry(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.resource = header(event, "sentry-hook-resource").to_owned();
    ctx.event = ctx.resource.clone();
    ctx.action = text(body, "/action");
    ctx.project = first(
        body,
        &["/data/issue/project/slug", "/data/event/project", "/data/error/project"],
    );
    ctx.assignee = text(body, "/data/issue/assignedTo/name");
    ctx.sender = text(body, "/actor/name");
}

fn linear(body: &Value, ctx: &mut WebhookContext) {
    ctx.event = text(body, "/type");
    ctx.action = text(body, "/action");
    ctx.organization = text(body, "/organizationId");
    names(body, "/data/labels", "name", &mut ctx.labels);
    ctx.assignee = first(body, &["/data/assignee/name", "/data/assignee/email"]);
    ctx.author = first(body, &["/data/creator/name", "/data/user/name", "/actor/name"]);
    ctx.sender = text(body, "/actor/name");
    ctx.project = text(body, "/data/project/name");
    ctx.resource = ctx.event.clone();
}

fn stripe(body: &Value, ctx: &mut WebhookContext) {
    ctx.event = text(body, "/type");
    ctx.resource = text(body, "/data/object/object");
    ctx.action = ctx.event.rsplit('.').next().unwrap_or_default().to_owned();
}

fn slack(body: &Value, ctx: &mut WebhookContext) {
    ctx.event = first(body, &["/event/type", "/type", "/command"]);
    ctx.action = text(body, "/event/subtype");
    ctx.author = text(body, "/event/user");
    ctx.project = text(body, "/event/channel");
    ctx.organization = text(body, "/team_id");
}

fn mintlify(body: &Value, ctx: &mut WebhookContext) {
    ctx.event = first(body, &["/event", "/type"]);
    ctx.action = text(body, "/action");
    ctx.project = first(body, &["/projectId", "/project/id", "/project"]);
    ctx.branch = text(body, "/branch");
}

fn pagerduty(body: &Value, ctx: &mut WebhookContext) {
    ctx.event = text(body, "/event/event_type");
    ctx.resource = text(body, "/event/resource_type");
    ctx.action = ctx.event.rsplit('.').next().unwrap_or_default().to_owned();
    ctx.project = text(body, "/event/data/service/summary");
    ctx.assignee = text(body, "/event/data/assignees/0/summary");
}

fn generic(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = first(body, &["/type", "/event", "/event_type"]);
    if ctx.event.is_empty() {
        ctx.event = header(event, "x-event-type").to_owned();
    }
    if ctx.action.is_empty() {
        ctx.action = text(body, "/action");
    }
    if ctx.repo.is_empty() {
        ctx.repo = first(body, &["/repository/full_name", "/repo"]);
    }
    if ctx.labels.is_empty() {
        names(body, "/labels", "name", &mut ctx.labels);
    }
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
