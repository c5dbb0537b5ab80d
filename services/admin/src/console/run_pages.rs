//! The console's pages for agents, runs and routing decisions.

use hookline_bus::history::{self, Query};
use hookline_bus::runs::{RunRecord, RunStatus};
use hookline_model::decision::RoutingDecision;
use hookline_model::subjects::StreamKind;
use hookline_proto::{Event, Message as _};
use serde_json::Value;

use super::pages::{params, render};
use super::views::{self, AgentRow, Chrome, DecisionView, EventRow, RunView};
use crate::error::AdminError;
use crate::model;
use crate::params::Params;
use crate::state::AdminState;

/// `/console/agents`.
pub async fn agents(state: &AdminState, chrome: Chrome) -> Result<String, AdminError> {
    let agents = state
        .catalog
        .borrow()
        .agents
        .iter()
        .map(|(id, spec)| AgentRow::new(id, spec))
        .collect();
    render(&views::Agents { chrome, agents })
}

async fn run_records(state: &AdminState, pairs: &[(&str, &str)]) -> Result<model::Page<RunRecord, String>, AdminError> {
    crate::ops::runs(state, &params(pairs)).await
}

/// `/console/agents/{id}`: its recent runs and the Run now form.
pub async fn agent(state: &AdminState, chrome: Chrome, id: &str) -> Result<String, AdminError> {
    let spec = state.find("agent", id, |c| c.agents.get(id).cloned())?;
    let runs = run_records(state, &[("agent", id), ("limit", "20")]).await?;
    let health = crate::agent_health::agent(state, id, &params(&[])).await?;
    render(&views::Agent {
        chrome,
        toggle: views::Toggle::agent(id, spec.enabled),
        agent: AgentRow::new(id, &spec),
        runs: runs.items.iter().map(Into::into).collect(),
        health: health_line(&health),
    })
}

/// An agent's health in a sentence.
fn health_line(h: &crate::agent_health::AgentHealth) -> String {
    let pulls = &h.pull_requests;
    let mut line = format!(
        "Last 30 days: {} runs ({} succeeded), ${:.2}; pull requests: {} opened, {} merged, {} closed unmerged, {} open",
        h.runs, h.succeeded, h.cost_usd, pulls.opened, pulls.merged, pulls.closed_unmerged, pulls.open
    );
    if let Some(rate) = h.merge_rate {
        line.push_str(&format!("; merge rate {:.0} %", rate * 100.0));
    }
    if let Some(cost) = h.cost_per_merged_usd {
        line.push_str(&format!("; ${cost:.2} per merged pull request"));
    }
    line
}

/// `/console/runs?view=board`: the last day's runs as a board by state
/// (queued, awaiting approval, running, finished today), each card linking
/// to its session.
async fn board(state: &AdminState, chrome: Chrome) -> Result<String, AdminError> {
    let page = run_records(state, &[("limit", "500")]).await?;
    let today = hookline_model::clock::now_ms() / 86_400_000 * 86_400_000;
    let column =
        |wanted: &dyn Fn(&RunRecord) -> bool| page.items.iter().filter(|r| wanted(r)).map(Into::into).collect();
    render(&views::RunsBoard {
        chrome,
        columns: vec![
            ("Queued", "queued", column(&|r| r.status == RunStatus::Queued)),
            (
                "Awaiting approval",
                "awaiting",
                column(&|r| r.status == RunStatus::AwaitingApproval),
            ),
            ("Running", "running", column(&|r| r.status == RunStatus::Running)),
            (
                "Finished today",
                "finished",
                column(&|r| r.status.is_final() && r.finished_at_ms >= today),
            ),
        ],
    })
}

/// `/console/runs`: filtered by agent and status, or as a board.
pub async fn runs(state: &AdminState, chrome: Chrome, query: &Params) -> Result<String, AdminError> {
    if query.text("view") == Some("board") {
        return board(state, chrome).await;
    }
    let agent = query.text("agent").unwrap_or_default().to_owned();
    let status = query.text("status").unwrap_or_default().to_owned();
    let before = query.text("before").unwrap_or_default();
    let page = run_records(
        state,
        &[
            ("agent", &agent),
            ("status", &status),
            ("before", before),
            ("limit", "50"),
        ],
    )
    .await?;
    render(&views::Runs {
        chrome,
        runs: page.items.iter().map(Into::into).collect(),
        agents: state.catalog.borrow().agents.keys().cloned().collect(),
        statuses: RunStatus::ALL.iter().map(|s| s.as_str()).collect(),
        agent,
        status,
        next_before: page.next_before,
    })
}

