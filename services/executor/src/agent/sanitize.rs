//! Prompt hygiene: what a person cannot see in a rendered issue or comment
//! must not reach the model either, and credentials pasted into a payload
//! must not reach it at all. Applied to every payload value before it is
//! put into a prompt (unless the agent says `sanitize = false`):
//!
//! - HTML comments (`<!-- … -->`, an unterminated one to the end);
//! - zero-width and bidirectional control characters;
//! - elements hidden from readers (a `hidden` attribute, or a style with
//!   `display: none` / `visibility: hidden`), with their content;
//! - image alt text and link titles (Markdown and HTML), which a reader
//!   never sees but a model reads;
//! - token-shaped strings (GitHub, Slack, AWS, `sk-` API keys, private key
//!   blocks), replaced with `[redacted]`.
//!
//! It counts what it removed (counts only, never the text) for the run log.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// How much of each kind the sanitizer removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// HTML comments.
    pub comments: usize,
    /// Zero-width and bidirectional control characters.
    pub invisible: usize,
    /// Hidden HTML elements.
    pub hidden: usize,
    /// Image alt texts and link titles.
    pub alt_and_titles: usize,
    /// Token-shaped strings.
    pub secrets: usize,
}

impl Removed {
    /// Whether nothing was removed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Adds `other` to this tally.
    pub fn add(&mut self, other: Removed) {
        self.comments += other.comments;
        self.invisible += other.invisible;
        self.hidden += other.hidden;
        self.alt_and_titles += other.alt_and_titles;
        self.secrets += other.secrets;
    }
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} HTML comments, {} invisible characters, {} hidden elements, {} alt texts and link titles, {} secrets",
            self.comments, self.invisible, self.hidden, self.alt_and_titles, self.secrets
        )
    }
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("sanitizer pattern {pattern}: {e}"))
}

static COMMENT: LazyLock<Regex> = LazyLock::new(|| regex(r"(?s)<!--.*?(?:-->|\z)"));
/// An element whose opening tag hides it, up to its closing tag (or a
/// self-closing / void one). The regex crate has no back-references, so
/// the closing tag is matched by name in code.
static HIDDEN_OPEN: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r#"(?is)<([a-z][a-z0-9-]*)\b[^>]*?(?:\shidden\b|\saria-hidden\s*=\s*["']?true|style\s*=\s*["'][^"']*(?:display\s*:\s*none|visibility\s*:\s*hidden))[^>]*>"#,
    )
});
static MD_IMAGE_ALT: LazyLock<Regex> = LazyLock::new(|| regex(r"!\[[^\]]+\]\("));
static MD_LINK_TITLE: LazyLock<Regex> = LazyLock::new(|| regex(r#"(\]\([^)\s]+)\s+(?:"[^"]*"|'[^']*'|\([^)]*\))\)"#));
static HTML_ALT_TITLE: LazyLock<Regex> =
    LazyLock::new(|| regex(r#"(?i)(<[a-z][^>]*?)\s(?:alt|title)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)"#));
static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
        r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}",
        r"|\bgithub_pat_[A-Za-z0-9_]{20,}",
        r"|\bxox[abposr]-[A-Za-z0-9-]{10,}",
        r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        r"|\bsk-[A-Za-z0-9_-]{20,}",
    ))
});

/// Whether `c` is invisible in a rendered page: zero-width characters and
/// bidirectional controls.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{180E}'
            | '\u{061C}'
            | '\u{00AD}'
    )
}

