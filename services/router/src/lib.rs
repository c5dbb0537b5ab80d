//! Router: consumes `HOOKLINE_INGEST` and the catalog; emits `RunRequest`s
//! on `hookline.runs.<agent>` (through `hookline_bus::runs::request`),
//! `queued` run records and one routing decision per event in the
//! `hookline_decisions` bucket. It reads each event into a `WebhookContext`
//! (`hookline_providers::context`), decides which agents it starts with the
//! compiled routing table ([`routes`], [`filter`]), and acks the inbound
//! event only after every run request is acknowledged. An actor a
//! trigger's trust policy does not trust (`hookline_providers::trust`) starts no run, or, on
//! an agent with `untrusted = "approve"`, a run held for approval
//! (`hookline_bus::approvals`). It also fires cron schedules
//! ([`schedule`]) and settles held runs (expiry) every half minute.

mod decisions;
pub mod filter;
pub mod follow_up;
mod outcomes;
pub mod routes;
pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use hookline_bus::approvals::{Approval, ApprovalError, Approvals};
use hookline_bus::budget;
use hookline_bus::consume::{self, ConsumerSpec, Outcome};
use hookline_bus::nats::{self, Nats};
use hookline_bus::runs::{self, Records};
use hookline_bus::settings::NatsSettings;
use hookline_bus::store::{self, CatalogView};
use hookline_model::catalog::{Catalog, Untrusted};
use hookline_model::clock;
use hookline_model::decision::Explained;
use hookline_model::settings::{Reader, SettingsError};
use hookline_model::subjects::{StreamKind, msg_id};
use hookline_proto::{InboundEvent, RunRequest, Trigger};
use hookline_runtime::shutdown::{CancellationToken, GRACE};
use hookline_runtime::telemetry::TraceParent;
use serde_json::Value;
use tokio::sync::watch;

use crate::routes::Routes;

/// Router settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where NATS is.
    pub nats: NatsSettings,
    /// `HOOKLINE_ROUTER_CONCURRENCY`: events routed at once, default 64.
    pub concurrency: usize,
    /// How long routing in flight may take after shutdown.
    pub grace: Duration,
    /// `HOOKLINE_HEALTH_LISTEN`: where `/healthz` and `/readyz` are served
    /// (off when unset).
    pub health_listen: Option<std::net::SocketAddr>,
}

impl Config {
    /// Reads settings through `lookup`, reporting every bad value.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader::new(lookup);
        let nats = NatsSettings::read(&mut r);
        let concurrency = r.parse("HOOKLINE_ROUTER_CONCURRENCY", 64usize);
        let grace = r.duration("HOOKLINE_GRACE", GRACE);
        let health_listen = hookline_runtime::probe::read_listen(&mut r);
        r.finish()?;
        Ok(Self {
            nats,
            health_listen,
            concurrency,
            grace,
        })
    }
}

/// The catalog and the routing table compiled from it.
struct Table {
    catalog: Arc<Catalog>,
    routes: Routes,
}

/// A built router.
pub struct App {
    nats: Nats,
    health: Option<tokio::net::TcpListener>,
    catalog: CatalogView,
    table: watch::Receiver<Arc<Table>>,
    sinks: Sinks,
    config: Config,
    background: CancellationToken,
}

