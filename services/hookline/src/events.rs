//! `hookline events tail`: outbound events straight from NATS, as they are
//! stored, without the admin API (the way a system that reads Hookline's
//! results from NATS would see them).

use async_nats::jetstream::consumer::DeliverPolicy;
use futures::StreamExt as _;
use hookline_bus::history;
use hookline_model::clock;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Event, Message as _};
use serde_json::{Value, json};

use crate::client::CliError;

/// Event commands.
#[derive(clap::Subcommand)]
pub enum EventsCommand {
    /// Print events as they are stored (NATS subject wildcards: `run.*`, `>`).
    #[command(
        after_help = "Reads NATS directly: HOOKLINE_NATS_URL (default nats://127.0.0.1:4222) and HOOKLINE_PREFIX; --admin-url and --token do not apply.\n\nExamples:\n  hookline events tail\n  hookline events tail --type 'run.*' --since 10m --json\n  HOOKLINE_NATS_URL=nats://nats:4222 hookline events tail --type code.generated"
    )]
    Tail {
        /// Event types to print, with NATS wildcards.
        #[arg(long = "type", default_value = ">")]
        event_type: String,
        /// Start this long ago (`10m`, `2h`) instead of with the next event.
        #[arg(long)]
        since: Option<String>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<usize>,
    },
}

/// Runs an events command until Ctrl-C (or `--count` events).
pub async fn run(command: EventsCommand, json_out: bool) -> Result<(), CliError> {
    let EventsCommand::Tail {
        event_type,
        since,
        count,
    } = command;
    let policy = match since {
        None => DeliverPolicy::New,
        Some(age) => {
            let age = hookline_model::settings::parse_duration(age.trim())
                .map_err(|e| CliError::Refused(format!("--since {age}: {e}")))?;
            let start_ms = clock::now_ms() - i64::try_from(age.as_millis()).unwrap_or(0);
            history::from_ms(start_ms)
        }
    };
    let nats = crate::apply::connect()
        .await
        .map_err(|e| CliError::Unavailable(format!("{e:#}")))?;
    let stream = nats.subjects.stream(StreamKind::Events);
    let subject = nats.subjects.events(&event_type);
    let events = history::follow(&nats, &stream, &subject, policy)
        .await
        .map_err(|e| CliError::Unavailable(e.to_string()))?;
    let mut events = std::pin::pin!(events.take(count.unwrap_or(usize::MAX)));
    loop {
        let message = tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            next = events.next() => match next {
                Some(m) => m,
                None => return Ok(()),
            },
        };
        let Ok(event) = Event::decode(message.payload.as_ref()) else {
            continue;
        };
        let data: Value = serde_json::from_slice(&event.data_json).unwrap_or(Value::Null);
        if json_out {
            let line = json!({"id": event.id, "type": event.r#type, "timestamp": clock::rfc3339_ms(event.timestamp_ms),
                              "run_id": event.run_id, "agent": event.agent, "data": data});
            say!("{line}");
        } else {
            say!(
                "{}  {:<22} {} {}",
                clock::rfc3339_ms(event.timestamp_ms),
                event.r#type,
                if event.agent.is_empty() { "-" } else { &event.agent },
                data
            );
        }
    }
}
