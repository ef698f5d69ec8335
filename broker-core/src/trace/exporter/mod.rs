//! Span exporters: where finished spans go.

mod console;
mod event;

pub use console::{render_trace, ConsoleExporter};
pub use event::{EventExporter, EventExporterOptions};

use super::SpanData;
use crate::broker::Broker;
use crate::transporter::BoxFuture;
use std::fmt;
use std::sync::Arc;

/// Receives the spans of sampled traces (Moleculer's trace exporter). Called on the handler's
/// path, so an implementation only queues the span and does its work elsewhere.
pub trait SpanExporter: Send + Sync + fmt::Debug + 'static {
    /// The broker started (an exporter may keep a handle to it or start a timer).
    fn start(&self, broker: &Broker) {
        let _ = broker;
    }

    /// A span started.
    fn span_started(&self, span: &SpanData) {
        let _ = span;
    }

    /// A span finished.
    fn span_finished(&self, span: &Arc<SpanData>);

    /// Sends what is queued now (timers call it).
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// The broker is stopping: send what is queued.
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
