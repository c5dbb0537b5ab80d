//! The one way to start Hookline's services in one process, shared by
//! `hookline up` and the test harness: each service is built from the same
//! settings lookup its binary reads, and runs until its stop token.

use std::net::SocketAddr;

use hookline_model::settings::SettingsError;
use hookline_runtime::shutdown::CancellationToken;
use tokio::task::JoinHandle;

/// One of the five services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// Public webhook edge.
    Ingest,
    /// The control plane (admin API).
    Admin,
    /// Events to run requests.
    Router,
    /// Agent runs.
    Executor,
    /// Outbound webhooks.
    Notifier,
}

impl Service {
    /// Every service, in start order (ingest first: the admin service sends
    /// test events to its port).
    pub const ALL: [Service; 5] = [
        Service::Ingest,
        Service::Admin,
        Service::Router,
        Service::Executor,
        Service::Notifier,
    ];
}

/// A service started in this process.
pub struct Started {
    /// Which.
    pub service: Service,
    /// Where it listens, for ingest and the admin service.
    pub addr: Option<SocketAddr>,
    /// Runs until its stop token is cancelled, then drains.
    pub task: JoinHandle<()>,
}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is missing or wrong.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// NATS, a listener or the catalog could not be set up.
    #[error("{service:?} could not start: {source}")]
    Build {
        /// Which service.
        service: Service,
        /// Why.
        source: anyhow::Error,
    },
}

/// Builds `service` from `lookup` and runs it until `stop`.
pub async fn start(
    service: Service,
    lookup: &dyn Fn(&str) -> Option<String>,
    stop: CancellationToken,
) -> Result<Started, StartError> {
    let built = |source| StartError::Build { service, source };
    let (addr, task) = match service {
        Service::Ingest => {
            let app = hookline_ingest::App::build(hookline_ingest::Config::from_lookup(lookup)?)
                .await
                .map_err(built)?;
            (Some(app.local_addr()), tokio::spawn(app.run_until(stop)))
        }
        Service::Admin => {
            let app = hookline_admin::App::build(hookline_admin::Config::from_lookup(lookup)?)
                .await
                .map_err(built)?;
            (Some(app.local_addr()), tokio::spawn(app.run_until(stop)))
        }
        Service::Router => {
            let app = hookline_router::App::build(hookline_router::Config::from_lookup(lookup)?)
                .await
                .map_err(built)?;
            (None, tokio::spawn(app.run_until(stop)))
        }
        Service::Executor => {
            let app = hookline_executor::App::build(hookline_executor::Config::from_lookup(lookup)?)
                .await
                .map_err(built)?;
            (None, tokio::spawn(app.run_until(stop)))
        }
        Service::Notifier => {
            let app = hookline_notifier::App::build(hookline_notifier::Config::from_lookup(lookup)?)
                .await
                .map_err(built)?;
            (None, tokio::spawn(app.run_until(stop)))
        }
    };
    Ok(Started { service, addr, task })
}
