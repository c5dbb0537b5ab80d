//! The commands that wrap the admin API: one function per verb, each a
//! call (or two) and a way to show the answer.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::client::{Api, CliError};
use crate::output;

/// What the catalog holds, as typed on the command line (singular or plural).
fn kind(text: &str) -> Result<&'static str, String> {
    match text {
        "source" | "sources" => Ok("sources"),
        "profile" | "profiles" => Ok("profiles"),
        "agent" | "agents" => Ok("agents"),
        "subscription" | "subscriptions" | "sub" | "subs" => Ok("subscriptions"),
        other => Err(format!("`{other}`: say source, profile, agent or subscription")),
    }
}

/// Filters and paging shared by the listings.
#[derive(clap::Args, Default)]
pub struct Window {
    /// Entries at or after this: an RFC 3339 time or an age (`90m`, `2h`, `7d`). Default 24h.
    #[arg(long)]
    since: Option<String>,
    /// Entries at or before this: an RFC 3339 time or an age.
    #[arg(long)]
    until: Option<String>,
    /// Page size (1 to 1000).
    #[arg(long)]
    limit: Option<u32>,
    /// The cursor a previous page printed, for the next (older) page.
    #[arg(long)]
    before: Option<String>,
}

impl Window {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("since", self.since.clone()),
            ("until", self.until.clone()),
            ("limit", self.limit.map(|l| l.to_string())),
            ("before", self.before.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
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

/// Commands that go through the admin API.
#[derive(clap::Subcommand)]
pub enum Verb {
    /// List sources, profiles, agents or subscriptions.
    #[command(after_help = "Examples:\n  hookline list sources\n  hookline list agents --json")]
    List {
        /// source, profile, agent or subscription.
        #[arg(value_parser = kind)]
        kind: &'static str,
    },
    /// Show one source, profile, agent or subscription (secrets only as hints).
    #[command(after_help = "Example:\n  hookline get agent triage")]
    Get {
        #[arg(value_parser = kind)]
        kind: &'static str,
        id: String,
    },
    /// Create or replace one, from JSON (`--data`) or a JSON or TOML file (`-f`).
    #[command(
        after_help = "Examples:\n  hookline create source gh --data '{\"provider\": \"github\", \"secrets\": [\"env:GITHUB_SECRET\"]}'\n  hookline create agent triage -f triage.toml"
    )]
    Create {
        #[arg(value_parser = kind)]
        kind: &'static str,
        id: String,
        /// The object as JSON.
        #[arg(short, long, conflicts_with = "file")]
        data: Option<String>,
        /// A .json or .toml file holding the object.
        #[arg(short, long)]
        file: Option<PathBuf>,
    },
    /// Delete one (refused while something still refers to it).
    #[command(after_help = "Example:\n  hookline delete subscription ops")]
    Delete {
        #[arg(value_parser = kind)]
        kind: &'static str,
        id: String,
    },
    /// Enable one (a disabled source answers 403 and keeps its URL).
    #[command(after_help = "Example:\n  hookline enable source gh")]
    Enable {
        #[arg(value_parser = kind)]
        kind: &'static str,
        id: String,
    },
    /// Disable one.
    #[command(after_help = "Example:\n  hookline disable source gh")]
    Disable {
        #[arg(value_parser = kind)]
        kind: &'static str,
        id: String,
    },
    /// Send a source a test event, signed the way its provider signs.
    #[command(
        after_help = "Examples:\n  hookline send-test gh\n  hookline send-test gh --event issues --data '{\"action\": \"labeled\"}'"
    )]
    SendTest {
        source: String,
        /// The provider's event type (default `ping`).
        #[arg(long)]
        event: Option<String>,
        /// The payload, as JSON.
        #[arg(short, long)]
        data: Option<String>,
    },
    /// Start a run of an agent by hand; the payload is what `{{body.…}}` reads.
    #[command(
        after_help = "Examples:\n  hookline run triage --data '{\"issue\": {\"title\": \"Crash\"}}'\n  hookline run triage --follow"
    )]
    Run {
        agent: String,
        /// The payload, as JSON.
        #[arg(short, long)]
        data: Option<String>,
        /// Print the run's output as it is written, until it ends.
        #[arg(long)]
        follow: bool,
    },
    /// List runs (newest first), or show one.
    #[command(
        after_help = "Examples:\n  hookline runs --agent triage --status failed --since 2h\n  hookline runs 01a2…"
    )]
    Runs {
        /// Show this run only.
        run_id: Option<String>,
        /// Only this agent's runs.
        #[arg(long)]
        agent: Option<String>,
        /// queued, running, succeeded, failed, timed_out or cancelled.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        window: Window,
    },
    /// Cancel a run wherever it is running.
    #[command(after_help = "Example:\n  hookline cancel 01a2…")]
    Cancel { run_id: String },
    /// A run's output; `--follow` keeps printing until the run ends.
    #[command(after_help = "Example:\n  hookline logs 01a2… --follow")]
    Logs {
        run_id: String,
        #[arg(short, long)]
        follow: bool,
    },
    /// Delivery attempts to a subscription (newest first).
    #[command(
        after_help = "Examples:\n  hookline deliveries ops --failed\n  hookline deliveries ops --status 5xx --since 1h --json"
    )]
    Deliveries {
        subscription: String,
        /// Only failed attempts.
        #[arg(long)]
        failed: bool,
        /// A status (404) or a class (5xx).
        #[arg(long)]
        status: Option<String>,
        /// Only attempts for this event.
        #[arg(long)]
        event_id: Option<String>,
        #[command(flatten)]
        window: Window,
    },
    /// Requests a source received, accepted and refused (newest first).
    #[command(
        after_help = "Examples:\n  hookline invocations gh --refused\n  hookline invocations gh --reason signature_invalid --since 7d"
    )]
    Invocations {
        source: String,
        /// Only refused requests.
        #[arg(long)]
        refused: bool,
        /// Only this reason (stored, duplicate, signature_invalid, …).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        window: Window,
    },
    /// Health figures for a source or a subscription.
    #[command(after_help = "Examples:\n  hookline health source gh\n  hookline health subscription ops --since 7d")]
    Health {
        #[arg(value_parser = kind)]
        kind: &'static str,
        id: String,
        /// The window's start (default 24h ago).
        #[arg(long)]
        since: Option<String>,
    },
    /// Why an event started the agents it did, and not the others.
    #[command(after_help = "Example:\n  hookline explain 01a2…")]
    Explain { event_id: String },
    /// Dead letters: deliveries that used up their attempts.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

