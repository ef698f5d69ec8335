//! Tracing, as Moleculer traces: every action call (and, when asked, every event delivery) is a
//! span on the node that handles it, with Moleculer's span fields; spans of one call chain form
//! one trace across nodes and languages; finished spans go to exporters.
//!
//! Two views of the same work:
//! - a [`tracing`] span around every handler (`action` or `event`, with `request_id`,
//!   `ctx_id`, `parent_id`, …), so a handler's own log lines nest in it and carry the request
//!   ID; and a `call` span around every call on the caller's side;
//! - Moleculer spans ([`SpanData`]) for sampled traces, handed to the [`SpanExporter`]s:
//!   [`EventExporter`] (`$tracing.spans` events, as Moleculer's `Event` exporter),
//!   [`ConsoleExporter`] (a tree of each finished trace), or OpenTelemetry (crate
//!   `broker-otel`).
//!
//! On the wire a trace is Moleculer's: `requestID` is the trace ID, the context `id` the span ID
//! and `parentID` its parent, and the `tracing` flag carries the sampling decision (a sampled
//! caller's choice binds the callee). A W3C `traceparent` (and `tracestate`) is also written to
//! the headers (protocol 5) or meta (protocol 4) of outgoing requests and events, and read from
//! incoming ones that start a chain, so a trace continues into and out of OpenTelemetry; see
//! [`propagation`] for how Moleculer's IDs map to W3C IDs.
//!
//! ```
//! use broker_core::trace::{ConsoleExporter, Sampling, TracingOptions};
//! use broker_core::Broker;
//!
//! let broker = Broker::builder()
//!     .tracing(
//!         TracingOptions::new()
//!             .sampling(Sampling::rate(0.5))
//!             .exporter(ConsoleExporter::new()),
//!     )
//!     .build();
//! # let _ = broker;
//! ```

mod context_ext;
pub mod exporter;
mod observe;
pub mod propagation;
mod sampler;
mod span;
mod wrap;

#[cfg(test)]
mod tests;

pub use exporter::{
    render_trace, ConsoleExporter, EventExporter, EventExporterOptions, SpanExporter,
};
pub use span::{FinishedSpan, SpanData, SpanGuard, SpanService};

pub(crate) use context_ext::{CallTrace, TraceState};
pub(crate) use observe::{ActionTrace, Observation};
pub(crate) use wrap::{action_target, incoming, wrap_event};

use crate::broker::Broker;
use crate::context::Context;
use crate::packet::JsonMap;
use sampler::Sampler;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// How new traces are sampled (Moleculer's `tracing.sampling`). A trace whose caller already
/// decided follows that decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// The share of traces kept: 1.0 all, 0.0 none, 0.25 every fourth.
    pub rate: f64,
    /// At most this many traces per second (a token bucket); when set, `rate` is ignored.
    pub traces_per_second: Option<f64>,
    /// Spans below this priority are not sampled.
    pub min_priority: Option<u32>,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling::rate(1.0)
    }
}

impl Sampling {
    /// A fixed share of traces.
    pub fn rate(rate: f64) -> Sampling {
        Sampling {
            rate,
            traces_per_second: None,
            min_priority: None,
        }
    }

    /// At most `n` traces per second.
    pub fn per_second(n: f64) -> Sampling {
        Sampling {
            rate: 1.0,
            traces_per_second: Some(n),
            min_priority: None,
        }
    }
}

/// Tracing options of a broker (Moleculer's `tracing` broker option).
#[derive(Debug, Clone)]
pub struct TracingOptions {
    /// Whether tracing is on (a broker without these options does not trace at all).
    pub enabled: bool,
    /// Sampling of new traces.
    pub sampling: Sampling,
    /// Trace action calls (default true).
    pub actions: bool,
    /// Trace event deliveries (default false, as Moleculer).
    pub events: bool,
    /// Tags added to every span.
    pub default_tags: JsonMap,
    /// Where finished spans go.
    pub exporters: Vec<Arc<dyn SpanExporter>>,
}

