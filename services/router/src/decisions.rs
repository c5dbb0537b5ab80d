//! One event's routing decision as the model's [`RoutingDecision`], from
//! what routing found: the matched agents, the follow-ups, the untrusted
//! actors, the agents whose budget is spent and those that did not match.

use hookline_model::catalog::Untrusted;
use hookline_model::clock;
use hookline_model::decision::{
    DecisionContext, Explained, FollowUpDecision, RoutingDecision, Unmatched, UntrustedAgent,
};
use hookline_proto::{FollowUp, ForgeTrust, InboundEvent, WebhookContext};

use crate::routes::Decision;

/// The record of routing `event` (read as `ctx`): `ignored` when it was
/// Hookline's own, `follow_ups` started, `skipped` ones, and `spent` budgets.
pub(crate) fn record(
    event: &InboundEvent,
    ctx: &WebhookContext,
    ignored: Option<String>,
    decision: &Decision<'_>,
    follow_ups: &[(String, FollowUp)],
    skipped: Vec<Explained>,
    spent: &[Explained],
) -> RoutingDecision {
    let started = follow_ups.iter().map(|(agent, f)| FollowUpDecision {
        agent: agent.clone(),
        reason: Some(f.reason.clone()),
        branch: Some(f.branch.clone()),
        thread: Some(f.thread),
        explain: format!("follow-up ({}) continuing {}", f.reason, f.branch),
    });
    let not_started = skipped.into_iter().map(|e| FollowUpDecision {
        agent: e.agent,
        explain: e.explain,
        ..Default::default()
    });
    RoutingDecision {
        event_id: event.event_id.clone(),
        source: event.source.clone(),
        at_ms: clock::now_ms(),
        context: DecisionContext {
            event: ctx.event.clone(),
            action: ctx.action.clone(),
            repo: ctx.repo.clone(),
            labels: ctx.labels.clone(),
            branch: ctx.branch.clone(),
            author: ctx.author.clone(),
            conclusion: ctx.conclusion.clone(),
        },
        matched: decision.matched.iter().map(|a| (*a).to_owned()).collect(),
        ignored,
        follow_ups: started.chain(not_started).collect(),
        budget_spent: spent.to_vec(),
        forge_checks: Vec::new(),
        untrusted: decision
            .untrusted
            .iter()
            .map(|h| UntrustedAgent {
                agent: h.agent.to_owned(),
                actor: h.actor.clone(),
                reason: h.reason.clone(),
                outcome: h.outcome,
                explain: format!(
                    "{}: {}",
                    match h.outcome {
                        Untrusted::Skip => "skipped",
                        Untrusted::Approve => "awaiting approval",
                    },
                    h.reason
                ),
            })
            .collect(),
        unmatched: decision
            .unmatched
            .iter()
            .map(|(agent, failed)| Unmatched {
                agent: (*agent).to_owned(),
                failed: (*failed).to_owned(),
            })
            .collect(),
        other_agents: decision.other_agents,
    }
}

/// The runs whose actor the forge is to vouch for, as the decision says:
/// the matched agents' and the follow-ups'.
pub(crate) fn forge_checks(decision: &Decision<'_>, follow_ups: &[(String, ForgeTrust)]) -> Vec<Explained> {
    let matched = (decision.ask_forge.iter())
        .filter(|(a, _)| decision.matched.contains(a))
        .map(|(a, t)| (*a, t));
    matched
        .chain(follow_ups.iter().map(|(a, t)| (a.as_str(), t)))
        .map(|(agent, trust)| Explained {
            agent: agent.to_owned(),
            explain: format!(
                "the forge is asked who {} is before the agent starts (trusted: {})",
                trust.login,
                trust.associations.join(", ")
            ),
        })
        .collect()
}
