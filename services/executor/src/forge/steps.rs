//! The forge steps of one attempt: the status comment when it starts (and
//! at each phase), then, once the agent is done, the pull request, the
//! outputs the agent asked for, and the link from the thread to the
//! branch that follow-ups continue. The final comment is written after the
//! final record ([`crate::forge::report::settle_status`]).

use std::sync::Arc;
use std::time::Duration;

use hookline_bus::consume::Outcome;
use hookline_bus::threads::ThreadLink;
use hookline_forge::PullRequest;
use hookline_model::catalog::AgentSpec;
use hookline_model::forge_state::ForgeRecord;
use hookline_proto::RunRequest;
use tokio::sync::watch;

use crate::agent::prompt::{self, PromptInput};
use crate::agent::session::SessionOutput;
use crate::attempt::emit::Emitter;
use crate::attempt::env::RunEnv;
use crate::attempt::lease::Held;
use crate::forge::outputs;
use crate::forge::report::{self, Phase, RunForge};

/// The forge side of an attempt under way.
pub struct Started {
    forge: Arc<RunForge>,
    /// What the run did on the forge so far.
    pub record: ForgeRecord,
    progress: Option<(watch::Sender<Phase>, tokio::task::JoinHandle<()>)>,
}

/// What the agent's results did on the forge.
#[derive(Default)]
pub struct Published {
    /// The run's pull request, and whether this attempt's work opened it.
    pub pull_request: Option<(PullRequest, bool)>,
}

/// Starts the forge side of the attempt `held` is: finds or makes the
/// status comment (recorded in the run record at once, so a copy taking
/// the run over edits the same one). None when the agent does nothing on
/// a forge, or the run names no repository there.
pub async fn start(
    env: &RunEnv<'_>,
    request: &RunRequest,
    agent: &AgentSpec,
    held: &Held,
    emitter: &Emitter,
) -> Option<Started> {
    if !report::wanted(agent) {
        return None;
    }
    let forge = Arc::new(RunForge::for_run(env.catalog, request, &|m| {
        emitter.log("hookline", m)
    })?);
    let current = held.record().await;
    let mut record = current.forge.clone().unwrap_or_else(|| forge.record());
    let mut progress = None;
    if agent.status_comment {
        let text = format!(
            "⏳ Working on it (attempt {}): preparing the workspace.",
            current.attempt
        );
        match forge.open_status(&record, &text).await {
            Ok(Some(comment)) => {
                record.comment_id = Some(comment.id);
                record.comment_url = comment.url;
                record.comment_final = false;
                let stored = record.clone();
                if let Err(e) = held.amend(|r| r.forge = Some(stored)).await {
                    emitter.log("hookline", format!("status comment not recorded: {e}"));
                }
                progress = Some(forge.follow(comment.id, current.attempt));
            }
            Ok(None) => emitter.log("hookline", "no issue or pull request to comment on".to_owned()),
            Err(e) => emitter.log("hookline", format!("status comment not written: {e}")),
        }
    }
    Some(Started {
        forge,
        record,
        progress,
    })
}

impl Started {
    /// Tells the status comment what the run does now.
    pub fn phase(&self, phase: Phase) {
        if let Some((tx, _)) = &self.progress {
            let _ = tx.send(phase);
        }
    }

