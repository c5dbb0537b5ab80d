//! Every integration test, one binary: each module starts the parts it
//! needs (a real nats-server, the services in-process, real HTTP) through
//! the harness in `hookline_tests`.

mod admin;
mod admin_contract;
mod admin_fuzz;
mod agents;
mod agents_mcp;
mod agents_stop;
mod cli;
mod console;
mod console_agent;
mod console_session;
mod crash;
mod crash_records;
mod crash_setup;
mod deploy;
mod e2e;
mod e2e_catalog;
mod executor;
mod executor_crash;
mod executor_http;
mod forge;
mod forge_follow_ups;
mod forge_gitea;
mod forge_outcomes;
mod ingest;
mod models;
mod notifier;
mod notifier_health;
mod observability;
mod observability_tools;
mod operations;
mod operations_logs;
mod ordering;
mod redelivery;
mod replay;
mod router;
mod run_once;
mod sandbox;
mod sessions;
mod sessions_kept;
mod share;
mod structure;
mod trust;
mod up;
