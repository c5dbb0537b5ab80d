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
    /// `env:NAME` where NAME cannot be an environment variable.
    #[error("`{0}` is not an environment variable name (letters, digits and _, not starting with a digit)")]
    BadEnvName(String),
    /// `file:` with no path.
    #[error("file: needs a path")]
    NoPath,
}

/// A secret as configured: `env:NAME`, `file:PATH` or a literal, written
/// as a string, or as `{ secret = "…", until = "<RFC 3339>" }` for one that
/// stops being used at a time (the old secret during a rotation). Stored as
/// given; resolved by the service that uses it. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRef(String, Option<i64>);

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum SecretText {
    Plain(String),
    Timed { secret: String, until: String },
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.1 {
            None => SecretText::Plain(self.0.clone()).serialize(s),
            Some(until) => SecretText::Timed {
                secret: self.0.clone(),
                until: crate::clock::rfc3339_ms(until),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match SecretText::deserialize(d)? {
            SecretText::Plain(text) => Ok(Self(text, None)),
            SecretText::Timed { secret, until } => {
                let until = chrono::DateTime::parse_from_rfc3339(&until)
                    .map_err(|e| serde::de::Error::custom(format!("secret `until` {until:?}: {e}")))?;
                Ok(Self(secret, Some(until.timestamp_millis())))
            }
        }
    }
}

impl SecretRef {
    /// A reference from configuration text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into(), None)
    }

    /// The same secret, used only until `until_ms` (unix milliseconds).
    pub fn until(self, until_ms: i64) -> Self {
        Self(self.0, Some(until_ms))
    }

    /// Whether the secret is still to be used at `now_ms`.
    pub fn active_at(&self, now_ms: i64) -> bool {
        self.1.is_none_or(|until| now_ms < until)
    }

    /// When it stops being used, if it does.
    pub fn until_ms(&self) -> Option<i64> {
        self.1
    }

    /// Checks the reference's form without reading it: an `env:` name that
    /// can be a variable, a `file:` path, a non-empty literal. Writers of
    /// the catalog (`apply`, the admin API) check only this; the service
    /// that uses a secret resolves it, and reports one it cannot read.
    pub fn check_form(&self) -> Result<(), SecretError> {
        if let Some(name) = self.0.strip_prefix("env:") {
            let valid = name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return if valid {
                Ok(())
            } else {
                Err(SecretError::BadEnvName(name.to_owned()))
            };
        }
        if let Some(path) = self.0.strip_prefix("file:") {
            return if path.trim().is_empty() {
                Err(SecretError::NoPath)
            } else {
                Ok(())
            };
        }
        if self.0.is_empty() {
            Err(SecretError::Empty)
        } else {
            Ok(())
        }
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
    fn a_secret_can_expire_for_rotations() {
        #[derive(Deserialize, Serialize)]
        struct Holder {
            secrets: Vec<SecretRef>,
        }
        let text = r#"secrets = ["whsec_new", { secret = "whsec_old", until = "2026-11-24T12:00:00Z" }]"#;
        let holder: Holder = toml::from_str(text).expect("parses");
        let until = holder.secrets[1].until_ms().expect("timed");
        assert!(holder.secrets[0].active_at(i64::MAX));
        assert!(holder.secrets[1].active_at(until - 1));
        assert!(!holder.secrets[1].active_at(until));
        let json = serde_json::to_string(&holder).expect("json");
        assert_eq!(
            json,
            r#"{"secrets":["whsec_new",{"secret":"whsec_old","until":"2026-11-24T12:00:00.000Z"}]}"#
        );
        let back: Holder = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back.secrets, holder.secrets);
        assert!(toml::from_str::<Holder>(r#"secrets = [{ secret = "x", until = "soon" }]"#).is_err());
    }

    #[test]
    fn secrets_never_print_their_value() {
        let secret = SecretRef::new("supersecretvalue1234");
        assert!(!format!("{secret:?}").contains("supersecret"));
        let resolved = secret.resolve().expect("literal");
        assert_eq!(format!("{resolved:?}"), "Secret(***)");
        assert_eq!(secret.hint(), "…1234");
    }
}
