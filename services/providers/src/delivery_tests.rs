//! Delivery ids: each provider's own field, read the same whether the
//! request verifies (dedupe) or not (the refusal's log entry).

use hookline_model::catalog::{Provider, SecretRef};

use crate::verify_tests::{BODY, NOW, headers, mac256};
use crate::{Scheme, verify};

#[test]
fn delivery_ids_come_from_each_providers_own_field() {
    let secret = || vec![SecretRef::new("k").resolve().expect("secret")];
    let sig = |data: &[u8]| hex::encode(mac256(b"k", data));
    let rows: Vec<(Provider, Vec<(&'static str, String)>, &str)> = vec![
        (
            Provider::Github,
            vec![
                ("x-hub-signature-256", format!("sha256={}", sig(BODY))),
                ("x-github-delivery", "gh-1".into()),
            ],
            "gh-1",
        ),
        (
            Provider::Sentry,
            vec![("sentry-hook-signature", sig(BODY)), ("request-id", "se-1".into())],
            "se-1",
        ),
        (
            Provider::Stripe,
            vec![(
                "stripe-signature",
                format!("t={NOW},v1={}", sig(&[format!("{NOW}.").as_bytes(), BODY].concat())),
            )],
            "evt_1",
        ),
        (
            Provider::Pagerduty,
            vec![
                ("x-pagerduty-signature", format!("v1={}", sig(BODY))),
                ("x-webhook-id", "pd-1".into()),
            ],
            "pd-1",
        ),
    ];
    for (provider, pairs, expected) in rows {
        let scheme = Scheme { provider, hmac: None };
        let verified = verify(&scheme, &secret(), &headers(&pairs), BODY, NOW).expect("valid");
        assert_eq!(verified.delivery_id(), Some(expected), "{}", provider.name());
        // A refused request is logged with the id it claimed.
        let claimed = crate::claimed_delivery_id(&scheme, &headers(&pairs), BODY);
        assert_eq!(claimed.as_deref(), Some(expected), "{} claims", provider.name());
        let wrong = [SecretRef::new("other").resolve().expect("secret")];
        assert!(verify(&scheme, &wrong, &headers(&pairs), BODY, NOW).is_err());
    }
}
