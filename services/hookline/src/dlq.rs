//! `hookline dlq replay`: send dead letters again.

use hookline_core::control::replay::{self, Selection};

/// Dead-letter commands.
#[derive(clap::Subcommand)]
pub enum DlqCommand {
    /// Replay one dead letter, all of a subscription's, or all since a time.
    #[command(
        after_help = "Examples:\n  hookline dlq replay --subscription ops\n  hookline dlq replay --seq 42\n  hookline dlq replay --since 2026-11-23T08:00:00Z [--subscription ops]"
    )]
    Replay {
        /// The subscription whose letters are replayed.
        #[arg(long)]
        subscription: Option<String>,
        /// One letter, by its DLQ sequence.
        #[arg(long, conflicts_with_all = ["subscription", "since"])]
        seq: Option<u64>,
        /// Letters that died at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
    },
}

/// Runs a dead-letter command.
pub async fn run(command: DlqCommand) -> anyhow::Result<()> {
    let DlqCommand::Replay {
        subscription,
        seq,
        since,
    } = command;
    let selection = match (seq, since, subscription) {
        (Some(seq), _, _) => Selection::One(seq),
        (None, Some(since), subscription) => {
            let since = chrono::DateTime::parse_from_rfc3339(&since)
                .map_err(|e| anyhow::anyhow!("--since {since:?}: {e} (use RFC 3339, such as 2026-11-23T08:00:00Z)"))?;
            Selection::Since {
                subscription,
                since_ms: since.timestamp_millis(),
            }
        }
        (None, None, Some(subscription)) => Selection::All(subscription),
        (None, None, None) => anyhow::bail!("say what to replay: --subscription, --seq or --since"),
    };
    let nats = crate::apply::connect().await?;
    let replayed = replay::replay(&nats, &selection).await?;
    println!("{replayed} dead letter(s) replayed");
    Ok(())
}
