//! Subject, stream, bucket and header names: the one place that spells them.
//!
//! Every name derives from a prefix (default `hookline`) so that several
//! installations can share one NATS account.

/// Dedupe header JetStream reads.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// W3C trace context, carried end to end.
pub const TRACEPARENT: &str = "traceparent";
/// The event id, so readers need not decode the body to learn it.
pub const EVENT_ID: &str = "Hookline-Event-Id";

/// The streams of DESIGN.md section 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// Verified inbound webhooks.
    Ingest,
    /// Runs to execute (work queue).
    Runs,
    /// Outbound events.
    Events,
    /// One message per event and subscription (work queue).
    Deliveries,
    /// Deliveries that used up their attempts.
    Dlq,
    /// Invocation, attempt and run logs.
    Log,
}

impl StreamKind {
    /// Every stream, in set-up order.
    pub const ALL: [StreamKind; 6] = [
        StreamKind::Ingest,
        StreamKind::Runs,
        StreamKind::Events,
        StreamKind::Deliveries,
        StreamKind::Dlq,
        StreamKind::Log,
    ];

    fn word(self) -> &'static str {
        match self {
            StreamKind::Ingest => "ingest",
            StreamKind::Runs => "runs",
            StreamKind::Events => "events",
            StreamKind::Deliveries => "deliveries",
            StreamKind::Dlq => "dlq",
            StreamKind::Log => "log",
        }
    }
}

/// Names for one installation, built from its prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// Names under `prefix`; the prefix is checked by the settings reader.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    /// The prefix itself.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `HOOKLINE_INGEST` and friends.
    pub fn stream(&self, kind: StreamKind) -> String {
        format!(
            "{}_{}",
            self.prefix.to_ascii_uppercase().replace('-', "_"),
            kind.word().to_ascii_uppercase()
        )
    }

    /// Everything a stream captures: `hookline.ingest.>`.
    pub fn all(&self, kind: StreamKind) -> String {
        format!("{}.{}.>", self.prefix, kind.word())
    }

    /// `hookline.ingest.<source>`.
    pub fn ingest(&self, source: &str) -> String {
        format!("{}.ingest.{source}", self.prefix)
    }

    /// `hookline.runs.<agent>`.
    pub fn runs(&self, agent: &str) -> String {
        format!("{}.runs.{agent}", self.prefix)
    }

    /// `hookline.events.<type>`.
    pub fn events(&self, event_type: &str) -> String {
        format!("{}.events.{event_type}", self.prefix)
    }

    /// `hookline.deliveries.<subscription>`.
    pub fn deliveries(&self, subscription: &str) -> String {
        format!("{}.deliveries.{subscription}", self.prefix)
    }

    /// `hookline.dlq.<subscription>`.
    pub fn dlq(&self, subscription: &str) -> String {
        format!("{}.dlq.{subscription}", self.prefix)
    }

    /// `hookline.log.invocation.<source>`.
    pub fn log_invocation(&self, source: &str) -> String {
        format!("{}.log.invocation.{source}", self.prefix)
    }

    /// `hookline.log.attempt.<subscription>`.
    pub fn log_attempt(&self, subscription: &str) -> String {
        format!("{}.log.attempt.{subscription}", self.prefix)
    }

    /// `hookline.log.run.<agent>.<run id>`: one subject per run, so a
    /// run's log is read by subject (`hookline.log.run.<agent>.>` is an
    /// agent's).
    pub fn log_run(&self, agent: &str, run_id: &str) -> String {
        format!("{}.log.run.{agent}.{run_id}", self.prefix)
    }

    /// Requests to cancel a run; every executor copy listens, the one
    /// running it answers.
    pub fn control_cancel(&self) -> String {
        format!("{}.control.cancel", self.prefix)
    }

    /// The events subject prefix, for reading an event's type back.
    pub fn events_prefix(&self) -> String {
        format!("{}.events.", self.prefix)
    }

    /// KV bucket holding sources, agents, profiles and subscriptions.
    pub fn config_bucket(&self) -> String {
        format!("{}_config", self.prefix)
    }

    /// KV bucket holding live state such as each source's last trigger.
    pub fn state_bucket(&self) -> String {
        format!("{}_state", self.prefix)
    }

    /// KV bucket holding each event's routing decision, by event id.
    pub fn decisions_bucket(&self) -> String {
        format!("{}_decisions", self.prefix)
    }

    /// The notifier's durable consumer for one subscription's deliveries.
    pub fn delivery_consumer(&self, subscription: &str) -> String {
        format!("deliver-{subscription}")
    }

    /// State key: when a source last stored an event (unix ms).
    pub fn state_last_triggered(&self, source: &str) -> String {
        format!("source.{source}.last_triggered")
    }

    /// State key: since when every delivery to a subscription failed (unix ms).
    pub fn state_failing_since(&self, subscription: &str) -> String {
        format!("subscription.{subscription}.failing_since")
    }

    /// KV bucket holding run records.
    pub fn runs_bucket(&self) -> String {
        format!("{}_runs", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_prefix() {
        let s = Subjects::new("hookline");
        assert_eq!(s.stream(StreamKind::Ingest), "HOOKLINE_INGEST");
        assert_eq!(s.stream(StreamKind::Dlq), "HOOKLINE_DLQ");
        assert_eq!(s.ingest("github"), "hookline.ingest.github");
        assert_eq!(s.all(StreamKind::Log), "hookline.log.>");
        assert_eq!(s.events("code.generated"), "hookline.events.code.generated");
        assert_eq!(s.config_bucket(), "hookline_config");
        let staging = Subjects::new("hl-staging");
        assert_eq!(staging.stream(StreamKind::Runs), "HL_STAGING_RUNS");
        assert_eq!(staging.runs("triage"), "hl-staging.runs.triage");
    }
}
