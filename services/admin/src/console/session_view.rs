//! The run page's session: what the agent did (the transcript, folded:
//! messages, tool calls with their input and output, file edits, plans),
//! what it changed (the diff per file with its additions and deletions,
//! the commits), what it cost and which hosts it was refused, read from
//! the run's artifacts, or from its log while it runs.

use hookline_bus::runs::RunRecord;
use hookline_model::transcript::{self, Entry};
use serde_json::Value;

use crate::error::AdminError;
use crate::sessions;
use crate::state::AdminState;

/// One transcript entry as the page shows it.
pub struct EntryView {
    /// `prompt`, `message`, `thought`, `tool`, `edit`, `plan`, `usage`.
    pub kind: &'static str,
    /// A tool call's id (the page's script replaces it as it moves on).
    pub id: String,
    /// Its one-line head: a tool's name and title, an edit's path.
    pub head: String,
    /// A tool call's status.
    pub status: String,
    /// Text: a message, a thought, a plan's steps, the usage.
    pub text: String,
    /// A tool call's input, pretty.
    pub input: String,
    /// A tool call's output, pretty.
    pub output: String,
    /// An edit's diff, line by line with its class.
    pub diff: Vec<(String, &'static str)>,
}

/// One file of the diff.
pub struct FileView {
    pub path: String,
    pub added: usize,
    pub removed: usize,
    pub lines: Vec<(String, &'static str)>,
}

/// What the run page shows of the session.
#[derive(Default)]
pub struct SessionView {
    pub entries: Vec<EntryView>,
    pub files: Vec<FileView>,
    /// (short sha, subject).
    pub commits: Vec<(String, String)>,
    /// `$0.0026 for 3 model calls`, when it is known.
    pub cost: String,
    /// Hosts the egress proxy refused.
    pub refused: Vec<String>,
}

/// The session of `record`'s run.
pub async fn session_view(state: &AdminState, record: &RunRecord) -> Result<SessionView, AdminError> {
    let entries = transcript::folded(sessions::entries(state, record).await?)
        .into_iter()
        .map(entry_view)
        .collect();
    let text_of = |bytes: Option<Vec<u8>>| bytes.map(|b| String::from_utf8_lossy(&b).into_owned());
    let files = text_of(sessions::kept(state, record, "diff").await?)
        .map(|diff| files(&diff))
        .unwrap_or_default();
    let commits: Value = sessions::kept(state, record, "commits.json")
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let commits = commits
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let sha = c["sha"].as_str().unwrap_or_default();
            (
                sha.chars().take(10).collect(),
                c["subject"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let egress: Value = sessions::kept(state, record, "egress.json")
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let refused = egress["refused"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect();
    let cost = record
        .usage
        .filter(|u| u.cost_micros > 0)
        .map(|u| {
            format!(
                "${} for {} model calls",
                hookline_model::cost::dollars(u.cost_micros),
                u.calls
            )
        })
        .unwrap_or_default();
    Ok(SessionView {
        entries,
        files,
        commits,
        cost,
        refused,
    })
}

fn pretty(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn entry_view(entry: Entry) -> EntryView {
    let mut view = EntryView {
        kind: "message",
        id: String::new(),
        head: String::new(),
        status: String::new(),
        text: String::new(),
        input: String::new(),
        output: String::new(),
        diff: Vec::new(),
    };
    match entry {
        Entry::Prompt { text } => (view.kind, view.text) = ("prompt", text),
        Entry::AgentMessage { text } => view.text = text,
        Entry::Thought { text } => (view.kind, view.text) = ("thought", text),
        Entry::ToolCall {
            id,
            name,
            title,
            input,
            output,
            status,
        } => {
            view.kind = "tool";
            view.id = id;
            view.head = if title.is_empty() || title == name {
                name
            } else {
                format!("{name}: {title}")
            };
            view.status = serde_json::to_value(status)
                .ok()
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_default();
            view.input = pretty(&input);
            view.output = pretty(&output);
        }
        Entry::FileEdit { path, diff } => {
            view.kind = "edit";
            view.head = path;
            view.diff = diff.lines().map(|l| (l.to_owned(), line_class(l))).collect();
        }
        Entry::Plan { steps } => {
            view.kind = "plan";
            view.text = steps
                .iter()
                .map(|s| format!("[{}] {}", s.status, s.content))
                .collect::<Vec<_>>()
                .join("\n");
        }
        Entry::Usage { usage } => (view.kind, view.text) = ("usage", pretty(&usage)),
    }
    view
}

fn line_class(line: &str) -> &'static str {
    if line.starts_with("+++") || line.starts_with("---") {
        "meta"
    } else if line.starts_with('+') {
        "add"
    } else if line.starts_with('-') {
        "del"
    } else if line.starts_with("@@") {
        "hunk"
    } else {
        ""
    }
}

/// A unified diff cut into its files.
fn files(diff: &str) -> Vec<FileView> {
    let mut files: Vec<FileView> = Vec::new();
    for line in diff.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            let path = rest.rsplit(" b/").next().unwrap_or(rest).to_owned();
            files.push(FileView {
                path,
                added: 0,
                removed: 0,
                lines: Vec::new(),
            });
            continue;
        }
        let Some(file) = files.last_mut() else { continue };
        let class = line_class(line);
        match class {
            "add" => file.added += 1,
            "del" => file.removed += 1,
            _ => {}
        }
        file.lines.push((line.to_owned(), class));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::files;

    #[test]
    fn a_diff_is_cut_into_files_with_their_counts() {
        let diff = "diff --git a/x.txt b/x.txt\n--- a/x.txt\n+++ b/x.txt\n@@ -1 +1,2 @@\n-old\n+new\n+more\n\
                    diff --git a/img.png b/img.png\nBinary files a/img.png and b/img.png differ\n";
        let cut = files(diff);
        assert_eq!(cut.len(), 2);
        assert_eq!((cut[0].path.as_str(), cut[0].added, cut[0].removed), ("x.txt", 2, 1));
        assert_eq!((cut[1].path.as_str(), cut[1].added, cut[1].removed), ("img.png", 0, 0));
        assert!(cut[1].lines[0].0.starts_with("Binary files"));
    }
}
