//! The routes of the test forge ([`crate::github::FakeForge`]) as Gitea's
//! REST API v1 answers them (and Forgejo's, the same API): the operations
//! Hookline calls, on the forge's state, in the shapes of Gitea's swagger
//! description (`Comment`, `PullRequest`, `Label`, `Issue`, `PullReview`,
//! `PullReviewComment`), with Gitea's own statuses (201 for an edited pull
//! request or issue, 409 for a second pull request from one branch).

use serde_json::{Value, json};

use crate::github::{ForgeState, Setup, StoredComment, StoredPull};
use crate::github_api::{branch_sha, query};

/// Gitea's default work-in-progress prefix: a draft's title starts so.
const WIP: &str = "WIP:";

fn user(login: &str) -> Value {
    json!({"id": 7, "login": login, "login_name": "", "full_name": "", "email": format!("{login}@noreply.localhost"),
           "avatar_url": "", "html_url": format!("https://gitea.example/{login}"), "is_admin": false})
}

fn comment_json(setup: &Setup, c: &StoredComment) -> Value {
    json!({
        "id": c.id,
        "html_url": format!("https://gitea.example/{}/issues/{}#issuecomment-{}", c.repo, c.thread, c.id),
        "issue_url": format!("https://gitea.example/{}/issues/{}", c.repo, c.thread),
        "pull_request_url": "",
        "user": user(&setup.login),
        "original_author": "",
        "original_author_id": 0,
        "body": c.body,
        "assets": [],
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z",
    })
}

fn branch(repo: &str, name: &str, sha: &str) -> Value {
    json!({"label": name, "ref": name, "sha": sha, "repo_id": 1,
           "repo": {"id": 1, "full_name": repo, "name": repo.split('/').nth(1).unwrap_or_default()}})
}

fn pull_json(setup: &Setup, p: &StoredPull) -> Value {
    let head = branch_sha(setup, &p.repo, &p.head).unwrap_or_default();
    let base = branch_sha(setup, &p.repo, &p.base).unwrap_or_default();
    json!({
        "id": 700_000 + p.number,
        "url": format!("https://gitea.example/{}/pulls/{}", p.repo, p.number),
        "number": p.number,
        "user": user(&setup.login),
        "title": p.title,
        "body": p.body,
        "labels": [],
        "state": "open",
        "draft": p.title.starts_with(WIP),
        "is_locked": false,
        "comments": 0,
        "html_url": format!("https://gitea.example/{}/pulls/{}", p.repo, p.number),
        "diff_url": format!("https://gitea.example/{}/pulls/{}.diff", p.repo, p.number),
        "patch_url": format!("https://gitea.example/{}/pulls/{}.patch", p.repo, p.number),
        "mergeable": true,
        "merged": false,
        "merged_at": null,
        "merge_commit_sha": null,
        "merged_by": null,
        "base": branch(&p.repo, &p.base, &base),
        "head": branch(&p.repo, &p.head, &head),
        "merge_base": base,
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z",
        "closed_at": null,
    })
}

fn page<T: Clone>(items: &[T], path: &str) -> Vec<T> {
    let per: usize = query(path, "limit").and_then(|v| v.parse().ok()).unwrap_or(30);
    let page: usize = query(path, "page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    items.iter().skip((page - 1) * per).take(per).cloned().collect()
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"message": "The target couldn't be found.", "url": "https://gitea.example/api/swagger", "errors": []}),
    )
}

