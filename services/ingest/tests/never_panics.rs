//! Property tests: every parser of untrusted headers and bodies returns an
//! answer, never a panic, on any input.

use hookline_ingest::client_ip::TrustedProxies;
use hookline_model::catalog::{HmacAlgorithm, HmacEncoding, HmacSpec, Provider, SecretRef};
use hookline_providers::body;
use hookline_providers::{Scheme, parse_stripe_header, verify};
use hookline_runtime::telemetry::TraceParent;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

const PROVIDERS: [Provider; 15] = Provider::ALL;

const HEADERS: [&str; 16] = [
    "x-hub-signature-256",
    "x-github-delivery",
    "x-gitlab-token",
    "sentry-hook-signature",
    "linear-signature",
    "stripe-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-shopify-hmac-sha256",
    "x-pagerduty-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-webhook-secret",
    "x-signature",
    "x-timestamp",
];

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        "(t=[0-9-]{0,12},)?(v1=[0-9a-fA-F]{0,70},?){0,3}",
        "(v0=|v1,|sha256=|sha512=)[0-9a-zA-Z+/=]{0,90}",
        "[0-9-]{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn verify_never_panics(
        provider in 0usize..PROVIDERS.len(),
        pairs in proptest::collection::vec((0usize..HEADERS.len(), header_value()), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        now in any::<i64>(),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(HEADERS[name]), value);
            }
        }
        let scheme = Scheme {
            provider: PROVIDERS[provider],
            hmac: Some(HmacSpec {
                header: "x-signature".into(),
                algorithm: HmacAlgorithm::Sha512,
                encoding: HmacEncoding::Base64,
                prefix: "sha512=".into(),
                timestamp_header: Some("x-timestamp".into()),
                tolerance: hookline_model::written::Written::parse("300s").expect("a duration"),
            }),
        };
        let secrets = vec![SecretRef::new("whsec_c2VjcmV0").resolve().expect("secret")];
        let _ = verify(&scheme, &secrets, &headers, &body, now);
    }

    #[test]
    fn stripe_header_parser_never_panics(header in "[ -~]{0,200}") {
        let _ = parse_stripe_header(&header);
    }

    #[test]
    fn body_readers_never_panic(content_type in "[ -~]{0,60}", raw in proptest::collection::vec(any::<u8>(), 0..300)) {
        let kind = body::classify(&content_type);
        let _ = body::slack_challenge(&raw);
        if let Some(kind) = kind {
            let _ = body::normalize(Provider::Github, kind, raw.into(), content_type);
        }
    }

    #[test]
    fn forwarded_for_parser_never_panics(proxies in "[ -~]{0,60}", header in "[ -~]{0,120}", peer in any::<[u8; 4]>()) {
        let trusted = TrustedProxies::parse(&proxies).unwrap_or_default();
        let _ = trusted.client_ip(std::net::IpAddr::from(peer), [header.as_str()].into_iter());
        let everything = TrustedProxies::parse("0.0.0.0/0").expect("valid");
        let _ = everything.client_ip(std::net::IpAddr::from(peer), [header.as_str()].into_iter());
    }

    #[test]
    fn traceparent_parser_never_panics(header in "[ -~]{0,80}") {
        let _ = TraceParent::continue_or_new(Some(&header));
    }
}
