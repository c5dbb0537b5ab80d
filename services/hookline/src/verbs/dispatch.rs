//! Each verb as a call to the admin API and a way to show its answer.

use std::path::PathBuf;

use anyhow::Context as _;
use hookline_admin::model;
use hookline_bus::runs::RunStatus;
use serde_json::{Value, json};

use super::{DlqCommand, Verb};
use crate::client::{Api, CliError};
use crate::output::{self, Columns};

/// Calls the API and shows answers: as JSON with `--json`, else for people.
struct Shell<'a> {
    api: &'a Api,
    json: bool,
}

impl Shell<'_> {
    /// A listing, shown as a table of `columns`.
    async fn table(&self, path: &str, pairs: &[(&str, String)], columns: Columns) -> Result<(), CliError> {
        let answer = self.api.call("GET", &with_query(path, pairs), None).await?;
        if self.json {
            output::json(&answer);
        } else {
            output::items(&answer, columns);
        }
        Ok(())
    }

    /// One object, shown as `key: value` lines.
    async fn record(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let answer = self.api.call(method, path, body).await?;
        if self.json {
            output::json(&answer);
        } else {
            output::fields(&answer);
        }
        Ok(answer)
    }

    /// A change: `done` for people, the answer with `--json`.
    async fn change(&self, method: &str, path: &str, body: Option<&Value>, done: String) -> Result<Value, CliError> {
        let answer = self.api.call(method, path, body).await?;
        if self.json {
            output::json(&answer);
        } else {
            say!("{done}");
        }
        Ok(answer)
    }
}

