//! Table tests per scheme. Signatures here are made with the `hmac` crate
//! directly, step by step as each provider documents, not with the code
//! under test.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use hookline_model::catalog::{HmacAlgorithm, HmacEncoding, HmacSpec, Provider, SecretRef};
use http::HeaderMap;
use sha2::{Sha256, Sha512};

use crate::{Scheme, VerifyError, verify};

pub(crate) const NOW: i64 = 1_700_000_000;
pub(crate) const BODY: &[u8] = br#"{"id":"evt_1","event_id":"Ev1","type":"x","webhookTimestamp":0}"#;

pub(crate) fn mac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn mac512(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

type Signed = (Vec<(&'static str, String)>, Vec<u8>);

struct Case {
    provider: Provider,
    hmac: Option<HmacSpec>,
    /// Signs a request at `ts` as the provider documents.
    sign: fn(secret: &str, ts: i64) -> Signed,
    /// Whether the body is covered by the signature.
    signs_body: bool,
    /// The tolerance, where a timestamp is signed.
    tolerance: Option<i64>,
    /// A signature header that cannot be read.
    malformed: (&'static str, &'static str),
}

pub(crate) fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().expect("header value"));
    }
    map
}

fn check(case: &Case, secrets: &[&str], (pairs, body): &Signed) -> Result<(), VerifyError> {
    let secrets: Vec<_> = secrets
        .iter()
        .map(|s| SecretRef::new(*s).resolve().expect("secret"))
        .collect();
    let scheme = Scheme {
        provider: case.provider,
        hmac: case.hmac.clone(),
    };
    verify(&scheme, &secrets, &headers(pairs), body, NOW).map(|_| ())
}

fn run(case: Case) {
    let name = case.provider.name();
    let signed = (case.sign)("s3cret", NOW);
    assert_eq!(check(&case, &["s3cret"], &signed), Ok(()), "{name}: valid");
    assert_eq!(
        check(&case, &["old-one", "s3cret"], &signed),
        Ok(()),
        "{name}: second secret during rotation"
    );
    assert_eq!(
        check(&case, &["wrong"], &signed),
        Err(VerifyError::Invalid),
        "{name}: wrong secret"
    );
    if case.signs_body {
        let mut tampered = signed.clone();
        tampered.1.extend_from_slice(b" ");
        assert_eq!(
            check(&case, &["s3cret"], &tampered),
            Err(VerifyError::Invalid),
            "{name}: tampered body"
        );
    }
    if let Some(tolerance) = case.tolerance {
        let stale = (case.sign)("s3cret", NOW - tolerance - 5);
        assert_eq!(
            check(&case, &["s3cret"], &stale),
            Err(VerifyError::Stale),
            "{name}: stale"
        );
        let future = (case.sign)("s3cret", NOW + tolerance + 5);
        assert_eq!(
            check(&case, &["s3cret"], &future),
            Err(VerifyError::Stale),
            "{name}: future"
        );
        let edge = (case.sign)("s3cret", NOW - tolerance + 1);
        assert_eq!(check(&case, &["s3cret"], &edge), Ok(()), "{name}: inside tolerance");
    }
    let mut malformed = signed.clone();
    malformed.0.retain(|(h, _)| *h != case.malformed.0);
    malformed.0.push((case.malformed.0, case.malformed.1.to_owned()));
    let got = check(&case, &["s3cret"], &malformed);
    assert_eq!(
        got.map_err(|e| e.code()),
        Err("signature_invalid"),
        "{name}: malformed header"
    );
    let got = check(&case, &["s3cret"], &(Vec::new(), signed.1.clone()));
    assert!(
        matches!(got, Err(VerifyError::Missing(_))),
        "{name}: no signature at all: {got:?}"
    );
}

#[test]
fn github() {
    run(Case {
        provider: Provider::Github,
        hmac: None,
        sign: |secret, _| {
            let sig = format!("sha256={}", hex::encode(mac256(secret.as_bytes(), BODY)));
            (vec![("x-hub-signature-256", sig)], BODY.to_vec())
        },
        signs_body: true,
        tolerance: None,
        malformed: ("x-hub-signature-256", "sha1=abcdef"),
    });
}

