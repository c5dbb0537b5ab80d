//! The `command` runner: any agent CLI as a real process in its own process
//! group. The prompt goes to stdin; output is streamed line by line; a
//! timeout or a cancel kills the whole group, and so does the end of the run,
//! so no child the agent left behind outlives it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

pub use crate::exit::{Exit, RunnerError};

/// One process to run.
pub struct Spawn {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Written to stdin, then stdin is closed.
    pub stdin: String,
    /// Longest it may run.
    pub timeout: Duration,
    /// Cancelled to stop it.
    pub cancel: CancellationToken,
    /// Resource limits set in the child before it execs, if any.
    pub limits: Option<ChildLimits>,
    /// Pipes handed to the child at fixed descriptors, and what to do once
    /// it started (the containment's gate).
    pub gate: Option<Gate>,
}

/// Work done between spawning the child and waiting for it.
pub type AfterSpawn = Box<dyn FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>;

/// Descriptors a child gets at fixed numbers, and the work after spawning.
pub struct Gate {
    /// `(descriptor, number in the child)`.
    pub fds: Vec<(std::os::fd::OwnedFd, i32)>,
    /// Run once the child exists, before its output is read.
    pub after_spawn: AfterSpawn,
}

/// What the child applies to itself before exec ([`crate::limits`]).
#[derive(Clone)]
pub struct ChildLimits {
    /// The budget.
    pub budget: crate::limits::Budget,
    /// `cgroup.procs` files to join.
    pub procs: Vec<std::ffi::CString>,
    /// Whether memory and processes are held by a control group (else by
    /// rlimits).
    pub grouped: (bool, bool),
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Linux: the agent gets SIGKILL if the executor dies (even by SIGKILL), so
/// a crashed executor leaves no agent running while another copy redoes it.
/// An executor that died between the fork and the `prctl` sends no signal
/// any more: the child sees it has a new parent and does not run at all.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: getpid takes nothing and touches no memory.
    let executor = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls prctl and getppid, which are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != executor {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

/// Puts each descriptor at its number in the child (first out of the way,
/// so one cannot overwrite another).
#[allow(unsafe_code)]
fn place_fds(command: &mut Command, fds: &[(std::os::fd::OwnedFd, i32)]) {
    use std::os::fd::AsRawFd as _;
    if fds.is_empty() {
        return;
    }
    let pairs: Vec<(i32, i32)> = fds.iter().map(|(fd, at)| (fd.as_raw_fd(), *at)).collect();
    // SAFETY: only fcntl, dup2 and close between fork and exec, on
    // descriptors the parent keeps open until the child is spawned.
    unsafe {
        command.pre_exec(move || {
            let mut high = Vec::with_capacity(pairs.len());
            for (fd, at) in &pairs {
                let moved = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 64);
                if moved < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push((moved, *at));
            }
            for (moved, at) in high {
                if libc::dup2(moved, at) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(moved);
            }
            Ok(())
        });
    }
}

#[allow(unsafe_code)]
fn limit(command: &mut Command, limits: ChildLimits) {
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes async-signal-safe calls (open, write, close, setrlimit) on data
    // prepared before the fork.
    unsafe {
        command.pre_exec(move || crate::limits::apply_in_child(&limits.procs, &limits.budget, limits.grouped));
    }
}

#[allow(unsafe_code)]
pub(crate) fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // SAFETY: killpg takes plain integers and has no memory effects; the
    // group id is the child's pid, which we made a group leader.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

/// A contained process, started: its group ends with the run.
pub(crate) struct Started {
    /// The child, its stdin, stdout and stderr piped.
    pub child: tokio::process::Child,
    /// Its process group (its pid).
    pub pgid: u32,
}

/// Starts `spawn`'s process in its own group with its limits, its
/// descriptors placed and its gate opened; stdin, stdout and stderr piped.
pub(crate) async fn start(spawn: &mut Spawn) -> Result<Started, RunnerError> {
    let (program, args) = spawn.argv.split_first().ok_or(RunnerError::EmptyCommand)?;
    let mut command = Command::new(program);
    die_with_parent(&mut command);
    if let Some(limits) = spawn.limits.clone() {
        limit(&mut command, limits);
    }
    let (child_fds, after_spawn) = match spawn.gate.take() {
        Some(gate) => (gate.fds, Some(gate.after_spawn)),
        None => (Vec::new(), None),
    };
    place_fds(&mut command, &child_fds);
    let child = command
        .args(args)
        .current_dir(&spawn.cwd)
        .env_clear()
        .envs(spawn.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RunnerError::Spawn {
            program: program.clone(),
            source,
        })?;
    let pgid = child.id().unwrap_or(0);
    // The child holds its ends now.
    drop(child_fds);
    if let Some(after_spawn) = after_spawn {
        after_spawn().await;
    }
    Ok(Started { child, pgid })
}

/// How a process ended, from its wait status.
pub(crate) fn exit_of(status: std::io::Result<std::process::ExitStatus>) -> Exit {
    match status {
        Ok(status) => match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
            (Some(code), _) => Exit::Exited(code),
            (None, Some(signal)) => Exit::Crashed(signal),
            (None, None) => Exit::Crashed(0),
        },
        Err(_) => Exit::Crashed(0),
    }
}

