//! One run's containment, decided once per run: the bubblewrap sandbox (or
//! `sandbox = "none"`, said in the run log), its resource limits (a control
//! group where the host allows one, rlimits always), and afterwards which
//! limit, if any, ended it.

use std::path::{Path, PathBuf};

use std::os::fd::{FromRawFd as _, OwnedFd};

use hookline_model::catalog::{AgentSpec, ProfileSpec, SandboxMode, SandboxPaths};
use hookline_model::runs::TokenUsage;
use tokio_util::sync::CancellationToken;

use crate::Log;
use crate::bwrap::{self, View};
use crate::egress::{self, Egress};
use crate::gateway::{Gateway, Meter, RunLimits};
use crate::mcp_gateway::McpGateway;

mod gateways;

use crate::limits::{Budget, Hit, RunGroup};
use crate::runner::{ChildLimits, Exit, Gate};
use gateways::{gateways, mcp_gateways, profile_egress};

/// How one run's processes are held.
pub struct Containment {
    group: Option<RunGroup>,
    limits: ChildLimits,
    /// The run's egress proxy, when its profile allows hosts.
    egress: Option<Egress>,
    /// The run's model gateways: port, model name, gateway.
    models: Vec<(u16, String, Gateway)>,
    mcp: Vec<(u16, String, McpGateway)>,
    /// Their shared usage and budget.
    meter: Meter,
    emitter: Log,
    /// Stops the proxies when the run's containment is dropped.
    stop: CancellationToken,
    /// The bubblewrap binary, the run's folder and extra paths, when sandboxed.
    sandbox: Option<(String, PathBuf, SandboxPaths)>,
}

/// Why a run cannot be contained as its agent asks.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

fn budget(agent: &AgentSpec) -> Budget {
    let limits = &agent.limits;
    Budget {
        memory: limits.memory.get().0,
        processes: u64::from(limits.processes),
        cpu_seconds: limits.cpu_time.as_ref().map(|t| t.get().as_secs().max(1)),
        file_size: limits.file_size.get().0,
    }
}

