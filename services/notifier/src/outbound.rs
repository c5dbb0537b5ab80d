//! The outbound request: the JSON body every subscriber receives and the
//! headers that sign it. Pure code.
//!
//! Body: `{"id", "type", "timestamp", "data"}`, with `run_id`, `agent` and
//! `event_id` (the webhook that started the run) when a run produced it
//! (the envelope schema: `hookline_model::event_catalog::envelope_schema`). Headers: Standard Webhooks
//! (`webhook-id` = event id, stable across retries; a fresh
//! `webhook-timestamp`; `webhook-signature` with one `v1,` signature per
//! active secret) and `X-Hookline-Signature: sha256=<hex>` of the raw body,
//! keyed like the Standard Webhooks signature with the first secret.

use hookline_model::clock;
use hookline_model::signing;
use hookline_proto::Event;
use serde::Serialize;
use serde_json::value::RawValue;

/// `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("Hookline/", env!("CARGO_PKG_VERSION"));

/// The envelope as serialized. Fields in name order: the bytes are the
/// same as when the body was a `serde_json::Value` (a sorted map).
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    agent: &'a str,
    data: Data<'a>,
    #[serde(skip_serializing_if = "str::is_empty")]
    event_id: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    run_id: &'a str,
    timestamp: String,
    #[serde(rename = "type")]
    kind: &'a str,
}

/// An event's `data`.
#[derive(Serialize)]
#[serde(untagged)]
enum Data<'a> {
    /// As stored (written compact by `serde_json`): checked to be JSON, not
    /// rebuilt.
    Stored(&'a RawValue),
    /// `{}`, for stored data that is not JSON.
    Empty {},
}

/// The JSON body for `event`.
pub fn body(event: &Event) -> Vec<u8> {
    let envelope = Envelope {
        agent: &event.agent,
        data: serde_json::from_slice(&event.data_json).map_or(Data::Empty {}, Data::Stored),
        event_id: &event.source_event_id,
        id: &event.id,
        run_id: &event.run_id,
        timestamp: clock::rfc3339_ms(event.timestamp_ms),
        kind: &event.r#type,
    };
    // Strings and checked JSON into memory: nothing here can fail.
    serde_json::to_vec(&envelope).expect("an envelope serializes")
}

/// Signature headers for `body`, signed at `now` (unix seconds).
pub fn signature_headers(secrets: &[&str], event_id: &str, now: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("webhook-id", event_id.to_owned()),
        ("webhook-timestamp", now.to_string()),
        (
            "webhook-signature",
            signing::standard_signature_header(secrets.iter().copied(), event_id, now, body),
        ),
    ];
    if let Some(first) = secrets.first() {
        let mac = signing::hmac_sha256(&signing::standard_key(first), &[body]);
        headers.push(("x-hookline-signature", format!("sha256={}", hex::encode(mac))));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn body_has_the_four_fields_and_the_run_it_came_from() {
        let event = Event {
            id: "evt_1".into(),
            r#type: "code.generated".into(),
            timestamp_ms: 1_700_000_000_123,
            data_json: br#"{"branch":"b"}"#.to_vec(),
            ..Default::default()
        };
        let value: Value = serde_json::from_slice(&body(&event)).expect("json");
        assert_eq!(value["id"], "evt_1");
        assert_eq!(value["type"], "code.generated");
        assert_eq!(value["timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(value["data"]["branch"], "b");
        assert!(value.get("run_id").is_none(), "no run, no correlation fields: {value}");
        let from_run = Event {
            run_id: "run_1".into(),
            agent: "fixer".into(),
            source_event_id: "in_1".into(),
            ..event
        };
        let value: Value = serde_json::from_slice(&body(&from_run)).expect("json");
        assert_eq!(
            (&value["run_id"], &value["agent"], &value["event_id"]),
            (&json!("run_1"), &json!("fixer"), &json!("in_1"))
        );
    }

    #[test]
    fn the_body_is_the_envelope_in_name_order_with_data_as_stored() {
        let data = r#"{"z":[1,{"b":2,"a":1}],"a":"x"}"#;
        let event = Event {
            id: "evt_1".into(),
            r#type: "run.completed".into(),
            timestamp_ms: 1_700_000_000_123,
            run_id: "run_1".into(),
            agent: "fixer".into(),
            source_event_id: "in_1".into(),
            data_json: data.as_bytes().to_vec(),
        };
        // Compact; the envelope's fields sorted by name, as when the body
        // was a sorted `serde_json::Value`; `data` byte for byte as the
        // executor stored it (its key order is the executor's: serde_json
        // keeps insertion order in this workspace, a dependency's feature).
        let expected = format!(
            r#"{{"agent":"fixer","data":{data},"event_id":"in_1","id":"evt_1","run_id":"run_1","timestamp":"2023-11-14T22:13:20.123Z","type":"run.completed"}}"#
        );
        assert_eq!(String::from_utf8(body(&event)).expect("utf-8"), expected);
        let broken = Event {
            data_json: b"{not json".to_vec(),
            ..event
        };
        let value: Value = serde_json::from_slice(&body(&broken)).expect("json");
        assert_eq!(value["data"], json!({}));
    }

    #[test]
    fn headers_verify_with_every_secret() {
        let secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_b3RoZXI="];
        let headers = signature_headers(&secrets, "evt_1", 1_700_000_000, b"{}");
        let get = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()).expect(n);
        for secret in secrets {
            assert!(signing::verify_standard(
                secret,
                "evt_1",
                "1700000000",
                b"{}",
                &get("webhook-signature")
            ));
        }
        assert!(get("x-hookline-signature").starts_with("sha256="));
    }
}
