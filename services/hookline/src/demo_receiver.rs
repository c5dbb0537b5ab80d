//! The local subscriber `hookline up` runs for the demo subscription: it
//! checks each delivery's Standard Webhooks signature and prints the event.

use std::net::SocketAddr;
use std::time::Duration;

use hookline_model::catalog::Secret;
use hookline_model::signing;
use hookline_runtime::serve;
use hookline_runtime::shutdown::CancellationToken;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::net::TcpListener;

/// Binds the receiver and serves it until `shutdown`.
pub async fn start(addr: SocketAddr, secrets: Vec<Secret>, shutdown: CancellationToken) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve::serve(
        listener,
        move |req: hyper::Request<hyper::body::Incoming>, _peer| {
            let secrets = secrets.clone();
            async move {
                let (parts, body) = req.into_parts();
                let header = |n: &str| {
                    parts
                        .headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
                    return serve::json(400, &json!({"error": "unreadable body"}));
                };
                let (id, ts, sig) = (
                    header("webhook-id"),
                    header("webhook-timestamp"),
                    header("webhook-signature"),
                );
                let valid = secrets
                    .iter()
                    .any(|s| signing::verify_standard(s.expose(), &id, &ts, &body, &sig));
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let _ = std::io::Write::write_fmt(
                    &mut std::io::stdout().lock(),
                    format_args!(
                        "[demo receiver] {:<20} webhook-id={id} signature={} data={}\n",
                        event["type"].as_str().unwrap_or("?"),
                        if valid { "valid" } else { "INVALID" },
                        event["data"]
                    ),
                );
                if valid {
                    serve::json(200, &json!({"received": true}))
                } else {
                    serve::json(401, &json!({"error": "bad signature"}))
                }
            }
        },
        serve::Limits::default(),
        shutdown,
        Duration::from_secs(1),
    ));
    Ok(bound)
}