/// Runs one verb; `json` prints answers as the API gave them.
pub async fn run(api: &Api, verb: Verb, json: bool) -> Result<(), CliError> {
    let shell = Shell { api, json };
    match verb {
        Verb::List { kind } => {
            shell
                .table(&format!("/v1/{kind}"), &[], output::catalog_columns(kind))
                .await?
        }
        Verb::Get { kind, id } => {
            shell.record("GET", &format!("/v1/{kind}/{id}"), None).await?;
        }
        Verb::Create { kind, id, data, file } => {
            let body = body_from(data.as_deref(), file.as_ref())?
                .ok_or_else(|| CliError::Refused("give the object with --data or --file".into()))?;
            let path = format!("/v1/{kind}/{id}");
            shell
                .change("PUT", &path, Some(&body), format!("{kind}/{id} saved"))
                .await?;
        }
        Verb::Delete { kind, id } => {
            let path = format!("/v1/{kind}/{id}");
            shell
                .change("DELETE", &path, None, format!("{kind}/{id} deleted"))
                .await?;
        }
        Verb::Enable { kind, id } => {
            let path = format!("/v1/{kind}/{id}/enable");
            shell
                .change("POST", &path, None, format!("{kind}/{id} enabled"))
                .await?;
        }
        Verb::Disable { kind, id } => {
            let path = format!("/v1/{kind}/{id}/disable");
            shell
                .change("POST", &path, None, format!("{kind}/{id} disabled"))
                .await?;
        }
        Verb::SendTest { source, event, data } => {
            let request = model::TestEventRequest {
                event,
                payload: body_from(data.as_deref(), None)?,
            };
            let answer = shell
                .record("POST", &format!("/v1/sources/{source}/test"), Some(&typed(&request)?))
                .await?;
            let answer: model::TestEventAnswer = read(answer)?;
            if !(200..300).contains(&answer.status) {
                return Err(CliError::Refused(format!("the source answered {}", answer.status)));
            }
        }
        Verb::Run { agent, data, follow } => {
            let request = model::ManualRunRequest {
                payload: Some(body_from(data.as_deref(), None)?.unwrap_or_else(|| json!({}))),
            };
            let path = format!("/v1/agents/{agent}/run");
            let answer = api.call("POST", &path, Some(&typed(&request)?)).await?;
            if json {
                output::json(&answer);
            }
            let started: model::ManualRunAnswer = read(answer)?;
            if !json {
                say!("run {} queued", started.run_id);
            }
            if follow {
                return logs(api, &started.run_id, true, json).await;
            }
        }
        Verb::Runs { run_id: Some(id), .. } => {
            shell.record("GET", &format!("/v1/runs/{id}"), None).await?;
        }
        Verb::Runs {
            run_id: None,
            agent,
            status,
            window,
        } => {
            let mut pairs = window.pairs();
            pairs.extend(agent.map(|a| ("agent", a)));
            pairs.extend(status.map(|s| ("status", s)));
            shell.table("/v1/runs", &pairs, output::RUNS).await?;
        }
        Verb::Cancel { run_id } => {
            let path = format!("/v1/runs/{run_id}/cancel");
            shell
                .change("POST", &path, None, format!("run {run_id} cancelled"))
                .await?;
        }
        Verb::Approve { run_id, by } => {
            let path = format!("/v1/runs/{run_id}/approve");
            let body = by.map(|by| serde_json::json!({ "by": by }));
            shell
                .change(
                    "POST",
                    &path,
                    body.as_ref(),
                    format!("run {run_id} approved; it starts now"),
                )
                .await?;
        }
        Verb::Reject { run_id, by } => {
            let path = format!("/v1/runs/{run_id}/reject");
            let body = by.map(|by| serde_json::json!({ "by": by }));
            shell
                .change("POST", &path, body.as_ref(), format!("run {run_id} rejected"))
                .await?;
        }
        Verb::Logs { run_id, follow } => logs(api, &run_id, follow, json).await?,
        verb @ (Verb::Transcript { .. }
        | Verb::Diff { .. }
        | Verb::Artifacts { .. }
        | Verb::Fork { .. }
        | Verb::Replay { .. }
        | Verb::Share { .. }) => {
            super::session::run(api, verb, json).await?;
        }
        Verb::Deliveries {
            subscription,
            failed,
            status,
            event_id,
            window,
        } => {
            let mut pairs = window.pairs();
            pairs.extend(failed.then(|| ("outcome", "failed".to_owned())));
            pairs.extend(status.map(|s| ("status", s)));
            pairs.extend(event_id.map(|e| ("event_id", e)));
            let path = format!("/v1/subscriptions/{subscription}/attempts");
            shell.table(&path, &pairs, output::ATTEMPTS).await?;
        }
        Verb::Invocations {
            source,
            refused,
            reason,
            window,
        } => {
            let mut pairs = window.pairs();
            pairs.extend(refused.then(|| ("outcome", "refused".to_owned())));
            pairs.extend(reason.map(|r| ("reason", r)));
            let path = format!("/v1/sources/{source}/invocations");
            shell.table(&path, &pairs, output::INVOCATIONS).await?;
        }
        Verb::Health { kind, id, since } => {
            let pairs: Vec<(&str, String)> = since.map(|s| ("since", s)).into_iter().collect();
            let path = with_query(&format!("/v1/{kind}/{id}/health"), &pairs);
            shell.record("GET", &path, None).await?;
        }
        Verb::Explain { event_id } => {
            shell
                .record("GET", &format!("/v1/events/{event_id}/explain"), None)
                .await?;
        }
        Verb::EventTypes { r#type: None } => shell.table("/v1/event-types", &[], output::EVENT_TYPES).await?,
        Verb::EventTypes { r#type: Some(name) } => {
            shell.record("GET", &format!("/v1/event-types/{name}"), None).await?;
        }
        Verb::Dlq(DlqCommand::List { subscription, window }) => {
            let mut pairs = window.pairs();
            pairs.extend(subscription.map(|s| ("subscription", s)));
            shell.table("/v1/dlq", &pairs, output::DEAD_LETTERS).await?;
        }
        Verb::Dlq(DlqCommand::Replay {
            subscription,
            seq,
            since,
        }) => {
            let request = match (seq, since, subscription) {
                (Some(seq), _, _) => model::ReplayRequest {
                    seq: Some(seq),
                    ..Default::default()
                },
                (None, Some(since), subscription) => model::ReplayRequest {
                    since: Some(since),
                    subscription,
                    ..Default::default()
                },
                (None, None, Some(subscription)) => model::ReplayRequest {
                    subscription: Some(subscription),
                    ..Default::default()
                },
                (None, None, None) => {
                    return Err(CliError::Refused(
                        "say what to replay: --seq, --subscription or --since".into(),
                    ));
                }
            };
            let answer = api.call("POST", "/v1/dlq/replay", Some(&typed(&request)?)).await?;
            if json {
                output::json(&answer);
            } else {
                let replayed: model::ReplayAnswer = read(answer)?;
                say!("{} dead letter(s) replayed", replayed.replayed);
            }
        }
    }
    Ok(())
}

/// Prints a run's log, following it until the run ends (or waits on an
/// operator) when asked; a followed run that did not succeed ends the
/// command with an error.
async fn logs(api: &Api, run_id: &str, follow: bool, json: bool) -> Result<(), CliError> {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let print_line = |line: &model::LogLine| match output::log_line(&line.stream, &line.line, terminal) {
        output::LogOut::Stderr(text) => eprintln!("{text}"),
        output::LogOut::Stdout(text) => say!("{text}"),
    };
    if !follow {
        let answer = api.call("GET", &format!("/v1/runs/{run_id}/log"), None).await?;
        let log: model::RunLog = read(answer)?;
        for line in &log.lines {
            if json {
                say!("{}", serde_json::to_string(line).unwrap_or_default());
            } else {
                print_line(line);
            }
        }
        return Ok(());
    }
    let mut last_status = None;
    api.stream_lines(&format!("/v1/runs/{run_id}/log?follow=true"), |text| {
        if json {
            say!("{text}");
        }
        match serde_json::from_str::<model::Followed>(text) {
            Ok(model::Followed::Line(line)) if !json => print_line(&line),
            Ok(model::Followed::End { run }) => {
                if !json {
                    say!("# run {} {}", run.status, run.reason);
                }
                last_status = Some(run.status);
            }
            _ => {}
        }
    })
    .await?;
    match last_status {
        Some(RunStatus::Succeeded) => Ok(()),
        Some(RunStatus::AwaitingApproval) => Err(CliError::Refused(format!(
            "run {run_id} is held for approval: `hookline approve {run_id}`, then follow it again"
        ))),
        Some(RunStatus::Queued) => Err(CliError::Refused(format!(
            "run {run_id} is queued for an agent that is disabled or deleted: enable it, then follow it again"
        ))),
        None => Err(CliError::Unavailable("the log stream ended before the run did".into())),
        Some(other) => Err(CliError::Refused(format!("run {run_id} {other}"))),
    }
}

/// A typed request body as JSON.
fn typed<T: serde::Serialize>(request: &T) -> Result<Value, CliError> {
    serde_json::to_value(request).map_err(|e| CliError::Unavailable(format!("cannot encode the request: {e}")))
}

/// A typed answer read from JSON.
fn read<T: serde::de::DeserializeOwned>(answer: Value) -> Result<T, CliError> {
    serde_json::from_value(answer)
        .map_err(|e| CliError::Unavailable(format!("the admin API answered in an unexpected shape: {e}")))
}

/// `path?k=v&…` with the values percent-encoded.
fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    format!("{path}?{}", query.finish())
}

/// JSON from `--data` or a `.json`/`.toml` file.
fn body_from(data: Option<&str>, file: Option<&PathBuf>) -> Result<Option<Value>, CliError> {
    let (text, is_toml) = match (data, file) {
        (Some(text), _) => (text.to_owned(), false),
        (None, Some(path)) => (
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
            path.extension().is_some_and(|e| e == "toml"),
        ),
        (None, None) => return Ok(None),
    };
    let value: Value = if is_toml {
        toml::from_str(&text).map_err(|e| CliError::Refused(format!("not TOML: {e}")))?
    } else {
        serde_json::from_str(&text).map_err(|e| CliError::Refused(format!("not JSON: {e}")))?
    };
    Ok(Some(value))
}
