//! The JetStream contract: every subject, stream, bucket, KV key, state key
//! and `Nats-Msg-Id` is spelled here and nowhere else.
//!
//! Every name derives from a prefix (default `hookline`) so that several
//! installations can share one NATS account. Dedupe ids ([`msg_id`]) are
//! only what JetStream's duplicate window absorbs; idempotency that must
//! survive a server restart lives in KV with revision checks.

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

    /// KV bucket marking deliveries that got a 2xx, by
    /// [`delivered_key`], so a delivery redelivered after a crash or a lost
    /// ack is not sent again.
    pub fn delivered_bucket(&self) -> String {
        format!("{}_delivered", self.prefix)
    }

    /// KV bucket holding the `RunRequest` of each run awaiting approval,
    /// by run id, until it is approved, rejected or expires.
    pub fn approvals_bucket(&self) -> String {
        format!("{}_approvals", self.prefix)
    }

    /// KV bucket linking forge threads and run branches
    /// (`hookline_bus::threads`): follow-ups continue the branch a thread's run
    /// made.
    pub fn threads_bucket(&self) -> String {
        format!("{}_threads", self.prefix)
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

    /// State key: the model tokens an agent's runs used on one UTC day
    /// (`YYYY-MM-DD`).
    pub fn state_daily(&self, measure: crate::cost::Measure, agent: &str, day: &str) -> String {
        format!("agent.{agent}.{}.{day}", measure.key())
    }

    /// State key: the last schedule tick an agent fired (unix seconds).
    pub fn state_last_tick(&self, agent: &str) -> String {
        format!("schedule.{agent}.last_tick")
    }

    /// State key: a run's share link (`hookline share`), by its id.
    pub fn state_share(&self, share_id: &str) -> String {
        format!("share.{share_id}")
    }

    /// Config key of one catalog object: `<kind>.<id>` (`source.github`).
    pub fn config_key(&self, kind: ConfigKind, id: &str) -> String {
        format!("{}.{id}", kind.word())
    }

    /// The kind and id a config key names, if it names one.
    pub fn parse_config_key<'k>(&self, key: &'k str) -> Option<(ConfigKind, &'k str)> {
        let (word, id) = key.split_once('.')?;
        let kind = ConfigKind::ALL.into_iter().find(|k| k.word() == word)?;
        Some((kind, id))
    }

    /// KV bucket holding run records.
    pub fn runs_bucket(&self) -> String {
        format!("{}_runs", self.prefix)
    }

    /// Object store holding each run's artifacts, by [`Self::artifact_key`].
    pub fn artifacts_bucket(&self) -> String {
        format!("{}_artifacts", self.prefix)
    }

    /// Object name of one of a run's artifacts: `<run id>/<name>`.
    pub fn artifact_key(&self, run_id: &str, name: &str) -> String {
        format!("{run_id}/{name}")
    }
}

/// A text made safe as one KV key token: letters, digits, `-` and `_`
/// kept, every other byte as `=XX`.
pub fn key_token(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("={byte:02X}"));
        }
    }
    out
}

/// Threads key of a run branch: `branch.<repository>.<branch>`.
pub fn thread_branch_key(repository: &str, branch: &str) -> String {
    format!("branch.{}.{}", key_token(repository), key_token(branch))
}

/// Threads key of an issue or pull request an agent's run handled:
/// `thread.<repository>.<number>.<agent>`.
pub fn thread_key(repository: &str, number: u64, agent: &str) -> String {
    format!("thread.{}.{number}.{}", key_token(repository), key_token(agent))
}

/// The key in the delivered bucket of `event_id`'s delivery to `subscription`.
pub fn delivered_key(subscription: &str, event_id: &str) -> String {
    format!("{subscription}.{event_id}")
}

/// The four kinds of object in the `hookline_config` bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigKind {
    /// Inbound endpoints.
    Source,
    /// Environment profiles.
    Profile,
    /// Agents.
    Agent,
    /// Outbound endpoints.
    Subscription,
}

impl ConfigKind {
    /// Every kind, in the order a catalog is written.
    pub const ALL: [ConfigKind; 4] = [
        ConfigKind::Source,
        ConfigKind::Profile,
        ConfigKind::Agent,
        ConfigKind::Subscription,
    ];

    /// The singular word: `source`, as in keys and messages.
    pub fn word(self) -> &'static str {
        match self {
            ConfigKind::Source => "source",
            ConfigKind::Profile => "profile",
            ConfigKind::Agent => "agent",
            ConfigKind::Subscription => "subscription",
        }
    }

    /// The plural word: `sources`, as in the admin API's paths.
    pub fn plural(self) -> &'static str {
        match self {
            ConfigKind::Source => "sources",
            ConfigKind::Profile => "profiles",
            ConfigKind::Agent => "agents",
            ConfigKind::Subscription => "subscriptions",
        }
    }

    /// The kind a plural word names.
    pub fn from_plural(word: &str) -> Option<Self> {
        ConfigKind::ALL.into_iter().find(|k| k.plural() == word)
    }
}

/// `Nats-Msg-Id` values, one function per kind of message. JetStream drops
/// a second publish with the same id inside the stream's duplicate window.
pub mod msg_id {
    /// A verified webhook: the provider's delivery id within its source.
    pub fn inbound(source: &str, delivery_id: &str) -> String {
        format!("{source}/{delivery_id}")
    }

    /// A run requested by the router for one event and agent.
    pub fn run_request(event_id: &str, agent: &str) -> String {
        format!("{event_id}/{agent}")
    }

    /// A run requested by a schedule tick (RFC 3339, seconds).
    pub fn schedule(agent: &str, tick: &str) -> String {
        format!("schedule/{agent}/{tick}")
    }

    /// A run started by hand.
    pub fn manual(run_id: &str) -> String {
        format!("manual/{run_id}")
    }

    /// A run a person approved (however many approved it at once).
    pub fn approved(run_id: &str) -> String {
        format!("approved/{run_id}")
    }

    /// One event for one subscription.
    pub fn delivery(event_id: &str, subscription: &str) -> String {
        format!("{event_id}/{subscription}")
    }

    /// A delivery that used up its attempts, by the stream it was read
    /// from (the events stream, or the deliveries stream for a replay) and
    /// its sequence there.
    pub fn dead_letter(event_id: &str, subscription: &str, stream: &str, sequence: u64) -> String {
        format!("{event_id}/{subscription}/dlq/{stream}/{sequence}")
    }

    /// A dead letter sent again, by its DLQ sequence.
    pub fn replay(event_id: &str, subscription: &str, sequence: u64) -> String {
        format!("{event_id}/{subscription}/replay/{sequence}")
    }

    /// An event a run emitted; `dedupe` names it within the run.
    pub fn emitted(run_id: &str, dedupe: &str) -> String {
        format!("{run_id}/{dedupe}")
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

    #[test]
    fn config_keys_round_trip() {
        let s = Subjects::new("hookline");
        for kind in ConfigKind::ALL {
            let key = s.config_key(kind, "a-1");
            assert_eq!(s.parse_config_key(&key), Some((kind, "a-1")), "{key}");
            assert_eq!(ConfigKind::from_plural(kind.plural()), Some(kind));
        }
        assert_eq!(s.config_key(ConfigKind::Source, "github"), "source.github");
        assert_eq!(s.parse_config_key("nothing.x"), None);
        assert_eq!(s.parse_config_key("source"), None);
    }
}
