//! Validated identifiers. Code past the edge holds these types and never
//! checks again.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// What was wrong with a name given as an identifier or event type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// Not `[a-z0-9][a-z0-9_-]{0,63}`.
    #[error("`{0}` is not a valid identifier: use 1-64 of a-z, 0-9, '_' and '-', starting with a letter or digit")]
    Identifier(String),
    /// Not a dotted name such as `code.generated`.
    #[error("`{0}` is not a valid event type: use dotted lowercase words such as `code.generated`")]
    EventType(String),
    /// Not an event type with `*` or a final `>` wildcard.
    #[error("`{0}` is not a valid event filter: use `code.generated`, `code.*` or `deployment.>`")]
    EventPattern(String),
}

/// A source, agent, profile or subscription id: a subject-safe token.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    /// Checks `text` against `[a-z0-9][a-z0-9_-]{0,63}`.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let bytes = text.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 64
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError::Identifier(text.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Id::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn is_word(word: &str) -> bool {
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An event type: two or more dotted words, at most 128 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EventType(String);

impl EventType {
    /// Checks `text` is a dotted name such as `deployment.failed`.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let words: Vec<&str> = text.split('.').collect();
        if text.len() <= 128 && words.len() >= 2 && words.iter().all(|w| is_word(w)) {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError::EventType(text.to_owned()))
        }
    }

    /// The type as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event-type filter with NATS wildcard meaning: `*` is one word, a final
/// `>` is one or more words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EventPattern(String);

impl EventPattern {
    /// Checks `text` is an exact type or a pattern with `*` / final `>`.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let words: Vec<&str> = text.split('.').collect();
        let last = words.len().saturating_sub(1);
        let valid = text.len() <= 128
            && words
                .iter()
                .enumerate()
                .all(|(i, w)| *w == "*" || (*w == ">" && i == last) || is_word(w));
        if valid && !text.is_empty() {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError::EventPattern(text.to_owned()))
        }
    }

    /// A filter no event type matches: the placeholder of a pattern that
    /// could not be read, in a catalog validation refuses.
    pub(crate) fn nothing() -> Self {
        Self(String::new())
    }

    /// Whether an event of type `event_type` matches this filter.
    pub fn matches(&self, event_type: &str) -> bool {
        let mut pattern = self.0.split('.');
        let mut words = event_type.split('.');
        loop {
            match (pattern.next(), words.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(p), Some(w)) if p == w => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl crate::written::Grammar for EventPattern {
    fn read(text: &str) -> Result<Self, String> {
        EventPattern::parse(text).map_err(|e| e.to_string())
    }
    fn placeholder() -> Self {
        EventPattern::nothing()
    }
}

impl<'de> Deserialize<'de> for EventPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        EventPattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A UUIDv7-shaped id made from `at_ms` and a digest of `parts`: the same
/// parts always give the same id, and ids still sort by time.
pub fn derived_id(at_ms: i64, parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0u8]); // a separator no part contains
    }
    let bytes = digest.finalize();
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&bytes[..10]);
    let millis = u64::try_from(at_ms).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &tail)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_subject_safe_tokens() {
        let rows = [
            ("github", true, "plain word"),
            ("gh-prod_2", true, "dash, underscore and digits"),
            ("0day", true, "may start with a digit"),
            ("", false, "empty"),
            ("-x", false, "must start with a letter or digit"),
            ("GitHub", false, "uppercase"),
            ("a.b", false, "dot would split the subject"),
            ("a*", false, "wildcard"),
            ("a b", false, "space"),
            (&"a".repeat(65), false, "too long"),
        ];
        for (text, ok, why) in rows {
            assert_eq!(Id::parse(text).is_ok(), ok, "{why}: {text:?}");
        }
    }

    #[test]
    fn event_types_are_dotted_words() {
        let rows = [
            ("code.generated", true, "two words"),
            ("security.vulnerability_detected", true, "underscore"),
            ("a.b.c", true, "three words"),
            ("code", false, "one word"),
            ("code.", false, "empty word"),
            ("code.*", false, "wildcards are for filters"),
            ("Code.generated", false, "uppercase"),
        ];
        for (text, ok, why) in rows {
            assert_eq!(EventType::parse(text).is_ok(), ok, "{why}: {text:?}");
        }
    }

    #[test]
    fn event_patterns_follow_nats_wildcards() {
        let rows = [
            ("code.*", "code.generated", true, "star matches one word"),
            ("code.*", "code.generated.extra", false, "star is exactly one word"),
            ("deployment.>", "deployment.failed", true, "tail matches one word"),
            ("deployment.>", "deployment.a.b", true, "tail matches several"),
            ("deployment.>", "deployment", false, "tail needs at least one word"),
            ("run.completed", "run.completed", true, "exact"),
            ("run.completed", "run.failed", false, "exact mismatch"),
            (">", "anything.at.all", true, "everything"),
            ("*.failed", "run.failed", true, "leading star"),
        ];
        for (pattern, event, expected, why) in rows {
            let pattern = EventPattern::parse(pattern).expect("valid pattern");
            assert_eq!(pattern.matches(event), expected, "{why}");
        }
        assert!(EventPattern::parse("a.>.b").is_err(), "tail must be last");
        assert!(EventPattern::parse("").is_err(), "empty");
    }
}
