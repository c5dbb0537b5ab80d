//! The gateways one run's containment serves inside its network
//! namespace: one per model API of the profile (from port 3129) and one
//! per remote MCP server of the agent (from port 3229), each only when its
//! address, credential and (for MCP) the profile's egress allow it.

use hookline_model::catalog::{AgentSpec, EgressRule, ProfileSpec};

use crate::Log;
use crate::gateway::{Gateway, Meter, RunLimits};
use crate::mcp_gateway::McpGateway;

const FIRST_MODEL_PORT: u16 = 3129;

pub(super) fn gateways(
    profile: Option<&ProfileSpec>,
    limits: RunLimits,
    meter: &Meter,
    emitter: &Log,
    guard: &std::sync::Arc<hookline_model::ssrf::Guard>,
) -> Vec<(u16, String, Gateway)> {
    let Some(profile) = profile else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (port, (name, model)) in (FIRST_MODEL_PORT..).zip(&profile.models) {
        if let Err(e) = guard.check_credentialed_url(&model.upstream) {
            emitter.log(
                "hookline",
                format!("model {name} unavailable: upstream {}: {e}", model.upstream),
            );
            continue;
        }
        let key = match model.secret.resolve() {
            Ok(key) => key,
            Err(e) => {
                emitter.log("hookline", format!("model {name} unavailable: {e}"));
                continue;
            }
        };
        let Ok(header) = hyper::header::HeaderName::from_bytes(model.header.to_ascii_lowercase().as_bytes()) else {
            continue;
        };
        let gateway = Gateway::new(
            name,
            &model.upstream,
            header,
            key,
            limits,
            meter,
            emitter.clone(),
            guard.clone(),
        )
        .allowing(model.allow.iter().map(|glob| glob.get().clone()).collect());
        let priced = model.clone();
        let gateway = gateway.pricing(move |name| priced.price_of(name));
        out.push((port, name.clone(), gateway));
    }
    out
}

const FIRST_MCP_PORT: u16 = 3229;

/// A gateway for each remote MCP server whose URL the address rule and the
/// profile's egress allow and whose credential resolves.
pub(super) fn mcp_gateways(
    agent: &AgentSpec,
    profile: Option<&ProfileSpec>,
    emitter: &Log,
    guard: &std::sync::Arc<hookline_model::ssrf::Guard>,
) -> Vec<(u16, String, McpGateway)> {
    let rules = profile_egress(profile);
    let remote = agent
        .mcp
        .iter()
        .filter_map(|(name, spec)| Some((name, spec, spec.url.as_ref()?)));
    let mut out = Vec::new();
    for (port, (name, spec, url)) in (FIRST_MCP_PORT..).zip(remote) {
        let unavailable = |why: String| emitter.log("hookline", format!("mcp server {name} unavailable: {why}"));
        if let Err(e) = guard.check_credentialed_url(url) {
            unavailable(format!("{url}: {e}"));
            continue;
        }
        let Ok(parsed) = url.parse::<hyper::Uri>() else {
            unavailable(format!("{url} is not a URL"));
            continue;
        };
        let host = parsed.host().unwrap_or_default().to_ascii_lowercase();
        let port_of = parsed
            .port_u16()
            .unwrap_or(if parsed.scheme_str() == Some("https") { 443 } else { 80 });
        if !rules.iter().any(|rule| rule.allows(&host, port_of)) {
            unavailable(format!("{host}:{port_of} is not in the profile's egress"));
            continue;
        }
        let secret = match spec.secret.as_ref().map(hookline_model::catalog::SecretRef::resolve) {
            Some(Ok(secret)) => Some(secret),
            Some(Err(e)) => {
                unavailable(e.to_string());
                continue;
            }
            None => None,
        };
        let gateway = McpGateway::new(name, url, secret, spec.tools.clone(), emitter.clone(), guard.clone());
        out.push((port, name.clone(), gateway));
    }
    out
}

pub(super) fn profile_egress(profile: Option<&ProfileSpec>) -> Vec<EgressRule> {
    profile
        .map(|p| p.egress.iter().map(|e| e.get().clone()).collect())
        .unwrap_or_default()
}
