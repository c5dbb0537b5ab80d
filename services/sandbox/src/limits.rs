//! Resource limits of a run: a control group per run where the host lets
//! the executor make one (memory and processes, counted for the run as a
//! whole, and telling afterwards which limit was hit), and rlimits on every
//! process (CPU time, file size, and memory and processes again where no
//! control group could be made).

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Which limit a run hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// Memory (the control group's OOM killer ran).
    Memory,
    /// Processes (a fork was refused at the control group's limit).
    Processes,
    /// CPU time (SIGXCPU).
    CpuTime,
    /// File size (SIGXFSZ).
    FileSize,
}

impl Hit {
    /// As the run log and `run.completed` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Hit::Memory => "memory",
            Hit::Processes => "processes",
            Hit::CpuTime => "cpu_time",
            Hit::FileSize => "file_size",
        }
    }

    /// The limit a signal that ended a process stands for.
    pub fn from_signal(signal: i32) -> Option<Self> {
        match signal {
            libc::SIGXCPU => Some(Hit::CpuTime),
            libc::SIGXFSZ => Some(Hit::FileSize),
            _ => None,
        }
    }
}

/// What a run's processes may use.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Bytes of memory.
    pub memory: u64,
    /// Processes at once.
    pub processes: u64,
    /// CPU seconds per process.
    pub cpu_seconds: Option<u64>,
    /// Bytes per file.
    pub file_size: u64,
}

/// One controller's directory for one run.
struct Controller {
    dir: PathBuf,
    /// The file whose counters say the limit was hit, and the counter.
    events: (PathBuf, &'static str),
    hit: Hit,
}

/// A run's control groups (cgroup v2, or v1 `memory` and `pids`), removed
/// when dropped.
pub struct RunGroup {
    controllers: Vec<Controller>,
    /// `cgroup.procs` of each, for the child to join before it execs.
    procs: Vec<CString>,
}

/// The cgroup path of this process for `controller` (`""` for v2).
fn own_path(controller: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        names
            .split(',')
            .any(|n| n == controller)
            .then(|| path.trim_start_matches('/').to_owned())
    })
}

/// Says once, when the first run's groups are made, that moving agents
/// into them can wait for an RCU grace period: the kernel takes its
/// thread-group lock for writing on every move, which costs a grace period
/// (often 10 to 20 ms) unless a hierarchy is mounted with `favordynmods` or
/// the kernel was booted with `cgroup_favordynmods=1`, which keep that lock
/// ready for writers at a small cost to every fork and exit. Measured in
/// docs/BENCHMARKS.md; a host setting, so only said, never changed.
fn say_once_if_moves_may_wait() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let read = |path| std::fs::read_to_string(path).unwrap_or_default();
        if !favors_dynmods(&read("/proc/self/mounts"), &read("/proc/cmdline")) {
            tracing::info!(
                "Control groups without favordynmods: moving each agent into its run's group can wait 10 to 20 ms \
                 for the kernel (docs/configuration.md, \"Host tuning\")."
            );
        }
    });
}

/// Whether a cgroup mount (`/proc/self/mounts`) or the kernel command line
/// asks the kernel to favour dynamic cgroup changes.
fn favors_dynmods(mounts: &str, cmdline: &str) -> bool {
    let mounted = mounts.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        matches!(fields.get(2), Some(&("cgroup" | "cgroup2")))
            && fields
                .get(3)
                .is_some_and(|options| options.split(',').any(|o| o == "favordynmods"))
    });
    // The kernel reads the value with kstrtobool: 1, y, t or on mean yes.
    let booted = cmdline.split_whitespace().any(|arg| {
        arg.strip_prefix("cgroup_favordynmods=").is_some_and(|value| {
            let value = value.to_ascii_lowercase();
            value.starts_with(['1', 'y', 't']) || value == "on"
        })
    });
    mounted || booted
}

fn make(dir: &Path, limit_file: &str, limit: u64) -> Option<()> {
    std::fs::create_dir_all(dir).ok()?;
    if std::fs::write(dir.join(limit_file), limit.to_string()).is_err() {
        let _ = std::fs::remove_dir(dir);
        return None;
    }
    Some(())
}

impl RunGroup {
    /// Makes the run's groups under this process's own, if the host lets
    /// it; `None` means rlimits alone hold the run.
    pub fn create(name: &str, budget: &Budget) -> Option<Self> {
        let root = Path::new("/sys/fs/cgroup");
        let mut controllers = Vec::new();
        let v2_enabled = std::fs::read_to_string(
            root.join(own_path("").unwrap_or_default())
                .join("cgroup.subtree_control"),
        )
        .unwrap_or_default();
        for (controller, v1_limit, hit) in [
            ("memory", "memory.limit_in_bytes", Hit::Memory),
            ("pids", "pids.max", Hit::Processes),
        ] {
            let limit = if hit == Hit::Memory {
                budget.memory
            } else {
                budget.processes
            };
            let (dir, limit_file, events) = if let Some(path) = own_path(controller) {
                let dir = root.join(controller).join(path).join(name);
                let events = if hit == Hit::Memory {
                    (dir.join("memory.oom_control"), "oom_kill")
                } else {
                    (dir.join("pids.events"), "max")
                };
                (dir, v1_limit, events)
            } else if v2_enabled.split_whitespace().any(|c| c == controller) {
                let dir = root.join(own_path("").unwrap_or_default()).join(name);
                let (limit_file, events) = if hit == Hit::Memory {
                    ("memory.max", (dir.join("memory.events"), "oom_kill"))
                } else {
                    ("pids.max", (dir.join("pids.events"), "max"))
                };
                (dir, limit_file, events)
            } else {
                continue;
            };
            if make(&dir, limit_file, limit).is_some() {
                controllers.push(Controller { dir, events, hit });
            }
        }
        if controllers.is_empty() {
            return None;
        }
        say_once_if_moves_may_wait();
        let procs = controllers
            .iter()
            .filter_map(|c| CString::new(c.dir.join("cgroup.procs").to_string_lossy().into_owned()).ok())
            .collect();
        Some(Self { controllers, procs })
    }

