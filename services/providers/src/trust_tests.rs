//! The policy's rules, one row each.

use super::*;
use serde_json::json;

fn github(event: &str, login: &str, association: &str, bot: bool, triage_action: &str) -> WebhookContext {
    WebhookContext {
        provider: "github".into(),
        event: event.into(),
        actor: Some(Actor {
            login: login.into(),
            association: association.into(),
            bot,
            triage_action: triage_action.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn policy(toml: &str) -> TrustSpec {
    toml::from_str(toml).expect("policy")
}

fn trusted(policy: &TrustSpec, ctx: &WebhookContext) -> bool {
    judge(policy, ctx, &Value::Null) == Verdict::Trusted
}

#[test]
fn github_item_events_trust_write_access_by_default() {
    let default = TrustSpec::default();
    for association in ["OWNER", "MEMBER", "COLLABORATOR"] {
        assert!(
            trusted(&default, &github("issue_comment", "alice", association, false, "")),
            "{association}"
        );
    }
    for association in [
        "CONTRIBUTOR",
        "FIRST_TIME_CONTRIBUTOR",
        "FIRST_TIMER",
        "NONE",
        "MANNEQUIN",
        "",
    ] {
        assert!(
            !trusted(&default, &github("issue_comment", "eve", association, false, "")),
            "{association}"
        );
    }
    assert_eq!(
        judge(&default, &github("issues", "octocat", "NONE", false, ""), &Value::Null),
        Verdict::Untrusted {
            actor: "octocat".into(),
            reason: "untrusted actor octocat (association NONE)".into()
        }
    );
}

#[test]
fn bots_are_untrusted_unless_listed_by_exact_login() {
    let default = TrustSpec::default();
    let dependabot = github("pull_request", "dependabot[bot]", "CONTRIBUTOR", true, "");
    assert!(!trusted(&default, &dependabot));
    // A login ending in [bot] gets no special treatment, even as an owner.
    let evil = github("issue_comment", "evil[bot]", "OWNER", true, "");
    assert!(!trusted(&default, &evil));
    let listed = policy(r#"allow = ["dependabot[bot]"]"#);
    assert!(trusted(&listed, &dependabot));
    assert!(!trusted(&listed, &evil), "listing one bot trusts no other");
}

#[test]
fn deny_wins_and_allow_admits() {
    let p = policy(
        r#"allow = ["Eve"]
deny = ["mallory"]"#,
    );
    assert!(
        trusted(&p, &github("issue_comment", "eve", "NONE", false, "")),
        "allow ignores case"
    );
    assert!(
        !trusted(&p, &github("issue_comment", "mallory", "OWNER", false, "")),
        "deny beats OWNER"
    );
}

#[test]
fn associations_can_be_widened_or_narrowed() {
    let wide = policy(r#"associations = ["OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR"]"#);
    assert!(trusted(&wide, &github("issues", "c", "CONTRIBUTOR", false, "")));
    let owners = policy(r#"associations = ["OWNER"]"#);
    assert!(!trusted(&owners, &github("issues", "m", "MEMBER", false, "")));
}

#[test]
fn a_triage_action_proves_triage_access() {
    let default = TrustSpec::default();
    assert!(trusted(&default, &github("issues", "maintainer", "", false, "labeled")));
    let owners = policy(r#"associations = ["CONTRIBUTOR"]"#);
    assert!(!trusted(&owners, &github("issues", "maintainer", "", false, "labeled")));
}

#[test]
fn other_github_events_and_other_providers_are_trusted_unless_a_list_says_otherwise() {
    let default = TrustSpec::default();
    assert!(trusted(&default, &github("push", "alice", "", false, "")));
    let linear = WebhookContext {
        provider: "linear".into(),
        event: "Issue".into(),
        actor: Some(Actor {
            login: "Ann".into(),
            email: "ann@acme.test".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(trusted(&default, &linear));
    assert!(trusted(&policy(r#"allow = ["ann@acme.test"]"#), &linear), "by email");
    assert!(!trusted(&policy(r#"allow = ["bob@acme.test"]"#), &linear));
}

#[test]
fn a_generic_source_names_its_actor_by_pointer() {
    let ctx = WebhookContext {
        provider: "hmac".into(),
        ..Default::default()
    };
    let body = serde_json::json!({"user": {"email": "ops@acme.test"}});
    let p = policy(
        r#"actor = "/user/email"
allow = ["ops@acme.test"]"#,
    );
    assert_eq!(judge(&p, &ctx, &body), Verdict::Trusted);
    let other = serde_json::json!({"user": {"email": "x@evil.test"}});
    assert_eq!(
        judge(&p, &ctx, &other),
        Verdict::Untrusted {
            actor: "x@evil.test".into(),
            reason: "actor x@evil.test is not in the allow list".into()
        }
    );
}

/// The trust table of docs/configuration.md, one row per provider and kind
/// of actor, read from the providers' documented payloads (trimmed to
/// what is read) through the providers crate, judged by the default
/// policy and by one with an allow-list of people.
#[test]
fn each_provider_s_actors_are_judged_as_the_trust_table_says() {
    use hookline_proto::{Header, InboundEvent};
    let rows: [(&str, &[(&str, &str)], Value, bool, bool, &str); 18] = [
        (
            "github",
            &[("x-github-event", "issues")],
            json!({"action": "opened", "issue": {"user": {"login": "alice"}, "author_association": "OWNER"}, "sender": {"login": "alice", "type": "User"}}),
            true,
            true,
            "a GitHub owner's issue",
        ),
        (
            "github",
            &[("x-github-event", "issues")],
            json!({"action": "opened", "issue": {"user": {"login": "eve"}, "author_association": "NONE"}, "sender": {"login": "eve", "type": "User"}}),
            false,
            false,
            "a stranger's GitHub issue",
        ),
        (
            "github",
            &[("x-github-event", "pull_request")],
            json!({"action": "opened", "pull_request": {"user": {"login": "dependabot[bot]"}, "author_association": "NONE"}, "sender": {"login": "dependabot[bot]", "type": "Bot"}}),
            false,
            false,
            "a GitHub bot",
        ),
        (
            "github",
            &[("x-github-event", "push")],
            json!({"ref": "refs/heads/main", "sender": {"login": "alice", "type": "User"}}),
            true,
            false,
            "a GitHub push (write access)",
        ),
        (
            "gitlab",
            &[("x-gitlab-event", "Issue Hook")],
            json!({"object_kind": "issue", "user": {"username": "alice", "email": "alice@acme.test", "id": 1}, "object_attributes": {"action": "open"}}),
            true,
            true,
            "a GitLab user",
        ),
        (
            "gitea",
            &[("x-gitea-event", "issues")],
            json!({"action": "label_updated", "issue": {"number": 1, "user": {"login": "alice"}}, "sender": {"login": "alice", "email": "alice@acme.test", "id": 3}}),
            false,
            true,
            "a Gitea user's issue: no association, only the list trusts",
        ),
        (
            "forgejo",
            &[("x-forgejo-event", "push")],
            json!({"ref": "refs/heads/main", "sender": {"login": "bob", "id": 4}}),
            true,
            false,
            "a Forgejo push (write access)",
        ),
        (
            "linear",
            &[],
            json!({"type": "Issue", "action": "create", "actor": {"id": "u1", "name": "Ann", "email": "ann@acme.test", "type": "user"}, "data": {}}),
            true,
            false,
            "a Linear user",
        ),
        (
            "linear",
            &[],
            json!({"type": "Issue", "action": "create", "actor": {"id": "i1", "name": "GitHub", "type": "integration"}, "data": {}}),
            false,
            false,
            "a Linear integration (a bot)",
        ),
        (
            "sentry",
            &[("sentry-hook-resource", "event_alert")],
            json!({"action": "triggered", "installation": {"uuid": "7a48"}, "data": {"event": {"project": 1}, "triggered_rule": "Notify"},
                "actor": {"type": "application", "id": "sentry", "name": "Sentry"}}),
            true,
            true,
            "a Sentry alert: the system",
        ),
        (
            "sentry",
            &[("sentry-hook-resource", "issue")],
            json!({"action": "created", "installation": {"uuid": "7a48"}, "data": {"issue": {"project": {"slug": "web"}}},
                "actor": {"type": "application", "id": "sentry", "name": "Sentry"}}),
            true,
            true,
            "an issue Sentry raised: the system",
        ),
        (
            "sentry",
            &[("sentry-hook-resource", "issue")],
            json!({"action": "resolved", "data": {"issue": {"project": {"slug": "web"}}}, "actor": {"type": "user", "id": 1, "name": "Meredith Heller"}}),
            true,
            false,
            "an issue a Sentry user resolved: the person",
        ),
        (
            "sentry",
            &[("sentry-hook-resource", "comment")],
            json!({"action": "created", "data": {"comment": "look", "issue_id": 1}, "actor": {"type": "user", "id": 2, "name": "Eve"}}),
            true,
            false,
            "a comment by a Sentry user: the person",
        ),
        (
            "sentry",
            &[("sentry-hook-resource", "issue")],
            json!({"action": "assigned", "data": {"issue": {}}, "actor": {"type": "application", "id": "acme-bot", "name": "Acme Bot"}}),
            false,
            false,
            "another Sentry integration acting (a bot)",
        ),
        (
            "slack",
            &[],
            json!({"type": "event_callback", "event": {"type": "message", "user": "U1", "text": "hi"}}),
            true,
            false,
            "a Slack user",
        ),
        (
            "slack",
            &[],
            json!({"type": "event_callback", "event": {"type": "message", "bot_id": "B1", "text": "hi"}}),
            false,
            false,
            "a Slack bot",
        ),
        (
            "pagerduty",
            &[],
            json!({"event": {"event_type": "incident.triggered", "resource_type": "incident", "agent": {"type": "service_reference", "id": "PS1", "summary": "API"}, "data": {}}}),
            true,
            true,
            "a PagerDuty incident: the system",
        ),
        (
            "pagerduty",
            &[],
            json!({"event": {"event_type": "incident.acknowledged", "resource_type": "incident", "agent": {"type": "user_reference", "id": "PU1", "summary": "Eve"}, "data": {}}}),
            true,
            false,
            "a PagerDuty user's acknowledgement: the person",
        ),
    ];
    let people = policy(r#"allow = ["alice@acme.test"]"#);
    for (provider, headers, body, trusted_by_default, trusted_with_the_list, why) in rows {
        let event = InboundEvent {
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
        };
        let ctx = crate::context(&event, &body, None);
        assert_eq!(
            trusted(&TrustSpec::default(), &ctx),
            trusted_by_default,
            "{why}: {ctx:?}"
        );
        // An allow-list of people leaves the system trusted, GitHub items
        // to their association, and everyone else to the list.
        assert_eq!(trusted(&people, &ctx), trusted_with_the_list, "{why}, with a list");
    }
}

#[test]
fn an_actor_named_by_pointer_is_judged_by_the_lists_alone() {
    let ctx = WebhookContext {
        provider: "sentry".into(),
        actor: Some(Actor {
            login: "Sentry".into(),
            system: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = policy("actor = \"/by\"\nallow = [\"alice\"]");
    assert_eq!(
        judge(&p, &ctx, &json!({"by": "mallory"})),
        Verdict::Untrusted {
            actor: "mallory".into(),
            reason: "actor mallory is not in the allow list".into()
        },
        "the pointer's actor, not the system, is judged"
    );
    assert_eq!(judge(&p, &ctx, &json!({"by": "alice"})), Verdict::Trusted);
}

/// Gitea's and Forgejo's payloads do not say who someone is on the
/// project: the verdict asks the forge, with the associations the policy
/// trusts; `deny` and `allow` still decide first.
#[test]
fn on_gitea_the_forge_is_asked_unless_a_list_decides() {
    use hookline_model::catalog::Association;
    let ctx = WebhookContext {
        provider: "gitea".into(),
        event: "issue_comment".into(),
        actor: Some(Actor {
            login: "ann".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        judge(&TrustSpec::default(), &ctx, &json!({})),
        Verdict::AskForge {
            login: "ann".into(),
            associations: Association::DEFAULT.to_vec()
        }
    );
    assert_eq!(judge(&policy(r#"allow = ["ann"]"#), &ctx, &json!({})), Verdict::Trusted);
    assert!(matches!(
        judge(&policy(r#"deny = ["ann"]"#), &ctx, &json!({})),
        Verdict::Untrusted { .. }
    ));
    let push = WebhookContext {
        event: "push".into(),
        ..ctx
    };
    assert_eq!(judge(&TrustSpec::default(), &push, &json!({})), Verdict::Trusted);
}
