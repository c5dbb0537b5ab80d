//! The one outbound HTTP(S) client for direct calls (the admin API from
//! the CLI, model APIs, the forge, OTLP export): rustls with the ring
//! provider and the webpki roots, HTTP/1, plain `http://` allowed.
//! Subscriber deliveries use the notifier's own client, whose resolver
//! the SSRF guard checks.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A client with whole-body requests.
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A new client.
pub fn client() -> HttpsClient {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}
