//! How an agent's run is contained and carried out, with no NATS in it, so
//! it is tested without a server. It consumes an agent's catalog entry, its
//! profile and the run's folder; it emits the agent's process (or HTTP
//! call), its output lines and transcript entries through the callbacks it
//! is given, and notes for the run's log through [`RunLog`], which the
//! executor implements.
//!
//! It owns the bubblewrap view of the host ([`bwrap`]); one run's
//! containment, put together ([`contain`]); control groups and rlimits
//! ([`limits`]); the egress proxy ([`egress`]) and the name server inside
//! the sandbox ([`dns`]); the model gateway with its prices and limits
//! ([`gateway`]) and the usage it reads from model answers ([`usage`]); the
//! gateway of remote MCP servers ([`mcp_gateway`]); finding the agent's
//! program on the run's PATH ([`program`]); what each preset agent needs
//! ([`preset`]); and the runners: a process ([`runner`]), an agent over the
//! Agent Client Protocol ([`acp`]) or an OpenAI-compatible endpoint
//! ([`http_runner`]).

use std::sync::Arc;

pub mod acp;
pub mod bwrap;
pub mod contain;
pub mod dns;
pub mod egress;
pub mod exit;
pub mod gateway;
pub mod http_runner;
pub mod limits;
pub mod mcp_gateway;
pub mod preset;
pub mod program;
pub mod runner;
pub mod usage;

/// Where a run's own notes go (`egress refused: …`, `model x unavailable`):
/// the run's log, which the executor keeps on NATS.
pub trait RunLog: Send + Sync {
    /// One line on `stream` (`hookline` for Hookline's own notes).
    fn log(&self, stream: &str, line: String);
}

/// A shared [`RunLog`].
pub type Log = Arc<dyn RunLog>;
