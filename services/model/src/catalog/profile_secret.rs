//! A profile secret and where it may go. `git` (the default) is used only
//! by the executor, for clone and push, and never enters a run's
//! environment; `agent` puts it in the agent's environment (and its setup
//! commands'), the old behaviour, now an explicit choice:
//!
//! ```toml
//! secrets = { GITHUB_TOKEN = "env:GITHUB_TOKEN",                        # git
//!             NPM_TOKEN = { secret = "env:NPM_TOKEN", scope = "agent" } }
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secret::SecretRef;

/// Where a profile secret may go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretScope {
    /// Only the executor's git commands (clone, push).
    #[default]
    Git,
    /// The agent's environment.
    Agent,
    /// Only the executor's forge client (pull requests, comments).
    Forge,
}

/// A profile secret with its scope.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileSecret {
    /// The secret (a literal, `env:` or `file:`, possibly timed).
    pub secret: SecretRef,
    /// Where it may go.
    pub scope: SecretScope,
}

impl Serialize for ProfileSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let inner = serde_json::to_value(&self.secret).map_err(serde::ser::Error::custom)?;
        if self.scope == SecretScope::Git {
            return inner.serialize(s);
        }
        let mut object = match inner {
            Value::Object(map) => map,
            other => {
                let mut map = serde_json::Map::new();
                map.insert("secret".to_owned(), other);
                map
            }
        };
        object.insert(
            "scope".to_owned(),
            serde_json::to_value(self.scope).map_err(serde::ser::Error::custom)?,
        );
        Value::Object(object).serialize(s)
    }
}

impl<'de> Deserialize<'de> for ProfileSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(d)?;
        let scope = match value.as_object_mut().and_then(|m| m.remove("scope")) {
            Some(scope) => serde_json::from_value(scope)
                .map_err(|_| serde::de::Error::custom("secret scope: use \"git\", \"forge\" or \"agent\""))?,
            None => SecretScope::default(),
        };
        // `{ secret = "…" }` without `until` is the plain form.
        if let Some(map) = value.as_object()
            && map.len() == 1
            && let Some(secret) = map.get("secret")
        {
            value = secret.clone();
        }
        let secret = serde_json::from_value(value).map_err(serde::de::Error::custom)?;
        Ok(Self { secret, scope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_secrets_are_git_scoped_and_forms_round_trip() {
        let plain: ProfileSecret = serde_json::from_value(serde_json::json!("env:X")).expect("plain");
        assert_eq!(plain.scope, SecretScope::Git);
        assert_eq!(serde_json::to_value(&plain).expect("json"), serde_json::json!("env:X"));
        let agent: ProfileSecret =
            serde_json::from_value(serde_json::json!({"secret": "env:Y", "scope": "agent"})).expect("agent");
        assert_eq!(agent.scope, SecretScope::Agent);
        assert_eq!(
            serde_json::to_value(&agent).expect("json"),
            serde_json::json!({"secret": "env:Y", "scope": "agent"})
        );
        let timed: ProfileSecret = serde_json::from_value(
            serde_json::json!({"secret": "env:Z", "until": "2030-01-01T00:00:00Z", "scope": "agent"}),
        )
        .expect("timed");
        assert!(timed.secret.active_at(0));
        assert!(serde_json::from_value::<ProfileSecret>(serde_json::json!({"secret": "x", "scope": "model"})).is_err());
    }
}
