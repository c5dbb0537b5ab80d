//! Signing is the mirror of verifying: what a provider's `sign` makes, its
//! `verify` accepts, and no other secret passes.

use hookline_model::catalog::{HmacAlgorithm, HmacEncoding, HmacSpec, Provider};
use hookline_model::secret::SecretRef;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{Scheme, SignRequest, sign, verify};

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
        tolerance: hookline_model::written::Written::parse("60s").expect("a duration"),
    };
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    for provider in Provider::ALL {
        let hmac = (provider == Provider::Hmac).then(|| custom.clone());
        let scheme = Scheme { provider, hmac };
        let request = SignRequest {
            secret,
            body: body.as_bytes(),
            now,
            delivery_id: "d-1",
            event: "ping",
            hmac: None,
        };
        let pairs = sign(&scheme, &request);
        let map = header_map(&pairs);
        let right = [SecretRef::new(secret).resolve().expect("literal")];
        let verified = verify(&scheme, &right, &map, body.as_bytes(), now);
        let Ok(verified) = verified else {
            panic!("{provider:?}: {verified:?} with {pairs:?}");
        };
        let expected = match provider {
            Provider::Stripe => Some("evt_1"), // Stripe's id is the event's own.
            Provider::Slack => None,           // Slack's is in the body, absent here.
            _ => Some("d-1"),
        };
        assert_eq!(
            verified.delivery_id(),
            expected,
            "{provider:?} reads back its delivery id"
        );
        if provider != Provider::None {
            let wrong = [SecretRef::new("whsec_d3JvbmcgdGhlIHNlY3JldCBpcyB3cm9uZw==")
                .resolve()
                .expect("literal")];
            let refused = verify(&scheme, &wrong, &map, body.as_bytes(), now);
            assert!(refused.is_err(), "{provider:?} accepted another secret");
        }
    }
}

#[test]
fn every_signature_header_is_kept_out_of_storage() {
    for provider in Provider::ALL {
        let scheme = Scheme {
            provider,
            hmac: (provider == Provider::Hmac).then(HmacSpec::mintlify),
        };
        let request = SignRequest {
            secret: "a-secret-a-secret",
            body: b"{}",
            now: 1,
            delivery_id: "d",
            event: "e",
            hmac: None,
        };
        for (name, value) in sign(&scheme, &request) {
            let carries_secret = value.contains("a-secret") || name.contains("sig") || name.contains("hmac");
            if carries_secret {
                assert!(
                    crate::is_secret_header(&scheme, &name),
                    "{provider:?}: {name} would be stored"
                );
            }
        }
    }
}
