//! The `acp` runner: any agent that speaks the Agent Client Protocol on its
//! stdin and stdout, started contained like a `command` run. Hookline is
//! the client: it initializes, opens one session whose working directory
//! is the workspace and whose MCP servers are the agent's, sends the
//! rendered prompt, and keeps every session update as a transcript entry
//! as it arrives. Permission requests are answered by the agent's policy
//! (allowed, since the sandbox contains the run, but for `deny_tools`).
//! A cancel, a timeout or a spent budget sends `session/cancel`, waits a
//! moment for the agent to stop, then ends its process group.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_client_protocol::ByteStreams;
use agent_client_protocol::v1::schema::{McpServer, SessionNotification, StopReason};
use hookline_model::reason::RunReason;
use hookline_model::transcript::Entry;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
use tokio_util::sync::CancellationToken;

use crate::runner::{self, Exit, RunnerError, Spawn, Started};

mod converse;
mod linger;
mod transcribe;

use converse::{Session, converse};
pub use linger::Lingering;
use transcribe::Transcriber;

/// How long an agent has to stop by itself after `session/cancel`.
const CANCEL_GRACE: Duration = Duration::from_millis(1500);
/// How long a broken conversation waits for the agent's exit status.
const DYING: Duration = Duration::from_millis(500);
/// An agent silent this long when its time is up stopped answering.
const SILENT: Duration = Duration::from_secs(30);
/// Lines of stderr kept for an agent that dies before the handshake.
const STDERR_TAIL: usize = 20;

/// One ACP run.
pub struct AcpRun {
    /// The agent's process (its `stdin` is unused: the protocol is).
    pub spawn: Spawn,
    /// The session's working directory (the workspace).
    pub workspace: PathBuf,
    /// The rendered prompt.
    pub prompt: String,
    /// The MCP servers handed to the session.
    pub mcp: Vec<McpServer>,
    /// Tools refused by name or title.
    pub deny_tools: Vec<String>,
    /// The agent's session of an earlier run to continue (its state
    /// already restored in the run's home), if any.
    pub resume: Option<String>,
    /// Folders where the agent keeps its own state: after its turn it is
    /// left running until they went unwritten for a moment ([`Lingering`];
    /// none: it is stopped at once).
    pub state: Vec<PathBuf>,
}

/// How an ACP run ended.
#[derive(Debug)]
pub struct AcpEnd {
    /// The process's end, as for a `command` run: `Exited(0)` for a turn
    /// that ended normally.
    pub exit: Exit,
    /// Why it failed when the exit alone does not say, and what to log.
    pub failure: Option<(RunReason, String)>,
    /// The agent's session id, once it had one (to resume it later).
    pub session_id: Option<String>,
    /// Whether the earlier session was continued, or why not, when the
    /// run asked to resume one.
    pub resumed: Option<Result<String, String>>,
    /// The agent, still writing its state after its turn (when it has
    /// state folders): stop it before keeping that state.
    pub lingering: Option<Lingering>,
}

/// Where the conversation is, for errors that name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Handshake,
    Load,
    Session,
    Prompt,
}

impl Phase {
    fn describe(self) -> &'static str {
        match self {
            Phase::Handshake => "initialize",
            Phase::Load => "session/load",
            Phase::Session => "session/new",
            Phase::Prompt => "session/prompt",
        }
    }
}

/// What the protocol side tells the loop.
enum Heard {
    Update(Box<SessionNotification>),
    Refused(Box<Entry>),
    Phase(Phase),
    Session(String),
    Resumed(Result<String, String>),
}

