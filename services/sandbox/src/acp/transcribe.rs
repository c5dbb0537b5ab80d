//! ACP session updates made into transcript entries: message chunks joined
//! into whole messages, a tool call's updates merged into its current
//! state (recorded again at each status), diffs rendered as unified diffs.

use std::collections::HashMap;

use agent_client_protocol::v1::schema::{
    ContentBlock, PlanEntryStatus, SessionUpdate, ToolCall, ToolCallContent, ToolCallStatus, ToolCallUpdateFields,
};
use hookline_model::transcript::{Entry, PlanStep, ToolStatus};
use serde_json::Value;

/// Turns one session's updates into entries, in order.
#[derive(Default)]
pub(crate) struct Transcriber {
    /// The message being streamed, and whether it is a thought.
    pending: Option<(bool, String)>,
    /// Each call's state so far.
    calls: HashMap<String, Call>,
}

#[derive(Clone, Default)]
struct Call {
    name: String,
    /// ACP's kind (`execute`, `edit`, `read`), when the agent gave one.
    kind: Option<String>,
    title: String,
    input: Value,
    output: Value,
    status: Option<ToolStatus>,
}

impl Transcriber {
    /// The entries `update` completes (none while a message streams).
    pub(crate) fn update(&mut self, update: SessionUpdate) -> Vec<Entry> {
        let mut out = Vec::new();
        match update {
            SessionUpdate::AgentMessageChunk(chunk) => self.stream(false, &chunk.content, &mut out),
            SessionUpdate::AgentThoughtChunk(chunk) => self.stream(true, &chunk.content, &mut out),
            SessionUpdate::ToolCall(call) => {
                self.flush_into(&mut out);
                self.tool_call(call, &mut out);
            }
            SessionUpdate::ToolCallUpdate(update) => {
                self.flush_into(&mut out);
                let mut fields = update.fields;
                if fields.name.is_none() {
                    fields.name = name_in_meta(update.meta.as_ref());
                }
                self.merge(update.tool_call_id.to_string(), fields, &mut out);
            }
            SessionUpdate::Plan(plan) => {
                self.flush_into(&mut out);
                out.push(Entry::Plan {
                    steps: plan
                        .entries
                        .into_iter()
                        .map(|step| PlanStep {
                            content: step.content,
                            status: match step.status {
                                PlanEntryStatus::Pending => "pending",
                                PlanEntryStatus::InProgress => "in_progress",
                                PlanEntryStatus::Completed => "completed",
                                _ => "other",
                            }
                            .to_owned(),
                        })
                        .collect(),
                });
            }
            SessionUpdate::UsageUpdate(usage) => {
                self.flush_into(&mut out);
                if let Ok(usage) = serde_json::to_value(usage) {
                    out.push(Entry::Usage { usage });
                }
            }
            _ => {}
        }
        out
    }

    /// The message still streaming, whole.
    pub(crate) fn flush(&mut self) -> Vec<Entry> {
        let mut out = Vec::new();
        self.flush_into(&mut out);
        out
    }

    /// The name a permission request's call goes by: the tool's name when
    /// the agent gave one, else its title.
    pub(crate) fn name_of(&self, id: &str, fields: &ToolCallUpdateFields) -> (String, String) {
        let known = self.calls.get(id).cloned().unwrap_or_default();
        let name = fields.name.clone().filter(|n| !n.is_empty()).unwrap_or(known.name);
        let title = fields.title.clone().unwrap_or(known.title);
        (name, title)
    }

    /// Records that the agent's policy refused call `id`.
    pub(crate) fn refused(&mut self, id: &str, fields: &ToolCallUpdateFields, why: &str) -> Entry {
        let (name, title) = self.name_of(id, fields);
        let call = self.calls.entry(id.to_owned()).or_default();
        call.name = name.clone();
        call.title = title.clone();
        call.status = Some(ToolStatus::Failed);
        call.output = Value::String(why.to_owned());
        Entry::ToolCall {
            id: id.to_owned(),
            name,
            title,
            input: call.input.clone(),
            output: call.output.clone(),
            status: ToolStatus::Failed,
        }
    }

    fn stream(&mut self, thought: bool, content: &ContentBlock, out: &mut Vec<Entry>) {
        let ContentBlock::Text(text) = content else {
            return;
        };
        match &mut self.pending {
            Some((kind, so_far)) if *kind == thought => so_far.push_str(&text.text),
            _ => {
                self.flush_into(out);
                self.pending = Some((thought, text.text.clone()));
            }
        }
    }

    fn flush_into(&mut self, out: &mut Vec<Entry>) {
        match self.pending.take() {
            Some((true, text)) => out.push(Entry::Thought { text }),
            Some((false, text)) => out.push(Entry::AgentMessage { text }),
            None => {}
        }
    }

    fn tool_call(&mut self, call: ToolCall, out: &mut Vec<Entry>) {
        let fields = ToolCallUpdateFields::new()
            .title(call.title)
            .kind(call.kind)
            .status(call.status)
            .content(call.content)
            .name(call.name.or_else(|| name_in_meta(call.meta.as_ref())))
            .raw_input(call.raw_input)
            .raw_output(call.raw_output);
        self.merge(call.tool_call_id.to_string(), fields, out);
    }

