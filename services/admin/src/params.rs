//! Query parameters of the admin API's listings: filters, time windows and
//! paging, each checked so that a bad one is a 400 that names it.

use std::collections::HashMap;

use hookline_model::clock;
use hookline_model::ids::Id;
use hookline_model::settings;
use hookline_model::subjects::ConfigKind;

use crate::error::AdminError;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub const MAX_LIMIT: usize = 1000;
/// The window a listing reads when no `since` is given.
pub const DEFAULT_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// A request's query parameters.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `a=1&b=2` (percent-decoded).
    pub fn parse(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// A text parameter, as given (an empty value is given, and is checked
    /// like any other).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A yes/no parameter: `true` or `false` (absent is false).
    pub fn flag(&self, name: &str) -> Result<bool, AdminError> {
        match self.0.get(name).map(String::as_str) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(AdminError::Invalid(vec![format!(
                "{name}: `{other}` is neither true nor false"
            )])),
        }
    }

    /// An unsigned number.
    pub fn number(&self, name: &str) -> Result<Option<u64>, AdminError> {
        self.text(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| AdminError::Invalid(vec![format!("{name}: `{v}` is not a number")]))
            })
            .transpose()
    }

    /// `limit`, default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`].
    pub fn limit(&self) -> Result<usize, AdminError> {
        let limit = self.number("limit")?.map_or(DEFAULT_LIMIT, |n| n as usize);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(AdminError::Invalid(vec![format!("limit: between 1 and {MAX_LIMIT}")]));
        }
        Ok(limit)
    }

    /// A point in time, unix ms: RFC 3339 (`2026-11-23T08:00:00Z`) or an age
    /// (`90m`, `2h`, `7d` ago).
    pub fn time_ms(&self, name: &str) -> Result<Option<i64>, AdminError> {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
            return Ok(Some(at.timestamp_millis()));
        }
        let invalid = || {
            AdminError::Invalid(vec![format!(
                "{name}: `{text}` is neither an RFC 3339 time nor an age such as 2h or 7d (at most 100 years)"
            )])
        };
        let age = settings::parse_duration(text).map_err(|_| invalid())?;
        let age_ms = i64::try_from(age.as_millis()).map_err(|_| invalid())?;
        clock::now_ms().checked_sub(age_ms).map(Some).ok_or_else(invalid)
    }

    /// A parameter that names a source, agent or subscription: checked as
    /// an identifier before it becomes part of a subject or key.
    pub fn id(&self, name: &str) -> Result<Option<&str>, AdminError> {
        self.text(name)
            .map(|v| {
                Id::parse(v)
                    .map(|_| v)
                    .map_err(|e| AdminError::Invalid(vec![format!("{name}: {e}")]))
            })
            .transpose()
    }

    /// `since`, defaulting to [`DEFAULT_WINDOW_MS`] ago.
    pub fn since_ms(&self) -> Result<i64, AdminError> {
        Ok(self
            .time_ms("since")?
            .unwrap_or_else(|| clock::now_ms() - DEFAULT_WINDOW_MS))
    }
}

/// Every id in a path is checked before it reaches a subject or a key: a
/// catalog id must be an identifier (400), a run or event id a key-safe
/// token (else there is no such record: 404).
pub fn check_ids(segments: &[&str]) -> Result<(), AdminError> {
    match segments {
        ["v1", kind, id, ..] if ConfigKind::from_plural(kind).is_some() => Id::parse(id)
            .map(|_| ())
            .map_err(|e| AdminError::Invalid(vec![e.to_string()])),
        ["v1", what @ ("runs" | "events"), id, ..] => {
            let key_safe = !id.is_empty()
                && id.len() <= 128
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if key_safe {
                Ok(())
            } else {
                Err(AdminError::NotFound(format!("no {} `{id}`", &what[..what.len() - 1])))
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_instants_or_ages_and_bad_ones_are_named() {
        let p = Params::parse(Some(
            "since=2026-11-23T08:00:00Z&until=2h&bad=soon&limit=0&n=x%20y&huge=99999999999999999999d&long=123456789012345678901234567890",
        ));
        assert!(
            p.time_ms("huge").is_err(),
            "an age past any window is a 400, not a panic"
        );
        assert!(p.time_ms("long").is_err(), "a 30-digit number is a 400, not a panic");
        assert_eq!(p.time_ms("since").expect("rfc 3339"), Some(1_795_420_800_000));
        let two_hours_ago = clock::now_ms() - 7_200_000;
        assert!(
            p.time_ms("until")
                .expect("age")
                .is_some_and(|t| (t - two_hours_ago).abs() < 1000)
        );
        let Err(AdminError::Invalid(problems)) = p.time_ms("bad") else {
            panic!("`soon` accepted");
        };
        assert!(problems[0].starts_with("bad:"));
        assert!(p.limit().is_err(), "limit 0");
        assert_eq!(Params::parse(None).limit().expect("default"), DEFAULT_LIMIT);
        assert_eq!(p.text("n"), Some("x y"), "percent-decoded");
        assert!(p.number("n").is_err());
    }
}
