//! A run's side on the forge: its one status comment, its pull request,
//! and the outputs its agent asked for. Everything here is done again
//! safely: the comment and the pull request are found before they are
//! made (the run record, then the comment's marker, then the branch), and
//! each output carries a marker of its own.

use std::sync::Arc;

use hookline_bus::runs::RunRecord;
use hookline_forge::github::GitHub;
use hookline_forge::{Comment, Forge, ForgeError, NewPullRequest, PullRequest, Repo, Thread};
use hookline_model::catalog::{AgentSpec, Catalog, ForgeKind, PullRequestSpec};
use hookline_model::forge_state::marker;
use hookline_model::forge_state::{ForgeRecord, OutputOutcome, OutputResult, PullRequestRef};
use hookline_proto::RunRequest;
use tokio::sync::watch;

use crate::forge::outputs::{Action, Plan};
pub use crate::forge::text::{Phase, final_text};

/// The forge a run reports to, with the thread it came from.
pub struct RunForge {
    forge: Box<dyn Forge>,
    /// The repository on the forge.
    pub repo: Repo,
    /// The issue or pull request the run came from.
    pub thread: Option<Thread>,
    run_id: String,
    agent: String,
    /// Values of the profile's secrets, redacted from what agents write.
    pub secrets: Vec<String>,
}

impl RunForge {
    /// The forge of `request`'s agent, if its profile has one and the run
    /// names a repository on it. A token that cannot be read is logged.
    pub fn for_run(catalog: &Catalog, request: &RunRequest, log: &dyn Fn(String)) -> Option<Self> {
        let agent = catalog.agents.get(&request.agent)?;
        let profile = catalog.profiles.get(agent.profile.as_ref()?)?;
        let spec = profile.forge.as_ref()?;
        let token = match profile.secrets.get(&spec.token).map(|s| s.secret.resolve()) {
            Some(Ok(token)) => token.expose().to_owned(),
            Some(Err(e)) => {
                log(format!("forge token {} unavailable: {e}", spec.token));
                return None;
            }
            None => return None,
        };
        let (repository, number) = match &request.follow_up {
            Some(f) => (f.repository.clone(), f.thread),
            None => request
                .context
                .as_ref()
                .map(|c| (c.repo.clone(), c.thread))
                .unwrap_or_default(),
        };
        let Some(repo) = Repo::parse(&repository) else {
            log("no forge repository in the event; nothing is reported on the forge".to_owned());
            return None;
        };
        let secrets = profile
            .secrets
            .values()
            .filter_map(|s| s.secret.resolve().ok())
            .map(|s| s.expose().to_owned())
            .collect();
        // The catalog's forge kind is the one kind; each names its adapter here.
        let forge: Box<dyn Forge> = match spec.kind {
            ForgeKind::Github => Box::new(GitHub::new(&spec.api_url, token, hookline_http::https::client())),
            ForgeKind::Gitea | ForgeKind::Forgejo => Box::new(hookline_forge::gitea::Gitea::new(
                &spec.api_url,
                token,
                hookline_http::https::client(),
            )),
        };
        Some(Self {
            forge,
            thread: (number > 0).then(|| Thread {
                repo: repo.clone(),
                number,
            }),
            repo,
            run_id: request.run_id.clone(),
            agent: request.agent.clone(),
            secrets,
        })
    }

    /// A fresh forge record for the run.
    pub fn record(&self) -> ForgeRecord {
        ForgeRecord {
            repository: self.repo.full_name(),
            thread: self.thread.as_ref().map_or(0, |t| t.number),
            ..Default::default()
        }
    }

    /// What `login` may do on the run's repository, as the forge says.
    pub async fn permission(&self, login: &str) -> Result<String, ForgeError> {
        self.forge.permission(&self.repo, login).await
    }

