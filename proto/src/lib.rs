//! The wire contract between Hookline's services: the `hookline.v1`
//! protobuf messages published on JetStream (`InboundEvent`, `RunRequest`,
//! `Event`, `Delivery`, `DeadLetter`, and the `Invocation`, `Attempt` and
//! `RunLog` records), built from `proto/hookline/v1/*.proto` at compile
//! time. It consumes and emits nothing itself. Every service depends on
//! this crate and on `hookline-model`, `hookline-bus` and
//! `hookline-runtime`, never on each other.

#[allow(missing_docs, clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/hookline.v1.rs"));
}

pub use generated::*;
pub use prost::Message;
