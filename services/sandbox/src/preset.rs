//! What Hookline knows about the agents people use, so each runs in one
//! line: which program speaks ACP for it, how it is pointed at the
//! profile's model gateway (its own variable or config file, written into
//! the run's home), which placeholder key it needs (the gateway adds the
//! real one), which of its habits must be turned off inside the sandbox
//! (update checks, telemetry, its own sandbox), and where it keeps its
//! state. Pure: it writes nothing itself.

use std::path::{Path, PathBuf};

use hookline_model::catalog::{Preset, PresetOptions};
use serde_json::{Value, json};

/// The key an agent is given: it must hold one, and the gateway replaces
/// it with the real key, which never enters the sandbox.
pub const PLACEHOLDER_KEY: &str = "hookline-gateway-adds-the-real-key";

/// How to start a preset's agent for one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// Program and arguments (the program as the run's `PATH` finds it,
    /// or the preset's `bin`).
    pub command: Vec<String>,
    /// Variables added to the agent's environment.
    pub env: Vec<(String, String)>,
    /// Files written before it starts: (path in the run's home, content).
    pub files: Vec<(PathBuf, String)>,
}

/// Why a preset cannot start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("runner `{preset}` needs the profile's model `{entry}` behind the gateway, which this run does not have")]
pub struct NoGateway {
    /// The preset.
    pub preset: &'static str,
    /// The model entry it wanted.
    pub entry: &'static str,
}

/// The launch of `preset` with `options`; `gateway(name)` answers the
/// gateway URL of the profile's model `name` for this run; `home` is the
/// run's home folder.
pub fn launch(
    preset: Preset,
    options: &PresetOptions,
    gateway: impl Fn(&str) -> Option<String>,
    home: &Path,
) -> Result<Launch, NoGateway> {
    let (entry, url) = preset
        .model_entries()
        .iter()
        .find_map(|entry| gateway(entry).map(|url| (*entry, url)))
        .ok_or(NoGateway {
            preset: preset.name(),
            entry: preset.model_entries().first().copied().unwrap_or_default(),
        })?;
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let program = |default: &str| options.bin.clone().unwrap_or_else(|| default.to_owned());
    let mut launch = match preset {
        Preset::ClaudeCode => {
            let mut vars = env(&[
                ("ANTHROPIC_BASE_URL", &url),
                ("ANTHROPIC_API_KEY", PLACEHOLDER_KEY),
                // Claude Code refuses to skip permission prompts as root
                // unless told it is sandboxed, which it is.
                ("IS_SANDBOX", "1"),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
                ("DISABLE_AUTOUPDATER", "1"),
                ("DISABLE_TELEMETRY", "1"),
                ("DISABLE_ERROR_REPORTING", "1"),
            ]);
            // The ACP adapter picks its model from the settings file, by
            // alias (`opus`); the alias's variable maps it back to the
            // exact model asked for.
            let mut files = Vec::new();
            if let Some(model) = &options.model {
                vars.push(("ANTHROPIC_MODEL".to_owned(), model.clone()));
                for family in ["opus", "sonnet", "haiku"] {
                    if model.contains(family) {
                        let alias = format!("ANTHROPIC_DEFAULT_{}_MODEL", family.to_ascii_uppercase());
                        vars.push((alias, model.clone()));
                    }
                }
                files.push((PathBuf::from(".claude/settings.json"), pretty(&json!({"model": model}))));
            }
            Launch {
                command: vec![program("claude-code-acp")],
                env: vars,
                files,
            }
        }
        Preset::Codex => {
            // Codex's own sandbox fails inside bubblewrap and then fails
            // every command silently: Hookline's sandbox is the boundary.
            let model = options
                .model
                .as_ref()
                .map(|m| format!("model = {}\n", toml_string(m)))
                .unwrap_or_default();
            let config = format!(
                "{model}model_provider = \"hookline\"\n\
                 sandbox_mode = \"danger-full-access\"\n\
                 approval_policy = \"never\"\n\
                 check_for_update_on_startup = false\n\
                 \n\
                 [model_providers.hookline]\n\
                 name = \"hookline\"\n\
                 base_url = {}\n\
                 wire_api = \"responses\"\n\
                 env_key = \"OPENAI_API_KEY\"\n",
                toml_string(&format!("{url}/v1"))
            );
            Launch {
                command: vec![program("codex-acp")],
                env: env(&[
                    ("OPENAI_API_KEY", PLACEHOLDER_KEY),
                    ("CODEX_HOME", &home.join(".codex").display().to_string()),
                ]),
                files: vec![(PathBuf::from(".codex/config.toml"), config)],
            }
        }
        Preset::Gemini => {
            let mut settings = json!({
                "privacy": {"usageStatisticsEnabled": false},
                "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
                "security": {"auth": {"selectedType": "gemini-api-key"}},
                "telemetry": {"enabled": false},
            });
            if let Some(model) = &options.model {
                settings["model"] = json!({"name": model});
            }
            Launch {
                command: vec![program("gemini"), "--acp".to_owned()],
                env: env(&[
                    ("GEMINI_API_KEY", PLACEHOLDER_KEY),
                    ("GOOGLE_GEMINI_BASE_URL", &url),
                    ("GEMINI_CLI_NO_RELAUNCH", "true"),
                ]),
                files: vec![(PathBuf::from(".gemini/settings.json"), pretty(&settings))],
            }
        }
        Preset::Opencode => {
            let provider = if entry == "anthropic" { "anthropic" } else { "openai" };
            let model = options.model.clone().unwrap_or_else(|| {
                if provider == "anthropic" {
                    "claude-sonnet-4-5"
                } else {
                    "gpt-5"
                }
                .to_owned()
            });
            let config = json!({
                "$schema": "https://opencode.ai/config.json",
                "autoupdate": false,
                "share": "disabled",
                "model": format!("{provider}/{model}"),
                "provider": {provider: {"options": {"baseURL": format!("{url}/v1"), "apiKey": PLACEHOLDER_KEY}}},
                "permission": {"edit": "allow", "bash": "allow", "webfetch": "allow"},
            });
            Launch {
                command: vec![program("opencode"), "acp".to_owned()],
                env: env(&[
                    ("OPENCODE_DISABLE_AUTOUPDATE", "1"),
                    // It would fetch its default plugins and model list
                    // from the internet on a fresh home.
                    ("OPENCODE_DISABLE_DEFAULT_PLUGINS", "1"),
                    ("OPENCODE_DISABLE_MODELS_FETCH", "1"),
                    ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1"),
                    ("OPENCODE_DISABLE_SHARE", "1"),
                ]),
                files: vec![(PathBuf::from(".config/opencode/opencode.json"), pretty(&config))],
            }
        }
    };
    launch.command.extend(options.args.iter().cloned());
    Ok(launch)
}

