//! A catalog value as written (`"10m"`, `"512M"`, a cron line, an egress
//! entry, an event pattern), parsed once when the catalog is read. It
//! serialises back to the text it was read from, so the API answers what
//! was written, and no use site parses it again or falls back to a default.
//!
//! Read strictly (a bucket entry, anything else), a bad value fails the
//! read. Read [`leniently`] (a file or an API write, where every problem
//! is reported at once), it is kept with its problem beside a placeholder,
//! and validation lists the problem under its field's name; a catalog with
//! a problem is refused, so a placeholder never reaches a use site.

use std::cell::Cell;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A type read from one catalog string.
pub trait Grammar: Sized {
    /// The value `text` stands for, or why it stands for none.
    fn read(text: &str) -> Result<Self, String>;
    /// What stands in for a value that could not be read, in a catalog
    /// that validation then refuses.
    fn placeholder() -> Self;
}

/// `text`, with the value it was read as.
#[derive(Clone, Debug)]
pub struct Written<T> {
    text: String,
    value: T,
    problem: Option<String>,
}

thread_local! {
    static LENIENT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `read` (a synchronous deserialisation) with bad written values kept
/// as problems instead of failing it, so validation can list them all.
pub fn leniently<R>(read: impl FnOnce() -> R) -> R {
    let before = LENIENT.with(|l| l.replace(true));
    let result = read();
    LENIENT.with(|l| l.set(before));
    result
}

impl<T: Grammar> Written<T> {
    /// Reads `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(Self {
            value: T::read(text)?,
            text: text.to_owned(),
            problem: None,
        })
    }
}

impl<T> Written<T> {
    /// The value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The text it was written as.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Why the text stands for no value, when it was read leniently.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// A value with the text that stands for it, for defaults written in
    /// code (a test checks each one reads back the same).
    pub(crate) fn known(text: &str, value: T) -> Self {
        Self {
            text: text.to_owned(),
            value,
            problem: None,
        }
    }
}

impl<T> PartialEq for Written<T> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<T> Eq for Written<T> {}

impl<T> std::fmt::Display for Written<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl<T> Serialize for Written<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de, T: Grammar> Deserialize<'de> for Written<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match T::read(&text) {
            Ok(value) => Ok(Self {
                text,
                value,
                problem: None,
            }),
            Err(problem) if LENIENT.with(Cell::get) => Ok(Self {
                text,
                value: T::placeholder(),
                problem: Some(problem),
            }),
            Err(problem) => Err(serde::de::Error::custom(problem)),
        }
    }
}

impl Grammar for Duration {
    fn read(text: &str) -> Result<Self, String> {
        crate::parse::parse_duration(text)
    }
    fn placeholder() -> Self {
        Duration::ZERO
    }
}

/// A duration as written.
pub type WrittenDuration = Written<Duration>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_value_keeps_its_text_and_refuses_bad_text() {
        let timeout: WrittenDuration = serde_json::from_str("\"10m\"").expect("a duration");
        assert_eq!(*timeout.get(), Duration::from_secs(600));
        assert_eq!(serde_json::to_string(&timeout).expect("text"), "\"10m\"");
        let bad = serde_json::from_str::<WrittenDuration>("\"5 weeks\"").expect_err("no such unit");
        assert!(bad.to_string().contains("5 weeks"), "{bad}");
    }

    #[test]
    fn read_leniently_a_bad_value_is_a_problem_beside_a_placeholder() {
        let read = leniently(|| serde_json::from_str::<Written<cron::Schedule>>("\"* * *\""));
        let schedule = read.expect("kept");
        assert!(schedule.problem().is_some_and(|p| p.contains("* * *")));
        assert!(
            serde_json::from_str::<Written<cron::Schedule>>("\"* * *\"").is_err(),
            "strict again after"
        );
        assert_eq!(<Duration as Grammar>::placeholder(), Duration::ZERO);
    }
}
