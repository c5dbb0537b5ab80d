//! The label sets of Hookline's metric families.

use prometheus_client::encoding::EncodeLabelSet;

/// `source`, `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// The source id.
    pub source: String,
    /// The HTTP status answered.
    pub status: String,
}

/// `source`, `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The source id.
    pub source: String,
    /// Why (the error code).
    pub reason: String,
}

/// `agent`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// The agent.
    pub agent: String,
    /// matched, untrusted, follow_up, budget_spent, unmatched.
    pub outcome: String,
}

/// `agent`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabels {
    /// The agent.
    pub agent: String,
}

/// `agent`, `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    /// The agent.
    pub agent: String,
    /// The run's final status.
    pub status: String,
}

/// `subscription`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// The subscription.
    pub subscription: String,
    /// delivered, failed (to be retried), dead_lettered.
    pub outcome: String,
}

/// `subscription`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubscriptionLabels {
    /// The subscription.
    pub subscription: String,
}

/// `stream`, `consumer`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabels {
    /// The stream.
    pub stream: String,
    /// The durable consumer.
    pub consumer: String,
}

/// `stream`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    /// The stream.
    pub stream: String,
}

/// `route`, `method`, `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdminRequestLabels {
    /// The route template (`/v1/runs/{run_id}`), `/console`, or `other`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The HTTP status answered.
    pub status: String,
}

/// `route`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template.
    pub route: String,
}

/// `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What happened (`signed_in`, `refused`).
    pub outcome: String,
}
