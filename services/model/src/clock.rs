//! Wall-clock helpers. Time on the wire is unix milliseconds.

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 text (UTC, millisecond precision) for unix milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new time-ordered identifier (UUIDv7), as used for events and runs.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The UTC day of `ms` (unix milliseconds) as `YYYY-MM-DD`.
pub fn utc_day(ms: i64) -> String {
    rfc3339_ms(ms).chars().take(10).collect()
}