pub(crate) fn handle(state: &mut ForgeState, setup: &Setup, method: &str, path: &str, input: &Value) -> (u16, Value) {
    let bare = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = bare.trim_matches('/').split('/').collect();
    let ["api", "v1", "repos", owner, name, rest @ ..] = parts.as_slice() else {
        return not_found();
    };
    let repo = format!("{owner}/{name}");
    if !setup.repos.contains_key(&repo) {
        return not_found();
    }
    let number = |s: &str| s.parse::<u64>().ok();
    let text = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    match (method, rest) {
        ("GET", ["issues", n, "comments"]) => {
            let Some(n) = number(n) else { return not_found() };
            let all = state.comments.iter().filter(|c| c.repo == repo && c.thread == n);
            (200, Value::Array(all.map(|c| comment_json(setup, c)).collect()))
        }
        ("POST", ["issues", n, "comments"]) => {
            let Some(n) = number(n) else { return not_found() };
            let comment = state.add_comment(&repo, n, &text("body"));
            (201, comment_json(setup, &comment))
        }
        ("PATCH", ["issues", "comments", id]) => match state.edit_comment(&repo, number(id), &text("body")) {
            Some(c) => (200, comment_json(setup, &c)),
            None => not_found(),
        },
        ("GET", ["pulls"]) => {
            let all: Vec<Value> = state
                .pulls
                .iter()
                .filter(|p| p.repo == repo)
                .map(|p| pull_json(setup, p))
                .collect();
            (200, Value::Array(page(&all, path)))
        }
        ("POST", ["pulls"]) => {
            let (head, base) = (text("head"), text("base"));
            if branch_sha(setup, &repo, &head).is_none() {
                return not_found();
            }
            if state.pulls.iter().any(|p| p.repo == repo && p.head == head) {
                return (
                    409,
                    json!({"message": format!("pull request already exists for these targets [head: {head}, base: {base}]"), "url": ""}),
                );
            }
            let title = text("title");
            let pull = StoredPull {
                number: 500 + u64::try_from(state.pulls.len()).unwrap_or(0) + 1,
                repo: repo.clone(),
                head,
                base,
                draft: title.starts_with(WIP),
                title,
                body: text("body"),
            };
            let answer = pull_json(setup, &pull);
            state.pulls.push(pull);
            (201, answer)
        }
        ("GET", ["pulls", n]) => match state
            .pulls
            .iter()
            .find(|p| p.repo == repo && Some(p.number) == number(n))
        {
            Some(p) => (200, pull_json(setup, p)),
            None => not_found(),
        },
        // Gitea answers an edited pull request with 201.
        ("PATCH", ["pulls", n]) => match state.edit_pull(&repo, number(n), input) {
            Some(p) => (201, pull_json(setup, &p)),
            None => not_found(),
        },
        ("POST", ["issues", n, "labels"]) => {
            let Some(n) = number(n) else { return not_found() };
            let labels = state.add_labels(&repo, n, input);
            let answer = labels
                .iter()
                .enumerate()
                .map(|(i, l)| json!({"id": i + 1, "name": l, "exclusive": false, "is_archived": false, "color": "e11d21", "description": "", "url": ""}))
                .collect();
            (200, Value::Array(answer))
        }
        ("PATCH", ["issues", n]) => {
            let Some(n) = number(n) else { return not_found() };
            if text("state") == "closed" {
                state.closed.insert((repo.clone(), n));
            }
            (
                201,
                json!({"id": n, "number": n, "state": "closed", "title": "", "body": "", "user": user(&setup.login),
                         "html_url": format!("https://gitea.example/{repo}/issues/{n}")}),
            )
        }
        ("GET", ["pulls", n, "reviews"]) => {
            let Some(n) = number(n) else { return not_found() };
            // One review per comment Hookline made (each was its own).
            let all: Vec<Value> = (0..state.reviews.len())
                .filter(|&i| state.reviews[i].0 == repo && state.reviews[i].1 == n)
                .map(|i| json!({"id": i + 1, "state": "COMMENT", "body": "", "comments_count": 1, "user": user(&setup.login)}))
                .collect();
            (200, Value::Array(page(&all, path)))
        }
        ("GET", ["pulls", _, "reviews", id, "comments"]) => {
            let Some(review) = number(id).and_then(|id| state.reviews.get(usize::try_from(id).ok()?.checked_sub(1)?))
            else {
                return not_found();
            };
            (
                200,
                json!([{"id": 1, "body": review.4, "path": review.2, "position": review.3, "user": user(&setup.login)}]),
            )
        }
        ("POST", ["pulls", n, "reviews"]) => {
            let Some(n) = number(n) else { return not_found() };
            for c in input.get("comments").and_then(Value::as_array).into_iter().flatten() {
                let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                let line = c.get("new_position").and_then(Value::as_u64).unwrap_or(0);
                state
                    .reviews
                    .push((repo.clone(), n, field("path"), line, field("body")));
            }
            (
                200,
                json!({"id": state.reviews.len(), "state": "COMMENT", "body": text("body"), "user": user(&setup.login)}),
            )
        }
        ("GET", ["collaborators", user, "permission"]) => match setup.permissions.get(*user) {
            Some(permission) => (
                200,
                json!({"permission": permission, "role_name": permission, "user": user_json(user)}),
            ),
            None => not_found(),
        },
        _ => not_found(),
    }
}

fn user_json(login: &str) -> Value {
    user(login)
}