/// Runs the agent until its turn ends, it fails, or it is stopped;
/// `on_entry` gets each transcript entry, `on_stderr` each stderr line.
pub async fn run(
    mut acp: AcpRun,
    mut on_entry: impl FnMut(Entry),
    mut on_stderr: impl FnMut(String),
) -> Result<AcpEnd, RunnerError> {
    let Started { mut child, pgid } = runner::start(&mut acp.spawn).await?;
    let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        runner::kill_group(pgid);
        return Ok(ended_with(
            RunReason::ProtocolError,
            "the agent's pipes were not set up",
        ));
    };
    let (lines_tx, mut lines) = mpsc::channel::<String>(256);
    tokio::spawn(async move {
        let mut reader = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let _ = lines_tx.send(line).await;
        }
    });
    let (heard_tx, mut heard) = mpsc::unbounded_channel::<Heard>();
    let ask_cancel = CancellationToken::new();
    let transcriber = Arc::new(Mutex::new(Transcriber::default()));
    on_entry(Entry::Prompt {
        text: acp.prompt.clone(),
    });
    let conversation = converse(
        Session {
            workspace: acp.workspace.clone(),
            resume: acp.resume.clone(),
            prompt: acp.prompt.clone(),
            mcp: acp.mcp.clone(),
            deny_tools: acp.deny_tools.clone(),
        },
        ByteStreams::new(stdin.compat_write(), stdout.compat()),
        heard_tx,
        ask_cancel.clone(),
        transcriber.clone(),
    );
    tokio::pin!(conversation);
    let deadline = tokio::time::sleep(acp.spawn.timeout);
    tokio::pin!(deadline);
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut phase = Phase::Handshake;
    let mut last_heard = Instant::now();
    // Why Hookline stopped the agent, once it did: a cancel or the timeout.
    let mut stopping: Option<(Exit, Instant)> = None;
    let mut exited: Option<Exit> = None;
    let mut lines_open = true;
    let mut session_id = None;
    let mut resumed = None;
    let outcome = loop {
        let grace = async {
            match stopping {
                Some((_, since)) => tokio::time::sleep_until((since + CANCEL_GRACE).into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(message) = heard.recv() => {
                last_heard = Instant::now();
                match message {
                    // A loaded session's replay of its earlier turns.
                    Heard::Update(_) if phase == Phase::Load => {}
                    Heard::Update(notification) => {
                        let entries = lock(&transcriber).update(notification.update);
                        entries.into_iter().for_each(&mut on_entry);
                    }
                    Heard::Refused(entry) => on_entry(*entry),
                    Heard::Phase(now) => phase = now,
                    Heard::Session(id) => session_id = Some(id),
                    Heard::Resumed(answer) => resumed = Some(answer),
                }
            }
            line = lines.recv(), if lines_open => match line {
                Some(line) => {
                    if tail.len() == STDERR_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line.clone());
                    on_stderr(line);
                }
                None => lines_open = false,
            },
            ended = &mut conversation => break Some(ended),
            status = child.wait(), if exited.is_none() => {
                exited = Some(runner::exit_of(status));
                // Its output may still be in the pipe: the conversation
                // ends at its end of file.
            }
            () = &mut deadline, if stopping.is_none() => {
                ask_cancel.cancel();
                stopping = Some((Exit::TimedOut, Instant::now()));
            }
            () = acp.spawn.cancel.cancelled(), if stopping.is_none() => {
                ask_cancel.cancel();
                stopping = Some((Exit::Cancelled, Instant::now()));
            }
            () = grace => break None,
        }
    };
    let turn_ended = Instant::now();
    let calm = stopping.is_none() && exited.is_none();
    if calm
        && !matches!(outcome, Some(Ok(_)))
        && let Ok(status) = tokio::time::timeout(DYING, child.wait()).await
    {
        // A conversation that broke is most often an agent exiting: its
        // status says how (it may come a moment after its pipes close).
        exited = Some(runner::exit_of(status));
    }
    // A turn that ended: the agent may still be writing its own session
    // files, which a later run resumes from.
    let lingering = if calm && matches!(outcome, Some(Ok(_))) && !acp.state.is_empty() {
        Some(Lingering::new(child, pgid, std::mem::take(&mut acp.state), turn_ended))
    } else {
        runner::kill_group(pgid);
        let _ = child.wait().await;
        None
    };
    // Updates sent before the agent's last answer.
    while let Ok(message) = heard.try_recv() {
        match message {
            Heard::Update(notification) => lock(&transcriber)
                .update(notification.update)
                .into_iter()
                .for_each(&mut on_entry),
            Heard::Refused(entry) => on_entry(*entry),
            Heard::Session(id) => session_id = Some(id),
            Heard::Resumed(answer) => resumed = Some(answer),
            Heard::Phase(_) => {}
        }
    }
    lock(&transcriber).flush().into_iter().for_each(&mut on_entry);
    if lingering.is_some() {
        // Its stderr is still open: what came so far.
        while let Ok(line) = lines.try_recv() {
            tail.push_back(line.clone());
            on_stderr(line);
        }
    } else {
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(100), lines.recv()).await {
            tail.push_back(line.clone());
            on_stderr(line);
        }
    }
    let stopped = stopping.map(|(exit, _)| exit);
    let end = match (outcome, stopped) {
        (Some(Ok(StopReason::EndTurn)), None) => ended(Exit::Exited(0), None),
        (Some(Ok(StopReason::Cancelled)), None) => ended(Exit::Cancelled, None),
        (Some(Ok(StopReason::Refusal)), None) => ended_with(RunReason::Refused, "the agent refused the prompt"),
        (Some(Ok(other)), None) => ended_with(RunReason::TurnLimit, &format!("the agent stopped: {other:?}")),
        (_, Some(Exit::TimedOut)) if last_heard.elapsed() >= SILENT.min(acp.spawn.timeout) => ended(
            Exit::TimedOut,
            Some((
                RunReason::AgentUnresponsive,
                format!(
                    "the agent stopped answering during {}: nothing from it for {} s before the run's timeout",
                    phase.describe(),
                    last_heard.elapsed().as_secs()
                ),
            )),
        ),
        (_, Some(exit)) => ended(exit, None),
        (Some(Err(error)), None) => {
            let tail: Vec<String> = tail.into_iter().collect();
            match (exited, phase) {
                (Some(exit), Phase::Handshake) => ended_with(
                    RunReason::ProtocolError,
                    &format!(
                        "the agent exited ({}) before the ACP handshake; the end of its stderr:\n{}",
                        describe_exit(&exit),
                        tail.join("\n")
                    ),
                ),
                (Some(exit), _) => ended_with(
                    RunReason::ProtocolError,
                    &format!(
                        "the agent exited ({}) during {}",
                        describe_exit(&exit),
                        phase.describe()
                    ),
                ),
                // Still running, it answered the prompt with an error.
                (None, Phase::Prompt) => {
                    ended_with(RunReason::AgentError, &format!("the agent failed the prompt: {error}"))
                }
                (None, _) => ended_with(
                    RunReason::ProtocolError,
                    &format!("protocol error during {}: {error}", phase.describe()),
                ),
            }
        }
        (None, None) => ended_with(RunReason::ProtocolError, "the conversation ended without an answer"),
    };
    Ok(AcpEnd {
        session_id,
        resumed,
        lingering,
        ..end
    })
}

fn ended(exit: Exit, failure: Option<(RunReason, String)>) -> AcpEnd {
    AcpEnd {
        exit,
        failure,
        session_id: None,
        resumed: None,
        lingering: None,
    }
}

fn ended_with(reason: RunReason, note: &str) -> AcpEnd {
    ended(Exit::Exited(1), Some((reason, note.to_owned())))
}

fn describe_exit(exit: &Exit) -> String {
    match exit {
        Exit::Exited(code) => format!("code {code}"),
        Exit::Crashed(signal) => format!("signal {signal}"),
        other => format!("{other:?}"),
    }
}

fn lock(transcriber: &Mutex<Transcriber>) -> std::sync::MutexGuard<'_, Transcriber> {
    transcriber.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
