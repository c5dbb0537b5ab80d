//! Read-only links to one run's page (`hookline share RUN --for 24h`): the
//! run's transcript and diff, nothing else (no configuration, no other
//! run, no API), to anyone holding the link until it expires or is
//! revoked. A link is `/share/<share id>.<mac>`: the MAC (keyed by an admin
//! token, so removing every token that could have made it ends it) covers
//! the share id, the run and the expiry; the share's record in the state
//! bucket says whether it was revoked, and is checked on every view.

use askama::Template;
use hookline_model::clock;
use hookline_model::signing;
use hookline_runtime::serve::Body;
use hyper::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::console::session_view::{SessionView, session_view};
use crate::error::{AdminError, Answer, reply};
use crate::model;
use crate::route::{Route, json_route};
use crate::state::AdminState;

/// The longest a link may last.
const LONGEST_MS: i64 = 30 * 24 * 3600 * 1000;

/// A share as kept in the state bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Share {
    run_id: String,
    expires_at_ms: i64,
    revoked: bool,
}

fn mac(key: &[u8], share_id: &str, run_id: &str, expires_at_ms: i64) -> String {
    hex::encode(signing::hmac_sha256(
        key,
        &[
            b"hookline-share/",
            share_id.as_bytes(),
            b"\0",
            run_id.as_bytes(),
            b"\0",
            expires_at_ms.to_string().as_bytes(),
        ],
    ))
}

/// `POST /v1/runs/{run_id}/share` with `{"for": "24h"}` (default 24 h; cut
/// to 30 days).
pub async fn create(state: &AdminState, run_id: &str, body: Option<&Value>) -> Answer {
    let fields = body.and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(unknown) = fields.keys().find(|k| *k != "for") {
        return Err(AdminError::Invalid(vec![format!("unknown field `{unknown}`")]));
    }
    let lasts = match fields.get("for") {
        None => 24 * 3600 * 1000,
        Some(Value::String(text)) => hookline_model::parse::parse_duration(text)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .map_err(|e| AdminError::Invalid(vec![format!("for: {e}")]))?,
        Some(_) => return Err(AdminError::Invalid(vec!["for: a duration such as `24h`".to_owned()])),
    };
    // Any duration is taken; a link lasts a second at least, 30 days at most.
    let lasts = lasts.clamp(1000, LONGEST_MS);
    crate::ops::read_record(state, run_id).await?;
    let Some(key) = state.tokens.first() else {
        return Err(AdminError::unavailable("no admin token to sign the link with"));
    };
    let share_id = hex::encode(rand::random::<[u8; 12]>());
    let expires_at_ms = clock::now_ms() + lasts;
    let share = Share {
        run_id: run_id.to_owned(),
        expires_at_ms,
        revoked: false,
    };
    let value = serde_json::to_vec(&share).map_err(AdminError::unavailable)?;
    state
        .nats
        .buckets
        .state
        .create(state.nats.subjects.state_share(&share_id), value.into())
        .await
        .map_err(AdminError::unavailable)?;
    let signature = mac(key.expose().as_bytes(), &share_id, run_id, expires_at_ms);
    reply(
        201,
        &model::ShareAnswer {
            path: format!("/share/{share_id}.{signature}"),
            share_id,
            run_id: run_id.to_owned(),
            expires_at: clock::rfc3339_ms(expires_at_ms),
        },
    )
}

/// `DELETE /v1/shares/{share_id}`: the link stops working at once.
pub async fn revoke(state: &AdminState, share_id: &str) -> Answer {
    let kv = &state.nats.buckets.state;
    let key = state.nats.subjects.state_share(share_id);
    let entry = kv.entry(&key).await.map_err(AdminError::unavailable)?;
    let Some(entry) = entry.filter(|e| e.operation == async_nats::jetstream::kv::Operation::Put) else {
        return Err(AdminError::NotFound(format!("no share `{share_id}`")));
    };
    let mut share: Share = serde_json::from_slice(&entry.value).map_err(AdminError::unavailable)?;
    share.revoked = true;
    let value = serde_json::to_vec(&share).map_err(AdminError::unavailable)?;
    kv.update(&key, value.into(), entry.revision)
        .await
        .map_err(AdminError::unavailable)?;
    reply(200, &serde_json::json!({"share_id": share_id, "revoked": true}))
}

#[derive(Template)]
#[template(path = "share.html")]
struct SharePage {
    run_id: String,
    agent: String,
    status: String,
    session: SessionView,
}

/// `GET /share/<token>`: the shared run's transcript and diff, or a page
/// saying the link does not work (never why: an expired, revoked and a
/// made-up link look the same).
pub async fn page(state: &AdminState, token: &str) -> Response<Body> {
    match shared_run(state, token).await {
        Some(record) => match session_view(state, &record).await {
            Ok(session) => {
                let page = SharePage {
                    run_id: record.run_id,
                    agent: record.agent,
                    status: record.status.to_string(),
                    session,
                };
                let html = page.render().unwrap_or_default();
                crate::console::html_response(200, html)
            }
            Err(_) => gone(503, "The run cannot be read right now."),
        },
        None => gone(
            404,
            "This link does not work: it expired, was revoked, or never existed.",
        ),
    }
}

fn gone(status: u16, text: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Hookline</title></head><body><p>{text}</p></body></html>"
    );
    crate::console::html_response(status, html)
}

/// The run `token` shares, if it is a link Hookline made that still works.
async fn shared_run(state: &AdminState, token: &str) -> Option<hookline_bus::runs::RunRecord> {
    let (share_id, signature) = token.split_once('.')?;
    if share_id.len() != 24 || !share_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = state
        .nats
        .buckets
        .state
        .get(state.nats.subjects.state_share(share_id))
        .await
        .ok()??;
    let share: Share = serde_json::from_slice(&bytes).ok()?;
    let signed = state.tokens.iter().any(|key| {
        let expected = mac(key.expose().as_bytes(), share_id, &share.run_id, share.expires_at_ms);
        signing::constant_time_eq(expected.as_bytes(), signature.as_bytes())
    });
    if !signed || share.revoked || clock::now_ms() >= share.expires_at_ms {
        return None;
    }
    crate::ops::read_record(state, &share.run_id).await.ok()
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[
    json_route!("POST", "/v1/runs/{run_id}/share", |c| async move {
        let (state, id) = (c.state, c.id(0).to_owned());
        create(state, &id, c.optional_json().await?.as_ref()).await
    }),
    json_route!("DELETE", "/v1/shares/{share_id}", |c| async move {
        revoke(c.state, c.id(0)).await
    }),
];
