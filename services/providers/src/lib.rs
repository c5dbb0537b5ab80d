//! Webhook providers, one file each. Pure code: it consumes a request's
//! headers and raw body (or a stored `InboundEvent`) and produces a
//! [`Verified`] proof, signed test headers, the headers never to store, and
//! the `WebhookContext` filters and prompts read. Ingest verifies with it,
//! the router reads contexts with it, the admin service signs test events
//! with it.
//!
//! Each provider file (`github.rs`, `stripe.rs`, …) holds its whole rule in
//! one [`Spec`]; [`spec`] is the one `match` over [`Provider`]. Adding a
//! provider is one file, one arm there and one variant of the enum.
//! [`body`] says which bodies are accepted and how a verified one is stored;
//! [`trust`] judges an event's actor against a trust policy (the router
//! before a run, the admin service before a replay).
//!
//! Every comparison is constant time; several secrets may be active at once
//! (rotation), and any of them verifies. Timestamps are checked only where
//! the provider signs them.

pub mod body;
mod common;
pub mod outcome;
pub mod trust;

mod gitea;
mod github;
mod gitlab;
mod hmac;
mod linear;
mod mintlify;
mod none;
mod pagerduty;
mod sentry;
mod shared_secret;
mod shopify;
mod slack;
mod standard_webhooks;
mod stripe;

use hookline_model::catalog::{EventTypeFrom, HmacSpec, Secret, SourceSpec};
use hookline_proto::{InboundEvent, WebhookContext};
use http::HeaderMap;
use serde_json::Value;

pub use common::{Headers, SignRequest};
pub use hookline_model::catalog::Provider;
pub use linear::TOLERANCE_SECS as LINEAR_TOLERANCE_SECS;
pub use stripe::{StripeHeader, parse_header as parse_stripe_header};

use common::{Id, Request, first, header, names, text};

/// Stripe, Slack and Standard Webhooks: largest clock difference, seconds.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// One provider's whole rule.
pub(crate) struct Spec {
    /// Checks the signature.
    verify: fn(&Request<'_>) -> Result<(), VerifyError>,
    /// The provider's delivery id for the request, if it names one.
    delivery_id: fn(&Request<'_>) -> Id,
    /// Signs a test event the way the provider does (the mirror of `verify`).
    sign: fn(&SignRequest<'_>) -> Headers,
    /// Headers carrying its signature or secret: never stored.
    secret_headers: &'static [&'static str],
    /// Reads the fields filters and prompts use.
    context: fn(&InboundEvent, &Value, &mut WebhookContext),
}

/// The rule of `provider`.
fn spec(provider: Provider) -> &'static Spec {
    match provider {
        Provider::Github => &github::SPEC,
        Provider::Gitlab => &gitlab::SPEC,
        Provider::Gitea => &gitea::GITEA,
        Provider::Forgejo => &gitea::FORGEJO,
        Provider::Sentry => &sentry::SPEC,
        Provider::Linear => &linear::SPEC,
        Provider::Mintlify => &mintlify::SPEC,
        Provider::Stripe => &stripe::SPEC,
        Provider::Slack => &slack::SPEC,
        Provider::Shopify => &shopify::SPEC,
        Provider::Pagerduty => &pagerduty::SPEC,
        Provider::StandardWebhooks => &standard_webhooks::SPEC,
        Provider::SharedSecret => &shared_secret::SPEC,
        Provider::Hmac => &hmac::SPEC,
        Provider::None => &none::SPEC,
    }
}

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
    /// Every JSON error code a verification failure answers.
    pub const CODES: [&'static str; 3] = ["signature_missing", "signature_invalid", "timestamp_stale"];

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
/// Only [`verify`] makes one, and only [`Verified::into_event`] turns it
/// into the [`VerifiedEvent`] ingest's publisher takes.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    delivery_id: Option<String>,
}

impl Verified {
    /// The provider's delivery id, if it sent one.
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref()
    }

    /// The event to store, built from this verified request.
    pub fn into_event(self, event: InboundEvent) -> VerifiedEvent {
        VerifiedEvent(event)
    }
}

