//! The `hookline_threads` bucket: which branch a forge thread's run made,
//! so a follow-up (a trusted mention, a failed check) continues that
//! branch instead of starting a new one. The executor links a branch when
//! its run pushed it; the router reads the links and counts CI fix-ups
//! with revision-checked writes, so a redelivered check event never grants
//! a second fix-up.

use async_nats::jetstream::kv;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::nats::Nats;
use hookline_model::subjects::{thread_branch_key, thread_key};

/// A run branch on the forge and where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadLink {
    /// The agent whose runs work on the branch.
    pub agent: String,
    /// `owner/name` on the forge.
    pub repository: String,
    /// The branch.
    pub branch: String,
    /// The branch it was started from.
    pub base: String,
    /// The issue or pull request the first run came from, if any.
    #[serde(default)]
    pub source_thread: u64,
    /// The branch's pull request, once opened.
    #[serde(default)]
    pub pull_request: u64,
    /// The last run that pushed to it.
    pub last_run_id: String,
    /// That run's summary, in the agent's own words.
    #[serde(default)]
    pub summary: String,
    /// The fix-up runs failed checks started, oldest first.
    #[serde(default)]
    pub ci_fix_runs: Vec<String>,
    /// The run that said a human is needed, once the fix-ups ran out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub human_needed_run: String,
    /// Every run that pushed to it, oldest first (what its pull request's
    /// outcome is the work of).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<String>,
}

impl ThreadLink {
    /// The threads (issue, pull request) a follow-up may come from.
    pub fn threads(&self) -> Vec<u64> {
        [self.source_thread, self.pull_request]
            .into_iter()
            .filter(|n| *n > 0)
            .collect()
    }
}

