//! Liveness and readiness over HTTP for the services that otherwise listen
//! on nothing (router, executor, notifier), so an orchestrator can check
//! them: `GET /healthz` answers while the process serves, `GET /readyz`
//! while it is connected to NATS, and `GET /metrics` its Prometheus
//! metrics ([`crate::metrics`]) with the JetStream figures of the streams
//! it consumes. Off unless `HOOKLINE_HEALTH_LISTEN` is set.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::serve;
use hookline_bus::nats::Nats;
use hookline_model::settings::Reader;

/// Reads `HOOKLINE_HEALTH_LISTEN` (such as `0.0.0.0:9090`).
pub fn read_listen(r: &mut Reader<'_>) -> Option<SocketAddr> {
    let text = r.optional("HOOKLINE_HEALTH_LISTEN")?;
    match text.parse() {
        Ok(addr) => Some(addr),
        Err(e) => {
            r.problem(format!("HOOKLINE_HEALTH_LISTEN={text:?}: {e}"));
            None
        }
    }
}

/// Binds the health listener, when one is configured.
pub async fn bind(addr: Option<SocketAddr>) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for health checks"))?;
    Ok(Some(listener))
}

/// Serves `/healthz`, `/readyz` and `/metrics` until `shutdown`; a ready
/// answer carries `details` (what the service found about its host) unless
/// null; `/metrics` reports the consumers of `streams`.
pub async fn serve(
    listener: TcpListener,
    nats: Nats,
    details: serde_json::Value,
    streams: Vec<String>,
    shutdown: CancellationToken,
) {
    let streams = std::sync::Arc::new(streams);
    tracing::info!(addr = ?listener.local_addr().ok(), "Health checks listening.");
    let limits = serve::Limits {
        max_connections: 64,
        ..serve::Limits::default()
    };
    serve::serve(
        listener,
        move |req: hyper::Request<hyper::body::Incoming>, _| {
            let (nats, details, streams) = (nats.clone(), details.clone(), streams.clone());
            async move {
                match req.uri().path() {
                    "/healthz" => serve::json(200, &json!({"status": "ok"})),
                    "/metrics" => serve::text(
                        200,
                        crate::metrics::CONTENT_TYPE,
                        crate::metrics::scrape(&nats, &streams).await,
                    ),
                    "/readyz" if nats.client.connection_state() == async_nats::connection::State::Connected => {
                        let mut ready = json!({"status": "ready"});
                        if !details.is_null() {
                            ready["details"] = details;
                        }
                        serve::json(200, &ready)
                    }
                    "/readyz" => serve::json(
                        503,
                        &json!({"error": {"code": "unavailable", "message": "not connected to NATS"}}),
                    ),
                    _ => serve::json(
                        404,
                        &json!({"error": {"code": "not_found", "message": "no such route"}}),
                    ),
                }
            }
        },
        limits,
        shutdown,
        Duration::from_secs(1),
    )
    .await;
}
