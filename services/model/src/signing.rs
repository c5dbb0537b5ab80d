//! Webhook signatures: HMAC helpers, GitHub's `sha256=` scheme and Standard
//! Webhooks (`v1,<base64>`). Pure code: ingest verifies with it, the notifier
//! signs with it, tests check both against published vectors.
//!
//! Comparisons are constant time: `Mac::verify_slice` and `subtle`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::catalog::HmacAlgorithm;

type HmacSha256 = Hmac<Sha256>;
type HmacSha512 = Hmac<Sha512>;

fn mac(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = mac(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `expected` is the HMAC-SHA256 of `parts` under `key`, in constant time.
pub fn verify_hmac_sha256(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    let mut mac = mac(key);
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(expected).is_ok()
}

/// The HMAC of `parts` under `key` with `algorithm`.
pub fn hmac(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match algorithm {
        HmacAlgorithm::Sha256 => hmac_sha256(key, parts).to_vec(),
        HmacAlgorithm::Sha512 => {
            let mut mac = match HmacSha512::new_from_slice(key) {
                Ok(mac) => mac,
                Err(_) => unreachable!("HMAC accepts keys of any length"),
            };
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// Whether `expected` is the HMAC of `parts`, in constant time.
pub fn verify_hmac(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    match algorithm {
        HmacAlgorithm::Sha256 => verify_hmac_sha256(key, parts, expected),
        HmacAlgorithm::Sha512 => constant_time_eq(&hmac(algorithm, key, parts), expected),
    }
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// GitHub's `X-Hub-Signature-256` value for `body`.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret.as_bytes(), &[body])))
}

/// Checks a GitHub `X-Hub-Signature-256` header against one secret.
pub fn verify_github(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    verify_hmac_sha256(secret.as_bytes(), &[body], &sig)
}

/// The key bytes of a Standard Webhooks secret: base64 after `whsec_`; a
/// secret without the prefix is used as raw bytes.
pub fn standard_key(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("whsec_") {
        Some(encoded) => B64.decode(encoded).unwrap_or_else(|_| secret.as_bytes().to_vec()),
        None => secret.as_bytes().to_vec(),
    }
}

/// The `v1,<base64>` signature of one message under one secret.
pub fn standard_signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(
        &standard_key(secret),
        &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", B64.encode(mac))
}

/// The `webhook-signature` header value: one signature per secret,
/// space-separated (several during a rotation).
pub fn standard_signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a str>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .into_iter()
        .map(|s| standard_signature(s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether any `v1,` signature in `header` matches `secret`. The timestamp
/// tolerance is the caller's to check.
pub fn verify_standard(secret: &str, msg_id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let key = standard_key(secret);
    header.split_whitespace().any(|candidate| {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            return false;
        };
        let Ok(sig) = B64.decode(encoded) else {
            return false;
        };
        verify_hmac_sha256(&key, &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body], &sig)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_documented_vector() {
        // From GitHub's "Validating webhook deliveries" documentation.
        let secret = "It's a Secret to Everybody";
        let body = b"Hello, World!";
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(github_signature(secret, body), expected);
        assert!(verify_github(secret, body, expected));
    }

    #[test]
    fn github_rejects_what_it_should() {
        let secret = "It's a Secret to Everybody";
        let good = github_signature(secret, b"Hello, World!");
        let rows = [
            (secret, &b"Hello, World?"[..], good.as_str(), "tampered body"),
            ("wrong secret", &b"Hello, World!"[..], good.as_str(), "wrong secret"),
            (secret, &b"Hello, World!"[..], "sha256=zz", "not hex"),
            (secret, &b"Hello, World!"[..], "sha1=757107ea", "wrong scheme"),
            (secret, &b"Hello, World!"[..], "", "empty"),
        ];
        for (secret, body, header, why) in rows {
            assert!(!verify_github(secret, body, header), "{why}");
        }
    }

    const SW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const SW_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SW_TS: i64 = 1_649_367_553;
    const SW_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SW_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn standard_webhooks_spec_vector() {
        assert_eq!(standard_signature(SW_SECRET, SW_ID, SW_TS, SW_BODY), SW_SIG);
        assert!(verify_standard(SW_SECRET, SW_ID, "1649367553", SW_BODY, SW_SIG));
    }

    #[test]
    fn standard_webhooks_accepts_any_of_several_signatures() {
        let rotated = format!("v1,bm90IGl0 {SW_SIG}");
        assert!(
            verify_standard(SW_SECRET, SW_ID, "1649367553", SW_BODY, &rotated),
            "second of two"
        );
        let rows = [
            (SW_ID, "1649367554", SW_BODY, SW_SIG, "timestamp is signed"),
            ("msg_other", "1649367553", SW_BODY, SW_SIG, "id is signed"),
            (SW_ID, "1649367553", &b"{}"[..], SW_SIG, "tampered body"),
            (
                SW_ID,
                "1649367553",
                SW_BODY,
                "v2,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
                "unknown version",
            ),
            (SW_ID, "1649367553", SW_BODY, "v1,@@@", "not base64"),
        ];
        for (id, ts, body, header, why) in rows {
            assert!(!verify_standard(SW_SECRET, id, ts, body, header), "{why}");
        }
        let header = standard_signature_header([SW_SECRET, "whsec_b3RoZXI="], SW_ID, SW_TS, SW_BODY);
        assert!(header.starts_with(SW_SIG) && header.split(' ').count() == 2);
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
