//! The client's side of one ACP conversation: the handshake, a session
//! (the earlier one loaded when the run resumes it and the agent can, else
//! a new one), the prompt, and `session/cancel` when asked. Permission
//! requests are answered by the agent's policy.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    CancelNotification, ContentBlock, InitializeRequest, LoadSessionRequest, McpServer, NewSessionRequest,
    PermissionOptionKind, PromptRequest, RequestPermissionOutcome, RequestPermissionRequest, RequestPermissionResponse,
    SelectedPermissionOutcome, SessionNotification, StopReason, TextContent,
};
use agent_client_protocol::{Agent, ByteStreams, Client};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::transcribe::Transcriber;
use super::{Heard, Phase, lock};

/// What the conversation needs of the run.
pub(super) struct Session {
    pub workspace: PathBuf,
    /// The agent's earlier session to load, if the run resumes one.
    pub resume: Option<String>,
    pub prompt: String,
    pub mcp: Vec<McpServer>,
    pub deny_tools: Vec<String>,
}

/// The client's side of the conversation: handshake, session, prompt;
/// answers the agent's stop reason.
pub(super) async fn converse<O, I>(
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
        resume,
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
            let init = connection
                .send_request(InitializeRequest::new(ProtocolVersion::V1))
                .block_task()
                .await?;
            let mut session_id = None;
            if let Some(earlier) = resume {
                if init.agent_capabilities.load_session {
                    // The agent replays the earlier conversation as updates
                    // while it loads: those are not this run's transcript.
                    let _ = heard.send(Heard::Phase(Phase::Load));
                    let load = LoadSessionRequest::new(earlier.clone(), workspace.clone()).mcp_servers(mcp.clone());
                    match connection.send_request(load).block_task().await {
                        Ok(_) => {
                            session_id = Some(agent_client_protocol::v1::schema::SessionId::new(earlier.clone()));
                            let _ = heard.send(Heard::Resumed(Ok(earlier)));
                        }
                        Err(e) => {
                            let _ = heard.send(Heard::Resumed(Err(format!("the agent could not load it: {e}"))));
                        }
                    }
                } else {
                    let _ = heard.send(Heard::Resumed(Err("the agent cannot load a session".to_owned())));
                }
            }
            let session_id = match session_id {
                Some(id) => id,
                None => {
                    let _ = heard.send(Heard::Phase(Phase::Session));
                    let new_session = NewSessionRequest::new(workspace).mcp_servers(mcp);
                    connection.send_request(new_session).block_task().await?.session_id
                }
            };
            let _ = heard.send(Heard::Session(session_id.to_string()));
            let _ = heard.send(Heard::Phase(Phase::Prompt));
            let answer = connection
                .send_request(PromptRequest::new(
                    session_id.clone(),
                    vec![ContentBlock::Text(TextContent::new(prompt))],
                ))
                .block_task();
            tokio::pin!(answer);
            tokio::select! {
                answer = &mut answer => return Ok(answer?.stop_reason),
                () = ask_cancel.cancelled() => {}
            }
            connection.send_notification(CancelNotification::new(session_id))?;
            Ok(answer.await?.stop_reason)
        })
        .await
}
