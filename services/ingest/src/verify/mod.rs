//! Verifying a request as its provider signs it. Pure code: headers and raw
//! body in, [`Verified`] or a [`VerifyError`] out. Only [`verify`] makes a
//! `Verified`, so an unverified webhook cannot reach the publisher.
//!
//! Every comparison is constant time; several secrets may be active at once
//! (rotation), and any of them verifies. Timestamps are checked only where the
//! provider signs them.

mod schemes;
pub mod sign;

pub use schemes::{StripeHeader, parse_stripe_header};

use hookline_core::catalog::{HmacSpec, Provider, Secret};
use http::HeaderMap;

/// Stripe, Slack and Standard Webhooks: largest clock difference, seconds.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;
/// Linear's tolerance for `webhookTimestamp`, seconds.
pub const LINEAR_TOLERANCE_SECS: i64 = 60;

/// Why a request was not verified. Each maps to 401 with its code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header (or signed field) the scheme needs is absent.
    #[error("missing {0}")]
    Missing(String),
    /// A signature header that cannot be read.
    #[error("malformed {0}")]
    Malformed(String),
    /// No secret produced the signature given.
    #[error("signature does not match")]
    Invalid,
    /// The signed timestamp is too old or too far ahead.
    #[error("timestamp outside the accepted tolerance")]
    Stale,
    /// The source has no usable secret.
    #[error("source has no usable secret")]
    NoSecret,
}

impl VerifyError {
    /// The JSON error code.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Missing(_) => "signature_missing",
            VerifyError::Malformed(_) | VerifyError::Invalid | VerifyError::NoSecret => "signature_invalid",
            VerifyError::Stale => "timestamp_stale",
        }
    }
}

/// Proof that a request was verified, with the provider's delivery id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    delivery_id: Option<String>,
}

impl Verified {
    /// The provider's delivery id, if it sent one.
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref()
    }
}

/// How one source verifies: its provider and, for generic HMAC, its scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheme {
    /// The provider.
    pub provider: Provider,
    /// The generic HMAC scheme (`hmac`, `mintlify`).
    pub hmac: Option<HmacSpec>,
}

/// Headers that carry signatures or secrets; they are never stored.
pub const SECRET_HEADERS: [&str; 11] = [
    "x-hub-signature",
    "x-hub-signature-256",
    "webhook-signature",
    "x-webhook-secret",
    "x-gitlab-token",
    "sentry-hook-signature",
    "linear-signature",
    "stripe-signature",
    "x-slack-signature",
    "x-shopify-hmac-sha256",
    "x-pagerduty-signature",
];

/// Whether a header must not be stored for this scheme.
pub fn is_secret_header(scheme: &Scheme, name: &str) -> bool {
    SECRET_HEADERS.contains(&name)
        || name == "authorization"
        || scheme
            .hmac
            .as_ref()
            .is_some_and(|h| h.header.eq_ignore_ascii_case(name))
}

/// Verifies `body` and `headers` against any of `secrets`, at `now` (unix
/// seconds).
pub fn verify(
    scheme: &Scheme,
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Verified, VerifyError> {
    if scheme.provider != Provider::None && secrets.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    let request = schemes::Request {
        headers,
        body,
        now,
        secrets,
    };
    let delivery_id = match scheme.provider {
        Provider::Github => schemes::github(&request)?,
        Provider::Gitlab => schemes::gitlab(&request)?,
        Provider::Sentry => schemes::sentry(&request)?,
        Provider::Linear => schemes::linear(&request)?,
        Provider::Stripe => schemes::stripe(&request)?,
        Provider::Slack => schemes::slack(&request)?,
        Provider::Shopify => schemes::shopify(&request)?,
        Provider::Pagerduty => schemes::pagerduty(&request)?,
        Provider::StandardWebhooks => schemes::standard_webhooks(&request)?,
        Provider::SharedSecret => schemes::shared_secret(&request)?,
        Provider::Hmac | Provider::Mintlify => {
            let spec = scheme.hmac.clone().unwrap_or_else(HmacSpec::mintlify);
            schemes::generic_hmac(&request, &spec)?
        }
        Provider::None => request.header_opt("idempotency-key"),
    };
    Ok(Verified {
        delivery_id: delivery_id.filter(|id| !id.is_empty() && id.len() <= 200),
    })
}
