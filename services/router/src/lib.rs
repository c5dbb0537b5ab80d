//! Router: consumes `HOOKLINE_INGEST`, reads each event into a
//! `WebhookContext` ([`context`]), matches it against every enabled agent's
//! webhook triggers ([`filter`]), and publishes one `RunRequest` per matching
//! agent on `hookline.runs.<agent>` with `Nats-Msg-Id = <event id>/<agent>`.
//! It acks the inbound event only after every run request is acknowledged.

pub mod context;
pub mod filter;

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use hookline_core::catalog::Catalog;
use hookline_core::clock;
use hookline_core::consume::{self, ConsumerSpec, Outcome};
use hookline_core::nats::{self, Nats};
use hookline_core::settings::{NatsSettings, Reader, SettingsError};
use hookline_core::shutdown::{CancellationToken, GRACE};
use hookline_core::store::{self, CatalogView};
use hookline_core::subjects::{MSG_ID, StreamKind, TRACEPARENT};
use hookline_core::telemetry::TraceParent;
use hookline_proto::{InboundEvent, Message as _, RunRequest, Trigger};

/// Router settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where NATS is.
    pub nats: NatsSettings,
    /// `HOOKLINE_ROUTER_CONCURRENCY`: events routed at once, default 64.
    pub concurrency: usize,
    /// How long routing in flight may take after shutdown.
    pub grace: Duration,
}

impl Config {
    /// Reads settings through `lookup`, reporting every bad value.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader::new(lookup);
        let nats = NatsSettings::read(&mut r);
        let concurrency = r.parse("HOOKLINE_ROUTER_CONCURRENCY", 64usize);
        let grace = r.duration("HOOKLINE_GRACE", GRACE);
        r.finish()?;
        Ok(Self {
            nats,
            concurrency,
            grace,
        })
    }
}

/// A built router.
pub struct App {
    nats: Nats,
    catalog: CatalogView,
    config: Config,
    background: CancellationToken,
}

/// Why routing one event failed for now.
#[derive(Debug, thiserror::Error)]
enum RouteError {
    #[error("run request for agent {agent} not acknowledged: {reason}")]
    Publish { agent: String, reason: String },
}

impl App {
    /// Connects to NATS, lays out streams and loads the catalog.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let nats = nats::connect(&config.nats, "hookline-router").await?;
        let background = CancellationToken::new();
        let catalog = store::watch(&nats, background.clone()).await?;
        Ok(Self {
            nats,
            catalog,
            config,
            background,
        })
    }

    /// Routes events until `shutdown`, then finishes those in hand.
    pub async fn run_until(self, shutdown: CancellationToken) {
        let spec = ConsumerSpec {
            stream: self.nats.subjects.stream(StreamKind::Ingest),
            durable: "router".to_owned(),
            filter: self.nats.subjects.all(StreamKind::Ingest),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 10_000,
            concurrency: self.config.concurrency,
        };
        let nats = self.nats.clone();
        let catalog = self.catalog.clone();
        tracing::info!("Router consuming.");
        consume::run(
            self.nats.js.clone(),
            spec,
            move |msg| {
                let nats = nats.clone();
                let catalog = catalog.borrow().clone();
                async move { handle(&nats, &catalog, &msg).await }
            },
            shutdown,
            self.config.grace,
        )
        .await;
        self.background.cancel();
    }
}

async fn handle(nats: &Nats, catalog: &Catalog, msg: &jetstream::Message) -> Outcome {
    let event = match InboundEvent::decode(msg.payload.as_ref()) {
        Ok(event) => event,
        Err(e) => return Outcome::Term(format!("undecodable InboundEvent: {e}")),
    };
    let parent = msg
        .headers
        .as_ref()
        .and_then(|h| h.get(TRACEPARENT))
        .map(|v| v.as_str().to_owned());
    match route(nats, catalog, event, parent.as_deref()).await {
        Ok(()) => Outcome::Ack,
        Err(e) => {
            tracing::warn!(error = %e, "Routing failed; retrying.");
            Outcome::Retry(Duration::from_secs(1))
        }
    }
}

/// The agents whose triggers match `event`'s context.
pub fn matching_agents<'a>(catalog: &'a Catalog, ctx: &hookline_proto::WebhookContext) -> Vec<&'a str> {
    catalog
        .agents
        .iter()
        .filter(|(_, agent)| agent.enabled)
        .filter(|(_, agent)| agent.triggers.iter().any(|t| filter::check(t, ctx).is_ok()))
        .map(|(id, _)| id.as_str())
        .collect()
}

async fn route(nats: &Nats, catalog: &Catalog, event: InboundEvent, parent: Option<&str>) -> Result<(), RouteError> {
    let ctx = context::read(&event);
    let agents = matching_agents(catalog, &ctx);
    tracing::debug!(event_id = %event.event_id, matched = agents.len(), "Event routed.");
    let trace = TraceParent::continue_or_new(parent).to_string();
    let mut pending = Vec::with_capacity(agents.len());
    for agent in agents {
        let request = RunRequest {
            run_id: clock::new_id(),
            agent: agent.to_owned(),
            trigger: Trigger::Webhook as i32,
            event: Some(event.clone()),
            context: Some(ctx.clone()),
            requested_at_ms: clock::now_ms(),
        };
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID, format!("{}/{agent}", event.event_id).as_str());
        headers.insert(TRACEPARENT, trace.as_str());
        let publish = PublishMessage::build()
            .payload(Bytes::from(request.encode_to_vec()))
            .headers(headers);
        let ack = nats
            .js
            .send_publish(nats.subjects.runs(agent), publish)
            .await
            .map_err(|e| RouteError::Publish {
                agent: agent.to_owned(),
                reason: e.to_string(),
            })?;
        pending.push((agent, ack));
    }
    for (agent, ack) in pending {
        ack.await.map_err(|e| RouteError::Publish {
            agent: agent.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}