/// Why routing one event failed for now.
#[derive(Debug, thiserror::Error)]
enum RouteError {
    #[error(transparent)]
    Request(#[from] runs::RequestError),
    #[error(transparent)]
    Hold(#[from] ApprovalError),
    #[error(transparent)]
    Threads(#[from] hookline_bus::threads::ThreadsError),
    #[error(transparent)]
    Outcome(#[from] outcomes::OutcomeError),
}

impl App {
    /// Connects to NATS, lays out streams and loads the catalog.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let nats = nats::connect(&config.nats, "hookline-router").await?;
        let background = CancellationToken::new();
        let view = store::watch(&nats, background.clone()).await?;
        let table = store::derive(view.clone(), background.clone(), |c| Table {
            routes: Routes::build(c),
            catalog: c.clone(),
        });
        let records = Records::new(&nats);
        let sinks = Sinks {
            decisions: nats.buckets.decisions.clone(),
            approvals: Approvals::new(&nats, records.clone()),
            state: hookline_bus::state::State::new(&nats),
            threads: hookline_bus::threads::Threads::new(&nats),
            records,
            nats: nats.clone(),
        };
        let health = hookline_runtime::probe::bind(config.health_listen).await?;
        Ok(Self {
            nats,
            health,
            catalog: view,
            table,
            sinks,
            config,
            background,
        })
    }

    /// Routes events and fires schedules until `shutdown`, then finishes
    /// the events in hand.
    pub async fn run_until(self, shutdown: CancellationToken) {
        if let Some(listener) = self.health {
            tokio::spawn(hookline_runtime::probe::serve(
                listener,
                self.nats.clone(),
                serde_json::Value::Null,
                vec![self.nats.subjects.stream(StreamKind::Ingest)],
                shutdown.clone(),
            ));
        }
        let spec = ConsumerSpec {
            stream: self.nats.subjects.stream(StreamKind::Ingest),
            durable: "router".to_owned(),
            filters: vec![self.nats.subjects.all(StreamKind::Ingest)],
            start: async_nats::jetstream::consumer::DeliverPolicy::All,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 10_000,
            concurrency: self.config.concurrency,
        };
        let schedules = tokio::spawn(schedule::run(
            self.nats.clone(),
            self.sinks.records.clone(),
            self.catalog.clone(),
            shutdown.clone(),
        ));
        let settling = tokio::spawn(settle_approvals(self.sinks.approvals.clone(), shutdown.clone()));
        let (sinks, table) = (self.sinks.clone(), self.table.clone());
        tracing::info!("Router consuming.");
        consume::run(
            self.nats.js.clone(),
            spec,
            move |msg| {
                let sinks = sinks.clone();
                let table = table.borrow().clone();
                async move { handle(&sinks, &table, &msg).await }
            },
            shutdown,
            self.config.grace,
        )
        .await;
        let _ = schedules.await;
        let _ = settling.await;
        self.background.cancel();
    }
}

/// How often held runs are settled (expired, or released when an approval
/// stopped half-way).
const SETTLE_EVERY: Duration = Duration::from_secs(30);

async fn settle_approvals(approvals: Approvals, shutdown: CancellationToken) {
    loop {
        match approvals.settle().await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "Runs that waited too long for approval expired."),
            Err(e) => tracing::warn!(error = %e, "Held runs not settled; trying again later."),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SETTLE_EVERY) => {}
        }
    }
}

/// Where routing writes: run requests, decisions, run records.
#[derive(Clone)]
struct Sinks {
    nats: Nats,
    decisions: kv::Store,
    records: Records,
    approvals: Approvals,
    /// Daily token totals, for agents with a daily budget.
    state: hookline_bus::state::State,
    /// Forge threads and run branches, for follow-ups.
    threads: hookline_bus::threads::Threads,
}

/// A bucket the router needs could not be opened: it does not start
/// (routing without decisions, budgets or follow-ups would be wrong in
/// silence), and says which.
/// Takes out of `matched` the agents whose daily token budget is spent;
/// answers them, with why, for the decision record.
async fn budget_spent(sinks: &Sinks, table: &Table, matched: &mut Vec<&str>) -> Vec<Explained> {
    let mut spent = Vec::new();
    let mut keep = Vec::with_capacity(matched.len());
    for agent in matched.drain(..) {
        let daily = match table.catalog.agents.get(agent) {
            Some(spec) => budget::daily(&sinks.state, agent, spec).await,
            None => budget::Dailies::default(),
        };
        if let Some(spent_one) = daily.spent() {
            spent.push(Explained {
                agent: agent.to_owned(),
                explain: format!("skipped: {}", spent_one.explain()),
            });
            continue;
        }
        keep.push(agent);
    }
    *matched = keep;
    spent
}

/// Counts one event's decision per agent, and the runs it requests.
fn record_decision(
    decision: &routes::Decision<'_>,
    follow_ups: &[(String, hookline_proto::FollowUp)],
    spent: &[Explained],
) {
    let Some(metrics) = hookline_runtime::metrics::get() else {
        return;
    };
    let count = |agent: &str, outcome: &str| {
        let labels = hookline_runtime::metrics::DecisionLabels {
            agent: agent.to_owned(),
            outcome: outcome.to_owned(),
        };
        metrics.decisions.get_or_create(&labels).inc();
    };
    let requested = decision
        .matched
        .iter()
        .copied()
        .chain(follow_ups.iter().map(|(agent, _)| agent.as_str()));
    for agent in requested {
        count(agent, "matched");
        let labels = hookline_runtime::metrics::AgentLabels {
            agent: agent.to_owned(),
        };
        metrics.runs_requested.get_or_create(&labels).inc();
    }
    for held in &decision.untrusted {
        count(held.agent, "untrusted");
    }
    for (agent, _) in &decision.unmatched {
        count(agent, "unmatched");
    }
    for why in spent {
        count(&why.agent, "budget_spent");
    }
}

async fn handle(sinks: &Sinks, table: &Table, msg: &jetstream::Message) -> Outcome {
    let (event, parent) = match consume::decode::<InboundEvent>(msg) {
        Ok(decoded) => decoded,
        Err(outcome) => return outcome,
    };
    match route(sinks, table, event, parent.as_deref()).await {
        Ok(()) => Outcome::Ack,
        Err(e) => {
            tracing::warn!(error = %e, "Routing failed; retrying.");
            Outcome::Retry(Duration::from_secs(1))
        }
    }
}