/// An inbound event whose request was verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedEvent(InboundEvent);

impl VerifiedEvent {
    /// The event.
    pub fn event(&self) -> &InboundEvent {
        &self.0
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

impl Scheme {
    /// The scheme a source is configured with.
    pub fn of(source: &SourceSpec) -> Self {
        Self {
            provider: source.provider,
            hmac: source.hmac_scheme(),
        }
    }

    /// The generic HMAC scheme in force: the configured one, else
    /// Mintlify's defaults for the providers that use one.
    fn generic_hmac(&self) -> Option<HmacSpec> {
        match self.provider {
            Provider::Hmac | Provider::Mintlify => Some(self.hmac.clone().unwrap_or_else(HmacSpec::mintlify)),
            _ => None,
        }
    }
}

/// Whether a header must not be stored for this scheme: any provider's
/// signature header, `authorization`, and a generic scheme's own header.
pub fn is_secret_header(scheme: &Scheme, name: &str) -> bool {
    name == "authorization"
        || Provider::ALL.iter().any(|p| spec(*p).secret_headers.contains(&name))
        || scheme
            .generic_hmac()
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
    let request = Request {
        headers,
        body,
        now,
        secrets,
        hmac: scheme.hmac.as_ref(),
    };
    let spec = spec(scheme.provider);
    (spec.verify)(&request)?;
    Ok(Verified {
        delivery_id: usable((spec.delivery_id)(&request)),
    })
}

fn usable(id: Id) -> Id {
    id.filter(|id| !id.is_empty() && id.len() <= 200)
}

/// The delivery id a request names, verified or not: for the invocation
/// log of a refused request ("why did delivery X get 401?"). Never used to
/// dedupe: only a [`Verified`] id is.
pub fn claimed_delivery_id(scheme: &Scheme, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let request = Request {
        headers,
        body,
        now: 0,
        secrets: &[],
        hmac: scheme.hmac.as_ref(),
    };
    usable((spec(scheme.provider).delivery_id)(&request))
}

/// The headers that sign a test event for `scheme`, plus the delivery id
/// and event-type headers the provider sends (empty values left out).
pub fn sign(scheme: &Scheme, request: &SignRequest<'_>) -> Headers {
    let request = SignRequest {
        hmac: scheme.hmac.as_ref().or(request.hmac),
        ..*request
    };
    (spec(scheme.provider).sign)(&request)
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// The context of one stored event; `source` is its source's configuration
/// (for a configured event type), when known; `body` is the parsed body
/// (`Null` when it is not JSON).
pub fn context(event: &InboundEvent, body: &Value, source: Option<&SourceSpec>) -> WebhookContext {
    let mut ctx = WebhookContext {
        source: event.source.clone(),
        provider: event.provider.clone(),
        ..Default::default()
    };
    if let Some(provider) = Provider::from_name(&event.provider) {
        (spec(provider).context)(event, body, &mut ctx);
    }
    if let Some(from) = source.and_then(|s| s.event_type.as_ref()) {
        ctx.event = match from {
            EventTypeFrom::Pointer(pointer) => text(body, pointer),
            EventTypeFrom::Header(name) => header(event, name).to_owned(),
        };
    }
    if ctx.event.is_empty() {
        generic(event, body, &mut ctx);
    }
    ctx
}

/// What any JSON webhook is read for when its provider says nothing.
fn generic(event: &InboundEvent, body: &Value, ctx: &mut WebhookContext) {
    ctx.event = first(body, &["/type", "/event", "/event_type"]);
    if ctx.event.is_empty() {
        ctx.event = header(event, "x-event-type").to_owned();
    }
    if ctx.action.is_empty() {
        ctx.action = text(body, "/action");
    }
    if ctx.repo.is_empty() {
        ctx.repo = first(body, &["/repository/full_name", "/repo"]);
    }
    if ctx.labels.is_empty() {
        names(body, "/labels", "name", &mut ctx.labels);
    }
}

#[cfg(test)]
mod context_tests;
#[cfg(test)]
mod delivery_tests;
#[cfg(test)]
mod sign_tests;
#[cfg(test)]
mod verify_tests;
