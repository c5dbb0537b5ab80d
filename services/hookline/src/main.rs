//! `hookline`: the command line. `hookline up` runs everything on this
//! machine; `hookline apply` writes a configuration file into NATS.

mod apply;
mod demo_receiver;
mod dlq;
mod up;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Webhooks in, agent runs, signed webhooks out — on NATS JetStream.
#[derive(Parser)]
#[command(name = "hookline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run NATS (installed if needed), the four services and a demo receiver on this machine.
    #[command(after_help = "Example:\n  hookline up --config examples/hookline.toml")]
    Up(up::UpArgs),
    /// Make the configuration in NATS match a file (created, changed, removed).
    #[command(
        after_help = "Examples:\n  hookline apply -f hookline.toml --dry-run\n  HOOKLINE_NATS_URL=nats://nats:4222 hookline apply -f hookline.toml"
    )]
    Apply {
        /// The configuration file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Show what would change without changing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Dead letters: deliveries that used up their attempts.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
}

// mimalloc: measured faster than the system allocator for ingest (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    hookline_core::telemetry::init();
    let result = match Cli::parse().command {
        Command::Up(args) => up::run(args).await,
        Command::Apply { file, dry_run } => apply::run(&file, dry_run).await,
        Command::Dlq(command) => dlq::run(command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
