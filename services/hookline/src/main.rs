//! `hookline`: the command line. `hookline up` runs everything on this
//! machine; `hookline apply` writes a configuration file into NATS; the
//! other commands wrap the admin API (`events tail` reads NATS directly).

/// `println!` that ends the program quietly when stdout is closed
/// (`hookline … | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

mod apply;
mod client;
mod demo_receiver;
mod events;
mod local_nats;
mod output;
mod up;
mod verbs;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Webhooks in, agent runs, signed webhooks out — on NATS JetStream.
#[derive(Parser)]
#[command(
    name = "hookline",
    version,
    about,
    after_help = "Exit codes: 0 done, 1 refused or invalid (the message says why), 2 bad usage, 3 the admin API or NATS unavailable.\n\nThe admin API is found with --admin-url / HOOKLINE_ADMIN_URL and --token / HOOKLINE_ADMIN_TOKEN;\n`hookline up` prints both."
)]
struct Cli {
    /// The admin API.
    #[arg(
        long,
        global = true,
        env = "HOOKLINE_ADMIN_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    admin_url: String,
    /// A bearer token the admin API accepts.
    #[arg(long, global = true, env = "HOOKLINE_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print answers as JSON, as the API gave them.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run NATS (installed if needed), the five services and a demo receiver on this machine.
    #[command(after_help = "Example:\n  hookline up --config examples/hookline.toml")]
    Up(up::UpArgs),
    /// Make the configuration in NATS match a file (created, changed, removed).
    #[command(
        after_help = "Talks to NATS directly, not to the admin API: it reads HOOKLINE_NATS_URL (default nats://127.0.0.1:4222), HOOKLINE_PREFIX and the other HOOKLINE_* NATS settings; --admin-url and --token do not apply. Subscription URLs are checked against HOOKLINE_DELIVERY_ALLOW. An object changed by someone else after apply read it is not overwritten: apply stops, names it, and you run it again.\n\nExamples:\n  hookline apply -f hookline.toml --dry-run\n  HOOKLINE_NATS_URL=nats://nats:4222 hookline apply -f hookline.toml"
    )]
    Apply {
        /// The configuration file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Show what would change without changing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Outbound events, straight from NATS (HOOKLINE_NATS_URL, not the admin API).
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Exit 0 when `url` answers 2xx (for container health checks).
    #[command(after_help = "Example:\n  hookline probe http://127.0.0.1:8080/readyz")]
    Probe { url: String },
    #[command(flatten)]
    Api(verbs::Verb),
}

// mimalloc: measured faster than the system allocator for ingest (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result: Result<(), client::CliError> = match cli.command {
        Command::Up(args) => {
            hookline_runtime::telemetry::init();
            up::run(args).await.map_err(Into::into)
        }
        Command::Apply { file, dry_run } => apply::run(&file, dry_run).await.map_err(Into::into),
        Command::Events(command) => events::run(command, cli.json).await,
        Command::Probe { url } => client::Api::new(&url, None).call("GET", "", None).await.map(|_| ()),
        Command::Api(verb) => verbs::run(&client::Api::new(&cli.admin_url, cli.token), verb, cli.json).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