impl Containment {
    /// Prepares `agent`'s run `name` in `run_dir` on `host`, its model
    /// calls capped at `token_budget` tokens; `cancel` is the run's.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(
        agent: &AgentSpec,
        profile: Option<&ProfileSpec>,
        spend: RunLimits,
        name: &str,
        run_dir: &Path,
        host: &bwrap::Host,
        emitter: &Log,
        cancel: &CancellationToken,
    ) -> Result<Self, Unavailable> {
        let sandbox = match agent.sandbox {
            SandboxMode::Bubblewrap => {
                if let Some(problem) = &host.problem {
                    return Err(Unavailable(problem.clone()));
                }
                std::fs::create_dir_all(run_dir.join("home"))
                    .map_err(|e| Unavailable(format!("cannot create the run's home: {e}")))?;
                std::fs::write(run_dir.join(crate::dns::RESOLV_CONF_FILE), crate::dns::RESOLV_CONF)
                    .map_err(|e| Unavailable(format!("cannot write the run's resolv.conf: {e}")))?;
                Some((host.bwrap.clone(), run_dir.to_path_buf(), agent.sandbox_paths.clone()))
            }
            SandboxMode::None => {
                emitter.log(
                    "hookline",
                    "WARNING: sandbox = \"none\": this run sees the executor's whole file system and network \
                     as the executor's user"
                        .to_owned(),
                );
                None
            }
        };
        let budget = budget(agent);
        let group = RunGroup::create(name, &budget);
        let grouped = group
            .as_ref()
            .map_or((false, false), |g| (g.covers(Hit::Memory), g.covers(Hit::Processes)));
        let limits = ChildLimits {
            budget,
            procs: group.as_ref().map(|g| g.procs().to_vec()).unwrap_or_default(),
            grouped,
        };
        let meter = Meter::new(cancel);
        let meter = if agent.record_model_calls {
            meter.keeping_bodies()
        } else {
            meter
        };
        let models = match &sandbox {
            Some(_) => gateways(profile, spend, &meter, emitter, &host.egress_guard),
            None => Vec::new(),
        };
        let mcp = match &sandbox {
            Some(_) => mcp_gateways(agent, profile, emitter, &host.egress_guard),
            None => Vec::new(),
        };
        let egress = match (&sandbox, profile_egress(profile)) {
            (Some(_), rules) if !rules.is_empty() => {
                Some(Egress::new(rules, host.egress_guard.clone(), emitter.clone()))
            }
            _ => None,
        };
        Ok(Self {
            group,
            limits,
            sandbox,
            egress,
            models,
            mcp,
            meter,
            emitter: emitter.clone(),
            stop: CancellationToken::new(),
        })
    }

    /// For a run that starts no process (an `http` runner without setup).
    pub fn no_processes(agent: &AgentSpec, emitter: &Log) -> Self {
        Self {
            group: None,
            limits: ChildLimits {
                budget: budget(agent),
                procs: Vec::new(),
                grouped: (false, false),
            },
            sandbox: None,
            egress: None,
            models: Vec::new(),
            mcp: Vec::new(),
            meter: Meter::default(),
            emitter: emitter.clone(),
            stop: CancellationToken::new(),
        }
    }

    /// The hosts the run's proxy connected to so far.
    pub fn allowed_hosts(&self) -> Vec<String> {
        self.egress.as_ref().map(Egress::allowed).unwrap_or_default()
    }

    /// The hosts the run's proxy refused so far.
    pub fn blocked_hosts(&self) -> Vec<String> {
        self.egress.as_ref().map(Egress::blocked).unwrap_or_default()
    }

    /// For a sandboxed run: bubblewrap's info and block pipes, and, once
    /// it started, the name server ([`crate::dns`]), the egress proxy and
    /// the model gateways listening inside the run's network namespace
    /// before the agent is let go.
    pub fn gate(&self) -> Option<Gate> {
        if !self.gated() {
            return None;
        }
        let (egress, models, stop) = (self.egress.clone(), self.models.clone(), self.stop.clone());
        let mcp = self.mcp.clone();
        let emitter = self.emitter.clone();
        let (info_read, info_write) = pipe().ok()?;
        let (block_read, block_write) = pipe().ok()?;
        let after_spawn: crate::runner::AfterSpawn = Box::new(move || {
            Box::pin(async move {
                let mut addrs: Vec<String> = egress.iter().map(|_| egress::LISTEN.to_owned()).collect();
                addrs.extend(models.iter().map(|(port, _, _)| format!("127.0.0.1:{port}")));
                addrs.extend(mcp.iter().map(|(port, _, _)| format!("127.0.0.1:{port}")));
                match child_pid(info_read)
                    .await
                    .and_then(|pid| egress::listen_in(pid, addrs, crate::dns::LISTEN))
                {
                    Ok((listeners, names)) => {
                        if let Ok(names) = tokio::net::UdpSocket::from_std(names) {
                            drop(tokio::spawn(crate::dns::serve(names, stop.clone())));
                        }
                        let mut listeners = listeners.into_iter();
                        // Each is served until the run's containment is dropped.
                        if let Some(egress) = &egress
                            && let Some(Ok(listener)) = listeners.next().map(tokio::net::TcpListener::from_std)
                        {
                            drop(tokio::spawn(egress.clone().serve(listener, stop.clone())));
                        }
                        for ((_, _, gateway), listener) in models.iter().zip(listeners.by_ref()) {
                            if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                                drop(tokio::spawn(gateway.clone().serve(listener, stop.clone())));
                            }
                        }
                        for ((_, _, gateway), listener) in mcp.iter().zip(listeners) {
                            if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                                drop(tokio::spawn(gateway.clone().serve(listener, stop.clone())));
                            }
                        }
                    }
                    Err(e) => emitter.log(
                        "hookline",
                        format!("name server, egress proxy and model gateways not started: {e}"),
                    ),
                }
                // Lets the agent start (without a network if they failed).
                let mut gate = std::fs::File::from(block_write);
                let _ = std::io::Write::write_all(&mut gate, b"1");
            })
        });
        Some(Gate {
            fds: vec![(info_write, 3), (block_read, 4)],
            after_spawn,
        })
    }

    fn gated(&self) -> bool {
        self.sandbox.is_some()
    }

    /// The model tokens the run used, if it has model gateways.
    pub fn usage(&self) -> Option<TokenUsage> {
        (!self.models.is_empty()).then(|| self.meter.usage())
    }

    /// Whether a model call was refused for the run's token budget.
    pub fn budget_exceeded(&self) -> bool {
        self.meter.exceeded()
    }

    /// Whether a model call was refused for the run's turn limit.
    pub fn out_of_turns(&self) -> bool {
        self.meter.out_of_turns()
    }

    /// Each model call of the run.
    pub fn model_calls(&self) -> Vec<hookline_model::runs::ModelCall> {
        self.meter.calls()
    }

    /// Each model call's bodies, when the agent keeps them.
    pub fn model_call_bodies(&self) -> Vec<crate::gateway::CallBody> {
        self.meter.bodies()
    }

    /// Ends the run's proxies, gateways and name server: the agent's work
    /// is over (its processes may linger a moment, writing their own files,
    /// with nowhere to reach and nothing more to spend).
    pub fn close_network(&self) {
        self.stop.cancel();
    }

    /// What stops the run's processes: the run's cancel, or (at once) a
    /// model call refused for the budget.
    pub fn stop(&self) -> CancellationToken {
        self.meter.stop().clone()
    }

    /// The argv that runs `argv` in `cwd` as contained, showing
    /// `program_folders` ([`crate::program`]) read-only.
    pub fn command(&self, argv: &[String], cwd: &Path, program_folders: &[PathBuf]) -> Vec<String> {
        let Some((bwrap, run_dir, extra)) = &self.sandbox else {
            return argv.to_vec();
        };
        let view = View {
            run_dir,
            cwd,
            program_folders,
            extra,
        };
        let mut wrapped = vec![bwrap.clone()];
        if self.gated() {
            // See `gate`: bubblewrap says its child's pid on 3 and waits
            // for a byte on 4 before it runs the command.
            wrapped.extend(["--info-fd", "3", "--block-fd", "4"].map(str::to_owned));
        }
        wrapped.extend(bwrap::wrap(argv, &view));
        wrapped
    }

    /// Where the agent sees `path` of its run folder: the workspace and
    /// home at the same paths in every sandboxed run ([`bwrap::WORKSPACE`],
    /// [`bwrap::HOME`]); anything else, and every path of an unsandboxed
    /// run, where it is.
    pub fn inside(&self, path: &Path) -> PathBuf {
        if let Some((_, run_dir, _)) = &self.sandbox {
            for (folder, inside) in [("workspace", bwrap::WORKSPACE), ("home", bwrap::HOME)] {
                if let Ok(rest) = path.strip_prefix(run_dir.join(folder)) {
                    return Path::new(inside).join(rest);
                }
            }
        }
        path.to_path_buf()
    }

    /// Adjusts a run's environment: inside the sandbox, `HOME` is the
    /// run's own (the executor's is not there).
    pub fn env(&self, mut env: Vec<(String, String)>) -> Vec<(String, String)> {
        if self.sandbox.is_some() {
            env.retain(|(k, _)| k != "HOME" && k != "TMPDIR");
            env.push(("HOME".to_owned(), bwrap::HOME.to_owned()));
            env.push(("TMPDIR".to_owned(), "/tmp".to_owned()));
        }
        if self.egress.is_some() {
            let proxy = format!("http://{}", egress::LISTEN);
            for name in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
                env.push((name.to_owned(), proxy.clone()));
            }
            env.push(("NO_PROXY".to_owned(), "localhost,127.0.0.1".to_owned()));
        }
        for (port, name, _) in &self.models {
            env.push((
                format!("HOOKLINE_MODEL_{}_URL", name.to_ascii_uppercase()),
                format!("http://127.0.0.1:{port}"),
            ));
        }
        for (port, name, _) in &self.mcp {
            env.push((
                format!("HOOKLINE_MCP_{}_URL", name.to_ascii_uppercase().replace('-', "_")),
                format!("http://127.0.0.1:{port}/mcp"),
            ));
        }
        env
    }

    /// The limits the child sets on itself.
    /// The URL inside the sandbox of remote MCP server `name`'s gateway.
    pub fn mcp_url(&self, name: &str) -> Option<String> {
        self.mcp
            .iter()
            .find(|(_, n, _)| n == name)
            .map(|(port, _, _)| format!("http://127.0.0.1:{port}/mcp"))
    }

    pub fn limits(&self) -> Option<ChildLimits> {
        Some(self.limits.clone())
    }

    /// Which limit ended a process that ended as `exit`, if one did.
    pub fn hit(&self, exit: &Exit) -> Option<Hit> {
        let by_signal = match exit {
            Exit::Crashed(signal) => Hit::from_signal(*signal),
            // bubblewrap reports a child killed by a signal as 128 + it.
            Exit::Exited(code) if self.sandbox.is_some() && *code > 128 => Hit::from_signal(code - 128),
            _ => None,
        };
        by_signal.or_else(|| self.group.as_ref().and_then(RunGroup::hit))
    }
}

impl Drop for Containment {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// First port of the model gateways inside a run (the proxy has 3128).
/// A pipe whose ends close on exec (the child gets its end by `dup2`).
#[allow(unsafe_code)]
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both were just opened and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The pid bubblewrap writes on its info descriptor (`"child-pid": N`).
async fn child_pid(info: OwnedFd) -> std::io::Result<u32> {
    let text = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let mut file = std::fs::File::from(info);
        let mut buf = [0u8; 256];
        // bubblewrap writes one small JSON object once its namespaces exist.
        while !text.contains('}') {
            match std::io::Read::read(&mut file, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        text
    })
    .await
    .map_err(std::io::Error::other)?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| std::io::Error::other(format!("bubblewrap info `{text}`: {e}")))?;
    value["child-pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| std::io::Error::other(format!("no child-pid in `{text}`")))
}
