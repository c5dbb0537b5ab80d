//! Follow-ups on the forge: a trusted comment mentioning an agent on a
//! thread one of its runs handled, or a failed check on one of its
//! branches, starts a run that continues that branch
//! ([`hookline_proto::FollowUp`]); and the loop guard: what Hookline's own
//! forge identity wrote never starts anything.

use hookline_bus::threads::{CiFix, ThreadLink, Threads, ThreadsError};
use hookline_model::catalog::Catalog;
use hookline_model::decision::Explained;
use hookline_model::follow_up::FollowUpReason;
use hookline_model::forge_state::marker;
use hookline_proto::{FollowUp, ForgeTrust, WebhookContext};
use serde_json::Value;

use hookline_providers::trust::{self, Verdict};

/// Events whose results, not actors, matter: never held back by the
/// loop guard (a check on Hookline's push reports the push's sender).
const CHECK_EVENTS: [&str; 5] = ["check_suite", "check_run", "workflow_run", "workflow_job", "status"];

/// What [`plan`] answered, sorted: the follow-ups to start, those skipped
/// (for the decision record), and the forge checks of those started.
#[derive(Default)]
pub struct Planned {
    pub runs: Vec<(String, FollowUp)>,
    pub skipped: Vec<Explained>,
    pub ask_forge: Vec<(String, ForgeTrust)>,
}

impl Planned {
    /// `outcomes`, sorted.
    pub fn of(outcomes: Vec<Outcome>) -> Self {
        let mut planned = Self::default();
        for outcome in outcomes {
            match outcome {
                Outcome::Run(agent, f) => planned.runs.push((agent, f)),
                Outcome::Ask(agent, f, trust) => {
                    planned.ask_forge.push((agent.clone(), trust));
                    planned.runs.push((agent, f));
                }
                Outcome::Skipped(why) => planned.skipped.push(why),
            }
        }
        planned
    }
}

/// Whether Hookline itself caused the event: its forge account is the
/// actor, or the comment, review or body carries one of its markers.
pub fn is_own(catalog: &Catalog, ctx: &WebhookContext) -> Option<String> {
    let forge = matches!(ctx.provider.as_str(), "github" | "gitea" | "forgejo");
    if !forge || CHECK_EVENTS.contains(&ctx.event.as_str()) {
        return None;
    }
    let login = ctx.actor.as_ref().map(|a| a.login.as_str()).unwrap_or_default();
    let own_login = catalog
        .profiles
        .values()
        .filter_map(|p| p.forge.as_ref()?.login.as_deref())
        .any(|own| !login.is_empty() && own.eq_ignore_ascii_case(login));
    if own_login {
        return Some(format!("ignored: written by Hookline's own forge account {login}"));
    }
    (comment_text(ctx).is_some_and(marker::is_ours)).then(|| "ignored: a comment Hookline wrote".to_owned())
}

/// The new text of a comment or review event, if the event is one (the
/// provider read it into the context).
fn comment_text(ctx: &WebhookContext) -> Option<&str> {
    (!ctx.comment.is_empty()).then_some(ctx.comment.as_str())
}

/// The thread (issue or pull request number) an event is on.
fn comment_thread(ctx: &WebhookContext) -> Option<u64> {
    (ctx.thread > 0).then_some(ctx.thread)
}

/// Whether `text` mentions `mention` as a whole word.
fn mentions(text: &str, mention: &str) -> bool {
    let lower = text.to_lowercase();
    let wanted = mention.to_lowercase();
    lower.match_indices(&wanted).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + wanted.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_'));
        boundary(before) && boundary(after)
    })
}

/// A follow-up run to request, or why an agent's follow-up did not start.
pub enum Outcome {
    /// Start this agent's run with this follow-up.
    Run(String, FollowUp),
    /// The same, once the forge vouches for the actor (Gitea, Forgejo).
    Ask(String, FollowUp, ForgeTrust),
    /// For the decision record.
    Skipped(Explained),
}

