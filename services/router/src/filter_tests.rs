//! Table tests for every filter, including what a missing field does.

use hookline_model::catalog::{Predicate, TriggerSpec};
use hookline_proto::WebhookContext;
use serde_json::{Value, json};

use super::{Mismatch, Trigger};

fn ctx() -> WebhookContext {
    WebhookContext {
        source: "gh".into(),
        event: "pull_request".into(),
        action: "closed".into(),
        repo: "acme/api".into(),
        org: "acme".into(),
        labels: vec!["bug".into(), "agent".into()],
        assignee: "bob".into(),
        author: "alice".into(),
        branch: "release/1.2".into(),
        conclusion: "failure".into(),
        resource: "issue".into(),
        organization: "org-1".into(),
        project: "docs".into(),
        merged: true,
        ..Default::default()
    }
}

fn body() -> Value {
    json!({"pull_request": {"title": "Fix crash on start", "number": 42, "draft": false}, "missing": null})
}

fn s(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn check(f: impl FnOnce(&mut TriggerSpec), ctx: WebhookContext) -> Result<(), Mismatch> {
    let mut spec = TriggerSpec {
        source: "gh".into(),
        ..Default::default()
    };
    f(&mut spec);
    Trigger::compile(&spec).expect("compiles").check(&ctx, &body())
}

#[test]
fn every_filter_matches_and_fails() {
    type Setter = fn(&mut TriggerSpec);
    let rows: Vec<(Setter, Setter, Mismatch)> = vec![
        (
            |t| t.events = s(&["push", "PULL_REQUEST"]),
            |t| t.events = s(&["push"]),
            Mismatch::Event,
        ),
        (
            |t| t.actions = s(&["closed"]),
            |t| t.actions = s(&["opened"]),
            Mismatch::Action,
        ),
        (
            |t| t.labels = s(&["agent"]),
            |t| t.labels = s(&["docs"]),
            Mismatch::Label,
        ),
        (
            |t| t.repos = s(&["Acme/API"]),
            |t| t.repos = s(&["acme/web"]),
            Mismatch::Repo,
        ),
        (|t| t.orgs = s(&["acme"]), |t| t.orgs = s(&["other"]), Mismatch::Org),
        (
            |t| t.assignees = s(&["bob"]),
            |t| t.assignees = s(&["ann"]),
            Mismatch::Assignee,
        ),
        (
            |t| t.authors = s(&["alice"]),
            |t| t.authors = s(&["eve"]),
            Mismatch::Author,
        ),
        (
            |t| t.branches = s(&["release/*"]),
            |t| t.branches = s(&["main"]),
            Mismatch::Branch,
        ),
        (
            |t| t.conclusions = s(&["failure"]),
            |t| t.conclusions = s(&["success"]),
            Mismatch::Conclusion,
        ),
        (
            |t| t.resources = s(&["issue"]),
            |t| t.resources = s(&["error"]),
            Mismatch::Resource,
        ),
        (
            |t| t.organizations = s(&["org-1"]),
            |t| t.organizations = s(&["org-2"]),
            Mismatch::Organization,
        ),
        (
            |t| t.projects = s(&["docs"]),
            |t| t.projects = s(&["web"]),
            Mismatch::Project,
        ),
        (|t| t.merged = Some(true), |t| t.merged = Some(false), Mismatch::Merged),
        (
            |t| {
                t.predicate = Some(Predicate::Regex {
                    path: "/pull_request/title".into(),
                    pattern: "(?i)crash".into(),
                })
            },
            |t| {
                t.predicate = Some(Predicate::Regex {
                    path: "/pull_request/title".into(),
                    pattern: "^Add".into(),
                })
            },
            Mismatch::Where,
        ),
    ];
    for (passes, fails, mismatch) in rows {
        assert_eq!(check(passes, ctx()), Ok(()), "{} passes", mismatch.field());
        assert_eq!(check(fails, ctx()), Err(mismatch), "{} fails", mismatch.field());
    }
}

#[test]
fn missing_fields_fail_their_filters() {
    let empty = WebhookContext {
        source: "gh".into(),
        ..Default::default()
    };
    type Setter = fn(&mut TriggerSpec);
    let rows: Vec<(Setter, Mismatch)> = vec![
        (|t| t.events = s(&["push"]), Mismatch::Event),
        (|t| t.actions = s(&["opened"]), Mismatch::Action),
        (|t| t.labels = s(&["bug"]), Mismatch::Label),
        (|t| t.repos = s(&["a/b"]), Mismatch::Repo),
        (|t| t.assignees = s(&["bob"]), Mismatch::Assignee),
        (|t| t.branches = s(&["**"]), Mismatch::Branch),
        (|t| t.conclusions = s(&["failure"]), Mismatch::Conclusion),
        (|t| t.merged = Some(true), Mismatch::Merged),
    ];
    for (set, mismatch) in rows {
        assert_eq!(
            check(set, empty.clone()),
            Err(mismatch),
            "{} on a missing field",
            mismatch.field()
        );
    }
    assert_eq!(check(|_| {}, empty), Ok(()), "no filters: everything from the source");
}

#[test]
fn fields_and_lists_or_and_source_comes_first() {
    assert_eq!(check(|t| t.source = "other".into(), ctx()), Err(Mismatch::Source));
    assert_eq!(
        check(
            |t| {
                t.events = s(&["pull_request"]);
                t.actions = s(&["closed"]);
                t.repos = s(&["acme/web"])
            },
            ctx()
        ),
        Err(Mismatch::Repo),
        "AND: one failing field fails the trigger"
    );
}

#[test]
fn predicates_over_the_payload() {
    let p = |pred: Predicate| move |t: &mut TriggerSpec| t.predicate = Some(pred);
    let eq = |path: &str, value: Value| Predicate::Eq {
        path: path.into(),
        value,
    };
    let rows: Vec<(Predicate, bool, &str)> = vec![
        (eq("/pull_request/number", json!(42)), true, "eq number"),
        (
            eq("/pull_request/title", json!("fix CRASH on start")),
            true,
            "eq string ignores case",
        ),
        (eq("/pull_request/draft", json!(true)), false, "eq bool"),
        (eq("/nope", json!(1)), false, "eq on a missing value fails"),
        (
            Predicate::In {
                path: "/pull_request/number".into(),
                values: vec![json!(1), json!(42)],
            },
            true,
            "in",
        ),
        (Predicate::Exists("/pull_request".into()), true, "exists"),
        (Predicate::Exists("/missing".into()), false, "null does not exist"),
        (
            Predicate::Regex {
                path: "/pull_request/number".into(),
                pattern: "4".into(),
            },
            false,
            "regex needs a string",
        ),
        (
            Predicate::And(vec![
                Predicate::Exists("/pull_request".into()),
                eq("/pull_request/number", json!(1)),
            ]),
            false,
            "and",
        ),
        (
            Predicate::Or(vec![
                Predicate::Exists("/nope".into()),
                eq("/pull_request/number", json!(42)),
            ]),
            true,
            "or",
        ),
        (Predicate::Not(Box::new(Predicate::Exists("/nope".into()))), true, "not"),
    ];
    for (pred, expected, why) in rows {
        let got = check(p(pred), ctx());
        assert_eq!(got.is_ok(), expected, "{why}: {got:?}");
    }
}
