//! Table tests: one payload per provider and event kind, as the provider
//! sends it (trimmed to the fields read), and the context read from it.

use hookline_model::catalog::{Catalog, EventTypeFrom};
use hookline_proto::{Header, InboundEvent, WebhookContext};
use serde_json::json;

use hookline_model::catalog::SourceSpec;

fn read(event: &InboundEvent, source: Option<&SourceSpec>) -> WebhookContext {
    let body = serde_json::from_slice(&event.body).unwrap_or(serde_json::Value::Null);
    crate::context(event, &body, source)
}

fn event(provider: &str, headers: &[(&str, &str)], body: serde_json::Value) -> InboundEvent {
    InboundEvent {
        source: "src".into(),
        provider: provider.into(),
        headers: headers
            .iter()
            .map(|(n, v)| Header {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
        body: body.to_string().into_bytes().into(),
        ..Default::default()
    }
}

fn ctx(provider: &str, headers: &[(&str, &str)], body: serde_json::Value) -> WebhookContext {
    read(&event(provider, headers, body), None)
}

#[test]
fn github_issues_labeled() {
    let c = ctx(
        "github",
        &[("X-GitHub-Event", "issues")],
        json!({"action": "labeled", "label": {"name": "agent"},
               "issue": {"user": {"login": "alice"}, "labels": [{"name": "bug"}, {"name": "agent"}], "assignee": {"login": "bob"}},
               "repository": {"full_name": "acme/api", "owner": {"login": "acme"}}, "sender": {"login": "carol"}}),
    );
    assert_eq!(
        (c.event.as_str(), c.action.as_str(), c.repo.as_str(), c.org.as_str()),
        ("issues", "labeled", "acme/api", "acme")
    );
    assert_eq!(c.labels, ["agent", "bug"], "the new label first, no repeats");
    assert_eq!(
        (c.author.as_str(), c.assignee.as_str(), c.sender.as_str()),
        ("alice", "bob", "carol")
    );
}

#[test]
fn github_issue_comment_author_is_the_issue_author() {
    let c = ctx(
        "github",
        &[("x-github-event", "issue_comment")],
        json!({"action": "created", "issue": {"user": {"login": "alice"}}, "comment": {"user": {"login": "dan"}}, "sender": {"login": "dan"}}),
    );
    assert_eq!(
        (
            c.event.as_str(),
            c.action.as_str(),
            c.author.as_str(),
            c.sender.as_str()
        ),
        ("issue_comment", "created", "alice", "dan")
    );
}

#[test]
fn github_pull_request_merged() {
    let c = ctx(
        "github",
        &[("x-github-event", "pull_request")],
        json!({"action": "closed", "pull_request": {"merged": true, "head": {"ref": "feat/x"}, "user": {"login": "eve"},
               "labels": [{"name": "deps"}]}, "organization": {"login": "acme-org"}, "repository": {"full_name": "acme/api"}}),
    );
    assert!(c.merged);
    assert_eq!(
        (c.branch.as_str(), c.org.as_str(), c.labels.clone()),
        ("feat/x", "acme-org", vec!["deps".to_owned()])
    );
    let open = ctx(
        "github",
        &[("x-github-event", "pull_request")],
        json!({"action": "opened", "pull_request": {"merged": false}}),
    );
    assert!(!open.merged);
}

#[test]
fn github_push_branch_comes_from_ref() {
    let c = ctx(
        "github",
        &[("x-github-event", "push")],
        json!({"ref": "refs/heads/release/1.2", "repository": {"full_name": "a/b"}}),
    );
    assert_eq!((c.branch.as_str(), c.action.as_str()), ("release/1.2", ""));
}

#[test]
fn github_workflow_run_conclusion() {
    let c = ctx(
        "github",
        &[("x-github-event", "workflow_run")],
        json!({"action": "completed", "workflow_run": {"conclusion": "failure", "head_branch": "main"}}),
    );
    assert_eq!((c.conclusion.as_str(), c.branch.as_str()), ("failure", "main"));
}

#[test]
fn github_release_and_unknown_events_read_generically() {
    let c = ctx(
        "github",
        &[("x-github-event", "release")],
        json!({"action": "published", "release": {"author": {"login": "rel"}}}),
    );
    assert_eq!(
        (c.event.as_str(), c.action.as_str(), c.author.as_str()),
        ("release", "published", "rel")
    );
    let c = ctx(
        "github",
        &[("x-github-event", "star")],
        json!({"action": "created", "sender": {"login": "fan"}}),
    );
    assert_eq!(
        (c.event.as_str(), c.action.as_str(), c.author.as_str()),
        ("star", "created", "fan")
    );
}

#[test]
fn gitlab_merge_request_and_pipeline() {
    let c = ctx(
        "gitlab",
        &[],
        json!({"object_kind": "merge_request", "user": {"username": "gus"},
               "project": {"path_with_namespace": "grp/app"}, "labels": [{"title": "backend"}],
               "object_attributes": {"action": "merge", "source_branch": "fix/1"}}),
    );
    assert_eq!(
        (c.event.as_str(), c.action.as_str(), c.repo.as_str(), c.org.as_str()),
        ("merge_request", "merge", "grp/app", "grp")
    );
    assert_eq!(
        (c.branch.as_str(), c.author.as_str(), c.labels.clone()),
        ("fix/1", "gus", vec!["backend".to_owned()])
    );
    assert!(c.merged);
    let p = ctx(
        "gitlab",
        &[],
        json!({"object_kind": "pipeline", "object_attributes": {"status": "failed", "ref": "main"}}),
    );
    assert_eq!((p.conclusion.as_str(), p.branch.as_str()), ("failed", "main"));
}

/// Gitea's payloads (its `modules/structs/hook.go`): an issue comment on a
/// pull request, a merged pull request, a failed commit status; Forgejo's
/// under its own header names.
#[test]
fn gitea_and_forgejo_comments_pull_requests_and_statuses() {
    let comment = json!({"action": "created", "is_pull": true,
        "issue": {"number": 7, "user": {"login": "ann"}, "labels": [{"name": "bug"}], "pull_request": {"merged": false}},
        "comment": {"body": "@hookline also fix the docs", "user": {"login": "bob"}},
        "repository": {"full_name": "acme/api", "owner": {"login": "acme"}},
        "sender": {"login": "bob", "id": 12, "email": "bob@example.com"}});
    let c = ctx("gitea", &[("X-Gitea-Event", "issue_comment")], comment.clone());
    assert_eq!(
        (c.event.as_str(), c.action.as_str(), c.repo.as_str(), c.org.as_str()),
        ("issue_comment", "created", "acme/api", "acme")
    );
    assert_eq!((c.thread, c.on_pull_request), (7, true));
    assert_eq!(c.comment, "@hookline also fix the docs");
    assert_eq!(c.labels, ["bug"]);
    let actor = c.actor.expect("actor");
    assert_eq!((actor.login.as_str(), actor.id.as_str()), ("bob", "12"));
    assert!(actor.association.is_empty(), "Gitea says no association");

    let f = ctx("forgejo", &[("X-Forgejo-Event", "issue_comment")], comment);
    assert_eq!((f.event.as_str(), f.thread), ("issue_comment", 7));

    let merged = ctx(
        "gitea",
        &[("X-Gitea-Event", "pull_request")],
        json!({"action": "closed", "number": 3,
               "pull_request": {"number": 3, "merged": true, "head": {"ref": "hookline/fixer/r1"}, "user": {"login": "hookline-bot"}},
               "repository": {"full_name": "acme/api"}, "sender": {"login": "ann"}}),
    );
    assert!(merged.merged);
    assert_eq!((merged.branch.as_str(), merged.thread), ("hookline/fixer/r1", 3));

    let status = ctx(
        "forgejo",
        &[("X-Gitea-Event", "status")],
        json!({"state": "failure", "context": "ci/build", "sha": "abc", "repository": {"full_name": "acme/api"}}),
    );
    assert_eq!(
        (status.event.as_str(), status.conclusion.as_str()),
        ("status", "failure")
    );
}

/// GitLab's note on a merge request (its documented "Comment on merge
/// request" payload, trimmed): the merge request's iid, its branch, the
/// note's text; and an issue's iid.
#[test]
fn gitlab_notes_name_their_issue_or_merge_request() {
    let note = ctx(
        "gitlab",
        &[],
        json!({"object_kind": "note", "user": {"username": "root"}, "project": {"path_with_namespace": "gitlab-org/gitlab-test"},
               "object_attributes": {"id": 1244, "note": "This MR needs work.", "noteable_type": "MergeRequest"},
               "merge_request": {"iid": 1, "source_branch": "tmp", "target_branch": "master"}}),
    );
    assert_eq!((note.thread, note.on_pull_request), (1, true));
    assert_eq!(
        (note.comment.as_str(), note.branch.as_str()),
        ("This MR needs work.", "tmp")
    );
    let on_issue = ctx(
        "gitlab",
        &[],
        json!({"object_kind": "note", "object_attributes": {"note": "Hello", "noteable_type": "Issue"}, "issue": {"iid": 17}}),
    );
    assert_eq!((on_issue.thread, on_issue.on_pull_request), (17, false));
    let issue = ctx(
        "gitlab",
        &[],
        json!({"object_kind": "issue", "object_attributes": {"iid": 23, "action": "open"}}),
    );
    assert_eq!(
        (issue.thread, issue.on_pull_request, issue.comment.as_str()),
        (23, false, "")
    );
}

#[test]
fn sentry_resource_comes_from_its_header() {
    let c = ctx(
        "sentry",
        &[("Sentry-Hook-Resource", "issue")],
        json!({"action": "created", "data": {"issue": {"project": {"slug": "web"}}}, "actor": {"name": "Sentry"}}),
    );
    assert_eq!(
        (
            c.resource.as_str(),
            c.event.as_str(),
            c.action.as_str(),
            c.project.as_str()
        ),
        ("issue", "issue", "created", "web")
    );
}

#[test]
fn linear_issue() {
    let c = ctx(
        "linear",
        &[],
        json!({"type": "Issue", "action": "create", "organizationId": "org-1", "actor": {"name": "Lin"},
               "data": {"labels": [{"name": "Bug"}], "assignee": {"name": "Ann"}, "creator": {"name": "Cid"}, "project": {"name": "Core"}}}),
    );
    assert_eq!(
        (c.event.as_str(), c.action.as_str(), c.organization.as_str()),
        ("Issue", "create", "org-1")
    );
    assert_eq!(
        (c.labels.clone(), c.assignee.as_str(), c.author.as_str()),
        (vec!["Bug".to_owned()], "Ann", "Cid")
    );
    assert_eq!(c.project, "Core");
}

#[test]
fn stripe_slack_mintlify_pagerduty_shopify() {
    let s = ctx(
        "stripe",
        &[],
        json!({"id": "evt_1", "type": "invoice.payment_failed", "data": {"object": {"object": "invoice"}}}),
    );
    assert_eq!(
        (s.event.as_str(), s.action.as_str(), s.resource.as_str()),
        ("invoice.payment_failed", "payment_failed", "invoice")
    );
    let s = ctx(
        "slack",
        &[],
        json!({"type": "event_callback", "team_id": "T1", "event": {"type": "app_mention", "user": "U1", "channel": "C1"}}),
    );
    assert_eq!(
        (
            s.event.as_str(),
            s.author.as_str(),
            s.project.as_str(),
            s.organization.as_str()
        ),
        ("app_mention", "U1", "C1", "T1")
    );
    let m = ctx(
        "mintlify",
        &[],
        json!({"event": "deployment.failed", "projectId": "docs-1", "branch": "main"}),
    );
    assert_eq!(
        (m.event.as_str(), m.project.as_str(), m.branch.as_str()),
        ("deployment.failed", "docs-1", "main")
    );
    let p = ctx(
        "pagerduty",
        &[],
        json!({"event": {"event_type": "incident.triggered", "resource_type": "incident",
        "data": {"service": {"summary": "api"}}}}),
    );
    assert_eq!(
        (
            p.event.as_str(),
            p.action.as_str(),
            p.resource.as_str(),
            p.project.as_str()
        ),
        ("incident.triggered", "triggered", "incident", "api")
    );
    let sh = ctx("shopify", &[("X-Shopify-Topic", "orders/create")], json!({"id": 1}));
    assert_eq!(sh.event, "orders/create");
}

#[test]
fn generic_sources_read_their_configured_event_type() {
    let catalog = Catalog::parse(
        "[sources.ci]\nprovider = \"none\"\nevent_type = { pointer = \"/build/status\" }\n[sources.alerts]\nprovider = \"none\"\nevent_type = { header = \"X-Alert-Kind\" }\n",
    )
    .expect("catalog");
    let e = event("none", &[], json!({"build": {"status": "broken"}, "type": "ignored"}));
    assert_eq!(read(&e, catalog.sources.get("ci")).event, "broken");
    let e = event("none", &[("x-alert-kind", "cpu_high")], json!({}));
    assert_eq!(read(&e, catalog.sources.get("alerts")).event, "cpu_high");
    assert_eq!(
        catalog.sources["ci"].event_type,
        Some(EventTypeFrom::Pointer("/build/status".into()))
    );
    let fallback = ctx("standard_webhooks", &[], json!({"type": "user.created", "action": "x"}));
    assert_eq!(
        (fallback.event.as_str(), fallback.action.as_str()),
        ("user.created", "x")
    );
}

#[test]
fn unreadable_bodies_give_an_empty_context_not_a_panic() {
    for provider in [
        "github",
        "gitlab",
        "sentry",
        "linear",
        "stripe",
        "slack",
        "mintlify",
        "pagerduty",
        "shopify",
        "none",
    ] {
        let mut e = event(provider, &[("x-github-event", "issues")], json!(null));
        e.body = b"\xff\xfe not json".to_vec().into();
        let c = read(&e, None);
        assert!(c.repo.is_empty() && c.labels.is_empty(), "{provider}");
    }
}

#[test]
fn github_comments_give_their_thread_and_text_other_events_no_text() {
    let c = ctx(
        "github",
        &[("X-GitHub-Event", "issue_comment")],
        json!({"action": "created", "issue": {"number": 12, "pull_request": {"url": "u"}},
               "comment": {"body": "@fixer please", "user": {"login": "eve"}}}),
    );
    assert_eq!(
        (c.thread, c.on_pull_request, c.comment.as_str()),
        (12, true, "@fixer please")
    );
    let c = ctx(
        "github",
        &[("X-GitHub-Event", "pull_request_review")],
        json!({"action": "submitted", "pull_request": {"number": 7}, "review": {"body": "looks off"}}),
    );
    assert_eq!(
        (c.thread, c.on_pull_request, c.comment.as_str()),
        (7, true, "looks off")
    );
    let c = ctx(
        "github",
        &[("X-GitHub-Event", "issues")],
        json!({"action": "edited", "issue": {"number": 3, "body": "not a comment"}}),
    );
    assert_eq!((c.thread, c.on_pull_request, c.comment.as_str()), (3, false, ""));
}
