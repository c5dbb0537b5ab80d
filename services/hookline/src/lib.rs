//! The `hookline` crate's library half: [`stack`], the one way to start the
//! services in one process (used by `hookline up` and by the test harness),
//! and [`nats_server`], finding or installing the pinned nats-server (the
//! CLI is the only binary that starts one; the harness uses it too).
//! It consumes service settings and emits running services; the command
//! line itself is the binary (`src/main.rs`).

pub mod nats_server;
pub mod stack;
