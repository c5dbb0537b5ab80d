//! What an agent did in one run, in order: the prompt it got, what it
//! said, each tool it called (name, input, output, status), each file it
//! edited (with the diff), its plans and the usage it reported. One shape
//! for every ACP agent, whatever it reports (a `command` runner's
//! transcript is its output lines, on the log's `stdout` and `stderr`).
//! Entries are kept as the run goes (each one a `transcript` line of the
//! run's log, as JSON).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One step of a run's transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The rendered prompt the agent was given.
    Prompt {
        /// Its text.
        text: String,
    },
    /// What the agent said (a whole message: streamed chunks are joined).
    AgentMessage {
        /// Its text.
        text: String,
    },
    /// What the agent thought aloud, when it shows its reasoning.
    Thought {
        /// Its text.
        text: String,
    },
    /// A tool the agent called, recorded again as its status changes.
    ToolCall {
        /// The agent's id for the call, the same in each of its updates.
        id: String,
        /// The tool's name (`Write`, `bash`), else its title.
        name: String,
        /// The agent's title for it (`Write hello.txt`).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        title: String,
        /// Its input, as the agent sent it.
        #[serde(default, skip_serializing_if = "Value::is_null")]
        input: Value,
        /// Its output, once there is one.
        #[serde(default, skip_serializing_if = "Value::is_null")]
        output: Value,
        /// Where it is.
        status: ToolStatus,
    },
    /// A file the agent changed, as a diff.
    FileEdit {
        /// The file, as the agent named it.
        path: String,
        /// A unified diff of the change.
        diff: String,
    },
    /// The agent's plan: its steps and where each stands.
    Plan {
        /// `[ { "content": "…", "status": "pending" } ]`.
        steps: Vec<PlanStep>,
    },
    /// Model usage the agent itself reported (the gateway's count is the
    /// one the run's usage holds).
    Usage {
        /// As reported.
        usage: Value,
    },
}

/// Where a tool call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// Asked for, not started (perhaps awaiting permission).
    Pending,
    /// Running.
    InProgress,
    /// Done.
    Completed,
    /// Failed, or refused by the agent's policy.
    Failed,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    /// What the step is.
    pub content: String,
    /// `pending`, `in_progress` or `completed`.
    pub status: String,
}

/// What a finished transcript says in `run.completed`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The agent's last message.
    pub final_message: String,
    /// Distinct tool calls made.
    pub tool_calls: u32,
}

impl Summary {
    /// Takes one more entry into account.
    pub fn observe(&mut self, entry: &Entry, seen_calls: &mut std::collections::HashSet<String>) {
        match entry {
            Entry::AgentMessage { text } if !text.trim().is_empty() => self.final_message = text.clone(),
            Entry::ToolCall { id, .. } if seen_calls.insert(id.clone()) => self.tool_calls += 1,
            _ => {}
        }
    }
}

/// The run log stream transcript entries are kept on.
pub const LOG_STREAM: &str = "transcript";

/// `entries` as a reader wants them: each tool call once, where it was
/// first recorded, as it last stood (it is recorded at each status
/// change); every other entry as it is.
pub fn folded(entries: Vec<Entry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for entry in entries {
        if let Entry::ToolCall { id, .. } = &entry {
            if let Some(&i) = at.get(id) {
                out[i] = entry;
                continue;
            }
            at.insert(id.clone(), out.len());
        }
        out.push(entry);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_read_back_as_written_and_the_summary_counts_each_call_once() {
        let entries = vec![
            Entry::Prompt { text: "fix it".into() },
            Entry::ToolCall {
                id: "t1".into(),
                name: "Write".into(),
                title: "Write a.txt".into(),
                input: json!({"file_path": "a.txt"}),
                output: Value::Null,
                status: ToolStatus::Pending,
            },
            Entry::ToolCall {
                id: "t1".into(),
                name: "Write".into(),
                title: String::new(),
                input: Value::Null,
                output: json!("ok"),
                status: ToolStatus::Completed,
            },
            Entry::AgentMessage { text: "Done.".into() },
        ];
        let mut summary = Summary::default();
        let mut seen = std::collections::HashSet::new();
        for entry in &entries {
            let line = serde_json::to_string(entry).expect("json");
            assert_eq!(&serde_json::from_str::<Entry>(&line).expect("reads"), entry);
            summary.observe(entry, &mut seen);
        }
        assert_eq!(summary.tool_calls, 1);
        assert_eq!(summary.final_message, "Done.");
        assert_eq!(
            serde_json::to_value(&entries[1]).expect("json")["kind"],
            json!("tool_call")
        );
    }

    #[test]
    fn a_tool_call_folds_to_its_last_state_where_it_began() {
        let call = |status| Entry::ToolCall {
            id: "t1".into(),
            name: "Bash".into(),
            title: String::new(),
            input: Value::Null,
            output: Value::Null,
            status,
        };
        let said = Entry::AgentMessage { text: "done".into() };
        let folded = folded(vec![
            call(ToolStatus::Pending),
            said.clone(),
            call(ToolStatus::Completed),
        ]);
        assert_eq!(folded, vec![call(ToolStatus::Completed), said]);
    }
}
