//! Secrets as configured (`env:NAME`, `file:PATH` or a literal) and as
//! resolved. Neither type ever prints a value.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a secret reference could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `env:NAME` with NAME unset.
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// `file:PATH` unreadable.
    #[error("cannot read secret file {0}: {1}")]
    File(String, std::io::Error),
    /// An empty secret.
    #[error("secret is empty")]
    Empty,
}

/// A secret as configured: `env:NAME`, `file:PATH` or a literal. Stored as
/// given; resolved by the service that uses it. Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(String);

impl SecretRef {
    /// A reference from configuration text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// Reads the secret's value now.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let value = if let Some(name) = self.0.strip_prefix("env:") {
            std::env::var(name).map_err(|_| SecretError::MissingEnv(name.to_owned()))?
        } else if let Some(path) = self.0.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map_err(|e| SecretError::File(path.to_owned(), e))?
                .trim_end_matches(['\n', '\r'])
                .to_owned()
        } else {
            self.0.clone()
        };
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret(value))
    }

    /// The last four characters of a literal, for showing which one it is.
    pub fn hint(&self) -> String {
        if self.0.starts_with("env:") || self.0.starts_with("file:") {
            return self.0.clone();
        }
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({})", self.hint())
    }
}

/// A resolved secret value. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for signing and verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let secret = SecretRef::new("supersecretvalue1234");
        assert!(!format!("{secret:?}").contains("supersecret"));
        let resolved = secret.resolve().expect("literal");
        assert_eq!(format!("{resolved:?}"), "Secret(***)");
        assert_eq!(secret.hint(), "…1234");
    }
}
