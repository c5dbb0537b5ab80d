//! Run artifacts (prompt, transcript, diff, commits, model calls, egress,
//! the agent's session state, declared files) in the `hookline_artifacts`
//! object store, one object per artifact named `<run id>/<name>`
//! ([`Subjects::artifact_key`]). Kept as long as run logs
//! (`HOOKLINE_RETENTION`): the store's stream ages them out with the log.
//! What is stored is already redacted; the run record lists it
//! ([`ArtifactRef`]), so reading a run's artifacts never lists the store.

use async_nats::jetstream::object_store::{self, ObjectStore};
use hookline_model::runs::ArtifactRef;
use hookline_model::subjects::Subjects;
use tokio::io::AsyncReadExt;

use crate::nats::Nats;

/// Why an artifact could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The store refused the write.
    #[error("artifact {name} not stored: {source}")]
    Put {
        /// The artifact.
        name: String,
        /// Why.
        source: object_store::PutError,
    },
    /// The store could not be read.
    #[error("artifact {name} not read: {reason}")]
    Get {
        /// The artifact.
        name: String,
        /// Why.
        reason: String,
    },
}

/// The artifacts store of one installation.
#[derive(Clone)]
pub struct Artifacts {
    store: ObjectStore,
    subjects: Subjects,
}

impl Artifacts {
    /// The store opened with `nats`'s buckets.
    pub fn new(nats: &Nats) -> Self {
        Self {
            store: nats.buckets.artifacts.clone(),
            subjects: nats.subjects.clone(),
        }
    }

    /// Stores `bytes` as `run_id`'s artifact `name` (replacing one of that
    /// name), answering what the record lists.
    pub async fn put(
        &self,
        run_id: &str,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<ArtifactRef, ArtifactError> {
        let key = self.subjects.artifact_key(run_id, name);
        let mut reader = bytes;
        let info = self
            .store
            .put(key.as_str(), &mut reader)
            .await
            .map_err(|source| ArtifactError::Put {
                name: name.to_owned(),
                source,
            })?;
        Ok(ArtifactRef {
            name: name.to_owned(),
            size: info.size as u64,
            digest: info.digest.unwrap_or_default(),
            content_type: content_type.to_owned(),
        })
    }

    /// `run_id`'s artifact `name`, or `None` when it is not (or no longer)
    /// stored.
    pub async fn get(&self, run_id: &str, name: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        let key = self.subjects.artifact_key(run_id, name);
        let failed = |reason: String| ArtifactError::Get {
            name: name.to_owned(),
            reason,
        };
        let mut object = match self.store.get(&key).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failed(e.to_string())),
        };
        let mut bytes = Vec::with_capacity(object.info().size);
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(Some(bytes))
    }
}

/// Whether `name` is a usable artifact name: one path segment of letters,
/// digits, `.`, `_` and `-`, not starting with a dot (so a name can never
/// step out of its run's prefix, and is one segment of an API path).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names_stay_inside_their_run() {
        for good in ["transcript.jsonl", "diff", "report.md", "a_b-c.txt"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "../x", "files/report.md", ".hidden", "a b", "x/", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
