//! Catalog parsing and validation, table by table.
use super::*;
use crate::written::Grammar;

const GOOD: &str = r#"
[sources.github]
provider = "github"
secrets = ["literal-secret"]

[profiles.default]
env = { RUST_LOG = "info" }

[agents.triage]
prompt = "Look at {{repo}}"
runner = { type = "command", command = ["./agent.sh"] }
profile = "default"
triggers = [{ source = "github", events = ["issues"], actions = ["labeled"] }]

[subscriptions.ops]
url = "https://ops.example.com/hooks"
events = ["deployment.>", "run.*"]
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
"#;

#[test]
fn a_good_file_parses_and_validates() {
    let catalog = Catalog::parse(GOOD).expect("parses");
    catalog.validate().expect("valid");
    assert_eq!(catalog.agents["triage"].max_concurrency, 1, "default concurrency");
    assert_eq!(
        catalog.sources["github"].max_body_bytes,
        256 * 1024,
        "default body limit"
    );
    assert!(catalog.subscriptions["ops"].wants("deployment.failed"));
    assert!(!catalog.subscriptions["ops"].wants("code.generated"));
}

#[test]
fn relative_agent_paths_are_stored_without_dots() {
    let dir = std::env::temp_dir().join(format!("hookline-catalog-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("conf")).expect("dir");
    let file = dir.join("conf/hookline.toml");
    std::fs::write(
        &file,
        "[agents.a]\nprompt = \"x\"\nrunner = { type = \"command\", command = [\"./agents/x.sh\"] }\n\n[agents.b]\nprompt = \"x\"\nrunner = { type = \"command\", command = [\"../y.sh\"] }\n",
    )
    .expect("write");
    let catalog = Catalog::load(&file).expect("loads");
    let base = std::fs::canonicalize(&dir).expect("canonical");
    let command = |id: &str| match &catalog.agents[id].runner {
        RunnerSpec::Command { command } => command[0].clone(),
        _ => String::new(),
    };
    assert_eq!(command("a"), base.join("conf/agents/x.sh").display().to_string());
    assert_eq!(command("b"), base.join("y.sh").display().to_string());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_agent_without_a_prompt_hears_of_its_other_problems_too() {
    let text = r#"
[agents.a]
timeout = "soon"
max_concurrency = 0
"#;
    let problems = Catalog::parse(text).expect("parses").validate().expect_err("invalid");
    let text = problems.join("\n");
    for expected in [
        "prompt is missing",
        "runner.command is empty",
        "timeout",
        "max_concurrency",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn secrets_are_checked_for_form_only_so_writers_need_none_of_them() {
    let text = GOOD.replace("literal-secret", "env:HOOKLINE_TEST_SURELY_UNSET");
    let catalog = Catalog::parse(&text).expect("parses");
    catalog
        .validate()
        .expect("an unset variable is the using service's business");
    for (bad, why) in [
        ("env:", "no name"),
        ("env:1X", "starts with a digit"),
        ("file:", "no path"),
        ("", "empty"),
    ] {
        assert!(SecretRef::new(bad).check_form().is_err(), "{why}: {bad:?}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let bad = r#"
[sources.Bad]
provider = "github"

[agents.a]
prompt = "x"
runner = { type = "command", command = [] }
profile = "missing"
timeout = "soon"
triggers = [{ source = "nowhere" }]

[subscriptions.s]
url = "ftp://x"
events = ["code.>.x"]
secrets = ["env:not a name"]
"#;
    let problems = Catalog::parse(bad).expect("parses").validate().expect_err("invalid");
    let text = problems.join("\n");
    for expected in [
        "source `Bad` is not a valid identifier",
        "needs at least one secret",
        "runner.command is empty",
        "unknown profile `missing`",
        "timeout",
        "unknown source `nowhere`",
        "url must be http",
        "not a valid event filter",
        "`not a name` is not an environment variable name",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn a_bad_typed_value_is_refused_naming_its_field_with_every_other_problem() {
    let text = r#"
[agents.a]
prompt = "p"
runner = { type = "command", command = ["true"] }
timeout = "5 weeks"
schedule = "* * *"
approval_timeout = "later"
limits = { memory = "4T", cpu_time = "1 hour" }
max_concurrency = 0

[profiles.p]
egress = ["api.github.com", "bad host"]
"#;
    let problems = Catalog::parse(text)
        .expect("kept as problems")
        .validate()
        .expect_err("refused");
    let text = problems.join("\n");
    for expected in [
        "agent `a`: timeout: `5 weeks` is not a duration",
        "agent `a`: schedule: `* * *`",
        "agent `a`: approval_timeout: `later`",
        "agent `a`: limits.memory:",
        "agent `a`: limits.cpu_time: `1 hour`",
        "agent `a`: max_concurrency",
        "profile `p`: egress `bad host`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Read strictly (a bucket entry), the same value fails the read.
    assert!(serde_json::from_value::<AgentSpec>(serde_json::json!({"prompt": "p", "timeout": "5 weeks"})).is_err());
}

#[test]
fn typed_values_read_back_as_written() {
    let text = "[agents.a]\nprompt = \"p\"\nrunner = { type = \"command\", command = [\"true\"] }\ntimeout = \"90s\"\nschedule = \"*/5 * * * *\"\nlimits = { memory = \"512M\" }\n";
    let catalog = Catalog::parse(text).expect("valid");
    let agent = &catalog.agents["a"];
    assert_eq!(agent.timeout(), std::time::Duration::from_secs(90));
    assert_eq!(agent.limits.memory.get().0, 512 << 20);
    let json = serde_json::to_value(agent).expect("json");
    assert_eq!(
        (json["timeout"].as_str(), json["schedule"].as_str()),
        (Some("90s"), Some("*/5 * * * *"))
    );
    assert_eq!(json["limits"]["memory"].as_str(), Some("512M"));
    // The defaults written in code read back as the values they stand for.
    let defaults =
        Catalog::parse("[agents.b]\nprompt = \"p\"\nrunner = { type = \"command\", command = [\"true\"] }\n")
            .expect("valid");
    let b = &defaults.agents["b"];
    for (written, value) in [(&b.timeout, b.timeout()), (&b.approval_timeout, b.approval_timeout())] {
        assert_eq!(crate::parse::parse_duration(written.as_str()), Ok(value));
    }
    for size in [&b.limits.memory, &b.limits.file_size] {
        assert_eq!(super::parse_size(size.as_str()), Ok(size.get().0));
    }
}

#[test]
fn a_model_allow_list_fits_names_by_pattern() {
    let text = r#"
[profiles.p]
models = { anthropic = { upstream = "https://api.anthropic.com", secret = "k", allow = ["claude-sonnet-*", "claude-haiku-4-5"] } }
"#;
    let catalog = Catalog::parse(text).expect("parses");
    catalog.validate().expect("valid");
    let spec = &catalog.profiles["p"].models["anthropic"];
    for (model, allowed) in [
        ("claude-sonnet-4-5-20250929", true),
        ("claude-sonnet-", true),
        ("claude-haiku-4-5", true),
        ("claude-haiku-4-5-x", false),
        ("claude-opus-4-1", false),
        ("", false),
    ] {
        assert_eq!(spec.allows(model), allowed, "{model}");
    }
    let middle = ModelGlob::read("gpt-*-mini-*").expect("pattern");
    assert!(middle.matches("gpt-5-mini-2025") && !middle.matches("gpt-5-nano-2025"));
    let bad = r#"
[profiles.p]
models = { a = { upstream = "https://x", secret = "k", allow = ["claude sonnet"] } }
"#;
    let problems = Catalog::parse(bad).expect("kept").validate().expect_err("refused");
    assert!(
        problems
            .join("\n")
            .contains("profile `p`: models.a.allow: `claude sonnet`"),
        "{problems:?}"
    );
}

#[test]
fn a_preset_without_its_model_entry_is_refused_naming_what_to_add() {
    let text = r#"
[profiles.p]
[agents.a]
prompt = "x"
profile = "p"
runner = { type = "claude-code", model = "claude-sonnet-4-5" }
[agents.b]
prompt = "x"
runner = { type = "codex" }
[agents.c]
prompt = "x"
runner = { type = "command", command = ["true"] }
mcp = { files = { command = ["mcp-files"] } }
[agents.d]
prompt = "x"
runner = { type = "acp", command = ["my-agent"], deny_tools = ["Bash"] }
mcp = { both = { command = ["x"], url = "https://mcp.example.com" }, none = {} }
"#;
    let problems = Catalog::parse(text).expect("parses").validate().expect_err("refused");
    let all = problems.join("\n");
    assert!(
        all.contains(
            "agent `a`: runner `claude-code` calls its model through the gateway: add `[profiles.p.models.anthropic]`"
        ),
        "{all}"
    );
    assert!(
        all.contains("agent `b`: runner `codex`")
            && all.contains("models.openai")
            && all.contains("`profile` to the agent"),
        "{all}"
    );
    assert!(
        all.contains("agent `c`: mcp servers are handed to an `acp` or preset runner"),
        "{all}"
    );
    assert!(all.contains("agent `d`: mcp.both needs either"), "{all}");
    assert!(all.contains("agent `d`: mcp.none needs either"), "{all}");
    let fixed = text.replace(
        "[profiles.p]",
        "[profiles.p.models.anthropic]\nupstream = \"https://api.anthropic.com\"\nsecret = \"env:K\"",
    );
    let problems = Catalog::parse(&fixed)
        .expect("parses")
        .validate()
        .expect_err("still b, c, d");
    assert!(!problems.iter().any(|p| p.contains("agent `a`")), "{problems:?}");
    let catalog = Catalog::parse(&fixed).expect("parses");
    assert_eq!(catalog.agents["a"].runner.describe(), "claude-code (claude-sonnet-4-5)");
    assert_eq!(catalog.agents["d"].runner.deny_tools(), ["Bash".to_owned()]);
}
