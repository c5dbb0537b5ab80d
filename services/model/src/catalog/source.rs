//! Sources: inbound endpoints and how their requests are verified.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SecretRef;
use crate::written::{Written, WrittenDuration};

/// How a source's requests are verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// `X-Hub-Signature-256: sha256=<hex>`; JSON or form-encoded `payload=`.
    Github,
    /// `X-Gitlab-Token: <secret>`.
    Gitlab,
    /// `X-Gitea-Signature: <hex HMAC-SHA256 of the body>`.
    Gitea,
    /// `X-Forgejo-Signature` (or `X-Gitea-Signature`): as Gitea.
    Forgejo,
    /// `Sentry-Hook-Signature: <hex>`.
    Sentry,
    /// `Linear-Signature: <hex>`, signed `webhookTimestamp` within 60 s.
    Linear,
    /// Configurable HMAC (its scheme is not public): see [`HmacSpec`].
    Mintlify,
    /// `Stripe-Signature: t=…,v1=…`, 300 s tolerance.
    Stripe,
    /// `X-Slack-Signature: v0=…` over `v0:<ts>:<body>`, 300 s tolerance.
    Slack,
    /// `X-Shopify-Hmac-Sha256: <base64>`.
    Shopify,
    /// `X-PagerDuty-Signature: v1=<hex>,v1=<hex>` (webhooks v3).
    Pagerduty,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    StandardWebhooks,
    /// `X-Webhook-Secret: <secret>`.
    SharedSecret,
    /// Generic HMAC: see [`HmacSpec`].
    Hmac,
    /// No verification: only when the operator says so.
    None,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 15] = [
        Provider::Github,
        Provider::Gitlab,
        Provider::Gitea,
        Provider::Forgejo,
        Provider::Sentry,
        Provider::Linear,
        Provider::Mintlify,
        Provider::Stripe,
        Provider::Slack,
        Provider::Shopify,
        Provider::Pagerduty,
        Provider::StandardWebhooks,
        Provider::SharedSecret,
        Provider::Hmac,
        Provider::None,
    ];

    /// The provider's name as written in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::Gitlab => "gitlab",
            Provider::Gitea => "gitea",
            Provider::Forgejo => "forgejo",
            Provider::Sentry => "sentry",
            Provider::Linear => "linear",
            Provider::Mintlify => "mintlify",
            Provider::Stripe => "stripe",
            Provider::Slack => "slack",
            Provider::Shopify => "shopify",
            Provider::Pagerduty => "pagerduty",
            Provider::StandardWebhooks => "standard_webhooks",
            Provider::SharedSecret => "shared_secret",
            Provider::Hmac => "hmac",
            Provider::None => "none",
        }
    }

    /// The provider a name stands for (as stored on an inbound event).
    pub fn from_name(name: &str) -> Option<Self> {
        Provider::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Hash of a generic HMAC scheme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    /// HMAC-SHA256.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// Encoding of a generic HMAC signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HmacEncoding {
    /// Lowercase or uppercase hex.
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

/// A generic HMAC scheme (`provider = "hmac"` or `"mintlify"`): the
/// signature in `header`, after `prefix`, is the HMAC of the raw body, or of
/// `<timestamp>.<body>` when `timestamp_header` is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacSpec {
    /// The signature header.
    pub header: String,
    /// sha256 (default) or sha512.
    #[serde(default)]
    pub algorithm: HmacAlgorithm,
    /// hex (default) or base64.
    #[serde(default)]
    pub encoding: HmacEncoding,
    /// Text before the signature, such as `sha256=`.
    #[serde(default)]
    pub prefix: String,
    /// A header holding a signed unix timestamp (seconds).
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// Largest clock difference for a signed timestamp, default `300s`.
    #[serde(default = "default_tolerance")]
    pub tolerance: WrittenDuration,
}

impl HmacSpec {
    /// Mintlify's defaults; its scheme is not documented publicly, so every
    /// field can be overridden in `[sources.<id>.hmac]`.
    pub fn mintlify() -> Self {
        Self {
            header: "x-mintlify-signature".to_owned(),
            algorithm: HmacAlgorithm::Sha256,
            encoding: HmacEncoding::Hex,
            prefix: String::new(),
            timestamp_header: None,
            tolerance: default_tolerance(),
        }
    }

    /// The timestamp tolerance.
    pub fn tolerance(&self) -> Duration {
        *self.tolerance.get()
    }
}

fn default_tolerance() -> WrittenDuration {
    Written::known("300s", Duration::from_secs(300))
}

/// An inbound webhook endpoint, `POST /webhooks/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// How requests are verified.
    pub provider: Provider,
    /// Active secrets, several during a rotation.
    #[serde(default)]
    pub secrets: Vec<SecretRef>,
    /// A disabled source answers 403 and keeps its URL.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Largest accepted body, default 256 KiB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Accepted requests per minute, default 100; 0 turns the limit off.
    #[serde(default = "default_rate_limit")]
    pub rate_limit_per_minute: u32,
    /// Requests handled at once, default 20; 0 turns the cap off.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// The scheme of `hmac` and `mintlify` sources.
    #[serde(default)]
    pub hmac: Option<HmacSpec>,
    /// Where a generic source's event type is read (`hmac`, `shared_secret`,
    /// `standard_webhooks`, `none`); providers with their own say so.
    #[serde(default)]
    pub event_type: Option<EventTypeFrom>,
}

/// Where the event type of a generic source's webhook is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EventTypeFrom {
    /// A JSON pointer into the body, such as `/type`.
    Pointer(String),
    /// A request header, such as `X-Event-Type`.
    Header(String),
}

impl SourceSpec {
    /// The generic HMAC scheme this source uses, if any.
    pub fn hmac_scheme(&self) -> Option<HmacSpec> {
        match (self.provider, &self.hmac) {
            (Provider::Hmac | Provider::Mintlify, Some(spec)) => Some(spec.clone()),
            (Provider::Mintlify, None) => Some(HmacSpec::mintlify()),
            _ => None,
        }
    }
}

pub(crate) fn yes() -> bool {
    true
}
fn default_max_body() -> usize {
    256 * 1024
}
fn default_rate_limit() -> u32 {
    100
}
fn default_max_in_flight() -> u32 {
    20
}
