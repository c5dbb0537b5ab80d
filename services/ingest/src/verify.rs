//! Verifying a request as its provider signs it. Pure code: headers and raw
//! body in, [`Verified`] or a [`VerifyError`] out. Only [`verify`] makes a
//! `Verified`, so an unverified webhook cannot reach the publisher.

use hookline_core::catalog::{Provider, Secret};
use hookline_core::signing;
use http::HeaderMap;

/// Largest clock difference accepted where the provider signs a timestamp.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// Why a request was not verified. Each maps to 401 with its code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the scheme needs is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// No secret produced the signature given.
    #[error("signature does not match")]
    Invalid,
    /// The signed timestamp is too old or too far ahead.
    #[error("timestamp outside the {TIMESTAMP_TOLERANCE_SECS} s tolerance")]
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
            VerifyError::Invalid => "signature_invalid",
            VerifyError::Stale => "timestamp_stale",
            VerifyError::NoSecret => "signature_invalid",
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

/// Headers that carry signatures or secrets; they are not stored.
pub const SECRET_HEADERS: [&str; 4] = [
    "x-hub-signature",
    "x-hub-signature-256",
    "webhook-signature",
    "x-webhook-secret",
];

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(VerifyError::Missing(name))
}

fn optional(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_owned)
}

/// Verifies `body` and `headers` against any of `secrets`, at `now` (unix
/// seconds).
pub fn verify(
    provider: Provider,
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Verified, VerifyError> {
    if provider != Provider::None && secrets.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    let generic_id = || optional(headers, "idempotency-key");
    match provider {
        Provider::Github => {
            let signature = header(headers, "x-hub-signature-256")?;
            if !secrets
                .iter()
                .any(|s| signing::verify_github(s.expose(), body, signature))
            {
                return Err(VerifyError::Invalid);
            }
            Ok(Verified {
                delivery_id: optional(headers, "x-github-delivery"),
            })
        }
        Provider::StandardWebhooks => {
            let id = header(headers, "webhook-id")?;
            let timestamp = header(headers, "webhook-timestamp")?;
            let signature = header(headers, "webhook-signature")?;
            // Check the signature before the clock, so a forger learns nothing
            // about the timestamp check.
            if !secrets
                .iter()
                .any(|s| signing::verify_standard(s.expose(), id, timestamp, body, signature))
            {
                return Err(VerifyError::Invalid);
            }
            let ts: i64 = timestamp.trim().parse().map_err(|_| VerifyError::Invalid)?;
            if (now - ts).abs() > TIMESTAMP_TOLERANCE_SECS {
                return Err(VerifyError::Stale);
            }
            Ok(Verified {
                delivery_id: Some(id.to_owned()),
            })
        }
        Provider::SharedSecret => {
            let given = header(headers, "x-webhook-secret")?;
            if !secrets
                .iter()
                .any(|s| signing::constant_time_eq(s.expose().as_bytes(), given.as_bytes()))
            {
                return Err(VerifyError::Invalid);
            }
            Ok(Verified {
                delivery_id: generic_id(),
            })
        }
        Provider::None => Ok(Verified {
            delivery_id: generic_id(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::catalog::SecretRef;

    fn secrets(values: &[&str]) -> Vec<Secret> {
        values
            .iter()
            .map(|v| SecretRef::new(*v).resolve().expect("literal"))
            .collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn github_scheme() {
        let body = br#"{"action":"labeled"}"#;
        let good = signing::github_signature("s3cret", body);
        let rotated = secrets(&["old", "s3cret"]);
        let rows: Vec<(Vec<Secret>, HeaderMap, &[u8], Result<(), VerifyError>, &str)> = vec![
            (
                secrets(&["s3cret"]),
                headers(&[("x-hub-signature-256", &good)]),
                body,
                Ok(()),
                "valid",
            ),
            (
                rotated,
                headers(&[("x-hub-signature-256", &good)]),
                body,
                Ok(()),
                "second secret during rotation",
            ),
            (
                secrets(&["s3cret"]),
                headers(&[("x-hub-signature-256", &good)]),
                b"{}",
                Err(VerifyError::Invalid),
                "tampered body",
            ),
            (
                secrets(&["other"]),
                headers(&[("x-hub-signature-256", &good)]),
                body,
                Err(VerifyError::Invalid),
                "wrong secret",
            ),
            (
                secrets(&["s3cret"]),
                headers(&[("x-hub-signature-256", "sha256=nothex")]),
                body,
                Err(VerifyError::Invalid),
                "malformed",
            ),
            (
                secrets(&["s3cret"]),
                headers(&[]),
                body,
                Err(VerifyError::Missing("x-hub-signature-256")),
                "missing",
            ),
        ];
        for (secrets, headers, body, expected, why) in rows {
            let got = verify(Provider::Github, &secrets, &headers, body, 0).map(|_| ());
            assert_eq!(got, expected, "{why}");
        }
    }

    #[test]
    fn github_delivery_id_is_kept() {
        let body = b"{}";
        let sig = signing::github_signature("s", body);
        let h = headers(&[
            ("x-hub-signature-256", &sig),
            ("x-github-delivery", "abc-123"),
        ]);
        let verified = verify(Provider::Github, &secrets(&["s"]), &h, body, 0).expect("valid");
        assert_eq!(verified.delivery_id(), Some("abc-123"));
    }

    #[test]
    fn standard_webhooks_scheme() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"type":"x"}"#;
        let now = 1_700_000_000;
        let sign = |ts: i64| signing::standard_signature(secret, "msg_1", ts, body);
        let case = |ts: i64, sig: &str| {
            let ts_text = ts.to_string();
            let h = headers(&[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", &ts_text),
                ("webhook-signature", sig),
            ]);
            verify(
                Provider::StandardWebhooks,
                &secrets(&["whsec_b3RoZXI=", secret]),
                &h,
                body,
                now,
            )
            .map(|_| ())
        };
        assert_eq!(case(now, &sign(now)), Ok(()), "valid, second secret");
        assert_eq!(
            case(now - 301, &sign(now - 301)),
            Err(VerifyError::Stale),
            "stale"
        );
        assert_eq!(
            case(now + 301, &sign(now + 301)),
            Err(VerifyError::Stale),
            "future"
        );
        assert_eq!(
            case(now - 299, &sign(now - 299)),
            Ok(()),
            "inside tolerance"
        );
        assert_eq!(
            case(now, &sign(now - 1)),
            Err(VerifyError::Invalid),
            "timestamp is signed"
        );
        assert_eq!(
            case(now, "v1,garbage"),
            Err(VerifyError::Invalid),
            "malformed"
        );
    }

    #[test]
    fn shared_secret_scheme() {
        let ok = headers(&[("x-webhook-secret", "letmein"), ("idempotency-key", "k1")]);
        let verified =
            verify(Provider::SharedSecret, &secrets(&["letmein"]), &ok, b"", 0).expect("valid");
        assert_eq!(verified.delivery_id(), Some("k1"));
        let bad = headers(&[("x-webhook-secret", "letmeout")]);
        assert_eq!(
            verify(Provider::SharedSecret, &secrets(&["letmein"]), &bad, b"", 0),
            Err(VerifyError::Invalid)
        );
    }
}
