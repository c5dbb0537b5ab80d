//! The routes of the test forge ([`crate::github`]): GitHub's REST
//! operations Hookline calls, on the forge's state, answered in GitHub's
//! shapes (its description's examples, with the state's values).

use serde_json::{Value, json};

use crate::github::{ForgeState, Setup, StoredComment, StoredPull};

fn example(setup: &Setup, name: &str) -> Value {
    let value = setup
        .examples
        .pointer(&format!("/{name}/value"))
        .cloned()
        .unwrap_or(Value::Null);
    match value {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    }
}

fn comment_json(setup: &Setup, c: &StoredComment) -> Value {
    let mut v = example(setup, "issue-comment");
    let (owner, name) = c.repo.split_once('/').unwrap_or(("o", "r"));
    v["id"] = json!(c.id);
    v["body"] = json!(c.body);
    v["html_url"] = json!(format!(
        "https://github.com/{owner}/{name}/issues/{}#issuecomment-{}",
        c.thread, c.id
    ));
    v["url"] = json!(format!(
        "https://api.github.com/repos/{owner}/{name}/issues/comments/{}",
        c.id
    ));
    v["issue_url"] = json!(format!(
        "https://api.github.com/repos/{owner}/{name}/issues/{}",
        c.thread
    ));
    v["user"]["login"] = json!(setup.login);
    v
}

fn pull_json(setup: &Setup, p: &StoredPull, simple: bool, sha: &str) -> Value {
    let mut v = example(
        setup,
        if simple {
            "pull-request-simple-items"
        } else {
            "pull-request"
        },
    );
    let (owner, name) = p.repo.split_once('/').unwrap_or(("o", "r"));
    v["number"] = json!(p.number);
    v["id"] = json!(700_000 + p.number);
    v["title"] = json!(p.title);
    v["body"] = json!(p.body);
    v["draft"] = json!(p.draft);
    v["state"] = json!("open");
    v["html_url"] = json!(format!("https://github.com/{owner}/{name}/pull/{}", p.number));
    v["head"]["ref"] = json!(p.head);
    v["head"]["sha"] = json!(sha);
    v["head"]["label"] = json!(format!("{owner}:{}", p.head));
    v["base"]["ref"] = json!(p.base);
    // A new pull request asks no one for review (and GitHub's example's
    // team lacks a field its own schema requires).
    v["requested_teams"] = json!([]);
    v["requested_reviewers"] = json!([]);
    v
}