impl Default for TracingOptions {
    fn default() -> Self {
        TracingOptions {
            enabled: true,
            sampling: Sampling::default(),
            actions: true,
            events: false,
            default_tags: JsonMap::new(),
            exporters: Vec::new(),
        }
    }
}

impl TracingOptions {
    /// Tracing on, every trace sampled, actions traced, events not, no exporter.
    pub fn new() -> TracingOptions {
        TracingOptions::default()
    }
    /// Sets the sampling.
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }
    /// Traces event deliveries too (or not).
    pub fn events(mut self, on: bool) -> Self {
        self.events = on;
        self
    }
    /// Traces action calls (or not).
    pub fn actions(mut self, on: bool) -> Self {
        self.actions = on;
        self
    }
    /// Adds a tag to every span.
    pub fn default_tag(mut self, key: impl Into<String>, value: Value) -> Self {
        self.default_tags.insert(key.into(), value);
        self
    }
    /// Adds an exporter.
    pub fn exporter(mut self, exporter: impl SpanExporter) -> Self {
        self.exporters.push(Arc::new(exporter));
        self
    }
    /// Adds a shared exporter (one the caller keeps a handle to).
    pub fn exporter_arc(mut self, exporter: Arc<dyn SpanExporter>) -> Self {
        self.exporters.push(exporter);
        self
    }
}

impl TracingOptions {
    /// The options as Moleculer's `tracing` broker option (what `$node.options` shows):
    /// `enabled`, `exporter`, `sampling`, `actions`, `events`, `errorFields`, `stackTrace`,
    /// `defaultTags`, `tags`.
    pub fn to_json(&self) -> Value {
        let exporters: Vec<Value> = self.exporters.iter().map(|e| e.options_json()).collect();
        serde_json::json!({
            "enabled": self.enabled,
            "exporter": if exporters.is_empty() { Value::Null } else { Value::Array(exporters) },
            "sampling": {
                "rate": self.sampling.rate,
                "tracesPerSecond": self.sampling.traces_per_second,
                "minPriority": self.sampling.min_priority,
            },
            "actions": self.actions,
            "events": self.events,
            // The error fields every span's `error` carries (`SpanData::set_error`).
            "errorFields": ["name", "message", "code", "type", "data"],
            "stackTrace": false,
            "defaultTags": if self.default_tags.is_empty() {
                Value::Null
            } else {
                Value::Object(self.default_tags.clone())
            },
            "tags": {"action": Value::Null, "event": Value::Null},
        })
    }
}

/// Which params or meta keys become span tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TagSelect {
    /// None.
    None,
    /// All of them.
    #[default]
    All,
    /// These keys; a dotted key (`user.id`) picks a nested value.
    Keys(Vec<String>),
}

/// Tracing of one action or event handler (Moleculer's per-action `tracing` option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSpec {
    /// Whether its runs are spans (default true).
    pub enabled: bool,
    /// Params in the `params` tag (default all, as Moleculer).
    pub params: TagSelect,
    /// Meta in the `meta` tag (default none).
    pub meta: TagSelect,
    /// A span name instead of `action 'name'`.
    pub span_name: Option<String>,
}

impl Default for TraceSpec {
    fn default() -> Self {
        TraceSpec {
            enabled: true,
            params: TagSelect::All,
            meta: TagSelect::None,
            span_name: None,
        }
    }
}

