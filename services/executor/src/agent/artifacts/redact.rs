//! The redaction every artifact (and every transcript line) passes before
//! it is stored: the values of the profile's secrets (its `secrets`, its
//! model keys, its MCP servers' credentials) and token-shaped strings
//! become `[redacted]`, and the run log is told how many were.

use std::sync::atomic::{AtomicUsize, Ordering};

use hookline_model::catalog::{AgentSpec, ProfileSpec};

use crate::agent::sanitize;

/// Values shorter than this are not redacted (a 1-character secret would
/// blank out every occurrence of that character).
const SHORTEST: usize = 6;

/// One run's redaction, counting what it replaced.
#[derive(Default)]
pub(crate) struct Redactor {
    values: Vec<String>,
    replaced: AtomicUsize,
}

impl Redactor {
    /// Redacts the secrets `agent` and its `profile` can resolve here.
    pub fn for_agent(agent: &AgentSpec, profile: Option<&ProfileSpec>) -> Self {
        let mut refs: Vec<&hookline_model::secret::SecretRef> =
            agent.mcp.values().filter_map(|m| m.secret.as_ref()).collect();
        if let Some(profile) = profile {
            refs.extend(profile.secrets.values().map(|s| &s.secret));
            refs.extend(profile.models.values().map(|m| &m.secret));
        }
        let mut values: Vec<String> = refs
            .into_iter()
            .filter_map(|r| r.resolve().ok())
            .map(|s| s.expose().to_owned())
            .filter(|v| v.len() >= SHORTEST)
            .collect();
        // The longest first, so one value inside another goes whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self {
            values,
            replaced: AtomicUsize::new(0),
        }
    }

    /// `text` with every secret value and token shape replaced.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            let found = out.matches(value.as_str()).count();
            if found > 0 {
                self.replaced.fetch_add(found, Ordering::Relaxed);
                out = out.replace(value.as_str(), "[redacted]");
            }
        }
        let (out, tokens) = sanitize::redact_tokens(&out);
        self.replaced.fetch_add(tokens, Ordering::Relaxed);
        out.into_owned()
    }

    /// `bytes` redacted when they are text; binary content as it is (a
    /// secret cannot be told from noise there, and binary files are never
    /// inlined in a diff).
    pub fn bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        match String::from_utf8(bytes) {
            Ok(text) => self.text(&text).into_bytes(),
            Err(e) => e.into_bytes(),
        }
    }

    /// How many values were replaced so far.
    pub fn replaced(&self) -> usize {
        self.replaced.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_and_token_shapes_are_replaced_and_counted() {
        let redactor = Redactor {
            values: vec!["hunter2-long-secret".to_owned()],
            replaced: AtomicUsize::new(0),
        };
        let text = "key=hunter2-long-secret and ghp_abcdefghijklmnopqrstuvwxyz0123 twice hunter2-long-secret";
        let out = redactor.text(text);
        assert_eq!(out, "key=[redacted] and [redacted] twice [redacted]");
        assert_eq!(redactor.replaced(), 3);
        assert_eq!(redactor.bytes(vec![0xff, 0xfe]), vec![0xff, 0xfe]);
    }
}
