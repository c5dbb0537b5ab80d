//! A subscription's event filters as JetStream consumer filters, so its
//! consumer reads `HOOKLINE_EVENTS` directly and an event is stored once
//! however many subscriptions want it.
//!
//! Event patterns already have NATS wildcard meaning (`*` one word, a final
//! `>` the rest), so each is a subject filter as it is. JetStream refuses a
//! consumer whose filters overlap, so a pattern another one covers is
//! dropped, and two that overlap without one covering the other
//! (`run.*` and `*.completed`) are widened to one that covers both
//! (`*.*`); the notifier then skips the few events the wider filter lets
//! through that the subscription does not want ([`SubscriptionSpec::wants`]).
//!
//! [`SubscriptionSpec::wants`]: hookline_model::catalog::SubscriptionSpec::wants

use hookline_model::ids::EventPattern;

/// The consumer filters (full subjects under `events_prefix`, such as
/// `hookline.events.run.>`) for a subscription's `patterns` (none: all).
pub fn subjects(events_prefix: &str, patterns: &[EventPattern]) -> Vec<String> {
    let patterns: Vec<String> = patterns.iter().map(|p| p.as_str().to_owned()).collect();
    cover(&patterns)
        .into_iter()
        .map(|p| format!("{events_prefix}.{p}"))
        .collect()
}

/// Patterns that match what `patterns` match, none overlapping another.
pub fn cover(patterns: &[String]) -> Vec<String> {
    if patterns.is_empty() {
        return vec![">".to_owned()];
    }
    let mut kept: Vec<String> = Vec::new();
    for pattern in patterns {
        let mut pattern = pattern.clone();
        // Merge with every kept pattern it overlaps, until none does.
        while let Some(i) = kept.iter().position(|k| overlaps(k, &pattern)) {
            let other = kept.swap_remove(i);
            pattern = if covers(&other, &pattern) {
                other
            } else if covers(&pattern, &other) {
                pattern
            } else {
                widen(&other, &pattern)
            };
        }
        kept.push(pattern);
    }
    kept.sort();
    kept
}

/// Whether every subject `b` matches is matched by `a`.
pub fn covers(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.split('.'), b.split('.'));
    loop {
        match (a.next(), b.next()) {
            (Some(">"), Some(_)) => return true,
            (None, None) => return true,
            (_, Some(">")) | (None, _) | (_, None) => return false,
            (Some("*"), Some(_)) => {}
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

/// Whether some subject matches both.
pub fn overlaps(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.split('.'), b.split('.'));
    loop {
        match (a.next(), b.next()) {
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (None, None) => return true,
            (None, _) | (_, None) => return false,
            (Some(x), Some(y)) if x == "*" || y == "*" || x == y => {}
            _ => return false,
        }
    }
}

/// The narrowest pattern covering both: the same words where they agree,
/// `*` where they differ, and `>` once their lengths part.
fn widen(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    let mut words = Vec::new();
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if *x != ">" && *y != ">" && a.len() == b.len() => {
                words.push(if x == y { *x } else { "*" });
            }
            (Some(x), Some(y)) if x == y && *x != ">" => words.push(*x),
            _ => {
                words.push(">");
                break;
            }
        }
    }
    if words.first() == Some(&">") || words.is_empty() {
        return ">".to_owned();
    }
    words.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_model::ids::EventPattern;

    fn owned(patterns: &[&str]) -> Vec<String> {
        patterns.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn covered_patterns_go_and_overlapping_ones_widen() {
        assert_eq!(cover(&[]), [">"]);
        assert_eq!(cover(&owned(&["run.completed"])), ["run.completed"]);
        assert_eq!(cover(&owned(&["run.completed", "run.*"])), ["run.*"]);
        assert_eq!(
            cover(&owned(&["run.*", "run.completed", "code.>"])),
            ["code.>", "run.*"]
        );
        assert_eq!(cover(&owned(&["run.*", "*.completed"])), ["*.*"]);
        assert_eq!(cover(&owned(&["a.b.c", "a.>"])), ["a.>"]);
        assert_eq!(cover(&owned(&["a.*.c", "a.b.>"])), ["a.*.>"]);
        assert_eq!(
            cover(&owned(&["run.completed", "run.failed"])),
            ["run.completed", "run.failed"]
        );
        assert_eq!(
            subjects("hookline.events", &[EventPattern::parse("run.*").expect("a pattern")]),
            ["hookline.events.run.*"]
        );
    }

    /// Whatever the patterns, the cover has no two overlapping filters and
    /// matches every type any pattern matches.
    #[test]
    fn a_cover_never_overlaps_and_never_loses_a_type() {
        let words = ["a", "b", "*"];
        let mut patterns = vec![">".to_owned()];
        for x in words {
            patterns.push(x.to_owned());
            patterns.push(format!("{x}.>"));
            for y in words {
                patterns.push(format!("{x}.{y}"));
                patterns.push(format!("{x}.{y}.>"));
            }
        }
        let types = ["a", "b", "a.a", "a.b", "b.a", "b.b", "a.a.a", "b.a.b", "a.b.a.b"];
        for (i, p) in patterns.iter().enumerate() {
            for q in &patterns[i..] {
                for r in &patterns[..3] {
                    let chosen = owned(&[p, q, r]);
                    let cover = cover(&chosen);
                    for (j, c) in cover.iter().enumerate() {
                        for d in &cover[j + 1..] {
                            assert!(!overlaps(c, d), "{chosen:?} → {cover:?}");
                        }
                    }
                    for t in types {
                        let wanted = chosen.iter().any(|c| EventPattern::parse(c).expect("valid").matches(t));
                        let kept = cover.iter().any(|c| EventPattern::parse(c).expect("valid").matches(t));
                        assert!(!wanted || kept, "{chosen:?} → {cover:?} loses {t}");
                    }
                }
            }
        }
    }
}