/// Dead-letter commands.
#[derive(clap::Subcommand)]
pub enum DlqCommand {
    /// List dead letters (newest first).
    #[command(after_help = "Example:\n  hookline dlq list --subscription ops")]
    List {
        #[arg(long)]
        subscription: Option<String>,
        #[command(flatten)]
        window: Window,
    },
    /// Replay one dead letter, all of a subscription's, or all since a time.
    #[command(
        after_help = "Examples:\n  hookline dlq replay --seq 42\n  hookline dlq replay --subscription ops\n  hookline dlq replay --since 2026-11-23T08:00:00Z [--subscription ops]"
    )]
    Replay {
        #[arg(long)]
        subscription: Option<String>,
        /// One letter, by the SEQ `dlq list` shows.
        #[arg(long, conflicts_with_all = ["subscription", "since"])]
        seq: Option<u64>,
        /// Letters that died at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
    },
}

/// Runs one verb; `json` prints answers as the API gave them.
pub async fn run(api: &Api, verb: Verb, json_out: bool) -> Result<(), CliError> {
    let show = |value: &Value, columns: Option<&[(&str, &str)]>| match (json_out, columns) {
        (true, _) => output::json(value),
        (false, Some(columns)) => output::items(value, columns),
        (false, None) => output::fields(value),
    };
    match verb {
        Verb::List { kind } => show(
            &api.call("GET", &format!("/v1/{kind}"), None).await?,
            Some(output::catalog_columns(kind)),
        ),
        Verb::Get { kind, id } => show(&api.call("GET", &format!("/v1/{kind}/{id}"), None).await?, None),
        Verb::Create { kind, id, data, file } => {
            let body = body_from(data.as_deref(), file.as_ref())?
                .ok_or_else(|| CliError::Refused("give the object with --data or --file".into()))?;
            let saved = api.call("PUT", &format!("/v1/{kind}/{id}"), Some(&body)).await?;
            if json_out {
                output::json(&saved)
            } else {
                println!("{kind}/{id} saved")
            }
        }
        Verb::Delete { kind, id } => {
            api.call("DELETE", &format!("/v1/{kind}/{id}"), None).await?;
            println!("{kind}/{id} deleted");
        }
        Verb::Enable { kind, id } => toggle(api, kind, &id, true).await?,
        Verb::Disable { kind, id } => toggle(api, kind, &id, false).await?,
        Verb::SendTest { source, event, data } => {
            let mut body = json!({});
            if let Some(event) = event {
                body["event"] = json!(event);
            }
            if let Some(payload) = body_from(data.as_deref(), None)? {
                body["payload"] = payload;
            }
            let answer = api
                .call("POST", &format!("/v1/sources/{source}/test"), Some(&body))
                .await?;
            show(&answer, None);
            if !(200..300).contains(&answer["status"].as_u64().unwrap_or(0)) {
                return Err(CliError::Refused(format!("the source answered {}", answer["status"])));
            }
        }
        Verb::Run { agent, data, follow } => {
            let body = json!({"payload": body_from(data.as_deref(), None)?.unwrap_or_else(|| json!({}))});
            let started = api
                .call("POST", &format!("/v1/agents/{agent}/run"), Some(&body))
                .await?;
            let run_id = started["run_id"].as_str().unwrap_or_default().to_owned();
            if json_out {
                output::json(&started)
            } else {
                println!("run {run_id} queued")
            }
            if follow {
                return logs(api, &run_id, true, json_out).await;
            }
        }
        Verb::Runs { run_id: Some(id), .. } => show(&api.call("GET", &format!("/v1/runs/{id}"), None).await?, None),
        Verb::Runs {
            run_id: None,
            agent,
            status,
            window,
        } => {
            let mut pairs = window.pairs();
            pairs.extend(agent.map(|a| ("agent", a)));
            pairs.extend(status.map(|s| ("status", s)));
            let answer = api.call("GET", &with_query("/v1/runs", &pairs), None).await?;
            show(
                &answer,
                Some(&[
                    ("RUN", "run_id"),
                    ("AGENT", "agent"),
                    ("STATUS", "status"),
                    ("ATTEMPT", "attempt"),
                    ("EXIT", "exit_code"),
                    ("REASON", "reason"),
                    ("EVENT", "event_id"),
                ]),
            );
        }
        Verb::Cancel { run_id } => {
            api.call("POST", &format!("/v1/runs/{run_id}/cancel"), None).await?;
            println!("run {run_id} cancelled");
        }
        Verb::Logs { run_id, follow } => logs(api, &run_id, follow, json_out).await?,
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
            let answer = api
                .call(
                    "GET",
                    &with_query(&format!("/v1/subscriptions/{subscription}/attempts"), &pairs),
                    None,
                )
                .await?;
            show(
                &answer,
                Some(&[
                    ("AT", "at"),
                    ("EVENT", "event_id"),
                    ("TRY", "attempt"),
                    ("STATUS", "status"),
                    ("MS", "latency_ms"),
                    ("ERROR", "error"),
                    ("NEXT", "next_attempt_at"),
                ]),
            );
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
            let answer = api
                .call(
                    "GET",
                    &with_query(&format!("/v1/sources/{source}/invocations"), &pairs),
                    None,
                )
                .await?;
            show(
                &answer,
                Some(&[
                    ("AT", "at"),
                    ("STATUS", "status"),
                    ("REASON", "reason"),
                    ("EVENT", "event_id"),
                    ("DELIVERY", "delivery_id"),
                    ("FROM", "source_ip"),
                ]),
            );
        }
        Verb::Health { kind, id, since } => {
            let pairs: Vec<(&str, String)> = since.map(|s| ("since", s)).into_iter().collect();
            show(
                &api.call("GET", &with_query(&format!("/v1/{kind}/{id}/health"), &pairs), None)
                    .await?,
                None,
            );
        }
        Verb::Explain { event_id } => show(
            &api.call("GET", &format!("/v1/events/{event_id}/explain"), None).await?,
            None,
        ),
        Verb::Dlq(DlqCommand::List { subscription, window }) => {
            let mut pairs = window.pairs();
            pairs.extend(subscription.map(|s| ("subscription", s)));
            let answer = api.call("GET", &with_query("/v1/dlq", &pairs), None).await?;
            show(
                &answer,
                Some(&[
                    ("SEQ", "seq"),
                    ("SUBSCRIPTION", "subscription"),
                    ("EVENT", "event_id"),
                    ("TYPE", "event_type"),
                    ("TRIES", "attempts"),
                    ("FAILED AT", "failed_at"),
                    ("LAST ERROR", "last_error"),
                ]),
            );
        }
        Verb::Dlq(DlqCommand::Replay {
            subscription,
            seq,
            since,
        }) => {
            let body = match (seq, since, subscription) {
                (Some(seq), _, _) => json!({"seq": seq}),
                (None, Some(since), subscription) => json!({"since": since, "subscription": subscription}),
                (None, None, Some(subscription)) => json!({"subscription": subscription}),
                (None, None, None) => {
                    return Err(CliError::Refused(
                        "say what to replay: --seq, --subscription or --since".into(),
                    ));
                }
            };
            let answer = api.call("POST", "/v1/dlq/replay", Some(&body)).await?;
            if json_out {
                output::json(&answer)
            } else {
                println!("{} dead letter(s) replayed", answer["replayed"])
            }
        }
    }
    Ok(())
}

