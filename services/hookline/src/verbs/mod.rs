//! The commands that wrap the admin API, as the argument parser sees them;
//! [`dispatch`] turns each into a call (or two) and a way to show the answer.

mod dispatch;
mod session;

pub use dispatch::run;

use std::path::PathBuf;

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

/// The kinds that have health figures.
fn health_kind(text: &str) -> Result<&'static str, String> {
    match kind(text)? {
        kind @ ("sources" | "subscriptions" | "agents") => Ok(kind),
        _ => Err(format!(
            "`{text}`: health figures exist for a source, a subscription or an agent"
        )),
    }
}

/// Filters and paging shared by the listings.
#[derive(clap::Args, Default)]
pub struct Window {
    /// Entries at or after this: an RFC 3339 time or an age (`90m`, `2h`, `7d`). Default: 24h ago (`dlq list`: every letter kept).
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
    /// The query parameters given.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
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
        /// queued, awaiting_approval, running, succeeded, failed, timed_out, cancelled, rejected or expired.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        window: Window,
    },
    /// Cancel a run wherever it is running.
    #[command(after_help = "Example:\n  hookline cancel 01a2…")]
    Cancel { run_id: String },
    /// Approve a run held by its trust policy: it starts, once.
    #[command(
        after_help = "Examples:\n  hookline runs --status awaiting_approval\n  hookline approve 01a2… --as alice"
    )]
    Approve {
        run_id: String,
        /// Your name, recorded with the approval beside the token's fingerprint.
        #[arg(long = "as")]
        by: Option<String>,
    },
    /// Reject a run held by its trust policy: it never runs.
    #[command(after_help = "Example:\n  hookline reject 01a2… --as alice")]
    Reject {
        run_id: String,
        /// Your name, recorded with the rejection beside the token's fingerprint.
        #[arg(long = "as")]
        by: Option<String>,
    },
    /// A run's output; `--follow` keeps printing until the run ends.
    #[command(after_help = "Example:\n  hookline logs 01a2… --follow")]
    Logs {
        run_id: String,
        #[arg(short, long)]
        follow: bool,
    },
    /// What a run's agent did: messages, tool calls, file edits, plans.
    #[command(after_help = "Examples:\n  hookline transcript 01a2…\n  hookline transcript 01a2… --follow --json")]
    Transcript {
        run_id: String,
        /// Keep printing entries as the agent works, until the run ends.
        #[arg(short, long)]
        follow: bool,
    },
    /// The diff of a run's branch against its base.
    #[command(after_help = "Example:\n  hookline diff 01a2… | less")]
    Diff { run_id: String },
    /// What a run kept (prompt, transcript, diff, commits, model calls,
    /// egress, session state, the agent's files), or one of them.
    #[command(after_help = "Examples:\n  hookline artifacts 01a2…\n  hookline artifacts 01a2… report.md -o report.md")]
    Artifacts {
        run_id: String,
        /// One artifact to print (or save with -o).
        name: Option<String>,
        /// Where to save it.
        #[arg(short, long, requires = "name")]
        output: Option<PathBuf>,
    },
    /// Continue a finished run with a new prompt: same branch, its agent's
    /// session resumed.
    #[command(after_help = "Example:\n  hookline fork 01a2… --prompt 'Also add a test.'")]
    Fork {
        run_id: String,
        /// The new prompt, used as written.
        #[arg(long)]
        prompt: String,
    },
    /// A read-only link to one run's transcript and diff, for someone
    /// without a token; `--revoke` ends one at once.
    #[command(after_help = "Examples:\n  hookline share 01a2… --for 24h\n  hookline share --revoke 9f3c…")]
    Share {
        /// The run to share.
        #[arg(required_unless_present = "revoke", conflicts_with = "revoke")]
        run_id: Option<String>,
        /// How long the link works (at most 30d).
        #[arg(long = "for", default_value = "24h")]
        lasts: String,
        /// The share id of a link to end.
        #[arg(long)]
        revoke: Option<String>,
    },
    /// Run an agent on a stored inbound event, its actor judged by the
    /// agent's trust policy; `--preview` pushes nothing and writes nothing
    /// to the forge, to try a prompt on yesterday's real issue.
    #[command(after_help = "Example:\n  hookline replay 01a2… --agent triage --preview --follow")]
    Replay {
        event_id: String,
        /// The agent to run.
        #[arg(long)]
        agent: String,
        /// Push nothing, write nothing to the forge.
        #[arg(long)]
        preview: bool,
        /// Print the transcript as the agent works.
        #[arg(short, long)]
        follow: bool,
    },
    /// Delivery attempts to a subscription (newest first).
    #[command(
        after_help = "Examples:\n  hookline deliveries ops --failed\n  hookline deliveries ops --status 5xx --since 1h --json"
    )]
    Deliveries {
        /// The subscription whose attempts to list.
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
        /// The source whose requests to list.
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
    /// Health figures for a source, a subscription or an agent (its runs,
    /// their cost, and what became of the pull requests they opened).
    #[command(
        after_help = "Examples:\n  hookline health source gh\n  hookline health subscription ops --since 7d\n  hookline health agent fixer --since 90d"
    )]
    Health {
        /// source, subscription or agent.
        #[arg(value_parser = health_kind)]
        kind: &'static str,
        /// Its id.
        id: String,
        /// The window's start (default 24h ago; an agent's, 30 days ago).
        #[arg(long)]
        since: Option<String>,
    },
    /// Why an event started the agents it did, and not the others.
    #[command(after_help = "Example:\n  hookline explain 01a2…")]
    Explain { event_id: String },
    /// Dead letters: deliveries that used up their attempts.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// The event catalog: every type with its schema (one type: its schema
    /// and an example).
    #[command(after_help = "Examples:\n  hookline event-types\n  hookline event-types deployment.failed")]
    EventTypes {
        /// One type, such as deployment.failed.
        r#type: Option<String>,
    },
}

/// Dead-letter commands.
#[derive(clap::Subcommand)]
pub enum DlqCommand {
    /// List dead letters (newest first).
    #[command(after_help = "Example:\n  hookline dlq list --subscription ops")]
    List {
        /// Only this subscription's letters (default: every subscription's).
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
        /// Every letter of this subscription (with --since: only those since then).
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