fn follow_up(link: &ThreadLink, reason: FollowUpReason, thread: u64) -> FollowUp {
    FollowUp {
        reason: reason.as_str().to_owned(),
        repository: link.repository.clone(),
        thread,
        branch: link.branch.clone(),
        base: link.base.clone(),
        previous_run_id: link.last_run_id.clone(),
        previous_summary: link.summary.clone(),
        pull_request: link.pull_request,
        ci_fix: 0,
        prompt: String::new(),
    }
}

/// The follow-ups an event starts. `run_id` names the run an agent would
/// get for this event (the same on every redelivery).
pub async fn plan(
    threads: &Threads,
    catalog: &Catalog,
    ctx: &WebhookContext,
    body: &Value,
    run_id: &(dyn Fn(&str) -> String + Sync),
) -> Result<Vec<Outcome>, ThreadsError> {
    let mut out = Vec::new();
    // The forges Hookline writes back to (GitLab's follow-ups are not yet).
    if !matches!(ctx.provider.as_str(), "github" | "gitea" | "forgejo") || ctx.repo.is_empty() {
        return Ok(out);
    }
    if let (Some(text), Some(number)) = (comment_text(ctx), comment_thread(ctx)) {
        for (agent, spec) in catalog.agents.iter().filter(|(_, a)| a.enabled) {
            let Some(mention) = spec.mention.as_deref().filter(|m| mentions(text, m)) else {
                continue;
            };
            let Some(link) = threads.by_thread(&ctx.repo, number, agent).await? else {
                out.push(Outcome::Skipped(Explained {
                    agent: agent.clone(),
                    explain: format!("skipped: mentioned with {mention} on #{number}, which none of its runs handled"),
                }));
                continue;
            };
            let policy = spec.trust.clone().unwrap_or_default();
            match trust::judge(&policy, ctx, body) {
                Verdict::Trusted => out.push(Outcome::Run(
                    agent.clone(),
                    follow_up(&link, FollowUpReason::Mention, number),
                )),
                Verdict::AskForge { login, associations } => out.push(Outcome::Ask(
                    agent.clone(),
                    follow_up(&link, FollowUpReason::Mention, number),
                    ForgeTrust {
                        login,
                        associations: associations.iter().map(|a| a.as_str().to_owned()).collect(),
                    },
                )),
                Verdict::Untrusted { reason, .. } => out.push(Outcome::Skipped(Explained {
                    agent: agent.clone(),
                    explain: format!("skipped follow-up: {reason}"),
                })),
            }
        }
        return Ok(out);
    }
    let failed = matches!(ctx.conclusion.as_str(), "failure" | "timed_out")
        && matches!(ctx.event.as_str(), "check_suite" | "workflow_run")
        && ctx.action == "completed";
    if !failed {
        return Ok(out);
    }
    for (agent, spec) in catalog.agents.iter().filter(|(_, a)| a.enabled && a.ci_fixes > 0) {
        if !ctx.branch.starts_with(&format!("hookline/{agent}/")) {
            continue;
        }
        let Some(link) = threads.by_branch(&ctx.repo, &ctx.branch).await? else {
            continue;
        };
        let thread = if link.pull_request > 0 {
            link.pull_request
        } else {
            link.source_thread
        };
        match threads
            .claim_ci_fix(&ctx.repo, &ctx.branch, &run_id(agent), spec.ci_fixes)
            .await?
        {
            Some(CiFix::Granted(n)) => {
                let mut f = follow_up(&link, FollowUpReason::CiFailure, thread);
                f.ci_fix = n;
                out.push(Outcome::Run(agent.clone(), f));
            }
            Some(CiFix::Exhausted { tell: true, .. }) => {
                out.push(Outcome::Run(
                    agent.clone(),
                    follow_up(&link, FollowUpReason::CiExhausted, thread),
                ));
            }
            Some(CiFix::Exhausted { used, tell: false }) => out.push(Outcome::Skipped(Explained {
                agent: agent.clone(),
                explain: format!(
                    "skipped: {used} fix-up run(s) already ran on {}; a human was told",
                    ctx.branch
                ),
            })),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_whole_words() {
        assert!(mentions("@Hookline please fix the test", "@hookline"));
        assert!(mentions("thanks, @hookline.", "@hookline"));
        assert!(!mentions("@hookline-bot did this", "@hookline"));
        assert!(!mentions("mail me at x@hookline", "@hookline"));
    }
}
