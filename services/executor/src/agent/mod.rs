//! The agent's side of an attempt: its workspace ([`workspace`]), its
//! prompt rendered in one pass ([`prompt`]) from text made safe
//! ([`sanitize`]), the session that runs it in its containment
//! ([`session`]), the events it writes ([`events_file`]), and what is kept
//! of the run afterwards ([`artifacts`]).

pub(crate) mod artifacts;
pub(crate) mod events_file;
pub mod prompt;
pub(crate) mod sanitize;
pub(crate) mod session;
pub(crate) mod workspace;
