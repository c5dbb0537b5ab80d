//! One run's containment, decided once per run: the bubblewrap sandbox (or
//! `sandbox = "none"`, said in the run log), its resource limits (a control
//! group where the host allows one, rlimits always), and afterwards which
//! limit, if any, ended it.

use std::path::{Path, PathBuf};

use hookline_core::catalog::{AgentSpec, SandboxMode, SandboxPaths, parse_size};
use hookline_core::settings::parse_duration;

use crate::emit::Emitter;
use crate::limits::{Budget, Hit, RunGroup};
use crate::runner::{ChildLimits, Exit};
use crate::sandbox::{self, View};

/// How one run's processes are held.
pub struct Containment {
    group: Option<RunGroup>,
    limits: ChildLimits,
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
        memory: parse_size(&limits.memory).unwrap_or(4 << 30),
        processes: u64::from(limits.processes),
        cpu_seconds: limits
            .cpu_time
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .map(|d| d.as_secs().max(1)),
        file_size: parse_size(&limits.file_size).unwrap_or(1 << 30),
    }
}

impl Containment {
    /// Prepares `agent`'s run `name` in `run_dir` on `host`.
    pub fn prepare(
        agent: &AgentSpec,
        name: &str,
        run_dir: &Path,
        host: &sandbox::Host,
        emitter: &Emitter,
    ) -> Result<Self, Unavailable> {
        let sandbox = match agent.sandbox {
            SandboxMode::Bubblewrap => {
                if let Some(problem) = &host.problem {
                    return Err(Unavailable(problem.clone()));
                }
                std::fs::create_dir_all(run_dir.join("home"))
                    .map_err(|e| Unavailable(format!("cannot create the run's home: {e}")))?;
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
        Ok(Self { group, limits, sandbox })
    }

    /// For a run that starts no process (an `http` runner without setup).
    pub fn no_processes(agent: &AgentSpec) -> Self {
        Self {
            group: None,
            limits: ChildLimits {
                budget: budget(agent),
                procs: Vec::new(),
                grouped: (false, false),
            },
            sandbox: None,
        }
    }

    /// The argv that runs `argv` in `cwd` as contained.
    pub fn command(&self, argv: &[String], cwd: &Path) -> Vec<String> {
        let Some((bwrap, run_dir, extra)) = &self.sandbox else {
            return argv.to_vec();
        };
        let program = sandbox::program(argv);
        let view = View {
            run_dir,
            cwd,
            program: program.as_deref(),
            extra,
        };
        let mut wrapped = vec![bwrap.clone()];
        wrapped.extend(sandbox::wrap(argv, &view));
        wrapped
    }

    /// Adjusts a run's environment: inside the sandbox, `HOME` is the
    /// run's own (the executor's is not there).
    pub fn env(&self, mut env: Vec<(String, String)>) -> Vec<(String, String)> {
        if let Some((_, run_dir, _)) = &self.sandbox {
            env.retain(|(k, _)| k != "HOME" && k != "TMPDIR");
            env.push(("HOME".to_owned(), run_dir.join("home").display().to_string()));
            env.push(("TMPDIR".to_owned(), "/tmp".to_owned()));
        }
        env
    }

    /// The limits the child sets on itself.
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