    /// After the agent: opens (or finds) the pull request, applies the
    /// outputs the policy allows, and links the thread to the branch.
    pub async fn publish(
        &mut self,
        env: &RunEnv<'_>,
        request: &RunRequest,
        agent: &AgentSpec,
        output: &SessionOutput,
        emitter: &Emitter,
    ) -> Published {
        self.phase(Phase::Publishing);
        let mut published = Published::default();
        let plan = outputs::plan(&output.outputs_text, &agent.outputs, &self.forge.secrets);
        if let Some(summary) = &plan.summary {
            self.record.summary.clone_from(summary);
        }
        let pushed = output.code.as_ref().filter(|(_, _, pushed)| *pushed);
        if let (Some(spec), Some((checkout, changes, _))) = (&agent.pull_request, pushed) {
            let input = PromptInput {
                event: request.event.as_ref(),
                context: request.context.as_ref(),
                run_id: &request.run_id,
                agent: &request.agent,
                sanitize: true,
                follow_up: request.follow_up.as_ref(),
            };
            // The agent's own title and body, if its policy lets it set them.
            let asked = plan.actions.iter().find_map(|(_, a)| match a {
                outputs::Action::PullRequest { title, body } if !agent.outputs_preview => {
                    Some((title.clone(), body.clone()))
                }
                _ => None,
            });
            let first_commit = changes.commits.first().map(|c| c.message.clone()).unwrap_or_default();
            let title = asked
                .as_ref()
                .map(|(t, _)| t.clone())
                .or_else(|| spec.title.as_ref().map(|t| prompt::render_plain(t, &input)))
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| format!("{}: {first_commit}", request.agent));
            let mut body = asked
                .map(|(_, b)| b)
                .or_else(|| spec.body.as_ref().map(|b| prompt::render_plain(b, &input)))
                .unwrap_or_default();
            if body.trim().is_empty() {
                body = format!(
                    "Opened by Hookline for agent `{}`, run `{}`.",
                    request.agent, request.run_id
                );
                if !self.record.summary.is_empty() {
                    body.push_str(&format!("\n\n{}", self.record.summary));
                }
            }
            let title: String = title.chars().take(250).collect();
            match self
                .forge
                .pull_request(spec, &checkout.branch, &checkout.base_branch, title, body)
                .await
            {
                Ok((pull, opened)) => {
                    emitter.log("hookline", format!("pull request #{}: {}", pull.number, pull.url));
                    self.record.pull_request = Some(report::pull_ref(&pull));
                    published.pull_request = Some((pull, opened));
                }
                Err(e) => emitter.log("hookline", format!("pull request not opened: {e}")),
            }
        }
        let pull = published.pull_request.as_ref().map(|(p, _)| p.clone()).or_else(|| {
            // A follow-up on a pull request reviews that one.
            request
                .follow_up
                .as_ref()
                .filter(|f| f.pull_request > 0)
                .map(|f| PullRequest {
                    number: f.pull_request,
                    url: String::new(),
                    head_sha: output
                        .code
                        .as_ref()
                        .and_then(|(_, c, _)| c.commits.last().map(|c| c.sha.clone()))
                        .unwrap_or_default(),
                })
        });
        self.record.outputs = self.forge.apply(plan, agent.outputs_preview, pull.as_ref()).await;
        for result in &self.record.outputs {
            let reason = if result.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", result.reason)
            };
            emitter.log(
                "hookline",
                format!("output {} {:?}{reason}", result.kind, result.outcome).to_lowercase(),
            );
        }
        if let Some((checkout, _, _)) = pushed {
            let threads = env.threads;
            let link = ThreadLink {
                agent: request.agent.clone(),
                repository: self.record.repository.clone(),
                branch: checkout.branch.clone(),
                base: checkout.base_branch.clone(),
                source_thread: self.record.thread,
                pull_request: self.record.pull_request.as_ref().map_or(0, |p| p.number),
                last_run_id: request.run_id.clone(),
                summary: self.record.summary.clone(),
                ci_fix_runs: Vec::new(),
                human_needed_run: String::new(),
                runs: Vec::new(),
            };
            if let Err(e) = threads.record_run(&link).await {
                emitter.log(
                    "hookline",
                    format!("thread link not stored (follow-ups will not find the branch): {e}"),
                );
            }
        }
        self.stop_following().await;
        published
    }

    /// Stops the phase edits, waiting for any in flight, so the final
    /// text is the last one written.
    pub async fn stop_following(&mut self) {
        if let Some((tx, task)) = self.progress.take() {
            drop(tx);
            let _ = task.await;
        }
    }

    /// The forge the run reports to.
    pub fn forge(&self) -> &RunForge {
        &self.forge
    }
}

/// Brings the status comment of a run that ended to its final state, if
/// its record says it is not yet (the copy that finished it died first,
/// or an operator cancelled it while nobody held it).
pub async fn settle(env: &RunEnv<'_>, request: &RunRequest) -> Outcome {
    let record = match env.records.get(&request.run_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Outcome::Ack,
        Err(e) => {
            tracing::warn!(run_id = %request.run_id, error = %e, "Run record not read; asking again.");
            return Outcome::Retry(Duration::from_secs(2));
        }
    };
    if record
        .forge
        .as_ref()
        .is_none_or(|f| f.comment_final || f.comment_id.is_none())
    {
        return Outcome::Ack;
    }
    let Some(forge) = RunForge::for_run(
        env.catalog,
        request,
        &|m| tracing::warn!(run_id = %request.run_id, "{m}"),
    ) else {
        return Outcome::Ack;
    };
    if report::settle_status(&forge, env.records, &record).await {
        Outcome::Ack
    } else {
        Outcome::Retry(Duration::from_secs(5))
    }
}
