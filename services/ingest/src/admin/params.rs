//! Query parameters of the admin API's listings: filters, time windows and
//! paging, each checked so that a bad one is a 400 that names it.

use std::collections::HashMap;

use hookline_core::{clock, settings};

use super::AdminError;

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

    /// A text parameter.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A yes/no parameter (`true`, `1`, or present and empty).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.0.get(name).map(String::as_str), Some("" | "true" | "1" | "yes"))
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
        let age = text
            .strip_suffix('d')
            .and_then(|days| days.parse::<u64>().ok())
            .map(|days| std::time::Duration::from_secs(days * 86_400))
            .or_else(|| settings::parse_duration(text).ok())
            .ok_or_else(|| {
                AdminError::Invalid(vec![format!(
                    "{name}: `{text}` is neither an RFC 3339 time nor an age such as 2h"
                )])
            })?;
        Ok(Some(
            clock::now_ms() - i64::try_from(age.as_millis()).unwrap_or(i64::MAX / 2),
        ))
    }

    /// `since`, defaulting to [`DEFAULT_WINDOW_MS`] ago.
    pub fn since_ms(&self) -> Result<i64, AdminError> {
        Ok(self
            .time_ms("since")?
            .unwrap_or_else(|| clock::now_ms() - DEFAULT_WINDOW_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_instants_or_ages_and_bad_ones_are_named() {
        let p = Params::parse(Some("since=2026-11-23T08:00:00Z&until=2h&bad=soon&limit=0&n=x%20y"));
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