    fn merge(&mut self, id: String, fields: ToolCallUpdateFields, out: &mut Vec<Entry>) {
        let call = self.calls.entry(id.clone()).or_default();
        if let Some(title) = fields.title {
            call.title = title;
        }
        if let Some(name) = fields.name.filter(|n| !n.is_empty()) {
            call.name = name;
        }
        if let Some(input) = fields.raw_input.filter(|v| !is_empty(v)) {
            call.input = input;
        }
        if let Some(output) = fields.raw_output.filter(|v| !is_empty(v)) {
            call.output = output;
        }
        let mut edits = Vec::new();
        for content in fields.content.unwrap_or_default() {
            match content {
                ToolCallContent::Diff(diff) => {
                    let path = diff.path.display().to_string();
                    edits.push(Entry::FileEdit {
                        diff: unified(&path, diff.old_text.as_deref(), &diff.new_text),
                        path,
                    });
                }
                ToolCallContent::Content(content) => {
                    if let ContentBlock::Text(text) = content.content
                        && call.output.is_null()
                    {
                        call.output = Value::String(text.text);
                    }
                }
                _ => {}
            }
        }
        let status = fields
            .status
            .map(status_of)
            .or(call.status)
            .unwrap_or(ToolStatus::Pending);
        let changed = call.status != Some(status);
        call.status = Some(status);
        if let Some(kind) = fields.kind.and_then(|k| serde_json::to_value(k).ok()) {
            call.kind = kind.as_str().filter(|k| *k != "other").map(str::to_owned);
        }
        if call.name.is_empty() {
            // An agent that names no tool (Codex): its kind, else its title.
            call.name = call.kind.clone().unwrap_or_else(|| call.title.clone());
        }
        // A call is recorded when it appears and when its status changes;
        // smaller updates (streamed input, progress) are folded in.
        if changed {
            out.push(Entry::ToolCall {
                id,
                name: call.name.clone(),
                title: call.title.clone(),
                input: call.input.clone(),
                output: call.output.clone(),
                status,
            });
        }
        out.extend(edits);
    }
}

/// The tool's name where an agent keeps it in `_meta` (Claude Code:
/// `{"claudeCode": {"toolName": "Bash"}}`), for agents that leave the
/// protocol's `name` out.
fn name_in_meta(meta: Option<&serde_json::Map<String, Value>>) -> Option<String> {
    meta?
        .values()
        .find_map(|vendor| vendor.get("toolName")?.as_str().map(str::to_owned))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

fn status_of(status: ToolCallStatus) -> ToolStatus {
    match status {
        ToolCallStatus::Pending => ToolStatus::Pending,
        ToolCallStatus::InProgress => ToolStatus::InProgress,
        ToolCallStatus::Completed => ToolStatus::Completed,
        _ => ToolStatus::Failed,
    }
}

/// A unified diff of `path` from `old` (none: a new file) to `new`.
fn unified(path: &str, old: Option<&str>, new: &str) -> String {
    let before = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_owned()
    };
    similar::TextDiff::from_lines(old.unwrap_or_default(), new)
        .unified_diff()
        .header(&before, &format!("b/{path}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_client_protocol::v1::schema::{ContentChunk, Diff, TextContent, ToolCallUpdate};
    use serde_json::json;

    fn chunk(text: &str) -> SessionUpdate {
        SessionUpdate::AgentMessageChunk(ContentChunk::new(ContentBlock::Text(TextContent::new(text))))
    }

    #[test]
    fn chunks_join_calls_merge_and_edits_become_diffs() {
        let mut t = Transcriber::default();
        let mut entries = Vec::new();
        entries.extend(t.update(chunk("I will ")));
        entries.extend(t.update(chunk("write it.")));
        let meta = json!({"claudeCode": {"toolName": "Write"}});
        let call = ToolCall::new("t1", "Write hello.txt")
            .raw_input(json!({"file_path": "hello.txt"}))
            .meta(meta.as_object().cloned());
        entries.extend(t.update(SessionUpdate::ToolCall(call)));
        let done = ToolCallUpdateFields::new()
            .status(ToolCallStatus::Completed)
            .content(vec![ToolCallContent::Diff(Diff::new("hello.txt", "hi\n"))]);
        entries.extend(t.update(SessionUpdate::ToolCallUpdate(ToolCallUpdate::new("t1", done))));
        entries.extend(t.update(chunk("Done.")));
        entries.extend(t.flush());
        assert_eq!(
            entries[0],
            Entry::AgentMessage {
                text: "I will write it.".into()
            }
        );
        let Entry::ToolCall {
            name, input, status, ..
        } = &entries[1]
        else {
            panic!("{entries:?}")
        };
        assert_eq!(
            (name.as_str(), status),
            ("Write", &ToolStatus::Pending),
            "named from _meta"
        );
        assert_eq!(input, &json!({"file_path": "hello.txt"}));
        let Entry::ToolCall { status, input, .. } = &entries[2] else {
            panic!("{entries:?}")
        };
        assert_eq!(status, &ToolStatus::Completed);
        assert_eq!(input, &json!({"file_path": "hello.txt"}), "the input is kept");
        let Entry::FileEdit { path, diff } = &entries[3] else {
            panic!("{entries:?}")
        };
        assert_eq!(path, "hello.txt");
        assert!(diff.contains("--- /dev/null") && diff.contains("+hi"), "{diff}");
        assert_eq!(entries[4], Entry::AgentMessage { text: "Done.".into() });
        assert_eq!(entries.len(), 5);
    }
}
