//! What a run's gateways share: its usage so far (tokens, cost, each
//! call), and its limits: a token budget, a cost budget and a turn limit,
//! each refusing the call that would pass it with 429 and stopping the
//! agent at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hookline_model::runs::{ModelCall, TokenUsage};
use http_body_util::combinators::BoxBody;
use hyper::Response;
use tokio_util::sync::CancellationToken;

use super::bodies::{Bodies, CallBody};
use super::{Gateway, answer};

/// What a run may spend through its gateways.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunLimits {
    /// Tokens of every kind.
    pub tokens: Option<u64>,
    /// Cost in micro-dollars, at the profile's prices.
    pub cost_micros: Option<u64>,
    /// Model calls (a preset's `max_turns`).
    pub calls: Option<u64>,
}

/// What a run's gateways share: one usage total and one budget.
#[derive(Clone, Default)]
pub struct Meter {
    pub(super) usage: Arc<Mutex<TokenUsage>>,
    pub(super) exceeded: Arc<AtomicBool>,
    /// The most tokens one call took so far.
    pub(super) largest: Arc<AtomicU64>,
    /// The most one call cost so far, in micro-dollars.
    pub(super) dearest: Arc<AtomicU64>,
    /// Model calls forwarded.
    pub(super) started: Arc<AtomicU64>,
    /// Whether a call was refused for the run's `max_turns`.
    pub(super) out_of_turns: Arc<AtomicBool>,
    /// Each call: its API, model and usage (cost included).
    pub(super) calls: Arc<Mutex<Vec<ModelCall>>>,
    /// Cancelled when a call is refused for the budget: the run's agent
    /// is stopped then, not left to retry what looks like a rate limit.
    pub(super) stop: CancellationToken,
    /// Each call's bodies, when the agent asks for them.
    pub(super) bodies: Option<Bodies>,
}

impl Meter {
    /// A meter whose budget stop is a child of `run` (a cancel of the
    /// run stops the agent too; a spent budget stops only the agent).
    pub fn new(run: &CancellationToken) -> Self {
        Self {
            stop: run.child_token(),
            ..Self::default()
        }
    }

    /// The same meter, keeping each call's bodies too.
    pub fn keeping_bodies(mut self) -> Self {
        self.bodies = Some(Bodies::default());
        self
    }

    /// Each call's bodies so far (none unless [`Meter::keeping_bodies`]).
    pub fn bodies(&self) -> Vec<CallBody> {
        self.bodies.as_ref().map(Bodies::calls).unwrap_or_default()
    }

    /// What stops the run's agent: the run's cancel, or a spent budget.
    pub fn stop(&self) -> &CancellationToken {
        &self.stop
    }

    /// The run's usage so far.
    pub fn usage(&self) -> TokenUsage {
        self.usage.lock().map(|u| *u).unwrap_or_default()
    }

    /// Whether a call was refused for the budget.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::SeqCst)
    }

    /// Whether a call was refused for the run's turn limit.
    pub fn out_of_turns(&self) -> bool {
        self.out_of_turns.load(Ordering::SeqCst)
    }

    /// Each call so far (at most [`MAX_CALLS_KEPT`]).
    pub fn calls(&self) -> Vec<ModelCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Refuses a call: the agent is stopped at once, not left to retry.
    fn refuse(&self, flag: &AtomicBool) {
        flag.store(true, Ordering::SeqCst);
        self.stop.cancel();
    }
}

/// Most calls kept one by one in a run's record (all are counted).
pub const MAX_CALLS_KEPT: usize = 1000;

impl Gateway {
    /// A refusal when the run is at one of its limits: the token budget or
    /// the cost budget at the size of its largest call so far (a budget is
    /// a ceiling, not a floor), or its turn limit.
    pub(super) fn over_a_limit(&self, path: &str) -> Option<Response<BoxBody<Bytes, hyper::Error>>> {
        let used = self.meter.usage();
        if let Some(budget) = self.limits.tokens
            && (used.total() + self.meter.largest.load(Ordering::SeqCst) > budget || used.total() >= budget)
        {
            self.meter.refuse(&self.meter.exceeded);
            let note = format!("the run's token budget of {budget} is spent ({} used)", used.total());
            self.emitter.log("hookline", format!("model call refused: {note}"));
            return Some(answer(429, "budget_exceeded", &note));
        }
        if let Some(budget) = self.limits.cost_micros
            && (used.cost_micros + self.meter.dearest.load(Ordering::SeqCst) > budget || used.cost_micros >= budget)
        {
            self.meter.refuse(&self.meter.exceeded);
            let note = format!(
                "the run's budget of ${} is spent (${} used)",
                hookline_model::cost::dollars(budget),
                hookline_model::cost::dollars(used.cost_micros)
            );
            self.emitter.log("hookline", format!("model call refused: {note}"));
            return Some(answer(429, "budget_exceeded", &note));
        }
        let counts = !(path.ends_with("/count_tokens") || path.ends_with(":countTokens"));
        if counts
            && let Some(turns) = self.limits.calls
            && self.meter.started.fetch_add(1, Ordering::SeqCst) >= turns
        {
            self.meter.refuse(&self.meter.out_of_turns);
            let note = format!("the run's turn limit of {turns} model calls is reached");
            self.emitter.log("hookline", format!("model call refused: {note}"));
            return Some(answer(429, "turn_limit", &note));
        }
        None
    }
}
