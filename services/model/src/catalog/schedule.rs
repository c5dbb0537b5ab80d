//! Cron expressions for agents' schedules.

/// A parsed schedule (the `cron` crate's), as the catalog holds it.
pub use cron::Schedule as CronSchedule;

impl crate::written::Grammar for CronSchedule {
    fn read(text: &str) -> Result<Self, String> {
        parse_cron(text)
    }
    fn placeholder() -> Self {
        // A constant (a test reads it) that fires on no day of this century.
        parse_cron("0 0 0 1 1 * 2099").expect("a constant schedule")
    }
}

/// Parses a 5-field cron expression (minute hour day month weekday, UTC),
/// or a 6-field one with seconds first.
pub fn parse_cron(text: &str) -> Result<cron::Schedule, String> {
    let fields = text.split_whitespace().count();
    let full = match fields {
        5 => {
            let mut parts: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
            parts[4] = standard_weekdays(&parts[4]);
            format!("0 {}", parts.join(" "))
        }
        6 | 7 => text.to_owned(),
        _ => return Err(format!("`{text}` is not a cron expression such as `*/15 * * * *`")),
    };
    full.parse::<cron::Schedule>().map_err(|e| format!("`{text}`: {e}"))
}

/// Standard cron counts weekdays 0-7 from Sunday (0 and 7 are Sunday); the
/// `cron` crate counts 1-7 from Sunday. Names mean the same in both, so
/// numbers (not step sizes after `/`) become names.
fn standard_weekdays(field: &str) -> String {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let mut out = String::new();
    let mut digits = String::new();
    let mut after_slash = false;
    let flush = |digits: &mut String, out: &mut String, after_slash: bool| {
        if digits.is_empty() {
            return;
        }
        match digits
            .parse::<usize>()
            .ok()
            .filter(|_| !after_slash)
            .and_then(|n| NAMES.get(n))
        {
            Some(name) => out.push_str(name),
            None => out.push_str(digits),
        }
        digits.clear();
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out, after_slash);
            after_slash = c == '/';
            out.push(c);
        }
    }
    flush(&mut digits, &mut out, after_slash);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_follow_standard_cron() {
        let rows = [
            ("1", "MON"),
            ("0", "SUN"),
            ("7", "SUN"),
            ("1-5", "MON-FRI"),
            ("1,3", "MON,WED"),
            ("*/2", "*/2"),
            ("MON", "MON"),
        ];
        for (field, expected) in rows {
            assert_eq!(standard_weekdays(field), expected, "{field}");
        }
        assert!(parse_cron("*/15 * * * *").is_ok());
        assert!(parse_cron("* * *").is_err());
        let placeholder = <CronSchedule as crate::written::Grammar>::placeholder();
        assert!(
            placeholder
                .upcoming(chrono::Utc)
                .next()
                .is_some_and(|t| t.timestamp() > 4_000_000_000)
        );
    }
}