impl TraceSpec {
    /// Traced, with all params as tags.
    pub fn new() -> TraceSpec {
        TraceSpec::default()
    }
    /// Not traced.
    pub fn off() -> TraceSpec {
        TraceSpec {
            enabled: false,
            ..TraceSpec::default()
        }
    }
    /// Only these params keys as tags.
    pub fn params<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.params = TagSelect::Keys(keys.into_iter().map(Into::into).collect());
        self
    }
    /// These meta keys as tags.
    pub fn meta<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.meta = TagSelect::Keys(keys.into_iter().map(Into::into).collect());
        self
    }
    /// Which params become tags.
    pub fn params_select(mut self, select: TagSelect) -> Self {
        self.params = select;
        self
    }
    /// Which meta becomes tags.
    pub fn meta_select(mut self, select: TagSelect) -> Self {
        self.meta = select;
        self
    }
    /// Names the span.
    pub fn span_name(mut self, name: impl Into<String>) -> Self {
        self.span_name = Some(name.into());
        self
    }
}

/// The caller's side of a call: a `tracing` span (not a Moleculer span: in Moleculer the
/// handler's span is the call's) around choosing the endpoint and waiting for the answer.
pub(crate) fn caller_span(action: &str, parent: Option<&Context>) -> tracing::Span {
    tracing::info_span!(
        "call",
        action = %action,
        request_id = parent.map(Context::request_id).unwrap_or_default(),
        parent_id = parent.map(Context::id).unwrap_or_default(),
        level = parent.map_or(1, |p| p.level() + 1),
    )
}

/// The broker's tracer: options, sampler and exporters.
pub(crate) struct Tracer {
    pub(crate) options: TracingOptions,
    sampler: Sampler,
    wants_started: bool,
    pub(crate) node_id: String,
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Tracer {
    /// The tracer of a broker, if tracing is on.
    pub(crate) fn new(options: Option<&TracingOptions>, node_id: &str) -> Option<Arc<Tracer>> {
        let options = options.filter(|o| o.enabled)?;
        Some(Arc::new(Tracer {
            sampler: Sampler::new(&options.sampling),
            wants_started: options.exporters.iter().any(|e| e.wants_started()),
            options: options.clone(),
            node_id: node_id.to_owned(),
        }))
    }

    /// The sampling decision of a context: its caller's, or a new one.
    pub(crate) fn decide(&self, ctx: &Context) -> bool {
        match ctx.trace_sampled() {
            Some(sampled) => sampled,
            None => {
                let sampled = self.sampler.sample(5);
                ctx.set_trace_sampled(sampled);
                sampled
            }
        }
    }

    /// The service of the span a context runs in.
    pub(crate) fn service_of(&self, ctx: &Context) -> Option<SpanService> {
        if let Some(s) = ctx.0.trace.service.get() {
            return Some((**s).clone());
        }
        // An action handler's context: its action's, looked up now rather than stored in
        // every traced call's context.
        let local = ctx.broker().inner.registry.local_action(ctx.action()?)?;
        local.trace.as_ref().map(|t| (*t.service).clone())
    }

    /// Whether an exporter looks at spans when they start (then they are built eagerly).
    pub(crate) fn wants_started(&self) -> bool {
        self.wants_started
    }

    pub(crate) fn started(&self, span: &SpanData) {
        for exporter in &self.options.exporters {
            exporter.span_started(span);
        }
    }

    pub(crate) fn finished(&self, span: FinishedSpan) {
        for exporter in &self.options.exporters {
            exporter.span_finished(&span);
        }
    }

    /// Hands a finished span to the exporters, built only when one of them keeps it (none
    /// configured, or every queue full: nothing is allocated).
    pub(crate) fn finished_with(&self, build: impl FnOnce() -> FinishedSpan) {
        let exporters = &self.options.exporters;
        if exporters.iter().all(|e| e.would_drop()) {
            for exporter in exporters {
                exporter.span_dropped();
            }
            return;
        }
        self.finished(build());
    }

    /// The broker started: exporters may start timers.
    pub(crate) fn start(&self, broker: &Broker) {
        for exporter in &self.options.exporters {
            exporter.start(broker);
        }
    }

    /// The broker is stopping: exporters flush what they hold.
    pub(crate) async fn stop(&self) {
        for exporter in &self.options.exporters {
            exporter.stop().await;
        }
    }
}
