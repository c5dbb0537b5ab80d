//! The HTTP client for calls an operator's configuration aims (subscriber
//! deliveries, model upstreams): keep-alive, rustls with the ring
//! provider and webpki roots, redirects never followed (hyper does not), and
//! a resolver that drops every address the SSRF guard refuses. The
//! connector connects only to the addresses the resolver returned, so the
//! address checked is the address connected to (no DNS rebinding between
//! check and use).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hookline_model::ssrf::Guard;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

/// A name the SSRF guard refused to connect to: its own error type, so a
/// caller tells it from a network error by type ([`is_refused`]).
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves only to refused addresses {addresses:?}")]
pub struct Refused {
    /// The name resolved.
    pub name: String,
    /// What it resolved to.
    pub addresses: Vec<SocketAddr>,
}

/// Whether `error`, or any error it wraps, is a [`Refused`] connection.
pub fn is_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        // An io::Error hides its payload from `source()`: look inside.
        let inner = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref);
        if e.is::<Refused>() || inner.is_some_and(|i| i.is::<Refused>()) {
            return true;
        }
        next = e.source();
    }
    false
}

/// Resolves names and keeps only the addresses the guard allows.
#[derive(Clone)]
pub struct GuardedResolver {
    guard: Arc<Guard>,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let guard = self.guard.clone();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| guard.check_ip(a.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                let refused = Refused {
                    name: name.as_str().to_owned(),
                    addresses: resolved,
                };
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, refused));
            }
            Ok(allowed.into_iter())
        })
    }
}

/// The client type.
pub type HttpClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// Builds the client with a connect timeout and the guard.
pub fn http_client(connect_timeout: Duration, guard: Arc<Guard>) -> HttpClient {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver { guard });
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(https)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use tower_service::Service;

    use super::*;

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_are_not_connected_to() {
        let mut strict = GuardedResolver {
            guard: Arc::new(Guard::default()),
        };
        let name = Name::from_str("localhost").expect("name");
        let refused = strict
            .call(name.clone())
            .await
            .expect_err("localhost resolves to loopback");
        assert!(is_refused(&refused), "{refused}");
        let network = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        assert!(!is_refused(&network), "a network error is not a refusal");
        let mut allowing = GuardedResolver {
            guard: Arc::new(Guard::parse("127.0.0.1, ::1").expect("allow")),
        };
        let addrs: Vec<SocketAddr> = allowing.call(name).await.expect("allowed").collect();
        assert!(
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()),
            "{addrs:?}"
        );
    }
}
