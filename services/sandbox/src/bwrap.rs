//! The bubblewrap sandbox of a `command` run: new user, PID, IPC, UTS and
//! network namespaces (only loopback exists inside); `/usr` and the
//! library folders read-only, and of `/etc` only what programs need (its
//! `resolv.conf` the run's own, see [`crate::dns`]); `/proc` of the run's own processes; a private
//! `/tmp`; the run's folder (workspace, prompt, events file, home)
//! writable at its own path, its workspace and home also at [`WORKSPACE`]
//! and [`HOME`]; the agent's program folder and the agent's
//! `sandbox_paths` as configured; nothing else of the host: not the
//! executor's home, not other runs, not NATS credentials. It dies with the
//! executor (`--die-with-parent`) and cannot reach the terminal
//! (`--new-session`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use hookline_model::catalog::SandboxPaths;

/// Where a run's workspace is also seen inside every sandbox, so that an
/// agent's own session files (which name their working directory) stay
/// valid when a later run resumes them.
pub const WORKSPACE: &str = "/workspace";
/// Where a run's home is also seen inside every sandbox (`HOME`).
pub const HOME: &str = "/home/agent";

/// What the executor found at start about bubblewrap on its host.
#[derive(Debug, Clone)]
pub struct Host {
    /// The binary (`HOOKLINE_BWRAP`, default `bwrap` on `PATH`).
    pub bwrap: String,
    /// Why it cannot sandbox runs here, if it cannot.
    pub problem: Option<String>,
    /// Which addresses a run's egress proxy may reach although private
    /// (`HOOKLINE_EGRESS_ALLOW`).
    pub egress_guard: std::sync::Arc<hookline_model::ssrf::Guard>,
}

impl Host {
    /// Probes `bwrap` once.
    pub fn probe(bwrap: &str, egress_guard: hookline_model::ssrf::Guard) -> Self {
        Self {
            bwrap: bwrap.to_owned(),
            problem: probe(bwrap).err(),
            egress_guard: std::sync::Arc::new(egress_guard),
        }
    }
}

/// System folders mounted read-only when they exist.
const SYSTEM: [&str; 7] = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// What of `/etc` a run sees: what programs need to run, resolve names,
/// check certificates and find their tools, and nothing else. The sandbox's
/// user is the executor's own user, so for a root executor every root-owned
/// file it can see is its own: `/etc/shadow`, `/etc/ssl/private` and
/// whatever an operator keeps in `/etc` stay out.
const ETC: [&str; 23] = [
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/debian_version",
    "/etc/gai.conf",
    "/etc/gitconfig",
    "/etc/group",
    "/etc/host.conf",
    "/etc/hosts",
    "/etc/inputrc",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/locale.alias",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/nsswitch.conf",
    "/etc/os-release",
    "/etc/passwd",
    "/etc/protocols",
    "/etc/services",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
];

/// Host paths one run sees besides the system.
pub struct View<'a> {
    /// The run's folder, writable.
    pub run_dir: &'a Path,
    /// Where the process starts.
    pub cwd: &'a Path,
    /// The folders that hold the agent's program and what it needs
    /// ([`crate::program`]), visible read-only.
    pub program_folders: &'a [PathBuf],
    /// The agent's extra paths.
    pub extra: &'a SandboxPaths,
}

fn mount(args: &mut Vec<String>, flag: &str, path: &str) {
    args.extend([flag.to_owned(), path.to_owned(), path.to_owned()]);
}

/// The bubblewrap arguments that run `argv` in a sandbox seeing `view`.
pub fn wrap(argv: &[String], view: &View<'_>) -> Vec<String> {
    let mut args: Vec<String> = [
        "--die-with-parent",
        "--new-session",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--unshare-cgroup-try",
        "--hostname",
        "hookline-sandbox",
        "--uid",
        "1000",
        "--gid",
        "1000",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for dir in SYSTEM {
        let path = Path::new(dir);
        match std::fs::read_link(path) {
            // Merged /usr: /bin -> usr/bin.
            Ok(target) => args.extend(["--symlink".to_owned(), target.display().to_string(), dir.to_owned()]),
            Err(_) if path.is_dir() => mount(&mut args, "--ro-bind", dir),
            Err(_) => {}
        }
    }
    for path in ETC {
        mount(&mut args, "--ro-bind-try", path);
    }
    // Interpreters' own settings (/etc/python3.11, /etc/perl, …).
    if let Ok(entries) = std::fs::read_dir("/etc") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if ["python", "perl", "ruby", "node"].iter().any(|p| name.starts_with(p)) {
                mount(&mut args, "--ro-bind-try", &format!("/etc/{name}"));
            }
        }
    }
    args.extend(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"].map(str::to_owned));
    for folder in view.program_folders {
        mount(&mut args, "--ro-bind", &folder.display().to_string());
    }
    for path in &view.extra.read {
        mount(&mut args, "--ro-bind-try", path);
    }
    for path in &view.extra.write {
        mount(&mut args, "--bind-try", path);
    }
    mount(&mut args, "--bind", &view.run_dir.display().to_string());
    for (inside, folder) in [(WORKSPACE, "workspace"), (HOME, "home")] {
        args.extend([
            "--bind-try".to_owned(),
            view.run_dir.join(folder).display().to_string(),
            inside.to_owned(),
        ]);
    }
    // Lookups fail at once inside ([`crate::dns`]), not after a timeout
    // against the host's name server, which the run cannot reach.
    args.extend([
        "--ro-bind".to_owned(),
        view.run_dir.join(crate::dns::RESOLV_CONF_FILE).display().to_string(),
        "/etc/resolv.conf".to_owned(),
    ]);
    args.extend(["--chdir".to_owned(), view.cwd.display().to_string(), "--".to_owned()]);
    args.extend(argv.iter().cloned());
    args
}

/// Whether every sandbox shows `path` already (the system folders).
pub fn is_system(path: &Path) -> bool {
    SYSTEM.iter().any(|dir| path.starts_with(dir))
}

/// Whether bubblewrap is here and may create namespaces: `Err` says what
/// to install or allow.
fn probe(bwrap: &str) -> Result<(), String> {
    let output = std::process::Command::new(bwrap)
        .args([
            "--ro-bind",
            "/",
            "/",
            "--unshare-user",
            "--unshare-pid",
            "--unshare-net",
            "--die-with-parent",
            "true",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match output {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "bubblewrap cannot create namespaces here ({}): allow unprivileged user namespaces \
             (sysctl kernel.unprivileged_userns_clone=1 or user.max_user_namespaces > 0; in a container, \
             see compose.yaml), or set sandbox = \"none\" on the agent",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!(
            "bubblewrap (`{bwrap}`) is not installed ({e}): install the `bubblewrap` package, \
             or set sandbox = \"none\" on the agent"
        )),
    }
}
