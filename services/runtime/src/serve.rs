//! The HTTP/1.1 accept loop shared by ingest and the local tools: one task
//! per connection, a cap on open connections, a header read timeout against
//! slow senders, limits on the request line and headers, a panic in a
//! handler answered with 500 (the service keeps serving), and a graceful
//! drain that lets requests in flight finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Response body for every Hookline HTTP answer: a whole body, or (for a
/// followed log) one streamed as it is produced.
pub type Body = Either<Full<Bytes>, UnsyncBoxBody<Bytes, Infallible>>;

/// A body streamed from `chunks`, each sent as it arrives.
pub fn streamed(chunks: impl futures::Stream<Item = Bytes> + Send + 'static) -> Body {
    use futures::StreamExt as _;
    let frames = chunks.map(|chunk| Ok::<_, Infallible>(hyper::body::Frame::data(chunk)));
    Either::Right(UnsyncBoxBody::new(http_body_util::StreamBody::new(frames)))
}

/// An empty body.
pub fn empty() -> Body {
    Either::Left(Full::new(Bytes::new()))
}

/// Limits that protect the listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a client may take to send its request line and headers.
    pub header_read_timeout: Duration,
    /// Bytes of request line and headers (over it: 431).
    pub max_header_bytes: usize,
    /// Number of headers (over it: 431).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
        }
    }
}

/// A text response with `status` and `content_type`.
pub fn text(status: u16, content_type: &'static str, text: String) -> Response<Body> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(text))));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// A response of `bytes` with `status` and a content type known only at
/// run time (an artifact's).
pub fn bytes(status: u16, content_type: &str, bytes: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(bytes))));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let kind = hyper::header::HeaderValue::from_str(content_type)
        .unwrap_or(hyper::header::HeaderValue::from_static("application/octet-stream"));
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, kind);
    response
}

/// A JSON response with `status`.
pub fn json<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Response<Body> {
    // Serializing plain data cannot fail; an empty body would say so.
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(body))));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves `handler` on `listener` until `shutdown`, then waits up to `grace`
/// for requests in flight.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    handler: F,
    limits: Limits,
    shutdown: CancellationToken,
    grace: Duration,
) where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = service_fn(move |req| {
            let handler = handler.clone();
            async move {
                let answer = AssertUnwindSafe(handler(req, peer)).catch_unwind().await;
                Ok::<_, Infallible>(answer.unwrap_or_else(|_| {
                    tracing::error!(%peer, "Request handler panicked; answered 500.");
                    json(
                        500,
                        &serde_json::json!({"error": {"code": "internal_error", "message": "internal error"}}),
                    )
                }))
            }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "Connection ended with an error.");
            }
            drop(permit);
        });
    }
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("Requests still in flight after the grace period were cut off.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    #[tokio::test]
    async fn a_panicking_handler_gets_500_and_the_server_keeps_serving() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = CancellationToken::new();
        tokio::spawn(serve(
            listener,
            |req: Request<Incoming>, _| async move {
                if req.uri().path() == "/panic" {
                    panic!("handler bug");
                }
                json(200, &serde_json::json!({"ok": true}))
            },
            Limits::default(),
            stop.clone(),
            Duration::from_secs(1),
        ));
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let get = |path: &str| {
            let uri: hyper::Uri = format!("http://{addr}{path}").parse().expect("uri");
            client.get(uri)
        };
        let panicked = tokio::time::timeout(Duration::from_secs(10), get("/panic"))
            .await
            .expect("in time")
            .expect("answer");
        assert_eq!(panicked.status(), 500);
        let body = panicked.into_body().collect().await.expect("body").to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("internal_error"));
        let fine = tokio::time::timeout(Duration::from_secs(10), get("/ok"))
            .await
            .expect("in time")
            .expect("answer");
        assert_eq!(fine.status(), 200, "still serving");
        stop.cancel();
    }
}
