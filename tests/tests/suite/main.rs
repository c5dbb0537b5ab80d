//! Every integration test, one binary: each module starts the parts it
//! needs (a real nats-server, the services in-process, real HTTP) through
//! the harness in `hookline_tests`.

mod admin;
mod admin_contract;
mod cli;
mod console;
mod crash;
mod deploy;
mod e2e;
mod executor;
mod executor_http;
mod forge;
mod forge_follow_ups;
mod ingest;
mod models;
mod notifier;
mod observability;
mod operations;
mod ordering;
mod redelivery;
mod router;
mod run_once;
mod sandbox;
mod structure;
mod trust;
mod up;
