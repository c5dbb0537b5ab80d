//! The policy's rules, one row each.

use super::*;

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