/// Where the agent keeps its sessions in its home (for resuming one).
pub fn state_folders(preset: Preset) -> &'static [&'static str] {
    match preset {
        Preset::ClaudeCode => &[".claude"],
        Preset::Codex => &[".codex"],
        Preset::Gemini => &[".gemini"],
        Preset::Opencode => &[".local/share/opencode"],
    }
}

/// `text` as a TOML basic string (JSON's escapes are TOML's).
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(name: &str) -> Option<String> {
        (name == "anthropic").then(|| "http://127.0.0.1:3129".to_owned())
    }

    #[test]
    fn each_preset_points_its_agent_at_the_gateway_with_a_placeholder_key() {
        let home = Path::new("/run/home");
        let options = PresetOptions {
            model: Some("claude-sonnet-4-5".into()),
            args: vec!["--verbose".into()],
            ..PresetOptions::default()
        };
        let claude = launch(Preset::ClaudeCode, &options, gateway, home).expect("launches");
        assert_eq!(claude.command, ["claude-code-acp", "--verbose"]);
        let var = |l: &Launch, k: &str| l.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(
            var(&claude, "ANTHROPIC_BASE_URL").as_deref(),
            Some("http://127.0.0.1:3129")
        );
        assert_eq!(var(&claude, "ANTHROPIC_API_KEY").as_deref(), Some(PLACEHOLDER_KEY));
        assert_eq!(var(&claude, "ANTHROPIC_MODEL").as_deref(), Some("claude-sonnet-4-5"));

        let opencode = launch(Preset::Opencode, &PresetOptions::default(), gateway, home).expect("launches");
        let (path, config) = &opencode.files[0];
        assert_eq!(path, Path::new(".config/opencode/opencode.json"));
        let config: Value = serde_json::from_str(config).expect("json");
        assert_eq!(config["model"], "anthropic/claude-sonnet-4-5");
        assert_eq!(
            config["provider"]["anthropic"]["options"]["baseURL"],
            "http://127.0.0.1:3129/v1"
        );

        assert_eq!(
            launch(Preset::Codex, &options, gateway, home),
            Err(NoGateway {
                preset: "codex",
                entry: "openai"
            })
        );
        let openai = |name: &str| (name == "openai").then(|| "http://127.0.0.1:3130".to_owned());
        let codex = launch(Preset::Codex, &PresetOptions::default(), openai, home).expect("launches");
        let (path, config) = &codex.files[0];
        assert_eq!(path, Path::new(".codex/config.toml"));
        assert!(config.contains("base_url = \"http://127.0.0.1:3130/v1\""), "{config}");
        assert!(config.contains("sandbox_mode = \"danger-full-access\""), "{config}");
        assert_eq!(var(&codex, "CODEX_HOME").as_deref(), Some("/run/home/.codex"));
    }
}
