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

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    CancelNotification, ContentBlock, InitializeRequest, McpServer, NewSessionRequest, PermissionOptionKind,
    PromptRequest, RequestPermissionOutcome, RequestPermissionRequest, RequestPermissionResponse,
    SelectedPermissionOutcome, SessionNotification, StopReason, TextContent,
};
use agent_client_protocol::{Agent, ByteStreams, Client};
use hookline_model::reason::RunReason;
use hookline_model::transcript::Entry;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
use tokio_util::sync::CancellationToken;

use crate::runner::{self, Exit, RunnerError, Spawn, Started};

mod transcribe;

use transcribe::Transcriber;

/// How long an agent has to stop by itself after `session/cancel`.
const CANCEL_GRACE: Duration = Duration::from_millis(1500);
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
}

/// How an ACP run ended.
#[derive(Debug)]
pub struct AcpEnd {
    /// The process's end, as for a `command` run: `Exited(0)` for a turn
    /// that ended normally.
    pub exit: Exit,
    /// Why it failed when the exit alone does not say, and what to log.
    pub failure: Option<(RunReason, String)>,
}

/// Where the conversation is, for errors that name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Handshake,
    Session,
    Prompt,
}

impl Phase {
    fn describe(self) -> &'static str {
        match self {
            Phase::Handshake => "initialize",
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
        return Ok(AcpEnd {
            exit: Exit::Crashed(0),
            failure: Some((RunReason::ProtocolError, "the agent's pipes were not set up".to_owned())),
        });
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
                    Heard::Update(notification) => {
                        let entries = lock(&transcriber).update(notification.update);
                        entries.into_iter().for_each(&mut on_entry);
                    }
                    Heard::Refused(entry) => on_entry(*entry),
                    Heard::Phase(now) => phase = now,
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
    runner::kill_group(pgid);
    let _ = child.wait().await;
    // Updates sent before the agent's last answer.
    while let Ok(message) = heard.try_recv() {
        match message {
            Heard::Update(notification) => lock(&transcriber)
                .update(notification.update)
                .into_iter()
                .for_each(&mut on_entry),
            Heard::Refused(entry) => on_entry(*entry),
            Heard::Phase(_) => {}
        }
    }
    lock(&transcriber).flush().into_iter().for_each(&mut on_entry);
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(100), lines.recv()).await {
        tail.push_back(line.clone());
        on_stderr(line);
    }
    let stopped = stopping.map(|(exit, _)| exit);
    Ok(match (outcome, stopped) {
        (Some(Ok(StopReason::EndTurn)), None) => AcpEnd {
            exit: Exit::Exited(0),
            failure: None,
        },
        (Some(Ok(StopReason::Cancelled)), None) => AcpEnd {
            exit: Exit::Cancelled,
            failure: None,
        },
        (Some(Ok(StopReason::Refusal)), None) => ended_with(RunReason::Refused, "the agent refused the prompt"),
        (Some(Ok(other)), None) => ended_with(RunReason::TurnLimit, &format!("the agent stopped: {other:?}")),
        (_, Some(Exit::TimedOut)) if last_heard.elapsed() >= SILENT.min(acp.spawn.timeout) => AcpEnd {
            exit: Exit::TimedOut,
            failure: Some((
                RunReason::AgentUnresponsive,
                format!(
                    "the agent stopped answering during {}: nothing from it for {} s before the run's timeout",
                    phase.describe(),
                    last_heard.elapsed().as_secs()
                ),
            )),
        },
        (_, Some(exit)) => AcpEnd { exit, failure: None },
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
    })
}

fn ended_with(reason: RunReason, note: &str) -> AcpEnd {
    AcpEnd {
        exit: Exit::Exited(1),
        failure: Some((reason, note.to_owned())),
    }
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

/// What the conversation needs of the run.
struct Session {
    workspace: PathBuf,
    prompt: String,
    mcp: Vec<McpServer>,
    deny_tools: Vec<String>,
}

/// The client's side of the conversation: handshake, session, prompt;
/// answers the agent's stop reason.
async fn converse<O, I>(
    session: Session,
    transport: ByteStreams<O, I>,
    heard: mpsc::UnboundedSender<Heard>,
    ask_cancel: CancellationToken,
    transcriber: Arc<Mutex<Transcriber>>,
) -> Result<StopReason, agent_client_protocol::Error>
where
    O: futures::AsyncWrite + Send + 'static,
    I: futures::AsyncRead + Send + 'static,
{
    let updates = heard.clone();
    let refusals = heard.clone();
    let Session {
        workspace,
        prompt,
        mcp,
        deny_tools: deny,
    } = session;
    Client
        .v1()
        .name("hookline")
        .on_receive_notification(
            async move |notification: SessionNotification, _cx| {
                let _ = updates.send(Heard::Update(Box::new(notification)));
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            async move |request: RequestPermissionRequest, responder, _connection| {
                let id = request.tool_call.tool_call_id.to_string();
                let (name, title) = lock(&transcriber).name_of(&id, &request.tool_call.fields);
                let denied = deny.iter().any(|d| *d == name || *d == title);
                let wanted: &[PermissionOptionKind] = if denied {
                    &[PermissionOptionKind::RejectOnce, PermissionOptionKind::RejectAlways]
                } else {
                    // The narrower answer first: the next call asks again.
                    &[PermissionOptionKind::AllowOnce, PermissionOptionKind::AllowAlways]
                };
                if denied {
                    let entry = lock(&transcriber).refused(
                        &id,
                        &request.tool_call.fields,
                        "refused by the agent's policy (deny_tools)",
                    );
                    let _ = refusals.send(Heard::Refused(Box::new(entry)));
                }
                let chosen = wanted.iter().find_map(|kind| {
                    request
                        .options
                        .iter()
                        .find(|option| option.kind == *kind)
                        .map(|option| option.option_id.clone())
                });
                responder.respond(RequestPermissionResponse::new(match chosen {
                    Some(id) => RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(id)),
                    None => RequestPermissionOutcome::Cancelled,
                }))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_with(transport, async move |connection: ConnectionTo<Agent>| {
            connection
                .send_request(InitializeRequest::new(ProtocolVersion::V1))
                .block_task()
                .await?;
            let _ = heard.send(Heard::Phase(Phase::Session));
            let new_session = NewSessionRequest::new(workspace).mcp_servers(mcp);
            let session = connection.send_request(new_session).block_task().await?;
            let _ = heard.send(Heard::Phase(Phase::Prompt));
            let answer = connection
                .send_request(PromptRequest::new(
                    session.session_id.clone(),
                    vec![ContentBlock::Text(TextContent::new(prompt))],
                ))
                .block_task();
            tokio::pin!(answer);
            tokio::select! {
                answer = &mut answer => return Ok(answer?.stop_reason),
                () = ask_cancel.cancelled() => {}
            }
            connection.send_notification(CancelNotification::new(session.session_id))?;
            Ok(answer.await?.stop_reason)
        })
        .await
}
