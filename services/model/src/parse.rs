//! The grammars of values written by people, shared by the catalog, the
//! services' settings and the admin API's parameters: durations and
//! address ranges.

use std::time::Duration;

/// The one grammar of a duration, here and in docs/openapi.json: a
/// number, at most three decimals, and a unit (`ms`, `s` or none, `m`, `h`,
/// `d`), with at most as many digits as keep it within 100 years (for days
/// exactly: up to `36600d`).
pub const DURATION_PATTERN: &str = concat!(
    r"^([0-9]{1,12}(\.[0-9]{1,3})?ms|[0-9]{1,9}(\.[0-9]{1,3})?s?|[0-9]{1,7}(\.[0-9]{1,3})?m",
    r"|[0-9]{1,5}(\.[0-9]{1,3})?h|(([0-9]{1,4}|[1-2][0-9]{4}|3[0-5][0-9]{3}|36[0-5][0-9]{2})(\.[0-9]{1,3})?|36600)d)$"
);

/// Parses `250ms`, `30s`, `30` (seconds), `5m`, `2h`, `7d`, `1.5h`: exactly
/// [`DURATION_PATTERN`], no spaces.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    static GRAMMAR: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(DURATION_PATTERN).ok());
    if !GRAMMAR.as_ref().is_some_and(|g| g.is_match(text)) {
        return Err(format!(
            "`{text}` is not a duration such as 30s, 5m, 2h, 7d or 250ms (at most 100 years)"
        ));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30s, 5m or 250ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        other => return Err(format!("unknown duration unit `{other}` in `{text}`")),
    };
    // The grammar keeps it within 100 years; this keeps the conversion
    // below from overflowing whatever the grammar says.
    const MAX_SECONDS: f64 = 100.0 * 366.0 * 86_400.0;
    if !seconds.is_finite() || !(0.0..=MAX_SECONDS).contains(&seconds) {
        return Err(format!("`{text}` is longer than 100 years"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses `10.0.0.0/8, 127.0.0.1`: addresses or CIDR ranges, comma-separated.
pub fn parse_ip_ranges(text: &str) -> Result<Vec<ipnet::IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("`{s}` is not an address or CIDR range"))
        })
        .collect()
}
