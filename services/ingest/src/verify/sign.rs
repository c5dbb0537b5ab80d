//! Signing a request the way each provider signs it: the mirror of
//! [`super::schemes`], used to send a source a test event that goes through
//! the same verification a real one does. The round-trip test below keeps
//! the two in step for every provider.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hookline_core::catalog::{HmacEncoding, HmacSpec, Provider};
use hookline_core::signing;

use super::Scheme;

/// The headers that sign `body` for `scheme` with `secret` at `now` (unix
/// seconds), plus the event-type header the provider sends, named
/// `event` when the provider has one. `delivery_id` is the provider's id
/// for the delivery.
pub fn headers(
    scheme: &Scheme,
    secret: &str,
    body: &[u8],
    now: i64,
    delivery_id: &str,
    event: &str,
) -> Vec<(String, String)> {
    let key = secret.as_bytes();
    let sha256_hex = || hex::encode(signing::hmac_sha256(key, &[body]));
    let ts = now.to_string();
    let pairs: Vec<(String, String)> = match scheme.provider {
        Provider::Github => vec![
            (n("x-hub-signature-256"), signing::github_signature(secret, body)),
            (n("x-github-delivery"), delivery_id.to_owned()),
            (n("x-github-event"), event.to_owned()),
        ],
        Provider::Gitlab => vec![
            (n("x-gitlab-token"), secret.to_owned()),
            (n("x-gitlab-event-uuid"), delivery_id.to_owned()),
            (n("x-gitlab-event"), event.to_owned()),
        ],
        Provider::Sentry => vec![
            (n("sentry-hook-signature"), sha256_hex()),
            (n("request-id"), delivery_id.to_owned()),
            (n("sentry-hook-resource"), event.to_owned()),
        ],
        Provider::Linear => vec![
            (n("linear-signature"), sha256_hex()),
            (n("linear-delivery"), delivery_id.to_owned()),
            (n("linear-event"), event.to_owned()),
        ],
        Provider::Stripe => {
            let sig = signing::hmac_sha256(key, &[ts.as_bytes(), b".", body]);
            vec![(n("stripe-signature"), format!("t={ts},v1={}", hex::encode(sig)))]
        }
        Provider::Slack => {
            let sig = signing::hmac_sha256(key, &[b"v0:", ts.as_bytes(), b":", body]);
            vec![
                (n("x-slack-request-timestamp"), ts.clone()),
                (n("x-slack-signature"), format!("v0={}", hex::encode(sig))),
            ]
        }
        Provider::Shopify => vec![
            (
                n("x-shopify-hmac-sha256"),
                B64.encode(signing::hmac_sha256(key, &[body])),
            ),
            (n("x-shopify-webhook-id"), delivery_id.to_owned()),
            (n("x-shopify-topic"), event.to_owned()),
        ],
        Provider::Pagerduty => vec![
            (n("x-pagerduty-signature"), format!("v1={}", sha256_hex())),
            (n("x-webhook-id"), delivery_id.to_owned()),
        ],
        Provider::StandardWebhooks => vec![
            (
                n("webhook-signature"),
                signing::standard_signature(secret, delivery_id, now, body),
            ),
            (n("webhook-id"), delivery_id.to_owned()),
            (n("webhook-timestamp"), ts.clone()),
        ],
        Provider::SharedSecret => vec![
            (n("x-webhook-secret"), secret.to_owned()),
            (n("idempotency-key"), delivery_id.to_owned()),
        ],
        Provider::Hmac | Provider::Mintlify => {
            let spec = scheme.hmac.clone().unwrap_or_else(HmacSpec::mintlify);
            generic_hmac(&spec, key, body, &ts, delivery_id)
        }
        Provider::None => vec![(n("idempotency-key"), delivery_id.to_owned())],
    };
    pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

fn n(name: &str) -> String {
    name.to_owned()
}

fn generic_hmac(spec: &HmacSpec, key: &[u8], body: &[u8], ts: &str, delivery_id: &str) -> Vec<(String, String)> {
    let sig = match &spec.timestamp_header {
        None => signing::hmac(spec.algorithm, key, &[body]),
        Some(_) => signing::hmac(spec.algorithm, key, &[ts.as_bytes(), b".", body]),
    };
    let encoded = match spec.encoding {
        HmacEncoding::Hex => hex::encode(sig),
        HmacEncoding::Base64 => B64.encode(sig),
    };
    let mut out = vec![
        (spec.header.to_ascii_lowercase(), format!("{}{encoded}", spec.prefix)),
        (n("idempotency-key"), delivery_id.to_owned()),
    ];
    if let Some(ts_header) = &spec.timestamp_header {
        out.push((ts_header.to_ascii_lowercase(), ts.to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::catalog::HmacAlgorithm;
    use hookline_core::secret::SecretRef;
    use http::{HeaderMap, HeaderName, HeaderValue};

    fn header_map(pairs: &[(String, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        map
    }

    #[test]
    fn every_provider_verifies_what_it_signs_and_refuses_another_secret() {
        let now = 1_790_000_000;
        let body = format!(r#"{{"webhookTimestamp":{},"id":"evt_1"}}"#, now * 1000);
        let custom = HmacSpec {
            header: "X-Custom-Sig".into(),
            algorithm: HmacAlgorithm::Sha512,
            encoding: HmacEncoding::Base64,
            prefix: "sha512=".into(),
            timestamp_header: Some("X-Custom-Ts".into()),
            tolerance: "60s".into(),
        };
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        for provider in Provider::ALL {
            let hmac = (provider == Provider::Hmac).then(|| custom.clone());
            let scheme = Scheme { provider, hmac };
            let pairs = headers(&scheme, secret, body.as_bytes(), now, "d-1", "ping");
            let map = header_map(&pairs);
            let right = [SecretRef::new(secret).resolve().expect("literal")];
            let verified = super::super::verify(&scheme, &right, &map, body.as_bytes(), now);
            assert!(verified.is_ok(), "{provider:?}: {verified:?} with {pairs:?}");
            if provider != Provider::None {
                let wrong = [SecretRef::new("whsec_d3JvbmcgdGhlIHNlY3JldCBpcyB3cm9uZw==")
                    .resolve()
                    .expect("literal")];
                let refused = super::super::verify(&scheme, &wrong, &map, body.as_bytes(), now);
                assert!(refused.is_err(), "{provider:?} accepted another secret");
            }
        }
    }
}
