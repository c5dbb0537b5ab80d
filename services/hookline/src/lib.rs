//! The `hookline` crate's library half: [`stack`], the one way to start the
//! services in one process (used by `hookline up` and by the test harness).
//! It consumes service settings and emits running services; the command
//! line itself is the binary (`src/main.rs`).

pub mod stack;