/// Runs `spawn`, calling `on_line` for each output line, until it exits,
/// times out or is cancelled.
pub async fn run(mut spawn: Spawn, mut on_line: impl FnMut(Stream, String)) -> Result<Exit, RunnerError> {
    let Started { mut child, pgid } = start(&mut spawn).await?;
    if let Some(mut stdin) = child.stdin.take() {
        let prompt = spawn.stdin;
        // An agent that never reads stdin must not block the run.
        tokio::spawn(async move {
            let _ = stdin.write_all(prompt.as_bytes()).await;
        });
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Stream, String)>(256);
    if let Some(stdout) = child.stdout.take() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send((Stream::Stdout, line)).await;
            }
        });
    }
    if let Some(stderr) = child.stderr.take() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send((Stream::Stderr, line)).await;
            }
        });
    }
    drop(tx);
    let deadline = tokio::time::sleep(spawn.timeout);
    tokio::pin!(deadline);
    let mut output_open = true;
    let exit = loop {
        tokio::select! {
            line = rx.recv(), if output_open => match line {
                Some((stream, line)) => on_line(stream, line),
                None => output_open = false,
            },
            status = child.wait() => break exit_of(status),
            _ = &mut deadline => {
                kill_group(pgid);
                let _ = child.wait().await;
                break Exit::TimedOut;
            }
            _ = spawn.cancel.cancelled() => {
                kill_group(pgid);
                let _ = child.wait().await;
                break Exit::Cancelled;
            }
        }
    };
    // Whatever the agent left running in its group ends with the run.
    kill_group(pgid);
    // Drain lines already read; readers end once the group is gone.
    while let Ok(Some((stream, line))) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        on_line(stream, line);
    }
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(script: &str, timeout: Duration) -> Spawn {
        Spawn {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into()), ("ONLY".into(), "this".into())],
            stdin: "the prompt".into(),
            timeout,
            cancel: CancellationToken::new(),
            limits: None,
            gate: None,
        }
    }

    #[tokio::test]
    async fn output_exit_code_stdin_and_a_clean_environment() {
        let mut lines = Vec::new();
        let exit = run(
            spawn(
                "read p; echo \"got $p\"; echo \"only=$ONLY home=${HOME:-unset}\"; echo oops >&2; exit 3",
                Duration::from_secs(10),
            ),
            |s, l| lines.push((s, l)),
        )
        .await
        .expect("runs");
        assert_eq!(exit, Exit::Exited(3));
        assert!(lines.contains(&(Stream::Stdout, "got the prompt".into())), "{lines:?}");
        assert!(
            lines.contains(&(Stream::Stdout, "only=this home=unset".into())),
            "nothing inherited: {lines:?}"
        );
        assert!(lines.contains(&(Stream::Stderr, "oops".into())));
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_not_a_panic() {
        let mut s = spawn("", Duration::from_secs(1));
        s.argv = vec!["/nonexistent/agent".into()];
        assert!(matches!(run(s, |_, _| {}).await, Err(RunnerError::Spawn { .. })));
    }

    fn alive(pid: u32) -> bool {
        // A zombie (exited, unreaped) counts as gone.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| stat.split_whitespace().nth(2).is_none_or(|state| state != "Z"))
            .unwrap_or(false)
    }

    async fn leaves_no_orphan(timeout: Duration, expected: Exit) {
        let dir = tempfile::tempdir().expect("tmp");
        let pidfile = dir.path().join("child.pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let s = spawn(&script, timeout);
        let cancel = s.cancel.clone();
        let run = tokio::spawn(async move { run(s, |_, _| {}).await });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !pidfile.exists() || std::fs::read_to_string(&pidfile).unwrap_or_default().trim().is_empty() {
            assert!(std::time::Instant::now() < deadline, "agent never started its child");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let child: u32 = std::fs::read_to_string(&pidfile)
            .expect("pid")
            .trim()
            .parse()
            .expect("pid number");
        assert!(alive(child), "the grandchild runs while the agent does");
        if expected == Exit::Cancelled {
            cancel.cancel();
        }
        let exit = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("ends")
            .expect("task")
            .expect("runs");
        assert_eq!(exit, expected);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(child) {
            assert!(
                std::time::Instant::now() < deadline,
                "grandchild {child} survived the run"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        // Long enough for a loaded machine to start the script and its
        // child before the timeout fires (500 ms failed once under load).
        leaves_no_orphan(Duration::from_secs(3), Exit::TimedOut).await;
    }

    #[tokio::test]
    async fn a_cancel_kills_the_whole_process_group() {
        leaves_no_orphan(Duration::from_secs(60), Exit::Cancelled).await;
    }
}