/// `text` with everything hidden or secret taken out, and what was.
pub fn clean(text: &str) -> (String, Removed) {
    let mut removed = Removed::default();
    let before = text.chars().count();
    let mut out: String = text.chars().filter(|c| !is_invisible(*c)).collect();
    removed.invisible = before - out.chars().count();

    removed.comments = COMMENT.find_iter(&out).count();
    if removed.comments > 0 {
        out = COMMENT.replace_all(&out, "").into_owned();
    }
    (out, removed.hidden) = without_hidden_elements(&out);

    let mut alt = MD_IMAGE_ALT.find_iter(&out).count();
    out = MD_IMAGE_ALT.replace_all(&out, "![](").into_owned();
    alt += MD_LINK_TITLE.find_iter(&out).count();
    out = MD_LINK_TITLE.replace_all(&out, "$1)").into_owned();
    loop {
        // One attribute per tag per pass: a tag with both loses both.
        let n = HTML_ALT_TITLE.find_iter(&out).count();
        if n == 0 {
            break;
        }
        alt += n;
        out = HTML_ALT_TITLE.replace_all(&out, "$1").into_owned();
    }
    removed.alt_and_titles = alt;

    removed.secrets = SECRET.find_iter(&out).count();
    if removed.secrets > 0 {
        out = SECRET.replace_all(&out, "[redacted]").into_owned();
    }
    (out, removed)
}

/// Removes each hidden element with its content, up to its matching
/// closing tag (nesting of the same tag counted), or to the end when it
/// is never closed; a void element (`<input hidden>`) is removed alone.
fn without_hidden_elements(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut count = 0;
    while let Some(found) = HIDDEN_OPEN.captures(rest) {
        let (Some(whole), Some(name)) = (found.get(0), found.get(1)) else {
            break;
        };
        count += 1;
        out.push_str(&rest[..whole.start()]);
        let after = &rest[whole.end()..];
        let name = name.as_str().to_ascii_lowercase();
        let self_closing = whole.as_str().ends_with("/>");
        let void = matches!(
            name.as_str(),
            "img" | "input" | "br" | "hr" | "meta" | "link" | "source"
        );
        rest = if self_closing || void {
            after
        } else {
            skip_element(after, &name)
        };
    }
    out.push_str(rest);
    (out, count)
}

/// What follows the closing tag of an element `name` whose opening tag
/// ended where `text` starts.
fn skip_element<'a>(text: &'a str, name: &str) -> &'a str {
    let lower = text.to_ascii_lowercase();
    let (open, close) = (format!("<{name}"), format!("</{name}"));
    let mut depth = 1;
    let mut at = 0;
    while depth > 0 {
        let next_open = lower[at..].find(&open).map(|i| i + at);
        let Some(next_close) = lower[at..].find(&close).map(|i| i + at) else {
            return "";
        };
        match next_open {
            Some(o) if o < next_close => {
                depth += 1;
                at = o + open.len();
            }
            _ => {
                depth -= 1;
                at = next_close + close.len();
            }
        }
    }
    match lower[at..].find('>') {
        Some(end) => &text[at + end + 1..],
        None => "",
    }
}

/// `text` with its token-shaped strings replaced by `[redacted]`, and how
/// many there were (what artifacts get: the rest of [`clean`] is for
/// prompts).
pub fn redact_tokens(text: &str) -> (std::borrow::Cow<'_, str>, usize) {
    let found = SECRET.find_iter(text).count();
    if found == 0 {
        return (std::borrow::Cow::Borrowed(text), 0);
    }
    (SECRET.replace_all(text, "[redacted]"), found)
}

/// Cleans every string inside `value` in place; answers what was removed.
pub fn clean_json(value: &mut serde_json::Value) -> Removed {
    let mut removed = Removed::default();
    match value {
        serde_json::Value::String(s) => {
            let (cleaned, r) = clean(s);
            *s = cleaned;
            removed.add(r);
        }
        serde_json::Value::Array(items) => {
            for item in items {
                removed.add(clean_json(item));
            }
        }
        serde_json::Value::Object(map) => {
            for item in map.values_mut() {
                removed.add(clean_json(item));
            }
        }
        _ => {}
    }
    removed
}

#[cfg(test)]
#[path = "sanitize_tests.rs"]
mod tests;
