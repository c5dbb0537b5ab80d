//! What a run does on its forge: the order of the steps ([`steps`]), the
//! status comment's words ([`text`]), the status comment, pull request and outputs on the forge ([`report`]), and
//! the outputs an agent asked for weighed against the policy
//! ([`outputs`]).

pub mod outputs;
pub mod report;
pub mod steps;
pub mod text;
pub(crate) mod vouch;
