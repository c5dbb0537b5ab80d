//! How an agent's `command` runs are contained: a bubblewrap sandbox (the
//! default on Linux) with resource limits, or nothing (`sandbox = "none"`,
//! loud about it).

use serde::{Deserialize, Serialize};

use crate::written::{Grammar, Written, WrittenDuration};

/// Whether runs are sandboxed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxMode {
    /// New user, PID, IPC, UTS and network namespaces; the system read-only;
    /// the run's folder and a private `/tmp` writable; nothing else.
    #[default]
    Bubblewrap,
    /// The agent runs as the executor's user with the executor's view of
    /// the host: only for hosts without user namespaces.
    None,
}

/// Resource limits of one run's processes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory of the run's processes together (`512M`, `4G`).
    #[serde(default = "default_memory")]
    pub memory: Written<Bytes>,
    /// Processes (and threads) at once.
    #[serde(default = "default_processes")]
    pub processes: u32,
    /// CPU time of each process (`10m`); none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time: Option<WrittenDuration>,
    /// Largest file a process may write (`1G`).
    #[serde(default = "default_file_size")]
    pub file_size: Written<Bytes>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: default_memory(),
            processes: default_processes(),
            cpu_time: None,
            file_size: default_file_size(),
        }
    }
}

fn default_memory() -> Written<Bytes> {
    Written::known("4G", Bytes(4 << 30))
}
fn default_processes() -> u32 {
    512
}
fn default_file_size() -> Written<Bytes> {
    Written::known("1G", Bytes(1 << 30))
}

/// Extra host paths a sandboxed run may see (tools, caches).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxPaths {
    /// Visible read-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<String>,
    /// Visible and writable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<String>,
}

/// One `egress` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRule {
    /// Lowercase host, or the suffix after `*.`.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

impl EgressRule {
    /// `api.github.com`, `*.npmjs.org`, `pypi.org:443`.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim().to_ascii_lowercase();
        let (host, port) = match entry.rsplit_once(':') {
            Some((host, port)) => (
                host.to_owned(),
                Some(port.parse::<u16>().map_err(|_| format!("egress `{entry}`: bad port"))?),
            ),
            None => (entry.clone(), None),
        };
        let (host, wildcard) = match host.strip_prefix("*.") {
            Some(suffix) => (suffix.to_owned(), true),
            None => (host, false),
        };
        let valid = !host.is_empty()
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !valid {
            return Err(format!(
                "egress `{entry}`: use a host name, `*.suffix`, and an optional :port"
            ));
        }
        Ok(Self { host, wildcard, port })
    }

    /// A rule that lets nothing through: the placeholder of an entry that
    /// could not be read, in a catalog validation refuses.
    pub(crate) fn nothing() -> Self {
        Self {
            host: String::new(),
            wildcard: false,
            port: Some(0),
        }
    }

    /// Whether it lets a run reach `host` (lowercase) on `port`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host_ok = if self.wildcard {
            host.strip_suffix(&self.host).is_some_and(|rest| rest.ends_with('.'))
        } else {
            host == self.host
        };
        let port_ok = self.port.map_or(port == 80 || port == 443, |p| p == port);
        host_ok && port_ok
    }
}

/// A size in bytes, written `512`, `64K`, `512M` or `4G` (powers of 1024).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl Grammar for Bytes {
    fn read(text: &str) -> Result<Self, String> {
        parse_size(text).map(Bytes)
    }
    fn placeholder() -> Self {
        Bytes(0)
    }
}

impl Grammar for EgressRule {
    fn read(text: &str) -> Result<Self, String> {
        EgressRule::parse(text)
    }
    fn placeholder() -> Self {
        EgressRule::nothing()
    }
}

/// `512`, `512K`, `64M`, `4G` (powers of 1024) as bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    static GRAMMAR: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(SIZE_PATTERN).ok());
    if !GRAMMAR.as_ref().is_some_and(|g| g.is_match(text)) {
        return Err(format!("`{text}` is not a size such as 512M or 4G"));
    }
    let at = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(at);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 512M or 4G"))?;
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("`{text}`: use a size such as 512M or 4G")),
    };
    n.checked_mul(scale)
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size"))
}

/// The one grammar of a size, here and in docs/openapi.json: 1 to 9 digits
/// without a leading zero and a unit of bytes (`B` or none), `K`, `M` or
/// `G` (with `B` or `iB`, any case).
pub const SIZE_PATTERN: &str = r"^[1-9][0-9]{0,8}([BbKkMmGg]|[KkMmGg][Ii]?[Bb])?$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_names_suffixes_and_ports() {
        let exact = EgressRule::parse("api.github.com").expect("rule");
        assert!(exact.allows("api.github.com", 443) && exact.allows("api.github.com", 80));
        assert!(!exact.allows("api.github.com", 22));
        assert!(!exact.allows("evil.api.github.com", 443));
        let suffix = EgressRule::parse("*.npmjs.org").expect("rule");
        assert!(suffix.allows("registry.npmjs.org", 443));
        assert!(!suffix.allows("npmjs.org", 443), "*.x is a subdomain of x");
        assert!(!suffix.allows("evilnpmjs.org", 443));
        let port = EgressRule::parse("pypi.org:8443").expect("rule");
        assert!(port.allows("pypi.org", 8443) && !port.allows("pypi.org", 443));
        assert!(EgressRule::parse("bad host").is_err());
        assert!(EgressRule::parse("x.org:http").is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("4g"), Ok(4 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("4T").is_err());
    }
}
