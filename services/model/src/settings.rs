//! Service settings from flags and `HOOKLINE_*` environment variables, read
//! through a lookup function so tests pass a map and never touch the process
//! environment. Every bad value is reported, once, together.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

pub use crate::parse::{DURATION_PATTERN, parse_duration, parse_ip_ranges};

/// Every bad setting, reported together.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings:\n  - {}", .0.join("\n  - "))]
pub struct SettingsError(pub Vec<String>);

/// Reads typed values by key and remembers every problem.
pub struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A reader over `lookup` (keys such as `HOOKLINE_NATS_URL`).
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            errors: Vec::new(),
        }
    }

    /// A text value, or `default`.
    pub fn string(&mut self, key: &str, default: &str) -> String {
        (self.lookup)(key).unwrap_or_else(|| default.to_owned())
    }

    /// A text value, if set and not empty.
    pub fn optional(&mut self, key: &str) -> Option<String> {
        (self.lookup)(key).filter(|v| !v.trim().is_empty())
    }

    /// A value parsed with `FromStr`, or `default`.
    pub fn parse<T: FromStr>(&mut self, key: &str, default: T) -> T
    where
        T::Err: std::fmt::Display,
    {
        match (self.lookup)(key) {
            None => default,
            Some(raw) => match raw.trim().parse() {
                Ok(value) => value,
                Err(e) => {
                    self.errors.push(format!("{key}={raw:?}: {e}"));
                    default
                }
            },
        }
    }

    /// A duration such as `250ms`, `30s`, `5m`, `2h`, `7d`, or `default`.
    pub fn duration(&mut self, key: &str, default: Duration) -> Duration {
        match (self.lookup)(key) {
            None => default,
            Some(raw) => match parse_duration(raw.trim()) {
                Ok(value) => value,
                Err(e) => {
                    self.errors.push(format!("{key}={raw:?}: {e}"));
                    default
                }
            },
        }
    }

    /// Records a problem found by the caller's own checks.
    pub fn problem(&mut self, message: String) {
        self.errors.push(message);
    }

    /// Ok when nothing was wrong.
    pub fn finish(self) -> Result<(), SettingsError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(SettingsError(self.errors))
        }
    }
}

/// The process environment's `HOOKLINE_*` variables, overridden by flags
/// `--some-key value` or `--some-key=value` (read as `HOOKLINE_SOME_KEY`).
pub fn env_and_flags(args: impl IntoIterator<Item = String>) -> Result<HashMap<String, String>, String> {
    let mut map: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("HOOKLINE_")).collect();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument `{arg}`; settings are --key value"));
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => {
                let v = args.next().ok_or_else(|| format!("--{flag} needs a value"))?;
                (flag.to_owned(), v)
            }
        };
        map.insert(
            format!("HOOKLINE_{}", name.to_ascii_uppercase().replace('-', "_")),
            value,
        );
    }
    Ok(map)
}

/// The settings a service binary was started with: `HOOKLINE_*` variables
/// overridden by `--flags`. `--help` prints what the binary is and how
/// settings are given, `--version` its version, and both exit 0; a command
/// line that cannot be read is reported and exits 2 (usage).
pub fn service_settings(binary: &str, about: &str) -> HashMap<String, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "{binary} {}: {about}\n\nUsage: {binary} [--setting value]...\n\n\
             Every setting is a HOOKLINE_* environment variable or the flag of the same\n\
             name: --nats-url X is HOOKLINE_NATS_URL=X. docs/configuration.md lists them.\n\n\
             Options:\n  -h, --help     print this help\n  -V, --version  print the version",
            env!("CARGO_PKG_VERSION")
        );
        std::process::exit(0);
    }
    if args.iter().any(|a| a == "--version" || a == "-V") {
        println!("{binary} {}", env!("CARGO_PKG_VERSION"));
        std::process::exit(0);
    }
    match env_and_flags(args) {
        Ok(vars) => vars,
        Err(e) => {
            eprintln!("{binary}: {e}\nTry `{binary} --help`.");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        let rows = [
            ("250ms", Some(Duration::from_millis(250)), "milliseconds"),
            ("30s", Some(Duration::from_secs(30)), "seconds"),
            ("30", Some(Duration::from_secs(30)), "bare number is seconds"),
            ("5m", Some(Duration::from_secs(300)), "minutes"),
            ("2h", Some(Duration::from_secs(7200)), "hours"),
            ("7d", Some(Duration::from_secs(7 * 86_400)), "days"),
            ("1.5s", Some(Duration::from_millis(1500)), "fraction"),
            ("5 weeks", None, "unknown unit"),
            ("abc", None, "no number"),
            ("", None, "empty"),
            ("99999999999999999999d", None, "beyond any window, and no overflow"),
            ("1e400s", None, "not a plain number"),
            ("36600d", Some(Duration::from_secs(36_600 * 86_400)), "a century"),
            ("36600.5d", None, "past a century"),
            (
                " 5s",
                None,
                "no spaces: the API's grammar, as docs/openapi.json states it",
            ),
            (".5s", None, "a digit before the point"),
        ];
        for (text, expected, why) in rows {
            assert_eq!(parse_duration(text).ok(), expected, "{why}: {text:?}");
        }
    }

    #[test]
    fn flags_override_and_are_named_like_variables() {
        let map = env_and_flags(["--nats-url".into(), "nats://x:1".into(), "--prefix=hl".into()]).expect("valid flags");
        assert_eq!(map.get("HOOKLINE_NATS_URL").map(String::as_str), Some("nats://x:1"));
        assert_eq!(map.get("HOOKLINE_PREFIX").map(String::as_str), Some("hl"));
        assert!(env_and_flags(["stray".into()]).is_err());
        assert!(env_and_flags(["--dangling".into()]).is_err());
    }
}