async fn route(sinks: &Sinks, table: &Table, event: InboundEvent, parent: Option<&str>) -> Result<(), RouteError> {
    let nats = &sinks.nats;
    let body: Value = serde_json::from_slice(&event.body).unwrap_or(Value::Null);
    let ctx = hookline_providers::context(&event, &body, table.catalog.sources.get(&event.source));
    // What became of a run's pull request, whoever closed it.
    if let Some(said) = outcomes::record(nats, &sinks.records, &sinks.threads, &ctx, &body).await? {
        tracing::info!(event_id = %event.event_id, "{said}");
    }
    let own = follow_up::is_own(&table.catalog, &ctx);
    let mut decision = if own.is_some() {
        routes::Decision::default()
    } else {
        table.routes.decide(&ctx, &body)
    };
    let run_id = |agent: &str| runs::webhook_run_id(&event.event_id, event.received_at_ms, agent);
    let follow_up::Planned {
        runs: follow_ups,
        skipped: skipped_follow_ups,
        ask_forge: follow_up_trust,
    } = match own {
        None => follow_up::Planned::of(follow_up::plan(&sinks.threads, &table.catalog, &ctx, &body, &run_id).await?),
        Some(_) => follow_up::Planned::default(),
    };
    // A follow-up replaces the agent's plain trigger on the same event.
    decision.matched.retain(|a| !follow_ups.iter().any(|(f, _)| f == a));
    decision
        .ask_forge
        .retain(|(a, _)| !follow_ups.iter().any(|(f, _)| f == a));
    let spent = budget_spent(sinks, table, &mut decision.matched).await;
    tracing::debug!(event_id = %event.event_id, matched = decision.matched.len(), "Event routed.");
    let mut record = decisions::record(&event, &ctx, own, &decision, &follow_ups, skipped_follow_ups, &spent);
    record.forge_checks = decisions::forge_checks(&decision, &follow_up_trust);
    // A decision record is a log: losing one never holds an event back.
    match serde_json::to_vec(&record) {
        Ok(bytes) => {
            if let Err(e) = sinks.decisions.put(&event.event_id, bytes.into()).await {
                tracing::debug!(error = %e, "Decision not recorded.");
            }
        }
        Err(e) => tracing::debug!(error = %e, "Decision not recorded."),
    }
    record_decision(&decision, &follow_ups, &spent);
    let (own, incoming) = TraceParent::continued(parent);
    let span = hookline_runtime::tracing_export::stage(
        "route",
        opentelemetry::trace::SpanKind::Consumer,
        &own,
        incoming.as_ref(),
    );
    span.set("hookline.event_id", event.event_id.clone());
    span.set(
        "hookline.matched",
        i64::try_from(decision.matched.len() + follow_ups.len()).unwrap_or(0),
    );
    let trace = own.to_string();
    let run_request = |agent: &str| RunRequest {
        run_id: run_id(agent),
        agent: agent.to_owned(),
        trigger: Trigger::Webhook as i32,
        event: Some(event.clone()),
        context: Some(ctx.clone()),
        requested_at_ms: clock::now_ms(),
        follow_up: None,
        preview: false,
        forge_trust: decision
            .ask_forge
            .iter()
            .map(|(a, t)| (*a, t))
            .chain(follow_up_trust.iter().map(|(a, t)| (a.as_str(), t)))
            .find(|(a, _)| *a == agent)
            .map(|(_, t)| t.clone()),
    };
    for held in decision.untrusted.iter().filter(|h| h.outcome == Untrusted::Approve) {
        // Held agents come from this same catalog's routes.
        let Some(timeout) = table.catalog.agents.get(held.agent).map(|a| a.approval_timeout()) else {
            continue;
        };
        let approval = Approval {
            reason: held.reason.clone(),
            actor: held.actor.clone(),
            expires_at_ms: clock::now_ms() + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 4),
            decided_by: None,
            decided_at_ms: None,
        };
        sinks.approvals.hold(&run_request(held.agent), approval, &trace).await?;
    }
    let requests = decision
        .matched
        .iter()
        .map(|agent| runs::Request {
            run: run_request(agent),
            msg_id: msg_id::run_request(&event.event_id, agent),
        })
        .chain(follow_ups.into_iter().map(|(agent, f)| runs::Request {
            run: RunRequest {
                follow_up: Some(f),
                ..run_request(&agent)
            },
            msg_id: msg_id::run_request(&event.event_id, &agent),
        }))
        .collect();
    runs::request(nats, &sinks.records, requests, None, &trace).await?;
    Ok(())
}
