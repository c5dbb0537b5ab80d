//! What became of a pull or merge request, from the forge's own webhook:
//! GitHub's `pull_request` `closed` (merged or not), GitLab's
//! `merge_request` `merge` or `close`, Gitea's and Forgejo's
//! `pull_request` `closed`. Read here, where every provider's payload is
//! read, so the router that records the outcome reads no payload itself.

use chrono::DateTime;
use hookline_proto::WebhookContext;
use serde_json::Value;

use crate::common::{first, text};

/// A pull or merge request that was closed, merged or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullClosed {
    /// Merged, or closed unmerged.
    pub merged: bool,
    /// `owner/name` (a GitLab project's path).
    pub repository: String,
    /// Its number (a GitLab merge request's iid).
    pub number: u64,
    /// Where a person reads it.
    pub url: String,
    /// The branch it came from.
    pub branch: String,
    /// When it was opened and when it was merged or closed (unix ms; 0
    /// when the payload does not say).
    pub opened_at_ms: i64,
    pub closed_at_ms: i64,
}

/// The closed pull or merge request the event reports, if it is one.
pub fn pull_closed(ctx: &WebhookContext, body: &Value) -> Option<PullClosed> {
    let (number, url, opened, closed) = match (ctx.provider.as_str(), ctx.event.as_str(), ctx.action.as_str()) {
        ("github" | "gitea" | "forgejo", "pull_request", "closed") => (
            body.pointer("/pull_request/number").and_then(Value::as_u64)?,
            text(body, "/pull_request/html_url"),
            text(body, "/pull_request/created_at"),
            first(body, &["/pull_request/merged_at", "/pull_request/closed_at"]),
        ),
        ("gitlab", "merge_request", "merge" | "close") => (
            body.pointer("/object_attributes/iid").and_then(Value::as_u64)?,
            text(body, "/object_attributes/url"),
            text(body, "/object_attributes/created_at"),
            first(
                body,
                &[
                    "/object_attributes/merged_at",
                    "/object_attributes/closed_at",
                    "/object_attributes/updated_at",
                ],
            ),
        ),
        _ => return None,
    };
    (!ctx.branch.is_empty()).then(|| PullClosed {
        merged: ctx.merged,
        repository: ctx.repo.clone(),
        number,
        url,
        branch: ctx.branch.clone(),
        opened_at_ms: unix_ms(&opened),
        closed_at_ms: unix_ms(&closed),
    })
}

/// RFC 3339, or GitLab's older `2013-12-03 17:23:34 UTC`; 0 when neither.
fn unix_ms(at: &str) -> i64 {
    DateTime::parse_from_rfc3339(at)
        .or_else(|_| DateTime::parse_from_str(&at.replace(" UTC", " +0000"), "%Y-%m-%d %H:%M:%S %z"))
        .map_or(0, |t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(provider: &str, event: &str, action: &str, merged: bool) -> WebhookContext {
        WebhookContext {
            provider: provider.to_owned(),
            event: event.to_owned(),
            action: action.to_owned(),
            repo: "acme/api".to_owned(),
            branch: "hookline/fixer/r1".to_owned(),
            merged,
            ..Default::default()
        }
    }

    #[test]
    fn a_merged_or_closed_pull_request_is_read_on_each_forge() {
        let github = json!({"pull_request": {"number": 7, "html_url": "https://github.com/acme/api/pull/7",
            "created_at": "2026-12-01T10:00:00Z", "merged_at": "2026-12-01T11:30:00Z", "closed_at": "2026-12-01T11:30:00Z"}});
        let read = pull_closed(&ctx("github", "pull_request", "closed", true), &github).expect("closed");
        assert_eq!((read.merged, read.number), (true, 7));
        assert_eq!(read.closed_at_ms - read.opened_at_ms, 90 * 60 * 1000);

        let gitlab = json!({"object_attributes": {"iid": 3, "url": "https://gitlab.example/acme/api/-/merge_requests/3",
            "created_at": "2013-12-03 17:23:34 UTC", "updated_at": "2013-12-03 17:24:34 UTC"}});
        let read = pull_closed(&ctx("gitlab", "merge_request", "close", false), &gitlab).expect("closed");
        assert_eq!((read.merged, read.number), (false, 3));
        assert_eq!(read.closed_at_ms - read.opened_at_ms, 60_000);

        // Opened, edited or reopened is no outcome.
        assert_eq!(
            pull_closed(&ctx("github", "pull_request", "opened", false), &github),
            None
        );
        assert_eq!(
            pull_closed(&ctx("gitlab", "merge_request", "update", false), &gitlab),
            None
        );
    }
}
