//! How a run's agent ended, and why it could not be run at all.

/// How a run's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It exited by itself with this code.
    Exited(i32),
    /// It was killed by a signal it did not get from us.
    Crashed(i32),
    /// It ran past its timeout and was killed.
    TimedOut,
    /// It was cancelled and killed.
    Cancelled,
    /// The executor stopped it for a reason the run records elsewhere (a
    /// spent budget): a failure, not an operator's cancel.
    Stopped,
}

impl Exit {
    /// `exit`, `crashed`, `timeout`, `cancelled` or `stopped`.
    pub fn reason(&self) -> hookline_model::reason::RunReason {
        use hookline_model::reason::RunReason;
        match self {
            Exit::Exited(_) => RunReason::Exit,
            Exit::Crashed(_) => RunReason::Crashed,
            Exit::TimedOut => RunReason::Timeout,
            Exit::Cancelled => RunReason::Cancelled,
            Exit::Stopped => RunReason::Stopped,
        }
    }

    /// Whether the run succeeded.
    pub fn success(&self) -> bool {
        *self == Exit::Exited(0)
    }

    /// The exit code, when there is one.
    pub fn code(&self) -> Option<i32> {
        match self {
            Exit::Exited(code) => Some(*code),
            _ => None,
        }
    }
}

/// Why a process could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The program could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The argv was empty.
    #[error("the runner command is empty")]
    EmptyCommand,
}
