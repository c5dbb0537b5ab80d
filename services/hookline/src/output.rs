//! How answers are shown: `--json` prints the API's JSON as it came;
//! otherwise a table or a few `key: value` lines meant for people.

use serde_json::Value;

/// Writes one line to stdout; a closed pipe ends the program quietly (the
/// reader has what it wanted), where `println!` would panic.
pub fn line(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    if writeln!(std::io::stdout().lock(), "{text}").is_err() {
        std::process::exit(0);
    }
}

/// Where and how one line of a run's log is printed.
#[derive(Debug, PartialEq, Eq)]
pub enum LogOut {
    /// On standard output.
    Stdout(String),
    /// On standard error.
    Stderr(String),
}

/// One line of a run's log from `stream`: at a terminal, the agent's
/// stderr lines go to stderr and colours stay; redirected (a file, a
/// pipe), every line goes to stdout, the streams marked (`# ` Hookline's
/// own, `! ` the agent's stderr) and terminal escape sequences removed, so
/// the file holds what the terminal showed.
pub fn log_line(stream: &str, line: &str, terminal: bool) -> LogOut {
    let text = if terminal {
        line.to_owned()
    } else {
        strip_ansi_escapes::strip_str(line)
    };
    match (stream, terminal) {
        ("stderr", true) => LogOut::Stderr(text),
        ("stderr", false) => LogOut::Stdout(format!("! {text}")),
        ("hookline", _) => LogOut::Stdout(format!("# {text}")),
        _ => LogOut::Stdout(text),
    }
}

/// Prints `value` as pretty JSON.
pub fn json(value: &Value) {
    say!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// A cell's text: strings bare, null as `-`, lists joined.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Prints rows under `headers`, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, text) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(text.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let width = widths.get(i).copied().unwrap_or(0);
                format!("{c:<width$}")
            })
            .collect();
        say!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Prints `items` with the named fields as columns (`a.b` reads nested).
pub fn items(value: &Value, columns: Columns) {
    let rows: Vec<Vec<String>> = value["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|(_, field)| cell(field.split('.').fold(item, |v: &Value, k| &v[k])))
                .collect()
        })
        .collect();
    let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    table(&headers, &rows);
    if let Some(next) = value.get("next_before").filter(|n| !n.is_null()) {
        say!("(more: add --before {})", cell(next));
    }
}

/// Prints an object's fields as `key: value` lines, nested ones indented.
pub fn fields(value: &Value) {
    fn walk(value: &Value, indent: usize) {
        let Some(object) = value.as_object() else {
            say!("{:indent$}{}", "", cell(value));
            return;
        };
        for (key, field) in object {
            match field {
                Value::Object(inner) if !inner.is_empty() => {
                    say!("{:indent$}{key}:", "");
                    walk(field, indent + 2);
                }
                _ => say!("{:indent$}{key}: {}", "", cell(field)),
            }
        }
    }
    walk(value, 0);
}

/// A table's columns: `(header, field)`, where `a.b` reads nested fields.
pub type Columns = &'static [(&'static str, &'static str)];

/// Runs.
pub const RUNS: Columns = &[
    ("RUN", "run_id"),
    ("AGENT", "agent"),
    ("STATUS", "status"),
    ("ATTEMPT", "attempt"),
    ("EXIT", "exit_code"),
    ("REASON", "reason"),
    ("EVENT", "event_id"),
];

/// Delivery attempts.
pub const ATTEMPTS: Columns = &[
    ("AT", "at"),
    ("EVENT", "event_id"),
    ("TRY", "attempt"),
    ("STATUS", "status"),
    ("MS", "latency_ms"),
    ("ERROR", "error"),
    ("NEXT", "next_attempt_at"),
];

/// Invocations.
pub const INVOCATIONS: Columns = &[
    ("AT", "at"),
    ("STATUS", "status"),
    ("REASON", "reason"),
    ("EVENT", "event_id"),
    ("DELIVERY", "delivery_id"),
    ("FROM", "source_ip"),
];

/// Dead letters.
pub const DEAD_LETTERS: Columns = &[
    ("SEQ", "seq"),
    ("SUBSCRIPTION", "subscription"),
    ("EVENT", "event_id"),
    ("TYPE", "event_type"),
    ("TRIES", "attempts"),
    ("FAILED AT", "failed_at"),
    ("LAST ERROR", "last_error"),
];

/// Event types.
pub const EVENT_TYPES: Columns = &[("TYPE", "type"), ("FROM", "source"), ("DESCRIPTION", "description")];

/// The columns a catalog listing shows, by kind.
pub fn catalog_columns(kind: &str) -> Columns {
    match kind {
        "sources" => &[
            ("ID", "id"),
            ("ENABLED", "enabled"),
            ("PROVIDER", "provider"),
            ("SECRETS", "secrets"),
        ],
        "agents" => &[
            ("ID", "id"),
            ("ENABLED", "enabled"),
            ("RUNNER", "runner.type"),
            ("SCHEDULE", "schedule"),
        ],
        "subscriptions" => &[
            ("ID", "id"),
            ("ENABLED", "enabled"),
            ("URL", "url"),
            ("EVENTS", "events"),
        ],
        _ => &[("ID", "id"), ("ENV", "env")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_read_as_people_expect() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!("")), "-");
        assert_eq!(cell(&json!(["run.*", "code.generated"])), "run.*,code.generated");
        assert_eq!(cell(&json!(true)), "true");
        assert_eq!(cell(&json!(3)), "3");
    }

    #[test]
    fn a_redirected_log_keeps_every_stream_marked_and_loses_colours() {
        let red = "\u{1b}[31merror\u{1b}[0m: boom";
        let rows = [
            (
                "stdout",
                red,
                true,
                LogOut::Stdout(red.to_owned()),
                "a terminal keeps colours",
            ),
            (
                "stderr",
                red,
                true,
                LogOut::Stderr(red.to_owned()),
                "a terminal gets stderr on stderr",
            ),
            (
                "stderr",
                red,
                false,
                LogOut::Stdout("! error: boom".to_owned()),
                "redirected: stderr kept, marked, plain",
            ),
            (
                "stdout",
                red,
                false,
                LogOut::Stdout("error: boom".to_owned()),
                "redirected: plain",
            ),
            (
                "hookline",
                "run started",
                false,
                LogOut::Stdout("# run started".to_owned()),
                "Hookline's own",
            ),
        ];
        for (stream, line, terminal, expected, why) in rows {
            assert_eq!(log_line(stream, line, terminal), expected, "{why}");
        }
    }
}
