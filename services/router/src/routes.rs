//! The routing table: every enabled agent's triggers, compiled and grouped
//! by source, rebuilt when the catalog changes. [`Routes::decide`] says which
//! agents an event starts and, for the others listening to its source, the
//! first filter that failed. Pure code.

use std::collections::HashMap;

use hookline_model::catalog::{Catalog, TrustSpec, Untrusted};
use hookline_proto::ForgeTrust;
use hookline_proto::WebhookContext;
use serde::Serialize;
use serde_json::Value;

use crate::filter::{Mismatch, Trigger};
use hookline_providers::trust::{self, Verdict};

struct AgentTriggers {
    agent: String,
    /// Each trigger with the policy it applies (its own, or the agent's).
    triggers: Vec<(Trigger, TrustSpec)>,
    untrusted: Untrusted,
}

/// An agent whose trigger matched but whose actor its policy does not trust.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Held<'a> {
    /// The agent.
    pub agent: &'a str,
    /// The actor, as the payload names them.
    pub actor: String,
    /// Why they are not trusted.
    pub reason: String,
    /// `approve`: the run waits for a person; `skip`: no run.
    pub outcome: Untrusted,
}

/// Compiled triggers by source.
#[derive(Default)]
pub struct Routes {
    by_source: HashMap<String, Vec<AgentTriggers>>,
    agents: usize,
}

/// Which agents an event matched, and why the others did not. It borrows
/// the agents' names from the table: deciding allocates nothing per agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Decision<'a> {
    /// Agents that run.
    pub matched: Vec<&'a str>,
    /// Agents that matched but whose actor is not trusted.
    pub untrusted: Vec<Held<'a>>,
    /// Agents listening to this source that do not run, with the first
    /// filter their first trigger failed.
    pub unmatched: Vec<(&'a str, &'static str)>,
    /// Agents with no trigger on this source.
    pub other_agents: usize,
    /// Matched agents whose actor the forge must vouch for before the agent
    /// starts (Gitea, Forgejo), with who and what the policy trusts.
    #[serde(skip)]
    pub ask_forge: Vec<(&'a str, ForgeTrust)>,
}

impl Routes {
    /// Compiles every enabled agent's triggers. A trigger that does not
    /// compile (the catalog validation prevents it) is logged and skipped.
    pub fn build(catalog: &Catalog) -> Self {
        let mut routes = Routes::default();
        for (agent, spec) in catalog.agents.iter().filter(|(_, a)| a.enabled) {
            routes.agents += 1;
            let mut by_source: HashMap<String, Vec<(Trigger, TrustSpec)>> = HashMap::new();
            for trigger in &spec.triggers {
                let policy = trigger.trust.clone().or_else(|| spec.trust.clone()).unwrap_or_default();
                match Trigger::compile(trigger) {
                    Ok(compiled) => by_source
                        .entry(trigger.source.clone())
                        .or_default()
                        .push((compiled, policy)),
                    Err(e) => tracing::error!(agent, error = %e, "Trigger skipped."),
                }
            }
            for (source, triggers) in by_source {
                routes.by_source.entry(source).or_default().push(AgentTriggers {
                    agent: agent.clone(),
                    triggers,
                    untrusted: spec.untrusted,
                });
            }
        }
        routes
    }

    /// The decision for one event.
    pub fn decide(&self, ctx: &WebhookContext, body: &Value) -> Decision<'_> {
        let listening = self.by_source.get(&ctx.source).map(Vec::as_slice).unwrap_or_default();
        let mut decision = Decision {
            matched: Vec::new(),
            untrusted: Vec::new(),
            unmatched: Vec::with_capacity(listening.len()),
            other_agents: self.agents - listening.len(),
            ask_forge: Vec::new(),
        };
        for entry in listening {
            let mut first_failure: Option<Mismatch> = None;
            // A run starts if any matching trigger trusts the actor; else
            // the first matching trigger's verdict says why not.
            let mut verdict: Option<Verdict> = None;
            for (trigger, policy) in &entry.triggers {
                match trigger.check(ctx, body) {
                    Ok(()) => match trust::judge(policy, ctx, body) {
                        Verdict::Trusted => {
                            verdict = Some(Verdict::Trusted);
                            break;
                        }
                        // The forge may yet trust the actor: better than no.
                        ask @ Verdict::AskForge { .. } => {
                            if !matches!(verdict, Some(Verdict::AskForge { .. })) {
                                verdict = Some(ask);
                            }
                        }
                        untrusted => {
                            verdict.get_or_insert(untrusted);
                        }
                    },
                    Err(m) => {
                        first_failure.get_or_insert(m);
                    }
                }
            }
            match verdict {
                Some(Verdict::Trusted) => decision.matched.push(&entry.agent),
                Some(Verdict::AskForge { login, associations }) => {
                    decision.matched.push(&entry.agent);
                    decision.ask_forge.push((
                        &entry.agent,
                        ForgeTrust {
                            login,
                            associations: associations.iter().map(|a| a.as_str().to_owned()).collect(),
                        },
                    ));
                }
                Some(Verdict::Untrusted { actor, reason }) => decision.untrusted.push(Held {
                    agent: &entry.agent,
                    actor,
                    reason,
                    outcome: entry.untrusted,
                }),
                None => {
                    if let Some(m) = first_failure {
                        decision.unmatched.push((&entry.agent, m.field()));
                    }
                }
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_name_matches_and_first_failures() {
        let catalog = Catalog::parse(
            r#"
[sources.gh]
provider = "none"
[sources.other]
provider = "none"
[agents.bugs]
prompt = "x"
runner = { type = "command", command = ["true"] }
triggers = [{ source = "gh", labels = ["bug"] }]
[agents.docs]
prompt = "x"
runner = { type = "command", command = ["true"] }
triggers = [{ source = "gh", events = ["issues"], labels = ["docs"] }, { source = "gh", events = ["push"] }]
[agents.elsewhere]
prompt = "x"
runner = { type = "command", command = ["true"] }
triggers = [{ source = "other" }]
[agents.off]
prompt = "x"
runner = { type = "command", command = ["true"] }
enabled = false
triggers = [{ source = "gh" }]
"#,
        )
        .expect("catalog");
        let routes = Routes::build(&catalog);
        let ctx = WebhookContext {
            source: "gh".into(),
            event: "issues".into(),
            labels: vec!["bug".into()],
            ..Default::default()
        };
        let decision = routes.decide(&ctx, &Value::Null);
        assert_eq!(decision.matched, ["bugs"]);
        assert_eq!(
            decision.unmatched,
            [("docs", "labels")],
            "the first trigger's first failure"
        );
        assert_eq!(decision.other_agents, 1, "disabled agents are not counted");
    }
}
