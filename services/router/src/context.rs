//! Reading an inbound event into a `WebhookContext`: the fields filters and
//! prompts use. Pure code over headers and the JSON body.

use hookline_proto::{InboundEvent, WebhookContext};
use serde_json::Value;

fn header<'a>(event: &'a InboundEvent, name: &str) -> Option<&'a str> {
    event
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn first(value: &Value, pointers: &[&str]) -> String {
    pointers
        .iter()
        .map(|p| text(value, p))
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

fn label_names(value: &Value, pointer: &str, out: &mut Vec<String>) {
    if let Some(labels) = value.pointer(pointer).and_then(Value::as_array) {
        for label in labels {
            let name = label.get("name").and_then(Value::as_str).or_else(|| label.as_str());
            if let Some(name) = name
                && !out.iter().any(|l| l == name)
            {
                out.push(name.to_owned());
            }
        }
    }
}

/// The context of one inbound event.
pub fn read(event: &InboundEvent) -> WebhookContext {
    let body: Value = serde_json::from_slice(&event.body).unwrap_or(Value::Null);
    let mut ctx = WebhookContext {
        source: event.source.clone(),
        provider: event.provider.clone(),
        ..Default::default()
    };
    match event.provider.as_str() {
        "github" => github(event, &body, &mut ctx),
        _ => generic(event, &body, &mut ctx),
    }
    ctx
}

fn github(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = header(event, "x-github-event").unwrap_or_default().to_owned();
    ctx.action = text(body, "/action");
    ctx.repo = text(body, "/repository/full_name");
    ctx.org = first(body, &["/organization/login", "/repository/owner/login"]);
    ctx.sender = text(body, "/sender/login");
    let mut labels = Vec::new();
    if let Some(name) = body.pointer("/label/name").and_then(Value::as_str) {
        labels.push(name.to_owned());
    }
    label_names(body, "/issue/labels", &mut labels);
    label_names(body, "/pull_request/labels", &mut labels);
    ctx.labels = labels;
    ctx.author = first(
        body,
        &["/issue/user/login", "/pull_request/user/login", "/sender/login"],
    );
    ctx.assignee = first(
        body,
        &[
            "/assignee/login",
            "/issue/assignee/login",
            "/pull_request/assignee/login",
        ],
    );
    ctx.branch = match ctx.event.as_str() {
        "push" => text(body, "/ref").trim_start_matches("refs/heads/").to_owned(),
        _ => first(
            body,
            &[
                "/pull_request/head/ref",
                "/workflow_run/head_branch",
                "/check_run/check_suite/head_branch",
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
}

fn generic(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = first(body, &["/type", "/event", "/event_type"]);
    if ctx.event.is_empty() {
        ctx.event = header(event, "x-event-type").unwrap_or_default().to_owned();
    }
    ctx.action = text(body, "/action");
    ctx.repo = first(body, &["/repository/full_name", "/repo"]);
    let mut labels = Vec::new();
    label_names(body, "/labels", &mut labels);
    ctx.labels = labels;
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_proto::Header;

    fn github_event(event: &str, body: Value) -> InboundEvent {
        InboundEvent {
            source: "gh".into(),
            provider: "github".into(),
            headers: vec![Header {
                name: "X-GitHub-Event".into(),
                value: event.into(),
            }],
            body: body.to_string().into_bytes(),
            ..Default::default()
        }
    }

    #[test]
    fn github_issue_labeled() {
        let ctx = read(&github_event(
            "issues",
            serde_json::json!({
                "action": "labeled",
                "label": {"name": "agent"},
                "issue": {"title": "Crash", "user": {"login": "alice"}, "labels": [{"name": "bug"}, {"name": "agent"}],
                          "assignee": {"login": "bob"}},
                "repository": {"full_name": "acme/api", "owner": {"login": "acme"}},
                "sender": {"login": "carol"}
            }),
        ));
        assert_eq!(ctx.event, "issues");
        assert_eq!(ctx.action, "labeled");
        assert_eq!(ctx.repo, "acme/api");
        assert_eq!(ctx.org, "acme", "owner when no organization");
        assert_eq!(ctx.labels, vec!["agent", "bug"], "the new label first, no repeats");
        assert_eq!(ctx.author, "alice");
        assert_eq!(ctx.assignee, "bob");
        assert_eq!(ctx.sender, "carol");
    }

    #[test]
    fn github_push_branch_comes_from_ref() {
        let ctx = read(&github_event(
            "push",
            serde_json::json!({"ref": "refs/heads/release/1.2", "repository": {"full_name": "acme/api"},
                               "organization": {"login": "acme-org"}}),
        ));
        assert_eq!(ctx.branch, "release/1.2");
        assert_eq!(ctx.org, "acme-org", "organization wins over owner");
        assert_eq!(ctx.action, "", "push has no action");
    }

    #[test]
    fn unreadable_body_gives_an_empty_context_not_a_panic() {
        let mut event = github_event("issues", Value::Null);
        event.body = b"\xff\xfe not json".to_vec();
        let ctx = read(&event);
        assert_eq!(ctx.event, "issues");
        assert!(ctx.repo.is_empty());
    }
}
