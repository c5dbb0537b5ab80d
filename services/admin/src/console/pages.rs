//! The console's reading pages for sources and subscriptions, and the
//! overview. Each reads through the admin API's own handlers (the same
//! filters, limits and redaction) and renders their typed answers.

use hookline_bus::history;
use hookline_bus::runs::{RunRecord, RunStatus};
use hookline_model::subjects::StreamKind;
use serde::de::DeserializeOwned;

use super::views::{self, Chrome, SourceRow, SubscriptionRow};
use crate::error::{AdminError, Answer};
use crate::model;
use crate::params::Params;
use crate::state::AdminState;

/// An API answer, read back as its typed model.
pub fn typed<T: DeserializeOwned>(answer: Answer) -> Result<T, AdminError> {
    let (_, value) = answer?;
    serde_json::from_value(value).map_err(AdminError::unavailable)
}

/// Query parameters built by the console.
pub fn params(pairs: &[(&str, &str)]) -> Params {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
        .finish();
    Params::parse(Some(&query))
}

/// A rendered page, or the error that stopped it.
pub fn render(template: &impl askama::Template) -> Result<String, AdminError> {
    template.render().map_err(AdminError::unavailable)
}

async fn source_row(state: &AdminState, id: &str, window: &str) -> Result<SourceRow, AdminError> {
    let provider = state.find("source", id, |c| c.sources.get(id).map(|s| s.provider))?;
    let health: model::SourceHealth = crate::health::source(state, id, &params(&[("since", window)])).await?;
    Ok(SourceRow {
        id: id.to_owned(),
        provider: serde_json::to_value(provider)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        enabled: health.enabled,
        last_triggered: health
            .last_triggered_at
            .map_or_else(|| "never".to_owned(), |t| views::short_time(&t)),
        accepted: health.accepted,
        refused: health.refused,
    })
}

async fn source_rows(state: &AdminState, window: &str) -> Result<Vec<SourceRow>, AdminError> {
    let ids: Vec<String> = state.catalog.borrow().sources.keys().cloned().collect();
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        rows.push(source_row(state, &id, window).await?);
    }
    Ok(rows)
}

async fn subscription_row(
    state: &AdminState,
    id: &str,
    window: &str,
) -> Result<(SubscriptionRow, model::SubscriptionHealth), AdminError> {
    let spec = state.find("subscription", id, |c| c.subscriptions.get(id).cloned())?;
    let health: model::SubscriptionHealth =
        crate::health::subscription(state, id, &params(&[("since", window)])).await?;
    Ok((SubscriptionRow::new(id, &spec, &health), health))
}

async fn subscription_rows(state: &AdminState, window: &str) -> Result<Vec<SubscriptionRow>, AdminError> {
    let ids: Vec<String> = state.catalog.borrow().subscriptions.keys().cloned().collect();
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        rows.push(subscription_row(state, &id, window).await?.0);
    }
    Ok(rows)
}

/// Run records of `status` (all agents), newest first.
pub async fn runs_with(state: &AdminState, status: RunStatus, limit: &str) -> Result<Vec<RunRecord>, AdminError> {
    let page = crate::ops::runs(
        state,
        &params(&[("status", status.as_str()), ("since", "7d"), ("limit", limit)]),
    )
    .await?;
    Ok(page.items)
}

/// `/console`.
pub async fn overview(state: &AdminState, chrome: Chrome) -> Result<String, AdminError> {
    let mut in_progress = runs_with(state, RunStatus::Running, "100").await?;
    in_progress.extend(runs_with(state, RunStatus::Queued, "100").await?);
    let awaiting = runs_with(state, RunStatus::AwaitingApproval, "100").await?;
    let subjects = &state.nats.subjects;
    let dead_letters = history::count(
        &state.nats,
        &subjects.stream(StreamKind::Dlq),
        &subjects.all(StreamKind::Dlq),
    )
    .await
    .map_err(AdminError::unavailable)?;
    render(&views::Overview {
        chrome,
        sources: source_rows(state, "1h").await?,
        subscriptions: subscription_rows(state, "1h").await?,
        in_progress: in_progress.iter().map(Into::into).collect(),
        awaiting: awaiting.iter().map(Into::into).collect(),
        dead_letters,
    })
}

/// `/console/sources`.
pub async fn sources(state: &AdminState, chrome: Chrome) -> Result<String, AdminError> {
    render(&views::Sources {
        chrome,
        sources: source_rows(state, "24h").await?,
    })
}

/// `/console/sources/{id}`: its invocations, a test event, enable/disable.
pub async fn source(state: &AdminState, chrome: Chrome, id: &str, query: &Params) -> Result<String, AdminError> {
    let source = source_row(state, id, "24h").await?;
    let outcome = query.text("outcome").unwrap_or_default().to_owned();
    let before = query.text("before").unwrap_or_default();
    let page: model::Page<model::Invocation, u64> = crate::logs::invocations(
        state,
        id,
        &params(&[("outcome", &outcome), ("before", before), ("limit", "100")]),
    )
    .await?;
    let default_event = match source.provider.as_str() {
        "github" => "ping",
        "stripe" => "ping",
        _ => "test",
    };
    render(&views::Source {
        chrome,
        toggle: views::Toggle::source(id, source.enabled),
        source,
        default_event: default_event.to_owned(),
        outcome,
        outcomes: &["accepted", "refused"],
        invocations: page
            .items
            .into_iter()
            .map(|mut i| {
                i.at = views::short_time(&i.at);
                i
            })
            .collect(),
    })
}

/// `/console/subscriptions`.
pub async fn subscriptions(state: &AdminState, chrome: Chrome) -> Result<String, AdminError> {
    render(&views::Subscriptions {
        chrome,
        subscriptions: subscription_rows(state, "24h").await?,
    })
}

/// `/console/subscriptions/{id}`: health, dead letters with replay,
/// attempts with their answers.
pub async fn subscription(state: &AdminState, chrome: Chrome, id: &str, query: &Params) -> Result<String, AdminError> {
    let (subscription, health) = subscription_row(state, id, "24h").await?;
    let outcome = query.text("outcome").unwrap_or_default().to_owned();
    let attempts: model::Page<model::Attempt, u64> =
        crate::logs::attempts(state, id, &params(&[("outcome", &outcome), ("limit", "100")])).await?;
    let letters: model::Page<model::DeadLetter, u64> =
        crate::logs::dead_letters(state, &params(&[("subscription", id), ("limit", "100")])).await?;
    let ms = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v} ms"));
    render(&views::Subscription {
        chrome,
        toggle: views::Toggle::subscription(id, subscription.enabled),
        subscription,
        outcomes: &["succeeded", "failed"],
        latency: format!("p50 {}, p95 {}", ms(health.latency_ms.p50), ms(health.latency_ms.p95)),
        outcome,
        dead_letters: letters
            .items
            .into_iter()
            .map(|mut d| {
                d.failed_at = views::short_time(&d.failed_at);
                d
            })
            .collect(),
        attempts: attempts
            .items
            .into_iter()
            .map(|mut a| {
                a.at = views::short_time(&a.at);
                a.next_attempt_at = a.next_attempt_at.map(|t| views::short_time(&t));
                a
            })
            .collect(),
    })
}
