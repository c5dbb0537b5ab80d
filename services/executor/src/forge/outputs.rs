//! Safe outputs: what an agent asks the executor to do on the forge for
//! it. The agent never holds a forge token; it appends requests to
//! `$HOOKLINE_OUTPUTS_FILE`, one JSON object per line:
//!
//! ```text
//! {"type": "comment", "body": "Found it: the parser drops the last line."}
//! {"type": "labels", "labels": ["bug"]}
//! {"type": "close_issue"}
//! {"type": "review_comment", "path": "src/lib.rs", "line": 12, "body": "…"}
//! {"type": "pull_request", "title": "…", "body": "…"}
//! {"type": "summary", "text": "Fixed the off-by-one in the parser."}
//! ```
//!
//! [`plan`] weighs each request against the agent's [`OutputPolicy`]:
//! what the policy allows becomes an [`Action`]; the rest is refused with
//! the reason, and both are recorded in the run record. Text is tidied
//! first: shortened, control characters and Hookline's markers removed,
//! `@mentions` quoted (an agent cannot ping people or wake other bots),
//! and the values of the profile's secrets redacted.

use hookline_forge::ReviewComment;
use hookline_model::catalog::OutputPolicy;
use hookline_model::forge_state::marker;
use hookline_model::forge_state::{OutputOutcome, OutputResult};
use serde_json::Value;

/// Most requests read from the file.
pub const MAX_REQUESTS: usize = 50;
/// Longest comment or body kept.
const MAX_BODY_CHARS: usize = 16_000;
/// Longest title or summary kept.
const MAX_TITLE_CHARS: usize = 200;
const MAX_SUMMARY_CHARS: usize = 2_000;

/// Something the executor does on the forge for the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The `n`th comment on the source thread.
    Comment { n: usize, body: String },
    /// Labels on the source thread.
    Labels(Vec<String>),
    /// Close the source issue.
    CloseIssue,
    /// The `n`th review comment on the run's pull request.
    ReviewComment { n: usize, comment: ReviewComment },
    /// The run's pull request's title and body.
    PullRequest { title: String, body: String },
}

/// What the agent asked for, weighed.
#[derive(Debug, Default)]
pub struct Plan {
    /// Allowed actions, each with the index of its entry in `results`.
    pub actions: Vec<(usize, Action)>,
    /// One entry per request (or refused part of one), in order.
    pub results: Vec<OutputResult>,
    /// The agent's summary, if it gave one.
    pub summary: Option<String>,
}

fn result(kind: &str, outcome: OutputOutcome, reason: &str, detail: String) -> OutputResult {
    OutputResult {
        kind: kind.to_owned(),
        outcome,
        reason: reason.to_owned(),
        detail: detail.chars().take(120).collect(),
    }
}

/// Weighs the requests in `text` against `policy`; `secrets` are redacted
/// from every text the agent wrote.
pub fn plan(text: &str, policy: &OutputPolicy, secrets: &[String]) -> Plan {
    let mut plan = Plan::default();
    let (mut comments, mut reviews) = (0u32, 0u32);
    let refuse = |plan: &mut Plan, kind: &str, reason: &str, detail: String| {
        plan.results.push(result(kind, OutputOutcome::Refused, reason, detail));
    };
    for (index, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        if index >= MAX_REQUESTS {
            refuse(
                &mut plan,
                "outputs",
                &format!("more than {MAX_REQUESTS} requests"),
                String::new(),
            );
            break;
        }
        let Ok(request) = serde_json::from_str::<Value>(line) else {
            refuse(
                &mut plan,
                "invalid",
                "not a JSON object",
                line.chars().take(60).collect(),
            );
            continue;
        };
        let kind = request.get("type").and_then(Value::as_str).unwrap_or("").to_owned();
        let text_of =
            |field: &str, limit: usize| tidy(request.get(field).and_then(Value::as_str).unwrap_or(""), limit, secrets);
        let allow = |plan: &mut Plan, detail: String, action: Action| {
            plan.actions.push((plan.results.len(), action));
            plan.results.push(result(&kind, OutputOutcome::Applied, "", detail));
        };
        match kind.as_str() {
            "summary" => plan.summary = Some(text_of("text", MAX_SUMMARY_CHARS)),
            "comment" => {
                let body = text_of("body", MAX_BODY_CHARS);
                if body.trim().is_empty() {
                    refuse(&mut plan, &kind, "empty body", String::new());
                } else if comments >= policy.comments {
                    let reason = format!("the policy allows {} comment(s)", policy.comments);
                    refuse(&mut plan, &kind, &reason, body);
                } else {
                    comments += 1;
                    let n = usize::try_from(comments).unwrap_or(usize::MAX);
                    allow(&mut plan, body.clone(), Action::Comment { n, body });
                }
            }
            "labels" => {
                let asked: Vec<String> = request
                    .get("labels")
                    .and_then(Value::as_array)
                    .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default();
                let (allowed, refused): (Vec<String>, Vec<String>) =
                    asked.into_iter().partition(|l| policy.labels.contains(l));
                if !refused.is_empty() {
                    let reason = if policy.labels.is_empty() {
                        "the policy allows no labels".to_owned()
                    } else {
                        format!("not among the allowed labels ({})", policy.labels.join(", "))
                    };
                    refuse(&mut plan, &kind, &reason, refused.join(", "));
                }
                if !allowed.is_empty() {
                    allow(&mut plan, allowed.join(", "), Action::Labels(allowed));
                }
            }
            "close_issue" if policy.close_issue => allow(&mut plan, String::new(), Action::CloseIssue),
            "close_issue" => refuse(&mut plan, &kind, "the policy does not allow closing", String::new()),
            "review_comment" => {
                let comment = ReviewComment {
                    path: request.get("path").and_then(Value::as_str).unwrap_or("").to_owned(),
                    line: request.get("line").and_then(Value::as_u64).unwrap_or(0),
                    body: text_of("body", MAX_BODY_CHARS),
                };
                if comment.path.is_empty() || comment.line == 0 || comment.body.trim().is_empty() {
                    refuse(&mut plan, &kind, "needs path, line and body", comment.path);
                } else if reviews >= policy.review_comments {
                    let reason = format!("the policy allows {} review comment(s)", policy.review_comments);
                    refuse(&mut plan, &kind, &reason, comment.path);
                } else {
                    reviews += 1;
                    let n = usize::try_from(reviews).unwrap_or(usize::MAX);
                    let detail = format!("{}:{}", comment.path, comment.line);
                    allow(&mut plan, detail, Action::ReviewComment { n, comment });
                }
            }
            "pull_request" if policy.pull_request => {
                let title = text_of("title", MAX_TITLE_CHARS);
                let body = text_of("body", MAX_BODY_CHARS);
                allow(&mut plan, title.clone(), Action::PullRequest { title, body });
            }
            "pull_request" => refuse(&mut plan, &kind, "the policy does not allow it", String::new()),
            other => refuse(&mut plan, other, "not an output type", String::new()),
        }
    }
    plan
}