/// Why the bucket could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ThreadsError {
    /// The bucket could not be opened.
    #[error("threads bucket unavailable: {0}")]
    Open(#[from] async_nats::jetstream::context::KeyValueError),
    /// A read failed.
    #[error("thread link not read: {0}")]
    Read(#[from] kv::EntryError),
    /// A write failed.
    #[error("thread link not written: {0}")]
    Write(String),
    /// A stored link is not valid JSON.
    #[error("thread link unreadable: {0}")]
    Decode(#[from] serde_json::Error),
    /// Revision-checked writes kept conflicting.
    #[error("thread link busy; try again")]
    Busy,
}

/// Whether a failed check may start a fix-up run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiFix {
    /// Yes: the `n`th fix-up (this run id was recorded, or already was).
    Granted(u32),
    /// No: the fix-ups allowed already ran. `tell` is set for the one
    /// run that says a human is needed (this one), never for later ones.
    Exhausted {
        /// Fix-ups that ran.
        used: u32,
        /// Whether this run is the one that says so.
        tell: bool,
    },
}

/// The threads bucket, opened once.
#[derive(Clone)]
pub struct Threads {
    kv: kv::Store,
}

const TRIES: usize = 5;

impl Threads {
    /// The threads bucket of `nats`'s buckets.
    pub fn new(nats: &Nats) -> Self {
        Self {
            kv: nats.buckets.threads.clone(),
        }
    }

    async fn entry(&self, key: &str) -> Result<Option<(ThreadLink, u64)>, ThreadsError> {
        match self.kv.entry(key).await? {
            Some(entry) if entry.operation == kv::Operation::Put => {
                Ok(Some((serde_json::from_slice(&entry.value)?, entry.revision)))
            }
            _ => Ok(None),
        }
    }

    async fn put(&self, key: &str, link: &ThreadLink, revision: Option<u64>) -> Result<bool, ThreadsError> {
        let value = Bytes::from(serde_json::to_vec(link)?);
        let written = match revision {
            Some(revision) => self.kv.update(key, value, revision).await.map(|_| ()).map_err(|e| {
                if e.kind() == kv::UpdateErrorKind::WrongLastRevision {
                    None
                } else {
                    Some(e.to_string())
                }
            }),
            None => self.kv.create(key, value).await.map(|_| ()).map_err(|e| {
                if e.kind() == kv::CreateErrorKind::AlreadyExists {
                    None
                } else {
                    Some(e.to_string())
                }
            }),
        };
        match written {
            Ok(()) => Ok(true),
            Err(None) => Ok(false),
            Err(Some(e)) => Err(ThreadsError::Write(e)),
        }
    }

    /// The link of `branch` in `repository`.
    pub async fn by_branch(&self, repository: &str, branch: &str) -> Result<Option<ThreadLink>, ThreadsError> {
        Ok(self
            .entry(&thread_branch_key(repository, branch))
            .await?
            .map(|(l, _)| l))
    }

    /// The branch `agent`'s runs made for thread `number`, if any.
    pub async fn by_thread(
        &self,
        repository: &str,
        number: u64,
        agent: &str,
    ) -> Result<Option<ThreadLink>, ThreadsError> {
        let Some(entry) = self.kv.get(thread_key(repository, number, agent)).await? else {
            return Ok(None);
        };
        let branch = String::from_utf8_lossy(&entry).into_owned();
        self.by_branch(repository, &branch).await
    }

    /// Records that `run_id` pushed `link.branch` (with its summary and
    /// pull request), keeping the fix-ups already counted, and indexes
    /// the branch by each of its threads.
    pub async fn record_run(&self, link: &ThreadLink) -> Result<(), ThreadsError> {
        let key = thread_branch_key(&link.repository, &link.branch);
        let mut stored = None;
        for _ in 0..TRIES {
            let current = self.entry(&key).await?;
            let mut next = link.clone();
            let revision = current.as_ref().map(|(_, r)| *r);
            next.runs = current.as_ref().map(|(old, _)| old.runs.clone()).unwrap_or_default();
            if !next.runs.contains(&link.last_run_id) {
                next.runs.push(link.last_run_id.clone());
            }
            if let Some((old, _)) = current {
                next.ci_fix_runs = old.ci_fix_runs;
                next.human_needed_run = old.human_needed_run;
                next.source_thread = if old.source_thread > 0 {
                    old.source_thread
                } else {
                    next.source_thread
                };
                if next.pull_request == 0 {
                    next.pull_request = old.pull_request;
                }
            }
            if self.put(&key, &next, revision).await? {
                stored = Some(next);
                break;
            }
        }
        let stored = stored.ok_or(ThreadsError::Busy)?;
        for number in stored.threads() {
            self.kv
                .put(
                    thread_key(&stored.repository, number, &stored.agent),
                    Bytes::from(stored.branch.clone()),
                )
                .await
                .map_err(|e| ThreadsError::Write(e.to_string()))?;
        }
        Ok(())
    }

    /// Counts `run_id` as a fix-up of `branch` if fewer than `max` ran.
    /// Asking again for the same run answers the same.
    pub async fn claim_ci_fix(
        &self,
        repository: &str,
        branch: &str,
        run_id: &str,
        max: u32,
    ) -> Result<Option<CiFix>, ThreadsError> {
        let key = thread_branch_key(repository, branch);
        for _ in 0..TRIES {
            let Some((mut link, revision)) = self.entry(&key).await? else {
                return Ok(None);
            };
            if let Some(n) = link.ci_fix_runs.iter().position(|r| r == run_id) {
                return Ok(Some(CiFix::Granted(u32::try_from(n).unwrap_or(u32::MAX) + 1)));
            }
            let used = u32::try_from(link.ci_fix_runs.len()).unwrap_or(u32::MAX);
            if used >= max {
                if !link.human_needed_run.is_empty() {
                    let tell = link.human_needed_run == run_id;
                    return Ok(Some(CiFix::Exhausted { used, tell }));
                }
                link.human_needed_run = run_id.to_owned();
                if self.put(&key, &link, Some(revision)).await? {
                    return Ok(Some(CiFix::Exhausted { used, tell: true }));
                }
                continue;
            }
            link.ci_fix_runs.push(run_id.to_owned());
            if self.put(&key, &link, Some(revision)).await? {
                return Ok(Some(CiFix::Granted(used + 1)));
            }
        }
        Err(ThreadsError::Busy)
    }
}