#[test]
fn gitlab() {
    run(Case {
        provider: Provider::Gitlab,
        hmac: None,
        sign: |secret, _| (vec![("x-gitlab-token", secret.to_owned())], BODY.to_vec()),
        signs_body: false,
        tolerance: None,
        malformed: ("x-gitlab-token", "s3cre"),
    });
}

/// Gitea signs the body with hex HMAC-SHA256, no prefix (its
/// `services/webhook/deliver.go`); Forgejo the same under its own header
/// name, and the Gitea name for older receivers.
#[test]
fn gitea_and_forgejo() {
    fn hex_of_body(header: &'static str) -> impl Fn(&str, i64) -> Signed {
        move |secret, _| {
            (
                vec![(header, hex::encode(mac256(secret.as_bytes(), BODY)))],
                BODY.to_vec(),
            )
        }
    }
    let cases: [(Provider, &'static str, fn(&str, i64) -> Signed); 3] = [
        (Provider::Gitea, "x-gitea-signature", |s, t| {
            hex_of_body("x-gitea-signature")(s, t)
        }),
        (Provider::Forgejo, "x-forgejo-signature", |s, t| {
            hex_of_body("x-forgejo-signature")(s, t)
        }),
        (Provider::Forgejo, "x-gitea-signature", |s, t| {
            hex_of_body("x-gitea-signature")(s, t)
        }),
    ];
    for (provider, header, sign) in cases {
        run(Case {
            provider,
            hmac: None,
            sign,
            signs_body: true,
            tolerance: None,
            malformed: (header, "not-hex"),
        });
    }
}

#[test]
fn sentry() {
    run(Case {
        provider: Provider::Sentry,
        hmac: None,
        sign: |secret, _| {
            (
                vec![("sentry-hook-signature", hex::encode(mac256(secret.as_bytes(), BODY)))],
                BODY.to_vec(),
            )
        },
        signs_body: true,
        tolerance: None,
        malformed: ("sentry-hook-signature", "not-hex"),
    });
}

#[test]
fn linear() {
    run(Case {
        provider: Provider::Linear,
        hmac: None,
        sign: |secret, ts| {
            let body = format!(
                r#"{{"action":"create","type":"Issue","webhookTimestamp":{}}}"#,
                ts * 1000 + 123
            );
            (
                vec![(
                    "linear-signature",
                    hex::encode(mac256(secret.as_bytes(), body.as_bytes())),
                )],
                body.into_bytes(),
            )
        },
        signs_body: true,
        tolerance: Some(60),
        malformed: ("linear-signature", "zz"),
    });
}

#[test]
fn stripe() {
    run(Case {
        provider: Provider::Stripe,
        hmac: None,
        sign: |secret, ts| {
            let payload = [ts.to_string().as_bytes(), b".", BODY].concat();
            let v1 = hex::encode(mac256(secret.as_bytes(), &payload));
            (
                vec![("stripe-signature", format!("t={ts},v1={v1},v0=6ffbb59b2300aae63f2"))],
                BODY.to_vec(),
            )
        },
        signs_body: true,
        tolerance: Some(300),
        malformed: ("stripe-signature", "v1=abc"),
    });
}

#[test]
fn slack() {
    run(Case {
        provider: Provider::Slack,
        hmac: None,
        sign: |secret, ts| {
            let base = [format!("v0:{ts}:").as_bytes(), BODY].concat();
            let sig = format!("v0={}", hex::encode(mac256(secret.as_bytes(), &base)));
            (
                vec![
                    ("x-slack-signature", sig),
                    ("x-slack-request-timestamp", ts.to_string()),
                ],
                BODY.to_vec(),
            )
        },
        signs_body: true,
        tolerance: Some(300),
        malformed: ("x-slack-signature", "v1=abc"),
    });
}

#[test]
fn shopify() {
    run(Case {
        provider: Provider::Shopify,
        hmac: None,
        sign: |secret, _| {
            (
                vec![("x-shopify-hmac-sha256", B64.encode(mac256(secret.as_bytes(), BODY)))],
                BODY.to_vec(),
            )
        },
        signs_body: true,
        tolerance: None,
        malformed: ("x-shopify-hmac-sha256", "***"),
    });
}

#[test]
fn pagerduty() {
    run(Case {
        provider: Provider::Pagerduty,
        hmac: None,
        sign: |secret, _| {
            let sig = hex::encode(mac256(secret.as_bytes(), BODY));
            (
                vec![("x-pagerduty-signature", format!("v1=00ff,v1={sig}"))],
                BODY.to_vec(),
            )
        },
        signs_body: true,
        tolerance: None,
        malformed: ("x-pagerduty-signature", "v2=abcd"),
    });
}

#[test]
fn standard_webhooks() {
    run(Case {
        provider: Provider::StandardWebhooks,
        hmac: None,
        sign: |secret, ts| {
            let content = [format!("msg_1.{ts}.").as_bytes(), BODY].concat();
            let sig = format!("v1,{}", B64.encode(mac256(secret.as_bytes(), &content)));
            let pairs = vec![
                ("webhook-id", "msg_1".to_owned()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sig),
            ];
            (pairs, BODY.to_vec())
        },
        signs_body: true,
        tolerance: Some(300),
        malformed: ("webhook-signature", "v1,@@@"),
    });
}

#[test]
fn shared_secret() {
    run(Case {
        provider: Provider::SharedSecret,
        hmac: None,
        sign: |secret, _| (vec![("x-webhook-secret", secret.to_owned())], BODY.to_vec()),
        signs_body: false,
        tolerance: None,
        malformed: ("x-webhook-secret", "s3cret-but-longer"),
    });
}

#[test]
fn generic_hmac_sha512_base64_with_prefix_and_signed_timestamp() {
    run(Case {
        provider: Provider::Hmac,
        hmac: Some(HmacSpec {
            header: "X-Signature".into(),
            algorithm: HmacAlgorithm::Sha512,
            encoding: HmacEncoding::Base64,
            prefix: "sha512=".into(),
            timestamp_header: Some("X-Timestamp".into()),
            tolerance: hookline_model::written::Written::parse("120s").expect("a duration"),
        }),
        sign: |secret, ts| {
            let content = [format!("{ts}.").as_bytes(), BODY].concat();
            let sig = format!("sha512={}", B64.encode(mac512(secret.as_bytes(), &content)));
            (
                vec![("x-signature", sig), ("x-timestamp", ts.to_string())],
                BODY.to_vec(),
            )
        },
        signs_body: true,
        tolerance: Some(120),
        malformed: ("x-signature", "sha256=abc"),
    });
}

#[test]
fn mintlify_defaults_to_hex_hmac_sha256() {
    run(Case {
        provider: Provider::Mintlify,
        hmac: None,
        sign: |secret, _| {
            (
                vec![("x-mintlify-signature", hex::encode(mac256(secret.as_bytes(), BODY)))],
                BODY.to_vec(),
            )
        },
        signs_body: true,
        tolerance: None,
        malformed: ("x-mintlify-signature", "xyz"),
    });
}

#[test]
fn slack_documented_example() {
    // The worked example in Slack's "Verifying requests from Slack".
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let secret = SecretRef::new("8f742231b10e8888abcd99yyyzzz85a5")
        .resolve()
        .expect("secret");
    let h = headers(&[
        ("x-slack-request-timestamp", "1531420618".to_owned()),
        (
            "x-slack-signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503".to_owned(),
        ),
    ]);
    let scheme = Scheme {
        provider: Provider::Slack,
        hmac: None,
    };
    assert!(verify(&scheme, &[secret], &h, body, 1_531_420_618 + 10).is_ok());
}
