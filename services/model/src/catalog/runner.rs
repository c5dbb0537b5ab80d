//! What does an agent's work: a command, an OpenAI-compatible endpoint,
//! any agent that speaks the Agent Client Protocol, or one of the presets
//! for the agents people use; and the MCP servers handed to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SecretRef;

/// The process or endpoint that does an agent's work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RunnerSpec {
    /// Any agent CLI: argv, prompt on stdin and in `HOOKLINE_PROMPT_FILE`.
    Command {
        /// Program and arguments.
        command: Vec<String>,
    },
    /// An OpenAI-compatible chat completions endpoint: the prompt is the
    /// user message, the answer is the run's output.
    Http {
        /// The endpoint, such as `https://api.openai.com/v1/chat/completions`.
        url: String,
        /// The model name.
        model: String,
        /// Sent as `Authorization: Bearer …`.
        #[serde(default)]
        api_key: Option<SecretRef>,
        /// A system message before the prompt.
        #[serde(default)]
        system: Option<String>,
        /// Where in the workspace the answer is written, if anywhere.
        #[serde(default)]
        output_file: Option<String>,
        /// `max_tokens` for the request.
        #[serde(default)]
        max_tokens: Option<u32>,
    },
    /// Any agent that speaks the Agent Client Protocol on its stdin and
    /// stdout: one session in the workspace, the prompt, every update kept
    /// in the run's transcript.
    Acp {
        /// Program and arguments.
        command: Vec<String>,
        /// Tools whose permission requests are refused (by name or title).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        deny_tools: Vec<String>,
    },
    /// Claude Code, over ACP (`claude-code-acp`), through the profile's
    /// `models.anthropic`.
    #[serde(rename = "claude-code")]
    ClaudeCode(PresetOptions),
    /// Codex, over ACP (`codex-acp`), through the profile's `models.openai`
    /// (the Responses API).
    Codex(PresetOptions),
    /// Gemini CLI, over ACP (`gemini --experimental-acp`), through the
    /// profile's `models.gemini`.
    Gemini(PresetOptions),
    /// opencode, over ACP (`opencode acp`), through the profile's
    /// `models.anthropic` (else `models.openai`).
    Opencode(PresetOptions),
}

/// What a preset runner may be told.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetOptions {
    /// The model it asks for (its own default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Its program, when not the preset's on the run's `PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<String>,
    /// More arguments for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Most model calls the run may make through the gateway; the next is
    /// refused and the run ends `budget_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    /// Tools whose permission requests are refused (by name or title).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_tools: Vec<String>,
}

/// The agents Hookline knows how to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Claude Code.
    ClaudeCode,
    /// Codex.
    Codex,
    /// Gemini CLI.
    Gemini,
    /// opencode.
    Opencode,
}

impl Preset {
    /// Its name in `runner.type`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::ClaudeCode => "claude-code",
            Preset::Codex => "codex",
            Preset::Gemini => "gemini",
            Preset::Opencode => "opencode",
        }
    }

    /// The profile's model entries it can call through, in preference.
    pub fn model_entries(self) -> &'static [&'static str] {
        match self {
            Preset::ClaudeCode => &["anthropic"],
            Preset::Codex => &["openai"],
            Preset::Gemini => &["gemini"],
            Preset::Opencode => &["anthropic", "openai"],
        }
    }
}

impl RunnerSpec {
    /// The preset and its options, when the runner is one.
    pub fn preset(&self) -> Option<(Preset, &PresetOptions)> {
        match self {
            RunnerSpec::ClaudeCode(options) => Some((Preset::ClaudeCode, options)),
            RunnerSpec::Codex(options) => Some((Preset::Codex, options)),
            RunnerSpec::Gemini(options) => Some((Preset::Gemini, options)),
            RunnerSpec::Opencode(options) => Some((Preset::Opencode, options)),
            RunnerSpec::Command { .. } | RunnerSpec::Http { .. } | RunnerSpec::Acp { .. } => None,
        }
    }

    /// Whether the runner starts a process (in the sandbox).
    pub fn runs_a_process(&self) -> bool {
        !matches!(self, RunnerSpec::Http { .. })
    }

    /// Whether it speaks the Agent Client Protocol.
    pub fn speaks_acp(&self) -> bool {
        matches!(self, RunnerSpec::Acp { .. }) || self.preset().is_some()
    }

    /// The tools its permission requests are refused for.
    pub fn deny_tools(&self) -> &[String] {
        match self {
            RunnerSpec::Acp { deny_tools, .. } => deny_tools,
            other => other.preset().map(|(_, o)| o.deny_tools.as_slice()).unwrap_or_default(),
        }
    }

    /// Its short description (`command`, `claude-code (claude-sonnet-4-5)`).
    pub fn describe(&self) -> String {
        match self {
            RunnerSpec::Command { .. } => "command".to_owned(),
            RunnerSpec::Http { model, .. } => format!("http ({model})"),
            RunnerSpec::Acp { .. } => "acp".to_owned(),
            other => match other.preset() {
                Some((preset, PresetOptions { model: Some(model), .. })) => format!("{} ({model})", preset.name()),
                Some((preset, _)) => preset.name().to_owned(),
                None => String::new(),
            },
        }
    }
}

impl Default for RunnerSpec {
    /// No runner: an empty command, which validation refuses.
    fn default() -> Self {
        RunnerSpec::Command { command: Vec::new() }
    }
}

/// An MCP server the agent is given: `command` (a stdio server, run in the
/// sandbox) or `url` (a remote one, reached through the gateway).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerSpec {
    /// A stdio server's program and arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// A stdio server's environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// A remote server's URL (streamable HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A remote server's credential, added by the gateway as
    /// `Authorization: Bearer …` (the agent never holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
    /// The tools the agent may call on it; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

impl McpServerSpec {
    /// Whether the agent may call `tool` on it.
    pub fn allows(&self, tool: &str) -> bool {
        self.tools.is_empty() || self.tools.iter().any(|t| t == tool)
    }
}
