//! An OTLP receiver for tests: `POST /v1/traces` with protobuf bodies
//! (what `opentelemetry-otlp`'s HTTP exporter sends), decoded with the
//! `opentelemetry-proto` types, every span kept with its service.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline_runtime::serve;
use hookline_runtime::shutdown::CancellationToken;
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;

/// One span as received.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The `service.name` of the process that sent it.
    pub service: String,
    /// Its name.
    pub name: String,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex parent span id, empty for a root.
    pub parent_span_id: String,
    /// Unix ns.
    pub start_ns: u64,
    /// Unix ns.
    pub end_ns: u64,
    /// String and integer attributes, as text.
    pub attributes: Vec<(String, String)>,
}

impl ReceivedSpan {
    /// One attribute's value, as text.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The receiver.
pub struct Collector {
    /// Where it listens.
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    _stop: tokio_util::sync::DropGuard,
}

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(n)) => n.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

impl Collector {
    /// Starts listening on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let spans: Arc<Mutex<Vec<ReceivedSpan>>> = Arc::default();
        let stop = CancellationToken::new();
        let kept = spans.clone();
        tokio::spawn(serve::serve(
            listener,
            move |req: hyper::Request<hyper::body::Incoming>, _| {
                let kept = kept.clone();
                async move {
                    if req.uri().path() != "/v1/traces" {
                        return serve::json(404, &serde_json::json!({}));
                    }
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
                        return serve::json(400, &serde_json::json!({"error": "not an OTLP trace request"}));
                    };
                    let mut all = kept.lock().expect("spans");
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .as_ref()
                            .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                            .map(|a| text(a.value.as_ref().and_then(|v| v.value.as_ref())))
                            .unwrap_or_default();
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                all.push(ReceivedSpan {
                                    service: service.clone(),
                                    name: span.name,
                                    trace_id: hex::encode(&span.trace_id),
                                    span_id: hex::encode(&span.span_id),
                                    parent_span_id: hex::encode(&span.parent_span_id),
                                    start_ns: span.start_time_unix_nano,
                                    end_ns: span.end_time_unix_nano,
                                    attributes: span
                                        .attributes
                                        .iter()
                                        .map(|a| (a.key.clone(), text(a.value.as_ref().and_then(|v| v.value.as_ref()))))
                                        .collect(),
                                });
                            }
                        }
                    }
                    drop(all);
                    let answer = ExportTraceServiceResponse::default().encode_to_vec();
                    let mut response = serve::text(200, "application/x-protobuf", String::new());
                    *response.body_mut() = http_body_util::Either::Left(http_body_util::Full::new(answer.into()));
                    response
                }
            },
            serve::Limits::default(),
            stop.clone(),
            Duration::from_secs(1),
        ));
        Self {
            addr,
            spans,
            _stop: stop.drop_guard(),
        }
    }

    /// `http://<addr>`, the OTLP endpoint to configure.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("spans").clone()
    }
}
