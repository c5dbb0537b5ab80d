//! The console's actions: each form posts here, calls the admin API's own
//! handler (so the checks and the records are the API's), and redirects
//! back with a notice saying what happened (post/redirect/get).

use std::collections::HashMap;

use hookline_model::clock;
use hookline_model::subjects::ConfigKind;
use serde_json::{Map, Value, json};

use super::pages::typed;
use super::session::Session;
use crate::error::AdminError;
use crate::model;
use crate::params::Params;
use crate::state::AdminState;

/// Where to go after an action, and what to tell the operator.
pub struct Done {
    pub to: String,
    pub notice: String,
}

/// A posted form's fields.
pub type Form = HashMap<String, String>;

fn field<'f>(form: &'f Form, name: &str) -> Option<&'f str> {
    form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// An optional JSON object typed into a textarea.
fn payload(form: &Form) -> Result<Option<Value>, AdminError> {
    let Some(text) = field(form, "payload") else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(Some(value)),
        Ok(_) => Err(AdminError::Invalid(vec![
            "payload: a JSON object such as {\"a\": 1}".to_owned(),
        ])),
        Err(e) => Err(AdminError::Invalid(vec![format!("payload is not JSON: {e}")])),
    }
}

/// The page an action goes back to, whether it worked or not.
pub fn back(path: &[&str]) -> String {
    match path {
        ["dlq", "replay"] => "/console/subscriptions".to_owned(),
        [kind, id, ..] => format!("/console/{kind}/{id}"),
        _ => "/console".to_owned(),
    }
}

/// Runs the action at `path` with `form`.
pub async fn act(state: &AdminState, session: &Session, path: &[&str], form: &Form) -> Result<Done, AdminError> {
    let to = back(path);
    match path {
        ["sources", id, "test"] => {
            let mut body = Map::new();
            if let Some(event) = field(form, "event") {
                body.insert("event".into(), json!(event));
            }
            if let Some(payload) = payload(form)? {
                body.insert("payload".into(), payload);
            }
            let sent: model::TestEventAnswer =
                typed(crate::actions::send_test(state, id, Some(&Value::Object(body))).await)?;
            let code = sent.answer.pointer("/error/code").and_then(Value::as_str);
            Ok(Done {
                to,
                notice: format!(
                    "Test event `{}` sent as delivery {}: ingest answered {}{}.",
                    sent.event,
                    sent.delivery_id,
                    sent.status,
                    code.map(|c| format!(" ({c})")).unwrap_or_default()
                ),
            })
        }
        [
            kind @ ("sources" | "agents" | "subscriptions"),
            id,
            action @ ("enable" | "disable"),
        ] => {
            let config_kind =
                ConfigKind::from_plural(kind).ok_or_else(|| AdminError::NotFound("no such page".into()))?;
            crate::catalog::set_enabled(state, config_kind, id, *action == "enable", None).await?;
            Ok(Done {
                to,
                notice: format!("{} `{id}` {action}d.", capitalised(config_kind.word())),
            })
        }
        ["agents", id, "run"] => {
            let body = payload(form)?.map(|p| json!({ "payload": p }));
            let started: model::ManualRunAnswer = typed(crate::actions::manual_run(state, id, body.as_ref()).await)?;
            Ok(Done {
                to: format!("/console/runs/{}", started.run_id),
                notice: format!("Run {} requested for `{id}`.", started.run_id),
            })
        }
        ["runs", run_id, "cancel"] => {
            let answer: model::CancelAnswer = typed(crate::ops::cancel(state, run_id).await)?;
            let notice = if answer.cancelled {
                "Run cancelled."
            } else {
                "Cancel sent."
            };
            Ok(Done {
                to,
                notice: notice.to_owned(),
            })
        }
        ["runs", run_id, decision @ ("approve" | "reject")] => {
            let body = field(form, "by").map(|by| json!({ "by": by }));
            let decided: model::RunDecision =
                typed(crate::approvals::decide(state, run_id, decision, &session.caller, body.as_ref()).await)?;
            Ok(Done {
                to,
                notice: format!("Run {}: {} by {}.", decided.run_id, decided.status, decided.decided_by),
            })
        }
        ["runs", run_id, "fork"] => {
            let body = json!({ "prompt": field(form, "prompt").unwrap_or_default() });
            let forked: model::ForkAnswer = typed(crate::fork::fork(state, run_id, Some(&body)).await)?;
            Ok(Done {
                to: format!("/console/runs/{}", forked.run_id),
                notice: format!("Run {} continues {run_id}.", forked.run_id),
            })
        }
        ["events", event_id, "replay"] => {
            let body = json!({
                "agent": field(form, "agent").unwrap_or_default(),
                "preview": field(form, "preview") == Some("true"),
            });
            let started: model::EventReplayAnswer = typed(crate::events::replay(state, event_id, Some(&body)).await)?;
            Ok(Done {
                to: format!("/console/runs/{}", started.run_id),
                notice: format!(
                    "Run {} replays event {event_id} to `{}`.",
                    started.run_id, started.agent
                ),
            })
        }
        ["dlq", "replay"] => replay(state, form).await,
        _ => Err(AdminError::NotFound("no such action".into())),
    }
}

/// One letter (`seq`), all of a subscription's, or those since a time (an
/// RFC 3339 time or an age such as `2h`).
async fn replay(state: &AdminState, form: &Form) -> Result<Done, AdminError> {
    let subscription = field(form, "subscription");
    let to = subscription.map_or_else(
        || "/console/subscriptions".to_owned(),
        |s| format!("/console/subscriptions/{s}"),
    );
    let mut body = Map::new();
    if let Some(seq) = field(form, "seq") {
        let seq: u64 = seq
            .parse()
            .map_err(|_| AdminError::Invalid(vec![format!("seq: `{seq}` is not a number")]))?;
        body.insert("seq".into(), json!(seq));
    } else if let Some(subscription) = subscription {
        body.insert("subscription".into(), json!(subscription));
    }
    if let Some(since) = field(form, "since") {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("since", since)
            .finish();
        let at = Params::parse(Some(&query)).time_ms("since")?.unwrap_or_default();
        body.insert("since".into(), json!(clock::rfc3339_ms(at)));
    }
    let answer: model::ReplayAnswer = typed(crate::ops::replay(state, &Value::Object(body)).await)?;
    let letters = if answer.replayed == 1 { "letter" } else { "letters" };
    Ok(Done {
        to,
        notice: format!("Replayed {} dead {letters}.", answer.replayed),
    })
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