    /// Which controllers it holds.
    pub fn covers(&self, hit: Hit) -> bool {
        self.controllers.iter().any(|c| c.hit == hit)
    }

    /// The limit the run hit, if its counters say so.
    pub fn hit(&self) -> Option<Hit> {
        self.controllers.iter().find_map(|c| {
            let text = std::fs::read_to_string(&c.events.0).ok()?;
            let count: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix(c.events.1)?.trim().parse().ok())
                .unwrap_or(0);
            (count > 0).then_some(c.hit)
        })
    }

    /// The `cgroup.procs` files the child writes itself into.
    pub fn procs(&self) -> &[CString] {
        &self.procs
    }
}

impl Drop for RunGroup {
    fn drop(&mut self) {
        remove_groups(self.controllers.iter().map(|c| c.dir.clone()).collect());
    }
}

/// Kills every process left in the groups `dirs` and removes them, in the
/// background when they do not go at once: a killed process leaves its
/// group only once the kernel has reaped it, and one that left its process
/// group (a daemon) is still in it, so none is leaked.
pub fn remove_groups(dirs: Vec<PathBuf>) {
    if dirs.iter().all(|d| remove_group(d)) {
        return;
    }
    std::thread::spawn(move || {
        for _ in 0..200 {
            if dirs.iter().all(|d| remove_group(d)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        tracing::warn!(groups = ?dirs, "Run control groups not removed: processes remain in them.");
    });
}

/// The folders under which this process makes its runs' groups (one per
/// v1 controller, or its own v2 group).
pub fn group_parents() -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut parents: Vec<PathBuf> = ["memory", "pids"]
        .into_iter()
        .filter_map(|controller| Some(root.join(controller).join(own_path(controller)?)))
        .collect();
    if root.join("cgroup.controllers").exists()
        && let Some(own) = own_path("")
    {
        parents.push(root.join(own));
    }
    parents.retain(|p| p.is_dir());
    parents
}

/// Kills what is left in the control group `dir` and removes it; true once
/// it is gone.
fn remove_group(dir: &Path) -> bool {
    if !dir.exists() || std::fs::remove_dir(dir).is_ok() {
        return true;
    }
    for pid in std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
    {
        let _ = kill_pid(pid);
    }
    std::fs::remove_dir(dir).is_ok()
}

fn kill_pid(pid: i32) -> std::io::Result<()> {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Called in the child between fork and exec: joins the run's groups and
/// sets the rlimits. Only async-signal-safe calls.
#[allow(unsafe_code)]
pub fn apply_in_child(procs: &[CString], budget: &Budget, with_group: (bool, bool)) -> std::io::Result<()> {
    for path in procs {
        // SAFETY: open/write/close on a path prepared before fork.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
            if fd >= 0 {
                let _ = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
            }
        }
    }
    let set = |resource, value: u64| {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit takes a plain struct.
        unsafe { libc::setrlimit(resource, &limit) };
    };
    let (memory_group, pids_group) = with_group;
    if !memory_group {
        set(libc::RLIMIT_DATA, budget.memory);
    }
    if !pids_group {
        set(libc::RLIMIT_NPROC, budget.processes);
    }
    if let Some(seconds) = budget.cpu_seconds {
        // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
        let limit = libc::rlimit {
            rlim_cur: seconds,
            rlim_max: seconds + 1,
        };
        // SAFETY: as above.
        unsafe { libc::setrlimit(libc::RLIMIT_CPU, &limit) };
    }
    set(libc::RLIMIT_FSIZE, budget.file_size);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::favors_dynmods;

    const MOUNTS: &str = "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n\
        cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n\
        cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0\n";

    #[test]
    fn plain_cgroup_mounts_do_not_favour_dynamic_changes() {
        assert!(!favors_dynmods(MOUNTS, "console=ttyS0 reboot=k"));
        assert!(!favors_dynmods(MOUNTS, "cgroup_favordynmods=0"));
        // The option on a file system that is not a cgroup does not count.
        assert!(!favors_dynmods("none /mnt tmpfs rw,favordynmods 0 0", ""));
    }

    #[test]
    fn a_favordynmods_mount_or_boot_option_is_seen() {
        let v1 = format!("{MOUNTS}cgroup /mnt/x cgroup rw,relatime,favordynmods,name=hookline 0 0\n");
        assert!(favors_dynmods(&v1, ""));
        assert!(favors_dynmods(
            "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate,favordynmods 0 0",
            ""
        ));
        for yes in ["1", "y", "Y", "true", "on"] {
            assert!(
                favors_dynmods(MOUNTS, &format!("quiet cgroup_favordynmods={yes}")),
                "{yes}"
            );
        }
    }
}