    /// The run's status comment showing `text`: the one `forge` names, or
    /// the one with the run's marker, or a new one.
    pub async fn open_status(&self, forge: &ForgeRecord, text: &str) -> Result<Option<Comment>, ForgeError> {
        let Some(thread) = &self.thread else {
            return Ok(None);
        };
        let body = self.status_text(text);
        if let Some(id) = forge.comment_id {
            self.forge.edit_comment(&self.repo, id, &body).await?;
            return Ok(Some(Comment {
                id,
                url: forge.comment_url.clone(),
                body,
            }));
        }
        // Made by a copy that died before recording it, or by a POST whose
        // answer was lost: found by its marker, never made twice.
        for _ in 0..2 {
            if let Some(found) = self.find_status(thread).await? {
                self.forge.edit_comment(&self.repo, found.id, &body).await?;
                return Ok(Some(found));
            }
            match self.forge.create_comment(thread, &body).await {
                Ok(made) => return Ok(Some(made)),
                Err(e) if e.is_transient() => tracing::warn!(error = %e, "Status comment not made; looking again."),
                Err(e) => return Err(e),
            }
        }
        self.find_status(thread).await
    }

    async fn find_status(&self, thread: &Thread) -> Result<Option<Comment>, ForgeError> {
        let mark = marker::status(&self.run_id);
        let comments = self.forge.comments(thread).await?;
        Ok(comments.into_iter().find(|c| c.body.contains(&mark)))
    }

    fn status_text(&self, text: &str) -> String {
        format!(
            "**Hookline** · agent `{}` · run `{}`\n\n{text}\n\n{}",
            self.agent,
            self.run_id,
            marker::status(&self.run_id)
        )
    }

    /// Edits comment `id` to `text`.
    pub async fn edit_status(&self, id: u64, text: &str) -> Result<(), ForgeError> {
        self.forge.edit_comment(&self.repo, id, &self.status_text(text)).await
    }

