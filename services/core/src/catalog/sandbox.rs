//! How an agent's `command` runs are contained: a bubblewrap sandbox (the
//! default on Linux) with resource limits, or nothing (`sandbox = "none"`,
//! loud about it).

use serde::{Deserialize, Serialize};

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
    pub memory: String,
    /// Processes (and threads) at once.
    #[serde(default = "default_processes")]
    pub processes: u32,
    /// CPU time of each process (`10m`); none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time: Option<String>,
    /// Largest file a process may write (`1G`).
    #[serde(default = "default_file_size")]
    pub file_size: String,
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

fn default_memory() -> String {
    "4G".to_owned()
}
fn default_processes() -> u32 {
    512
}
fn default_file_size() -> String {
    "1G".to_owned()
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

/// `512`, `512K`, `64M`, `4G` (powers of 1024) as bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

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
