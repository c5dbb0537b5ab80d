//! The catalog's validation: every problem at once, each naming its item
//! and field. It stands apart from the catalog's types because it also
//! checks the events agents declare against the event catalog, which is
//! made from the catalog's types (so neither file imports the other).

use crate::catalog::{
    AgentSpec, Catalog, MAX_BODY_LIMIT, Predicate, Provider, RESERVED_HEADERS, RunnerSpec, SecretRef, forge,
    glob_to_regex,
};
use crate::ids::Id;
use crate::written::Written;

impl Catalog {
    /// Every problem in the catalog, or Ok.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let check_id = |kind: &str, id: &str, problems: &mut Vec<String>| {
            if let Err(e) = Id::parse(id) {
                problems.push(format!("{kind} {e}"));
            }
        };
        for (id, source) in &self.sources {
            check_id("source", id, &mut problems);
            if source.provider != Provider::None && source.secrets.is_empty() {
                problems.push(format!(
                    "source `{id}`: provider {:?} needs at least one secret (or provider = \"none\")",
                    source.provider
                ));
            }
            for secret in &source.secrets {
                if let Err(e) = secret.check_form() {
                    problems.push(format!("source `{id}`: secret {}: {e}", secret.hint()));
                }
            }
            match (&source.provider, &source.hmac) {
                (Provider::Hmac, None) => problems.push(format!(
                    "source `{id}`: provider \"hmac\" needs an [sources.{id}.hmac] table"
                )),
                (Provider::Hmac | Provider::Mintlify, Some(spec)) => {
                    if spec.header.trim().is_empty() {
                        problems.push(format!("source `{id}`: hmac.header is empty"));
                    }
                    if let Some(e) = spec.tolerance.problem() {
                        problems.push(format!("source `{id}`: hmac.tolerance: {e}"));
                    }
                }
                (_, Some(_)) => problems.push(format!(
                    "source `{id}`: an hmac table only applies to provider \"hmac\" or \"mintlify\""
                )),
                _ => {}
            }
            if source.max_body_bytes == 0 || source.max_body_bytes > MAX_BODY_LIMIT {
                problems.push(format!("source `{id}`: max_body_bytes must be 1 to {MAX_BODY_LIMIT}"));
            }
        }
        for (id, profile) in &self.profiles {
            check_id("profile", id, &mut problems);
            for (name, secret) in &profile.secrets {
                if let Err(e) = secret.secret.check_form() {
                    problems.push(format!("profile `{id}`: secret {name}: {e}"));
                }
            }
        }
        for (id, profile) in &self.profiles {
            for (name, model) in &profile.models {
                for (pattern, price) in &model.prices {
                    if let Err(e) = <crate::catalog::ModelGlob as crate::written::Grammar>::read(pattern) {
                        problems.push(format!("profile `{id}`: models.{name}.prices: {e}"));
                    }
                    if !price.is_valid() {
                        problems.push(format!(
                            "profile `{id}`: models.{name}.prices.\"{pattern}\": prices are dollars per million tokens, 0 or more"
                        ));
                    }
                }
            }
        }
        for (id, agent) in &self.agents {
            check_id("agent", id, &mut problems);
            if agent.prompt.trim().is_empty() {
                problems.push(format!("agent `{id}`: prompt is missing or empty"));
            }
            match &agent.runner {
                RunnerSpec::Command { command } if command.is_empty() => {
                    problems.push(format!("agent `{id}`: runner.command is empty (or no runner is given)"));
                }
                RunnerSpec::Command { .. } => {}
                RunnerSpec::Acp { command, .. } if command.is_empty() => {
                    problems.push(format!("agent `{id}`: runner.command is empty"));
                }
                RunnerSpec::Acp { .. } => {}
                RunnerSpec::ClaudeCode(_) | RunnerSpec::Codex(_) | RunnerSpec::Gemini(_) | RunnerSpec::Opencode(_) => {
                    self.check_preset(id, agent, &mut problems);
                }
                RunnerSpec::Http {
                    url,
                    model,
                    api_key,
                    output_file,
                    ..
                } => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        problems.push(format!("agent `{id}`: runner.url must be http:// or https://"));
                    }
                    if model.trim().is_empty() {
                        problems.push(format!("agent `{id}`: runner.model is empty"));
                    }
                    if let Some(Err(e)) = api_key.as_ref().map(SecretRef::check_form) {
                        problems.push(format!("agent `{id}`: runner.api_key: {e}"));
                    }
                    if output_file
                        .as_ref()
                        .is_some_and(|f| f.starts_with('/') || f.split('/').any(|part| part == ".."))
                    {
                        problems.push(format!(
                            "agent `{id}`: runner.output_file must be a path inside the workspace"
                        ));
                    }
                }
            }
            Self::check_mcp(id, agent, &mut problems);
            for (field, dollars) in [
                ("budget_usd", agent.budget_usd),
                ("daily_budget_usd", agent.daily_budget_usd),
            ] {
                if dollars.is_some_and(|d| !d.is_finite() || d <= 0.0) {
                    problems.push(format!("agent `{id}`: {field} must be an amount of dollars above 0"));
                }
            }
            if let Some(profile) = &agent.profile
                && !self.profiles.contains_key(profile)
            {
                problems.push(format!("agent `{id}`: unknown profile `{profile}`"));
            }
            let written = [
                ("timeout", agent.timeout.problem()),
                ("approval_timeout", agent.approval_timeout.problem()),
                ("schedule", agent.schedule.as_ref().and_then(Written::problem)),
                ("limits.memory", agent.limits.memory.problem()),
                ("limits.file_size", agent.limits.file_size.problem()),
                (
                    "limits.cpu_time",
                    agent.limits.cpu_time.as_ref().and_then(Written::problem),
                ),
            ];
            for (field, problem) in written {
                if let Some(e) = problem {
                    problems.push(format!("agent `{id}`: {field}: {e}"));
                }
            }
            if agent.max_concurrency == 0 {
                problems.push(format!("agent `{id}`: max_concurrency must be at least 1"));
            }
            if agent.max_attempts == 0 {
                problems.push(format!("agent `{id}`: max_attempts must be at least 1"));
            }
            if agent.limits.processes == 0 {
                problems.push(format!("agent `{id}`: limits.processes must be at least 1"));
            }
            for path in agent.sandbox_paths.read.iter().chain(&agent.sandbox_paths.write) {
                if !path.starts_with('/') {
                    problems.push(format!(
                        "agent `{id}`: sandbox_paths: `{path}` must be an absolute path"
                    ));
                }
            }
            if let Some(trust) = &agent.trust {
                trust.check(&format!("agent `{id}`: trust"), &mut problems);
            }
            let profile = agent.profile.as_ref().and_then(|p| self.profiles.get(p));
            forge::check(id, agent, profile, &mut problems);
            for trigger in &agent.triggers {
                if let Some(trust) = &trigger.trust {
                    trust.check(
                        &format!("agent `{id}`: trigger on `{}`: trust", trigger.source),
                        &mut problems,
                    );
                }
                for glob in &trigger.branches {
                    if regex::Regex::new(&glob_to_regex(glob)).is_err() {
                        problems.push(format!("agent `{id}`: branch glob `{glob}` is invalid"));
                    }
                }
                for pattern in trigger.predicate.iter().flat_map(Predicate::patterns) {
                    if let Err(e) = regex::Regex::new(pattern) {
                        problems.push(format!("agent `{id}`: regex `{pattern}`: {e}"));
                    }
                }
                if !self.sources.contains_key(&trigger.source) {
                    problems.push(format!(
                        "agent `{id}`: trigger names unknown source `{}`",
                        trigger.source
                    ));
                }
            }
        }
        if let Err(mut declared) = crate::event_catalog::EventCatalog::with_declared(self) {
            problems.append(&mut declared);
        }
        for (id, profile) in &self.profiles {
            forge::check_profile(id, profile, &mut problems);
            for e in profile.egress.iter().filter_map(Written::problem) {
                problems.push(format!("profile `{id}`: {e}"));
            }
            for (name, model) in &profile.models {
                if !(model.upstream.starts_with("https://") || model.upstream.starts_with("http://")) {
                    problems.push(format!("profile `{id}`: models.{name}.upstream must be an http(s) URL"));
                }
                if hyper_header_ok(&model.header).is_err() {
                    problems.push(format!("profile `{id}`: models.{name}.header is not a header name"));
                }
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    problems.push(format!(
                        "profile `{id}`: model name `{name}`: use letters, digits and _"
                    ));
                }
                if let Err(e) = model.secret.check_form() {
                    problems.push(format!("profile `{id}`: models.{name}.secret: {e}"));
                }
                for e in model.allow.iter().filter_map(Written::problem) {
                    problems.push(format!("profile `{id}`: models.{name}.allow: {e}"));
                }
            }
        }
        for (id, sub) in &self.subscriptions {
            check_id("subscription", id, &mut problems);
            if !(sub.url.starts_with("http://") || sub.url.starts_with("https://")) {
                problems.push(format!("subscription `{id}`: url must be http:// or https://"));
            }
            for e in sub.events.iter().filter_map(Written::problem) {
                problems.push(format!("subscription `{id}`: {e}"));
            }
            if sub.secrets.is_empty() {
                problems.push(format!("subscription `{id}`: needs a signing secret"));
            } else if !sub.secrets.iter().any(|s| s.active_at(crate::clock::now_ms())) {
                problems.push(format!("subscription `{id}`: every signing secret has expired"));
            }
            for name in sub.headers.keys() {
                let lower = name.to_ascii_lowercase();
                if RESERVED_HEADERS.contains(&lower.as_str()) || lower == "traceparent" {
                    problems.push(format!("subscription `{id}`: header `{name}` is set by Hookline"));
                } else if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    problems.push(format!("subscription `{id}`: `{name}` is not a header name"));
                }
            }
            if sub.rate_limit == Some(0) {
                problems.push(format!("subscription `{id}`: rate_limit must be at least 1 per second"));
            }
            for secret in &sub.secrets {
                if let Err(e) = secret.check_form() {
                    problems.push(format!("subscription `{id}`: secret {}: {e}", secret.hint()));
                }
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// A preset needs its model entry in the agent's profile, since it
    /// calls its model through the gateway alone.
    fn check_preset(&self, id: &str, agent: &AgentSpec, problems: &mut Vec<String>) {
        let Some((preset, options)) = agent.runner.preset() else {
            return;
        };
        let wanted = preset.model_entries();
        let profile = agent.profile.as_ref().and_then(|p| self.profiles.get(p));
        let has_model = profile.is_some_and(|p| wanted.iter().any(|name| p.models.contains_key(*name)));
        if !has_model {
            let entry = wanted.first().copied().unwrap_or_default();
            let profile = agent.profile.as_deref().unwrap_or("<its profile>");
            problems.push(format!(
                "agent `{id}`: runner `{}` calls its model through the gateway: add \
                 `[profiles.{profile}.models.{entry}]` with `upstream` and `secret`{}",
                preset.name(),
                if agent.profile.is_none() {
                    ", and `profile` to the agent"
                } else {
                    ""
                }
            ));
        }
        if options.max_turns == Some(0) {
            problems.push(format!("agent `{id}`: runner.max_turns must be at least 1"));
        }
        if options.bin.as_ref().is_some_and(|b| b.trim().is_empty()) {
            problems.push(format!("agent `{id}`: runner.bin is empty"));
        }
    }

    /// Each MCP server is a command or a URL, handed to an agent that
    /// speaks ACP.
    fn check_mcp(id: &str, agent: &AgentSpec, problems: &mut Vec<String>) {
        if !agent.mcp.is_empty() && !agent.runner.speaks_acp() {
            problems.push(format!(
                "agent `{id}`: mcp servers are handed to an `acp` or preset runner, not to `{}`",
                agent.runner.describe()
            ));
        }
        for (name, server) in &agent.mcp {
            if Id::parse(name).is_err() {
                problems.push(format!("agent `{id}`: mcp server name `{name}` is not an id"));
            }
            match (&server.command.is_empty(), &server.url) {
                (true, None) | (false, Some(_)) => problems.push(format!(
                    "agent `{id}`: mcp.{name} needs either `command` (a stdio server) or `url` (a remote one)"
                )),
                (true, Some(url)) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                    problems.push(format!("agent `{id}`: mcp.{name}.url must be http:// or https://"));
                }
                _ => {}
            }
            if server.url.is_none() && !server.tools.is_empty() {
                problems.push(format!(
                    "agent `{id}`: mcp.{name}.tools: a tools list is held by the gateway, for a remote server (`url`); \
                     a stdio server runs with all its tools"
                ));
            }
            if server.url.is_none() && server.secret.is_some() {
                problems.push(format!(
                    "agent `{id}`: mcp.{name}.secret is for a remote server; give a stdio server `env`"
                ));
            }
            if let Some(Err(e)) = server.secret.as_ref().map(SecretRef::check_form) {
                problems.push(format!("agent `{id}`: mcp.{name}.secret: {e}"));
            }
        }
    }
}

/// Whether `name` is a valid HTTP header name.
fn hyper_header_ok(name: &str) -> Result<(), ()> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if valid { Ok(()) } else { Err(()) }
}