/// The sha of `branch` in the repository, if the branch exists.
pub(crate) fn branch_sha(setup: &Setup, repo: &str, branch: &str) -> Option<String> {
    let dir = setup.repos.get(repo)?;
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")])
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(crate) fn query(path: &str, key: &str) -> Option<String> {
    let (_, q) = path.split_once('?')?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn page<T: Clone>(items: &[T], path: &str) -> Vec<T> {
    let per: usize = query(path, "per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
    let page: usize = query(path, "page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    items.iter().skip((page - 1) * per).take(per).cloned().collect()
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
    )
}

pub(crate) fn handle(state: &mut ForgeState, setup: &Setup, method: &str, path: &str, input: &Value) -> (u16, Value) {
    let bare = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = bare.trim_matches('/').split('/').collect();
    let ["repos", owner, name, rest @ ..] = parts.as_slice() else {
        return not_found();
    };
    let repo = format!("{owner}/{name}");
    if !setup.repos.contains_key(&repo) {
        return not_found();
    }
    let number = |s: &str| s.parse::<u64>().ok();
    match (method, rest) {
        ("GET", ["issues", n, "comments"]) => {
            let Some(n) = number(n) else { return not_found() };
            let all: Vec<Value> = state
                .comments
                .iter()
                .filter(|c| c.repo == repo && c.thread == n)
                .map(|c| comment_json(setup, c))
                .collect();
            (200, Value::Array(page(&all, path)))
        }
        ("POST", ["issues", n, "comments"]) => {
            let (Some(n), Some(body)) = (number(n), input.get("body").and_then(Value::as_str)) else {
                return not_found();
            };
            let comment = state.add_comment(&repo, n, body);
            (201, comment_json(setup, &comment))
        }
        ("PATCH", ["issues", "comments", id]) => {
            let body = input.get("body").and_then(Value::as_str).unwrap_or_default();
            match state.edit_comment(&repo, number(id), body) {
                Some(c) => (200, comment_json(setup, &c)),
                None => not_found(),
            }
        }
        ("GET", ["pulls"]) => {
            let head = query(path, "head").unwrap_or_default();
            let all: Vec<Value> = state
                .pulls
                .iter()
                .filter(|p| p.repo == repo && (head.is_empty() || head == format!("{owner}:{}", p.head)))
                .map(|p| pull_json(setup, p, true, &branch_sha(setup, &repo, &p.head).unwrap_or_default()))
                .collect();
            (200, Value::Array(page(&all, path)))
        }
        ("POST", ["pulls"]) => {
            let text = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            let (head, base) = (text("head"), text("base"));
            let Some(sha) = branch_sha(setup, &repo, &head) else {
                return (
                    422,
                    json!({"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}]}),
                );
            };
            if state.pulls.iter().any(|p| p.repo == repo && p.head == head) {
                return (
                    422,
                    json!({"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {owner}:{head}.")}]}),
                );
            }
            let pull = StoredPull {
                number: 500 + u64::try_from(state.pulls.len()).unwrap_or(0) + 1,
                repo: repo.clone(),
                head,
                base,
                title: text("title"),
                body: text("body"),
                draft: input.get("draft").and_then(Value::as_bool).unwrap_or(false),
            };
            let answer = pull_json(setup, &pull, false, &sha);
            state.pulls.push(pull);
            (201, answer)
        }
        ("PATCH", ["pulls", n]) => {
            let Some(p) = state.edit_pull(&repo, number(n), input) else {
                return not_found();
            };
            (
                200,
                pull_json(setup, &p, false, &branch_sha(setup, &repo, &p.head).unwrap_or_default()),
            )
        }
        ("POST", ["issues", n, "labels"]) => {
            let Some(n) = number(n) else { return not_found() };
            let labels = state.add_labels(&repo, n, input);
            let template = example(setup, "label-items");
            let answer = labels
                .iter()
                .map(|l| {
                    let mut v = template.clone();
                    v["name"] = json!(l);
                    v
                })
                .collect();
            (200, Value::Array(answer))
        }
        ("PATCH", ["issues", n]) => {
            let Some(n) = number(n) else { return not_found() };
            if input.get("state").and_then(Value::as_str) == Some("closed") {
                state.closed.insert((repo, n));
            }
            let mut v = example(setup, "issue");
            v["number"] = json!(n);
            v["state"] = json!("closed");
            (200, v)
        }
        ("GET", ["pulls", n, "comments"]) => {
            let Some(n) = number(n) else { return not_found() };
            let template = example(setup, "pull-request-review-comment-items");
            let all: Vec<Value> = state
                .reviews
                .iter()
                .filter(|r| r.0 == repo && r.1 == n)
                .map(|r| {
                    let mut v = template.clone();
                    v["body"] = json!(r.4);
                    v
                })
                .collect();
            (200, Value::Array(page(&all, path)))
        }
        ("POST", ["pulls", n, "comments"]) => {
            let Some(n) = number(n) else { return not_found() };
            let text = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            let line = input.get("line").and_then(Value::as_u64).unwrap_or(0);
            state.reviews.push((repo, n, text("path"), line, text("body")));
            let mut v = example(setup, "pull-request-review-comment-example-for-a-multi-line-comment");
            v["body"] = json!(text("body"));
            (201, v)
        }
        _ => not_found(),
    }
}