    /// Keeps comment `id` showing the latest phase sent, until the sender
    /// is dropped.
    pub fn follow(self: &Arc<Self>, id: u64, attempt: u32) -> (watch::Sender<Phase>, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = watch::channel(Phase::Preparing);
        let this = self.clone();
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let phase = *rx.borrow_and_update();
                let text = format!("⏳ Working on it (attempt {attempt}): {}.", phase.words());
                if let Err(e) = this.edit_status(id, &text).await {
                    tracing::warn!(error = %e, "Status comment not updated.");
                }
            }
        });
        (tx, task)
    }

    /// The branch's pull request: the one already open from it, or a new
    /// one. Answers it and whether this call opened it.
    pub async fn pull_request(
        &self,
        spec: &PullRequestSpec,
        head: &str,
        base: &str,
        title: String,
        body: String,
    ) -> Result<(PullRequest, bool), ForgeError> {
        if let Some(found) = self.forge.find_pull_request(&self.repo, head).await? {
            return Ok((found, false));
        }
        let body = match &self.thread {
            Some(thread) => format!("{body}\n\nFor #{}.\n\n{}", thread.number, marker::status(&self.run_id)),
            None => format!("{body}\n\n{}", marker::status(&self.run_id)),
        };
        let request = NewPullRequest {
            head: head.to_owned(),
            base: spec.base.clone().unwrap_or_else(|| base.to_owned()),
            title,
            body,
            draft: spec.draft,
        };
        Ok((self.forge.open_pull_request(&self.repo, &request).await?, true))
    }

    /// Does what `plan` allows (or, in preview, records what it would
    /// do); `pull` is the run's pull request, if any. Answers every result.
    pub async fn apply(&self, plan: Plan, preview: bool, pull: Option<&PullRequest>) -> Vec<OutputResult> {
        let mut results = plan.results;
        let mut existing_comments: Option<Vec<Comment>> = None;
        let mut existing_reviews: Option<Vec<String>> = None;
        for (index, action) in plan.actions {
            let outcome = if preview {
                Ok(OutputOutcome::Previewed)
            } else {
                self.perform(&action, pull, &mut existing_comments, &mut existing_reviews)
                    .await
            };
            if let Some(result) = results.get_mut(index) {
                match outcome {
                    Ok(outcome) => result.outcome = outcome,
                    Err(reason) => {
                        result.outcome = OutputOutcome::Failed;
                        result.reason = reason;
                    }
                }
            }
        }
        results
    }

    async fn perform(
        &self,
        action: &Action,
        pull: Option<&PullRequest>,
        comments: &mut Option<Vec<Comment>>,
        reviews: &mut Option<Vec<String>>,
    ) -> Result<OutputOutcome, String> {
        let no_thread = || "the run has no issue or pull request to act on".to_owned();
        match action {
            Action::Comment { n, body } => {
                let thread = self.thread.as_ref().ok_or_else(no_thread)?;
                let mark = marker::output(&self.run_id, "comment", *n);
                if comments.is_none() {
                    *comments = Some(self.forge.comments(thread).await.map_err(|e| e.to_string())?);
                }
                if comments.iter().flatten().any(|c| c.body.contains(&mark)) {
                    return Ok(OutputOutcome::Applied);
                }
                let text = format!("{body}\n\n{mark}");
                self.forge
                    .create_comment(thread, &text)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Action::Labels(labels) => {
                let thread = self.thread.as_ref().ok_or_else(no_thread)?;
                self.forge.add_labels(thread, labels).await.map_err(|e| e.to_string())?;
            }
            Action::CloseIssue => {
                let thread = self.thread.as_ref().ok_or_else(no_thread)?;
                self.forge.close_issue(thread).await.map_err(|e| e.to_string())?;
            }
            Action::ReviewComment { n, comment } => {
                let pull = pull.ok_or_else(|| "the run has no pull request".to_owned())?;
                let mark = marker::output(&self.run_id, "review_comment", *n);
                if reviews.is_none() {
                    *reviews = Some(
                        self.forge
                            .review_comments(&self.repo, pull.number)
                            .await
                            .map_err(|e| e.to_string())?,
                    );
                }
                if reviews.iter().flatten().any(|body| body.contains(&mark)) {
                    return Ok(OutputOutcome::Applied);
                }
                let mut marked = comment.clone();
                marked.body = format!("{}\n\n{mark}", comment.body);
                self.forge
                    .create_review_comment(&self.repo, pull.number, &pull.head_sha, &marked)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Action::PullRequest { title, body } => {
                let pull = pull.ok_or_else(|| "the run has no pull request".to_owned())?;
                let body = format!("{body}\n\n{}", marker::status(&self.run_id));
                self.forge
                    .edit_pull_request(&self.repo, pull.number, title, &body)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(OutputOutcome::Applied)
    }
}

/// The pull request as kept in the record.
pub fn pull_ref(pull: &PullRequest) -> PullRequestRef {
    PullRequestRef {
        number: pull.number,
        url: pull.url.clone(),
    }
}

/// Whether `agent` does anything on the forge at all (a `mention` or
/// `ci_fixes` agent needs its runs' branches linked to their threads).
pub fn wanted(agent: &AgentSpec) -> bool {
    agent.status_comment
        || agent.pull_request.is_some()
        || agent.outputs.allows_anything()
        || agent.mention.is_some()
        || agent.ci_fixes > 0
}

/// Brings the status comment of the run `record` describes to its final
/// state, once: after the final record is stored, by whoever finished or
/// noticed the run. A run that will be tried again says so and stays open.
/// Answers false when the comment could not be written (the request is
/// then asked for again, and the next delivery settles it).
pub async fn settle_status(forge: &RunForge, records: &hookline_bus::runs::Records, record: &RunRecord) -> bool {
    let Some(state) = &record.forge else {
        return true;
    };
    let (Some(id), false) = (state.comment_id, state.comment_final) else {
        return true;
    };
    if !record.status.is_final() {
        return true;
    }
    if let Err(e) = forge.edit_status(id, &final_text(record, state)).await {
        tracing::warn!(run_id = %record.run_id, error = %e, "Final status comment not written; trying again.");
        return !e.is_transient();
    }
    if record.will_retry {
        return true;
    }
    let marked = records
        .update(&record.run_id, |r| match r.forge.as_mut() {
            Some(f) if !f.comment_final => {
                f.comment_final = true;
                true
            }
            _ => false,
        })
        .await;
    if let Err(e) = marked {
        tracing::warn!(run_id = %record.run_id, error = %e, "Status comment written but not marked final.");
    }
    true
}
