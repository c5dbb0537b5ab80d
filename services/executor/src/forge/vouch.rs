//! Whether the forge vouches for an event's actor, when only the forge can
//! say who someone is on the project (Gitea's and Forgejo's payloads carry
//! no association): the router asks for it ([`ForgeTrust`]), and the
//! executor, which alone holds the forge token, asks the forge's
//! collaborator permission API before the agent starts, keeping each
//! answer a minute. This is the one place Hookline asks a forge who
//! someone is. Without an answer the run does not start (fail closed).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use hookline_model::catalog::Association;
use hookline_proto::{ForgeTrust, RunRequest};

use crate::attempt::emit::Emitter;
use crate::attempt::env::RunEnv;
use crate::forge::report::RunForge;

/// How long a forge's answer is kept.
const KEPT: Duration = Duration::from_secs(60);

/// Answers by (repository, login).
static ANSWERS: LazyLock<Mutex<HashMap<(String, String), (String, Instant)>>> = LazyLock::new(Mutex::default);

/// The association a forge permission stands for: a repository's admins
/// own it, those who may write collaborate, the rest are no one to it.
fn association(permission: &str) -> Association {
    match permission {
        "owner" | "admin" => Association::Owner,
        "maintain" | "write" => Association::Collaborator,
        _ => Association::None,
    }
}

/// `Ok` when the forge gives `check.login` an association the policy
/// trusts; else why not. Either way the run log says what the forge said.
pub(crate) async fn vouch(
    env: &RunEnv<'_>,
    request: &RunRequest,
    check: &ForgeTrust,
    emitter: &Emitter,
) -> Result<(), String> {
    let login = check.login.as_str();
    let log = |line: String| emitter.log("hookline", line);
    let Some(forge) = RunForge::for_run(env.catalog, request, &log) else {
        return Err(format!(
            "only the forge can say who {login} is, and the agent's profile has no forge to ask"
        ));
    };
    let key = (forge.repo.full_name(), login.to_owned());
    let known = ANSWERS
        .lock()
        .ok()
        .and_then(|answers| answers.get(&key).filter(|(_, at)| at.elapsed() < KEPT).cloned());
    let permission = match known {
        Some((permission, _)) => permission,
        None => {
            let permission = forge
                .permission(login)
                .await
                .map_err(|e| format!("the forge could not say who {login} is: {e}"))?;
            if let Ok(mut answers) = ANSWERS.lock() {
                // Answers past their minute go, so the map holds only the
                // actors of the last minute.
                answers.retain(|_, (_, at)| at.elapsed() < KEPT);
                answers.insert(key.clone(), (permission.clone(), Instant::now()));
            }
            permission
        }
    };
    let association = association(&permission);
    let trusted = check.associations.iter().any(|a| a == association.as_str());
    let said = format!(
        "the forge says {login} has {permission} access to {}, association {association}",
        key.0
    );
    if trusted {
        log(format!("{said}: trusted"));
        Ok(())
    } else {
        Err(format!(
            "{said}: not one the agent trusts ({})",
            check.associations.join(", ")
        ))
    }
}