async fn toggle(api: &Api, kind: &str, id: &str, enable: bool) -> Result<(), CliError> {
    let action = if enable { "enable" } else { "disable" };
    api.call("POST", &format!("/v1/{kind}/{id}/{action}"), None).await?;
    println!("{kind}/{id} {action}d");
    Ok(())
}

/// Prints a run's log, following it until the run ends when asked.
async fn logs(api: &Api, run_id: &str, follow: bool, json_out: bool) -> Result<(), CliError> {
    let print = |line: &Value| {
        if json_out {
            println!("{line}");
        } else if let Some(text) = line["line"].as_str() {
            match line["stream"].as_str() {
                Some("stderr") => eprintln!("{text}"),
                Some("hookline") => println!("# {text}"),
                _ => println!("{text}"),
            }
        } else if let Some(record) = line.get("run") {
            println!(
                "# run {} {}",
                record["status"].as_str().unwrap_or("ended"),
                output::cell(&record["reason"])
            );
        }
    };
    if !follow {
        let answer = api.call("GET", &format!("/v1/runs/{run_id}/log"), None).await?;
        for line in answer["lines"].as_array().map(Vec::as_slice).unwrap_or_default() {
            print(line);
        }
        return Ok(());
    }
    let mut last_status = String::new();
    api.stream_lines(&format!("/v1/runs/{run_id}/log?follow=true"), |text| {
        let line: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        if let Some(status) = line["run"]["status"].as_str() {
            last_status = status.to_owned();
        }
        print(&line);
    })
    .await?;
    match last_status.as_str() {
        "succeeded" => Ok(()),
        "" => Err(CliError::Unavailable("the log stream ended before the run did".into())),
        other => Err(CliError::Refused(format!("run {run_id} {other}"))),
    }
}
