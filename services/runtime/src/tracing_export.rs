//! Traces exported over OTLP (HTTP, protobuf) when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set; the standard `OTEL_*` variables are honoured by the exporter
//! (headers, timeout, batching) and `OTEL_SERVICE_NAME` overrides the
//! service name. Each stage's span is the one its `traceparent` already
//! names: the stage picks its span id when it continues a trace
//! ([`crate::telemetry::TraceParent::child`]) and that very id is given to
//! the exported span, so what a subscriber sees in `traceparent` is the id
//! of a span in the collector, and one webhook is one trace across all
//! services.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithHttpConfig;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracerProvider, Tracer};

use crate::telemetry::TraceParent;

thread_local! {
    /// The ids the next span started on this thread takes.
    static NEXT: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// Gives a span the ids its stage already propagates; any other span gets
/// random ones.
#[derive(Debug, Default)]
struct PropagatedIds(RandomIdGenerator);

impl IdGenerator for PropagatedIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT.with(|n| n.get()).map_or_else(|| self.0.new_trace_id(), |(t, _)| t)
    }

    fn new_span_id(&self) -> SpanId {
        NEXT.with(|n| n.get()).map_or_else(|| self.0.new_span_id(), |(_, s)| s)
    }
}

/// The OTLP HTTP client: hyper with rustls (ring), as every other outbound
/// call of Hookline's.
#[derive(Debug, Clone)]
struct OtlpClient {
    client: hookline_http::https::HttpsClient,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(body));
        let exchange = async {
            let response = self.client.request(request).await?;
            let (parts, body) = response.into_parts();
            let bytes = Limited::new(body, 4 * 1024 * 1024).collect().await?.to_bytes();
            Ok::<_, opentelemetry_http::HttpError>(http::Response::from_parts(parts, bytes))
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .map_err(|_| "OTLP export timed out")?
    }
}

static TRACER: OnceLock<Tracer> = OnceLock::new();
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Starts exporting when an OTLP endpoint is configured (called once per
/// process, inside the Tokio runtime). `service` names the process.
pub fn init(service: &str) {
    let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()));
    if !configured || TRACER.get().is_some() {
        return;
    }
    let client = OtlpClient {
        client: hookline_http::https::client(),
    };
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .build()
    {
        Ok(exporter) => exporter,
        Err(e) => {
            tracing::error!(error = %e, "OTLP trace export not started.");
            return;
        }
    };
    let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
        exporter,
        opentelemetry_sdk::runtime::Tokio,
    )
    .build();
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_id_generator(PropagatedIds::default())
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(name).build())
        .build();
    let _ = TRACER.set(provider.tracer("hookline"));
    let _ = PROVIDER.set(provider);
    tracing::info!("Exporting traces over OTLP.");
}

/// Sends what is buffered (at shutdown).
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

/// One stage's span, ended (and exported) when dropped.
pub struct StageSpan(Option<std::sync::Mutex<opentelemetry_sdk::trace::Span>>);

impl StageSpan {
    /// Adds an attribute.
    pub fn set(&self, key: &'static str, value: impl Into<opentelemetry::Value>) {
        if let Some(span) = &self.0 {
            span.lock()
                .unwrap_or_else(|p| p.into_inner())
                .set_attribute(KeyValue::new(key, value));
        }
    }

    /// Whether the span is exported (when it is not, attributes need not
    /// be made).
    pub fn recording(&self) -> bool {
        self.0.is_some()
    }

    /// Marks the span failed, with why.
    pub fn fail(&self, why: &str) {
        if let Some(span) = &self.0 {
            span.lock()
                .unwrap_or_else(|p| p.into_inner())
                .set_status(opentelemetry::trace::Status::error(why.to_owned()));
        }
    }
}

impl Drop for StageSpan {
    fn drop(&mut self) {
        if let Some(span) = &self.0 {
            span.lock().unwrap_or_else(|p| p.into_inner()).end();
        }
    }
}

/// Starts the span `ids` names (a stage's own `traceparent`), under the
/// span `parent` named (the stage before), if any, now.
pub fn stage(name: &'static str, kind: SpanKind, ids: &TraceParent, parent: Option<&TraceParent>) -> StageSpan {
    stage_from(name, kind, ids, parent, SystemTime::now())
}

/// [`stage`], started at `start` (a webhook's arrival).
pub fn stage_from(
    name: &'static str,
    kind: SpanKind,
    ids: &TraceParent,
    parent: Option<&TraceParent>,
    start: SystemTime,
) -> StageSpan {
    let Some(tracer) = TRACER.get() else {
        return StageSpan(None);
    };
    let parent_cx = match parent {
        Some(p) => Context::new().with_remote_span_context(SpanContext::new(
            p.trace_id,
            p.span_id,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        )),
        None => Context::new(),
    };
    NEXT.with(|n| n.set(Some((ids.trace_id, ids.span_id))));
    let span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_start_time(start)
        .start_with_context(tracer, &parent_cx);
    NEXT.with(|n| n.set(None));
    StageSpan(Some(std::sync::Mutex::new(span)))
}
