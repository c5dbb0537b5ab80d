//! Judging an event's actor against a trust policy
//! ([`hookline_model::catalog::TrustSpec`]), from the verified payload only.
//! Pure code; the order of the rules is the policy's documentation.

use hookline_model::catalog::{Association, TrustSpec};
use hookline_proto::{Actor, WebhookContext};
use serde_json::Value;

/// GitHub events whose items anyone may write: the default policy trusts
/// only `OWNER`, `MEMBER` and `COLLABORATOR` on them.
const GITHUB_ITEM_EVENTS: [&str; 7] = [
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "discussion",
    "discussion_comment",
];

/// Gitea's and Forgejo's events whose items anyone with an account may
/// write. Their payloads say nothing of who the actor is on the project:
/// the forge's permission API is asked ([`Verdict::AskForge`]).
const GITEA_ITEM_EVENTS: [&str; 7] = [
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_comment",
    "pull_request_review_approved",
    "pull_request_review_rejected",
    "pull_request_review_comment",
];

/// Whether an actor may start a run, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Start it.
    Trusted,
    /// Do not, for this reason (`untrusted actor octocat (association NONE)`).
    Untrusted {
        /// The actor, as named in the payload.
        actor: String,
        /// Why.
        reason: String,
    },
    /// Only the forge can say: start it if the forge's permission API
    /// gives `login` one of `associations` on the project (asked by the
    /// executor, which holds the forge token, before the agent starts).
    AskForge {
        /// The actor's login on the forge.
        login: String,
        /// The associations the policy trusts.
        associations: Vec<Association>,
    },
}

/// The actor an event names: the provider's, or the one at the policy's
/// `actor` pointer.
fn actor(policy: &TrustSpec, ctx: &WebhookContext, body: &Value) -> Actor {
    let mut actor = ctx.actor.clone().unwrap_or_default();
    if let Some(pointer) = &policy.actor {
        // The operator named who acts: judged by the lists alone.
        actor = Actor {
            login: match body.pointer(pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            },
            ..Actor::default()
        };
    }
    actor
}

fn listed(list: &[String], actor: &Actor) -> bool {
    [&actor.login, &actor.email, &actor.id]
        .into_iter()
        .filter(|name| !name.is_empty())
        .any(|name| list.iter().any(|entry| entry.eq_ignore_ascii_case(name)))
}

/// Judges the actor of the event `ctx` (from `body`) against `policy`.
pub fn judge(policy: &TrustSpec, ctx: &WebhookContext, body: &Value) -> Verdict {
    let actor = actor(policy, ctx, body);
    let who = [&actor.login, &actor.email, &actor.id]
        .into_iter()
        .find(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| "(unknown)".to_owned());
    let untrusted = |reason: String| Verdict::Untrusted {
        actor: who.clone(),
        reason,
    };
    if listed(&policy.deny, &actor) {
        return untrusted(format!("actor {who} is denied"));
    }
    if listed(&policy.allow, &actor) {
        return Verdict::Trusted;
    }
    // The provider speaking for itself (a Sentry alert): as trusted as
    // the verified delivery; `allow` lists people, not the system.
    if actor.system {
        return Verdict::Trusted;
    }
    if actor.bot {
        return untrusted(format!("bot {who} is not allowed by its exact login"));
    }
    let github = ctx.provider == "github";
    let by_association = github && (policy.associations.is_some() || GITHUB_ITEM_EVENTS.contains(&ctx.event.as_str()));
    if by_association {
        let trusted = policy.associations.as_deref().unwrap_or(&Association::DEFAULT);
        return match Association::parse(&actor.association) {
            Some(association) if trusted.contains(&association) => Verdict::Trusted,
            Some(association) => untrusted(format!("untrusted actor {who} (association {association})")),
            // Labelling or assigning needs triage access on GitHub: the
            // sender has at least that, whoever wrote the item.
            None if !actor.triage_action.is_empty() && trusted.iter().any(|a| Association::DEFAULT.contains(a)) => {
                Verdict::Trusted
            }
            None => untrusted(format!("untrusted actor {who} (association unknown)")),
        };
    }
    // Gitea and Forgejo: who someone is on the project is for the forge to
    // say (their payloads do not), as GitHub's association says it.
    let gitea = matches!(ctx.provider.as_str(), "gitea" | "forgejo");
    if gitea && GITEA_ITEM_EVENTS.contains(&ctx.event.as_str()) {
        if actor.login.is_empty() {
            return untrusted(format!("actor {who} has no login to ask the forge about"));
        }
        return Verdict::AskForge {
            login: actor.login.clone(),
            associations: policy
                .associations
                .clone()
                .unwrap_or_else(|| Association::DEFAULT.to_vec()),
        };
    }
    if !policy.allow.is_empty() {
        return untrusted(format!("actor {who} is not in the allow list"));
    }
    Verdict::Trusted
}

#[cfg(test)]
#[path = "trust_tests.rs"]
mod tests;