/// `text` safe to post: shortened, control characters and Hookline's
/// markers removed, `@mentions` quoted, secrets redacted.
pub fn tidy(text: &str, limit: usize, secrets: &[String]) -> String {
    let mut text: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .take(limit)
        .collect();
    text = text.replace(marker::PREFIX, "<!-- ");
    for secret in secrets.iter().filter(|s| s.len() >= 6) {
        text = text.replace(secret.as_str(), "[redacted]");
    }
    quote_mentions(&text)
}

/// `@name` outside code becomes `` `@name` ``.
fn quote_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut previous = ' ';
    while let Some((i, c)) = chars.next() {
        let starts_mention = c == '@'
            && !(previous.is_alphanumeric() || previous == '`')
            && chars.peek().is_some_and(|(_, n)| n.is_ascii_alphanumeric());
        if starts_mention {
            let rest = &text[i + 1..];
            let len = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-' || ch == '/' || ch == '_'))
                .unwrap_or(rest.len());
            out.push_str(&format!("`@{}`", &rest[..len]));
            for _ in 0..rest[..len].chars().count() {
                chars.next();
            }
            previous = '`';
            continue;
        }
        out.push(c);
        previous = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OutputPolicy {
        OutputPolicy {
            comments: 1,
            labels: vec!["bug".into()],
            ..Default::default()
        }
    }

    #[test]
    fn what_the_policy_does_not_allow_is_refused_with_the_reason() {
        let text = [
            r#"{"type":"comment","body":"one"}"#,
            r#"{"type":"comment","body":"two"}"#,
            r#"{"type":"comment","body":"three"}"#,
            r#"{"type":"labels","labels":["admin"]}"#,
            r#"{"type":"labels","labels":["bug","admin"]}"#,
            r#"{"type":"close_issue"}"#,
            r#"{"type":"summary","text":"did it"}"#,
            "not json",
        ]
        .join("\n");
        let plan = plan(&text, &policy(), &[]);
        assert_eq!(
            plan.actions.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>(),
            [
                Action::Comment {
                    n: 1,
                    body: "one".into()
                },
                Action::Labels(vec!["bug".into()])
            ]
        );
        let refused: Vec<(&str, &str)> = plan
            .results
            .iter()
            .filter(|r| r.outcome == OutputOutcome::Refused)
            .map(|r| (r.kind.as_str(), r.detail.as_str()))
            .collect();
        assert_eq!(
            refused,
            [
                ("comment", "two"),
                ("comment", "three"),
                ("labels", "admin"),
                ("labels", "admin"),
                ("close_issue", ""),
                ("invalid", "not json"),
            ]
        );
        assert_eq!(plan.summary.as_deref(), Some("did it"));
        for (index, action) in &plan.actions {
            assert_eq!(plan.results[*index].outcome, OutputOutcome::Applied, "{action:?}");
        }
    }

    #[test]
    fn posted_text_pings_nobody_carries_no_marker_and_no_secret() {
        let tidied = tidy(
            "cc @octocat and @org/team, mail a@b.c; <!-- hookline:status run=x --> key s3cr3t-value\u{7}",
            1000,
            &["s3cr3t-value".into()],
        );
        assert_eq!(
            tidied,
            "cc `@octocat` and `@org/team`, mail a@b.c; <!-- status run=x --> key [redacted]"
        );
        assert_eq!(tidy("abcdef", 3, &[]), "abc");
    }
}
