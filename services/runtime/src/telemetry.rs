//! Tracing set-up and W3C trace context. One webhook is one trace: ingest
//! starts (or continues) a `traceparent`, and each stage passes a child of it
//! on in NATS headers.

use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `HOOKLINE_LOG` (or `RUST_LOG`) filters,
/// `HOOKLINE_LOG_FORMAT=json` prints JSON lines. `HOOKLINE_METRICS=off`
/// turns metric recording off (`/metrics` then answers nothing). Safe to
/// call twice.
pub fn init() {
    if std::env::var("HOOKLINE_METRICS").is_ok_and(|v| v == "off") {
        crate::metrics::set_enabled(false);
    }
    let filter = std::env::var("HOOKLINE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("HOOKLINE_LOG_FORMAT").is_ok_and(|v| v == "json");
    // Colour only for a person at a terminal: a file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// A parsed `traceparent` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace every stage shares.
    pub trace_id: TraceId,
    /// The span of the stage that sent it.
    pub span_id: SpanId,
    /// Sampling flags.
    pub flags: TraceFlags,
}

impl TraceParent {
    /// A new root trace.
    pub fn new_root() -> Self {
        Self {
            trace_id: TraceId::from_bytes(rand::random()),
            span_id: SpanId::from_bytes(rand::random()),
            flags: TraceFlags::SAMPLED,
        }
    }

    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; anything else is None.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return None;
        }
        let trace_id = TraceId::from_hex(trace).ok()?;
        let span_id = SpanId::from_hex(span).ok()?;
        if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
            return None;
        }
        let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
        Some(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The same trace, a new span: what the next stage receives.
    pub fn child(&self) -> Self {
        Self {
            span_id: SpanId::from_bytes(rand::random()),
            ..*self
        }
    }

    /// This stage's trace context and the stage before's, if `header`
    /// named a valid one.
    pub fn continued(header: Option<&str>) -> (Self, Option<Self>) {
        let parent = header.and_then(Self::parse);
        (parent.map_or_else(Self::new_root, |p| p.child()), parent)
    }

    /// Continues `header` when it is valid, else starts a new trace.
    pub fn continue_or_new(header: Option<&str>) -> Self {
        header
            .and_then(Self::parse)
            .map(|p| p.child())
            .unwrap_or_else(Self::new_root)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "00-{}-{}-{:02x}", self.trace_id, self.span_id, self.flags.to_u8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_children_share_the_trace() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(text).expect("W3C example parses");
        assert_eq!(parsed.to_string(), text);
        let child = parsed.child();
        assert_eq!(child.trace_id, parsed.trace_id);
        assert_ne!(child.span_id, parsed.span_id);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-xyz-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad:?}");
        }
    }
}
