//! The verbs that read a run's session (`transcript`, `diff`, `artifacts`),
//! continue one (`fork`) and run an agent on a stored event (`replay`).

use hookline_admin::model;
use hookline_model::transcript::{self, Entry, ToolStatus};
use serde_json::{Value, json};

use super::Verb;
use crate::client::{Api, CliError};
use crate::output::{self, Columns};

/// Runs one of this module's verbs.
pub async fn run(api: &Api, verb: Verb, json: bool) -> Result<(), CliError> {
    match verb {
        Verb::Transcript { run_id, follow: false } => {
            let answer = api.call("GET", &format!("/v1/runs/{run_id}/transcript"), None).await?;
            if json {
                output::json(&answer);
                return Ok(());
            }
            let transcript: model::Transcript =
                serde_json::from_value(answer).map_err(|e| CliError::Unavailable(format!("unreadable answer: {e}")))?;
            for entry in transcript::folded(transcript.entries) {
                say!("{}", describe(&entry));
            }
        }
        Verb::Transcript { run_id, follow: true } => follow(api, &run_id, json).await?,
        Verb::Diff { run_id } => {
            let diff = api.fetch(&format!("/v1/runs/{run_id}/diff")).await?;
            print!("{}", String::from_utf8_lossy(&diff));
        }
        Verb::Artifacts {
            run_id,
            name: None,
            output: _,
        } => {
            let answer = api.call("GET", &format!("/v1/runs/{run_id}/artifacts"), None).await?;
            if json {
                output::json(&answer);
            } else {
                output::items(&answer["artifacts"], ARTIFACTS);
            }
        }
        Verb::Artifacts {
            run_id,
            name: Some(name),
            output,
        } => {
            let bytes = api.fetch(&format!("/v1/runs/{run_id}/artifacts/{name}")).await?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &bytes)
                        .map_err(|e| CliError::Refused(format!("cannot write {}: {e}", path.display())))?;
                    say!("saved {name} ({} bytes) to {}", bytes.len(), path.display());
                }
                None => {
                    use std::io::Write as _;
                    let _ = std::io::stdout().write_all(&bytes);
                }
            }
        }
        Verb::Fork { run_id, prompt } => {
            let body = json!({ "prompt": prompt });
            let answer = api
                .call("POST", &format!("/v1/runs/{run_id}/fork"), Some(&body))
                .await?;
            if json {
                output::json(&answer);
            } else {
                let new_run = answer["run_id"].as_str().unwrap_or_default();
                let resumes = if answer["resumes_session"].as_bool() == Some(true) {
                    "resuming the agent's session"
                } else {
                    "with no agent session to resume"
                };
                say!(
                    "run {new_run} continues {run_id}, {resumes}; follow it with `hookline transcript {new_run} --follow`"
                );
            }
        }
        Verb::Replay {
            event_id,
            agent,
            preview,
            follow: following,
        } => {
            let body = json!({ "agent": agent, "preview": preview });
            let answer = api
                .call("POST", &format!("/v1/events/{event_id}/replay"), Some(&body))
                .await?;
            let run_id = answer["run_id"].as_str().unwrap_or_default().to_owned();
            if json && !following {
                output::json(&answer);
            } else if !json {
                let what = if preview {
                    "a preview (nothing pushed, nothing on the forge)"
                } else {
                    "a run"
                };
                say!("run {run_id}: {what} of {agent} on event {event_id}");
            }
            if following {
                follow(api, &run_id, json).await?;
            }
        }
        Verb::Share {
            revoke: Some(share_id), ..
        } => {
            let answer = api.call("DELETE", &format!("/v1/shares/{share_id}"), None).await?;
            if json {
                output::json(&answer);
            } else {
                say!("share {share_id} revoked: its link no longer works");
            }
        }
        Verb::Share {
            run_id: Some(run_id),
            lasts,
            revoke: None,
        } => {
            let body = json!({ "for": lasts });
            let answer = api
                .call("POST", &format!("/v1/runs/{run_id}/share"), Some(&body))
                .await?;
            if json {
                output::json(&answer);
            } else {
                let path = answer["path"].as_str().unwrap_or_default();
                say!("{}", api.url(path));
                say!(
                    "# read-only, until {}; revoke with `hookline share --revoke {}`",
                    output::cell(&answer["expires_at"]),
                    output::cell(&answer["share_id"])
                );
            }
        }
        // `dispatch` hands this module its own verbs only.
        _ => return Err(CliError::Refused("not a session command".to_owned())),
    }
    Ok(())
}

const ARTIFACTS: Columns = &[
    ("NAME", "name"),
    ("SIZE", "size"),
    ("TYPE", "content_type"),
    ("DIGEST", "digest"),
];

/// Prints entries as the server sends them, until the run ends.
async fn follow(api: &Api, run_id: &str, json: bool) -> Result<(), CliError> {
    let mut event = String::new();
    let mut ended = None;
    api.stream_lines(&format!("/v1/runs/{run_id}/transcript?follow=true"), |line| {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            match event.as_str() {
                "entry" if json => say!("{data}"),
                "entry" => {
                    if let Ok(entry) = serde_json::from_str::<Entry>(data) {
                        // A call is shown when it ends, not at each step.
                        let pending = matches!(
                            entry,
                            Entry::ToolCall {
                                status: ToolStatus::Pending | ToolStatus::InProgress,
                                ..
                            }
                        );
                        if !pending {
                            say!("{}", describe(&entry));
                        }
                    }
                }
                "end" => ended = serde_json::from_str::<Value>(data).ok(),
                _ => {}
            }
        }
    })
    .await?;
    match ended {
        Some(run) if !json => {
            say!(
                "# run {} {}",
                output::cell(&run["status"]),
                output::cell(&run["reason"])
            );
            Ok(())
        }
        Some(_) => Ok(()),
        None => Err(CliError::Unavailable(
            "the transcript stream ended before the run did".into(),
        )),
    }
}

/// One entry as a line (or a few) for people.
fn describe(entry: &Entry) -> String {
    let first = |text: &str| {
        text.lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(160)
            .collect::<String>()
    };
    match entry {
        Entry::Prompt { text } => format!("> {}", first(text)),
        Entry::AgentMessage { text } => text.clone(),
        Entry::Thought { text } => format!("(thinking) {}", first(text)),
        Entry::ToolCall {
            name, title, status, ..
        } => {
            let status = serde_json::to_value(status)
                .map(|s| output::cell(&s))
                .unwrap_or_default();
            if title.is_empty() || title == name {
                format!("⏺ {name} [{status}]")
            } else {
                format!("⏺ {name}: {} [{status}]", first(title))
            }
        }
        Entry::FileEdit { path, diff } => {
            let added = diff
                .lines()
                .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
                .count();
            let removed = diff
                .lines()
                .filter(|l| l.starts_with('-') && !l.starts_with("---"))
                .count();
            format!("✎ {path} (+{added} −{removed})")
        }
        Entry::Plan { steps } => steps
            .iter()
            .map(|s| format!("☐ {} [{}]", s.content, s.status))
            .collect::<Vec<_>>()
            .join("\n"),
        Entry::Usage { usage } => format!("usage: {usage}"),
    }
}
