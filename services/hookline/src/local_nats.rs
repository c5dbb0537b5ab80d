//! The nats-server `hookline up` runs for itself: JetStream on, data in the
//! data folder, in a process group of its own (a terminal's Ctrl-C reaches
//! `hookline up`, which stops the services first and NATS last, so work in
//! hand can still be acknowledged), ending with `hookline up` however it
//! ends (`PR_SET_PDEATHSIG`), and always reaped.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A running local nats-server.
pub struct LocalNats {
    child: Child,
    /// Its `nats://` URL.
    pub url: String,
}

impl LocalNats {
    /// Starts `bin` on `port` (a free one if taken) with its store in `store`.
    pub fn start(bin: &Path, port: u16, store: &Path) -> anyhow::Result<Self> {
        let port = if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            port
        } else {
            TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()
        };
        std::fs::create_dir_all(store)?;
        let mut command = Command::new(bin);
        command
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        ends_with_parent(&mut command);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut nats = Self {
            child,
            url: format!("nats://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || nats.exited() {
                nats.stop(Duration::ZERO);
                bail!("nats-server did not start on port {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(nats)
    }

    /// Whether it has exited (and is reaped).
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks it to stop (SIGTERM: it flushes its store), kills it after
    /// `patience`, and reaps it.
    pub fn stop(&mut self, patience: Duration) {
        if self.exited() {
            return;
        }
        signal(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if self.exited() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

#[allow(unsafe_code)]
fn signal(pid: u32, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Linux: the server gets SIGTERM when `hookline up` ends, even by SIGKILL.
#[allow(unsafe_code)]
fn ends_with_parent(command: &mut Command) {
    // SAFETY: getpid takes nothing and touches no memory.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls prctl and getppid, which are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}
