//! Span exporters: where finished spans go.

mod console;
mod event;

pub use console::{render_trace, ConsoleExporter};
pub use event::{EventExporter, EventExporterOptions};

use super::{FinishedSpan, SpanData};
use crate::broker::Broker;
use crate::transporter::BoxFuture;
use serde_json::{json, Value};
use std::fmt;

/// Receives the spans of sampled traces (Moleculer's trace exporter). Called on the handler's
/// path, so an implementation only queues the span and does its work elsewhere.
pub trait SpanExporter: Send + Sync + fmt::Debug + 'static {
    /// The broker started (an exporter may keep a handle to it or start a timer).
    fn start(&self, broker: &Broker) {
        let _ = broker;
    }

    /// Whether it wants [`SpanExporter::span_started`] calls (building a span's data when it
    /// starts costs the handler's path; default false).
    fn wants_started(&self) -> bool {
        false
    }

    /// A span started (only called when [`SpanExporter::wants_started`]).
    fn span_started(&self, span: &SpanData) {
        let _ = span;
    }

    /// A span finished. Queue it: [`FinishedSpan::data`] builds its data, which is better
    /// done off the handler's path.
    fn span_finished(&self, span: &FinishedSpan);

    /// Whether a span finishing now would be dropped (a full queue, say). When every
    /// exporter says so, the broker records nothing for the span and calls
    /// [`SpanExporter::span_dropped`] instead. Called on the handler's path: keep it to an
    /// atomic load. Default false.
    fn would_drop(&self) -> bool {
        false
    }

    /// A span was dropped because [`SpanExporter::would_drop`] said so (count it).
    fn span_dropped(&self) {}

    /// Sends what is queued now (timers call it).
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// The broker is stopping: send what is queued.
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// How `$node.options` shows this exporter, in Moleculer's shape (`{"type": "Event",
    /// "options": {…}}`); by default `{"type": <the Rust type's name>}`.
    fn options_json(&self) -> Value {
        let name = std::any::type_name::<Self>();
        json!({"type": name.rsplit("::").next().unwrap_or(name)})
    }
}
