//! A run's session as the API serves it: its transcript (the kept
//! artifact once the run is done, the run log's entries while it runs, or
//! followed as server-sent events), the diff of its branch, and its
//! artifacts, each read from the artifacts store through the run record's
//! list.

use bytes::Bytes;
use hookline_bus::artifacts::Artifacts;
use hookline_bus::history;
use hookline_bus::runs::RunRecord;
use hookline_model::transcript::{self, Entry};
use hookline_runtime::serve::{self, Body};
use hyper::Response;

use crate::error::AdminError;
use crate::model;
use crate::ops::read_record;
use crate::params::Params;
use crate::route::{Route, typed_route};
use crate::state::AdminState;

/// The artifact holding a run's transcript.
const TRANSCRIPT: &str = "transcript.jsonl";

/// `GET /v1/runs/{run_id}/transcript`: the run's transcript entries; with
/// `follow=true`, server-sent events (`entry` each, `end` with the final
/// record) that stay open until the run ends or waits on an operator.
pub async fn transcript(state: &AdminState, run_id: &str, params: &Params) -> Result<Response<Body>, AdminError> {
    let record = read_record(state, run_id).await?;
    if params.flag("follow")? {
        let body = crate::logs::follow_run(
            state,
            &record,
            |line| {
                (line.stream == transcript::LOG_STREAM)
                    .then(|| Bytes::from(format!("event: entry\ndata: {}\n\n", line.line)))
            },
            |run| {
                Bytes::from(format!(
                    "event: end\ndata: {}\n\n",
                    serde_json::to_string(&run).unwrap_or_default()
                ))
            },
        )
        .await?;
        let mut response = Response::new(body);
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/event-stream"),
        );
        response.headers_mut().insert(
            hyper::header::CACHE_CONTROL,
            hyper::header::HeaderValue::from_static("no-cache"),
        );
        return Ok(response);
    }
    let entries = entries(state, &record).await?;
    Ok(serve::json(
        200,
        &model::Transcript {
            run_id: record.run_id,
            status: record.status,
            entries,
        },
    ))
}

/// The run's transcript entries: the artifact once it was kept, else what
/// the run log holds so far.
pub(crate) async fn entries(state: &AdminState, record: &RunRecord) -> Result<Vec<Entry>, AdminError> {
    let lines = match kept(state, record, TRANSCRIPT).await? {
        Some(bytes) => String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect(),
        None => logged_lines(state, record).await?,
    };
    Ok(lines
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

async fn logged_lines(state: &AdminState, record: &RunRecord) -> Result<Vec<String>, AdminError> {
    history::run_lines(&state.nats, &record.agent, &record.run_id, |line| {
        line.stream == transcript::LOG_STREAM
    })
    .await
    .map_err(AdminError::unavailable)
}

/// `name` of `record`'s artifacts, when the record lists it and the store
/// still holds it.
pub(crate) async fn kept(state: &AdminState, record: &RunRecord, name: &str) -> Result<Option<Vec<u8>>, AdminError> {
    if !record.artifacts.iter().any(|a| a.name == name) {
        return Ok(None);
    }
    Artifacts::new(&state.nats)
        .get(&record.run_id, name)
        .await
        .map_err(AdminError::unavailable)
}

/// `GET /v1/runs/{run_id}/diff`: the diff of the run's branch against its
/// base (`text/x-diff`); 404 when the run kept none.
pub async fn diff(state: &AdminState, run_id: &str) -> Result<Response<Body>, AdminError> {
    let record = read_record(state, run_id).await?;
    match kept(state, &record, "diff").await? {
        Some(bytes) => Ok(serve::bytes(200, "text/x-diff; charset=utf-8", bytes)),
        None => Err(AdminError::NotFound(format!("run `{run_id}` kept no diff"))),
    }
}

/// `GET /v1/runs/{run_id}/artifacts`: what the run kept.
pub async fn artifacts(state: &AdminState, run_id: &str) -> Result<model::Artifacts, AdminError> {
    let record = read_record(state, run_id).await?;
    Ok(model::Artifacts {
        run_id: record.run_id,
        artifacts: record.artifacts,
    })
}

/// `GET /v1/runs/{run_id}/artifacts/{name}`: one artifact, as stored.
pub async fn artifact(state: &AdminState, run_id: &str, name: &str) -> Result<Response<Body>, AdminError> {
    let record = read_record(state, run_id).await?;
    let Some(stored) = record.artifacts.iter().find(|a| a.name == name) else {
        return Err(AdminError::NotFound(format!(
            "run `{run_id}` kept no artifact `{name}`"
        )));
    };
    match kept(state, &record, name).await? {
        Some(bytes) => Ok(serve::bytes(200, &stored.content_type, bytes)),
        None => Err(AdminError::NotFound(format!(
            "artifact `{name}` of run `{run_id}` is past retention"
        ))),
    }
}

/// This module's routes.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        template: "/v1/runs/{run_id}/transcript",
        public: false,
        handler: |c| Box::pin(async move { transcript(c.state, c.id(0), c.params).await }),
    },
    Route {
        method: "GET",
        template: "/v1/runs/{run_id}/diff",
        public: false,
        handler: |c| Box::pin(async move { diff(c.state, c.id(0)).await }),
    },
    typed_route!("GET", "/v1/runs/{run_id}/artifacts", |c| artifacts(c.state, c.id(0))),
    Route {
        method: "GET",
        template: "/v1/runs/{run_id}/artifacts/{name}",
        public: false,
        handler: |c| Box::pin(async move { artifact(c.state, c.id(0), c.id(1)).await }),
    },
];
