//! One attempt at a run: what it needs, built once ([`env`]); taking the run's lease ([`lease`]), carrying it
//! out and writing its final record with its events in the outbox
//! ([`run`], gathering them in [`outbox`]), publishing what it produces ([`emit`]), and sweeping what
//! killed executors left behind ([`sweep`]).

pub(crate) mod emit;
pub(crate) mod env;
pub mod lease;
pub(crate) mod outbox;
pub(crate) mod run;
pub mod sweep;
