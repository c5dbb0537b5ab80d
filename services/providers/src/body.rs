//! What bodies ingest accepts, and how a verified body is stored. Pure code.
//!
//! Accepted: JSON (`application/json`, `*+json`), form
//! (`application/x-www-form-urlencoded`), XML and text, or no content type.
//! Multipart and binary types are refused (415). A JSON body must parse.
//! GitHub's form-encoded deliveries (`payload=<json>`) are stored as the JSON
//! they carry, once the signature over the raw form has been checked.

use crate::Provider;
use bytes::Bytes;

/// The kind of an accepted body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// JSON: must parse.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// Text, XML, or no content type: stored as is.
    Other,
}

/// The kind of `content_type`, or None when it is refused.
pub fn classify(content_type: &str) -> Option<ContentKind> {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "" => Some(ContentKind::Other),
        "application/json" => Some(ContentKind::Json),
        e if e.starts_with("application/") && e.ends_with("+json") => Some(ContentKind::Json),
        "application/x-www-form-urlencoded" => Some(ContentKind::Form),
        "application/xml" => Some(ContentKind::Other),
        e if e.starts_with("application/") && e.ends_with("+xml") => Some(ContentKind::Other),
        e if e.starts_with("text/") => Some(ContentKind::Other),
        _ => None,
    }
}

/// Why a body that passed its content type cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    /// A JSON body that does not parse.
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// A GitHub form body without its `payload` field.
    #[error("form body without a `payload` field")]
    NoPayload,
    /// A GitHub form `payload` that is not JSON.
    #[error("payload is not JSON: {0}")]
    PayloadNotJson(#[source] serde_json::Error),
}

/// The body and content type to store, or why the body is malformed.
pub fn normalize(
    provider: Provider,
    kind: ContentKind,
    raw: Bytes,
    content_type: String,
) -> Result<(Bytes, String), Malformed> {
    match kind {
        ContentKind::Json => {
            serde_json::from_slice::<serde::de::IgnoredAny>(&raw).map_err(Malformed::NotJson)?;
            Ok((raw, content_type))
        }
        ContentKind::Form if provider == Provider::Github => {
            let payload = form_urlencoded::parse(&raw)
                .find(|(key, _)| key == "payload")
                .map(|(_, value)| value.into_owned())
                .ok_or(Malformed::NoPayload)?;
            serde_json::from_str::<serde::de::IgnoredAny>(&payload).map_err(Malformed::PayloadNotJson)?;
            Ok((Bytes::from(payload), "application/json".to_owned()))
        }
        ContentKind::Form | ContentKind::Other => Ok((raw, content_type)),
    }
}

/// Slack's `url_verification` challenge, when that is what `raw` is.
pub fn slack_challenge(raw: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    if value.get("type")?.as_str()? != "url_verification" {
        return None;
    }
    Some(value.get("challenge")?.as_str()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_allowed_by_kind() {
        let rows = [
            ("application/json", Some(ContentKind::Json), "json"),
            (
                "Application/JSON; charset=utf-8",
                Some(ContentKind::Json),
                "case and parameters",
            ),
            ("application/vnd.api+json", Some(ContentKind::Json), "structured suffix"),
            ("application/x-www-form-urlencoded", Some(ContentKind::Form), "form"),
            ("text/plain", Some(ContentKind::Other), "text"),
            ("application/xml", Some(ContentKind::Other), "xml"),
            ("", Some(ContentKind::Other), "none given"),
            ("multipart/form-data; boundary=x", None, "multipart"),
            ("application/octet-stream", None, "binary"),
            ("image/png", None, "image"),
            ("application/zip", None, "archive"),
        ];
        for (ct, expected, why) in rows {
            assert_eq!(classify(ct), expected, "{why}");
        }
    }

    #[test]
    fn github_form_deliveries_become_their_json_payload() {
        let raw = Bytes::from_static(b"payload=%7B%22action%22%3A%22opened%22%7D");
        let (body, ct) = normalize(
            Provider::Github,
            ContentKind::Form,
            raw,
            "application/x-www-form-urlencoded".into(),
        )
        .expect("valid form");
        assert_eq!(&body[..], br#"{"action":"opened"}"#);
        assert_eq!(ct, "application/json");
        let bad = normalize(
            Provider::Github,
            ContentKind::Form,
            Bytes::from_static(b"x=1"),
            String::new(),
        );
        assert!(bad.is_err());
        let slack_form = normalize(
            Provider::Slack,
            ContentKind::Form,
            Bytes::from_static(b"x=1"),
            "f".into(),
        );
        assert_eq!(
            slack_form.expect("kept").0,
            Bytes::from_static(b"x=1"),
            "other providers keep forms as sent"
        );
    }

    #[test]
    fn json_must_parse() {
        assert!(
            normalize(
                Provider::Github,
                ContentKind::Json,
                Bytes::from_static(b"{"),
                String::new()
            )
            .is_err()
        );
        assert!(
            normalize(
                Provider::Github,
                ContentKind::Json,
                Bytes::from_static(b"[1]"),
                String::new()
            )
            .is_ok()
        );
    }

    #[test]
    fn slack_challenge_is_read_only_from_url_verification() {
        assert_eq!(
            slack_challenge(br#"{"type":"url_verification","challenge":"3eZbrw1aB"}"#).as_deref(),
            Some("3eZbrw1aB")
        );
        assert_eq!(slack_challenge(br#"{"type":"event_callback","challenge":"x"}"#), None);
        assert_eq!(slack_challenge(b"token=x"), None);
    }
}