fn run_view(state: &AdminState, r: &RunRecord) -> RunView {
    let has_repository = state
        .catalog
        .borrow()
        .agents
        .get(&r.agent)
        .is_some_and(|a| a.repository.is_some());
    let forge = r.forge.clone().unwrap_or_default();
    let approval = r.approval.as_ref();
    RunView {
        run_id: r.run_id.clone(),
        short_id: r.run_id.chars().take(13).collect(),
        agent: r.agent.clone(),
        status: r.status.to_string(),
        tone: views::tone(r.status),
        attempt: r.attempt,
        will_retry: r.will_retry,
        event_id: r.event_id.clone(),
        requested: views::when(r.requested_at_ms),
        started: views::when(r.started_at_ms),
        finished: views::when(r.finished_at_ms),
        exit_code: r.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        reason: r.reason.to_string(),
        approval: approval
            .and_then(|a| {
                Some(format!(
                    "{} at {}",
                    a.decided_by.as_ref()?,
                    views::when(a.decided_at_ms?)
                ))
            })
            .unwrap_or_default(),
        held_because: approval
            .map(|a| format!("{} ({}); expires {}", a.reason, a.actor, views::when(a.expires_at_ms)))
            .unwrap_or_default(),
        usage: r
            .usage
            .map(|u| {
                format!(
                    "{} calls, {} tokens in, {} out",
                    u.calls, u.input_tokens, u.output_tokens
                )
            })
            .unwrap_or_default(),
        branch: has_repository.then(|| {
            if r.branch.is_empty() {
                format!("hookline/{}/{}", r.agent, r.run_id)
            } else {
                r.branch.clone()
            }
        }),
        pull_request: forge.pull_request.map(|p| (p.number, p.url)),
        comment_url: forge.comment_url,
        summary: forge.summary,
        outputs: forge
            .outputs
            .into_iter()
            .map(|o| {
                let outcome = serde_json::to_value(o.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let detail = [o.reason, o.detail]
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join(": ");
                (o.kind, outcome, detail)
            })
            .collect(),
        live: !r.status.is_final(),
        awaiting: r.status == RunStatus::AwaitingApproval,
    }
}

/// The events `record` emitted: read from the events stream since it was
/// requested, newest first.
async fn emitted(state: &AdminState, record: &RunRecord) -> Result<Vec<EventRow>, AdminError> {
    if record.started_at_ms == 0 {
        return Ok(Vec::new());
    }
    let subjects = &state.nats.subjects;
    let query = Query {
        subject: subjects.all(StreamKind::Events),
        since_ms: Some(record.started_at_ms - 1000),
        before_seq: None,
        limit: 100,
    };
    let page = history::newest(&state.nats, &subjects.stream(StreamKind::Events), &query, |m| {
        let event = Event::decode(m.payload.as_ref()).ok()?;
        (event.run_id == record.run_id).then(|| EventRow {
            at: views::when(event.timestamp_ms),
            id: event.id,
            event_type: event.r#type,
        })
    })
    .await
    .map_err(AdminError::unavailable)?;
    Ok(page.items.into_iter().map(|(_, e)| e).collect())
}

/// `/console/runs/{id}`: the record, its log so far (followed live by the
/// page's script), its events, its branch and pull request, and the
/// actions its state allows.
pub async fn run(state: &AdminState, chrome: Chrome, run_id: &str) -> Result<String, AdminError> {
    let record = crate::ops::read_record(state, run_id).await?;
    let log: model::RunLog = {
        let response = crate::logs::run_log_as(state, run_id, &Params::default(), crate::logs::LineText::Plain).await?;
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map_err(|e| AdminError::unavailable(format!("{e:?}")))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(AdminError::unavailable)?
    };
    render(&views::Run {
        chrome,
        run: run_view(state, &record),
        lines: log.lines,
        events: emitted(state, &record).await?,
        session: super::session_view::session_view(state, &record).await?,
    })
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn decision_view(d: &RoutingDecision) -> DecisionView {
    let mut agents = Vec::new();
    for agent in &d.matched {
        agents.push((
            agent.clone(),
            "run".to_owned(),
            "a trigger matched and the actor is trusted".to_owned(),
        ));
    }
    for f in &d.follow_ups {
        let outcome = if f.reason.is_some() { "follow-up" } else { "skipped" };
        agents.push((f.agent.clone(), outcome.to_owned(), f.explain.clone()));
    }
    for u in &d.untrusted {
        let outcome = serde_json::to_value(u.outcome).map(|v| text(&v)).unwrap_or_default();
        agents.push((u.agent.clone(), outcome, u.explain.clone()));
    }
    for u in &d.unmatched {
        agents.push((u.agent.clone(), "no match".to_owned(), format!("failed: {}", u.failed)));
    }
    for b in &d.budget_spent {
        agents.push((b.agent.clone(), "budget spent".to_owned(), b.explain.clone()));
    }
    for c in &d.forge_checks {
        agents.push((c.agent.clone(), "forge asked".to_owned(), c.explain.clone()));
    }
    DecisionView {
        source: d.source.clone(),
        at: views::when(d.at_ms),
        context: d.context.fields().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ignored: d.ignored.clone().unwrap_or_default(),
        agents,
        other_agents: u64::try_from(d.other_agents).unwrap_or(u64::MAX),
    }
}

/// `/console/events`: recent inbound events and what each started;
/// `?id=…`: one, why it started what it started, its payload, and a
/// replay form.
pub async fn explain(state: &AdminState, chrome: Chrome, query: &Params) -> Result<String, AdminError> {
    let event_id = query.text("id").unwrap_or_default().trim().to_owned();
    let (decision, stored, recent) = if event_id.is_empty() {
        let recent = crate::events::list(state, &params(&[("limit", "50")])).await?.items;
        (None, None, recent)
    } else {
        crate::params::check_ids(&["v1", "events", &event_id])?;
        let decision = decision_view(&crate::ops::decision(state, &event_id).await?);
        // An event past the ingest stream's retention keeps its decision.
        let stored = crate::events::event(state, &event_id).await.ok().map(|e| {
            let body = serde_json::to_string_pretty(&e.body).unwrap_or_default();
            (e.headers, body)
        });
        (Some(decision), stored, Vec::new())
    };
    render(&views::Explain {
        chrome,
        event_id,
        decision,
        recent,
        stored,
        agents: state.catalog.borrow().agents.keys().cloned().collect(),
    })
}
