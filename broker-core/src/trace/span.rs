//! Spans: the data of one traced unit of work, in the shape Moleculer's `Event` exporter sends
//! (so a JS collector reads ours as its own), and the guard of a custom span.

use super::Tracer;
use crate::context::Context;
use crate::error::Error;
use crate::packet::JsonMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The service a span belongs to (Moleculer's `span.service`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpanService {
    /// Service name (`posts`).
    pub name: String,
    /// Version, as the service declares it (number or string), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Value>,
    /// Full name (`v2.posts`).
    pub full_name: String,
}

/// One span, started or finished. Field names and types follow Moleculer's `Span` as its
/// `Event` exporter serializes it; times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpanData {
    /// `action 'posts.list'`, `event 'user.created' in 'mail'`, or a custom name.
    pub name: String,
    /// `action`, `event` or `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Span ID: the context ID for action and event spans.
    pub id: String,
    /// Trace ID: the chain's request ID.
    #[serde(rename = "traceID")]
    pub trace_id: String,
    /// The parent span's ID; `None` at the root of a trace.
    #[serde(rename = "parentID", default)]
    pub parent_id: Option<String>,
    /// The service, for action and event spans.
    #[serde(default)]
    pub service: Option<SpanService>,
    /// Priority (Moleculer's default 5).
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Whether the span is exported.
    #[serde(default)]
    pub sampled: bool,
    /// Start, in ms since the epoch.
    pub start_time: f64,
    /// End, in ms since the epoch; `None` while running.
    #[serde(default)]
    pub finish_time: Option<f64>,
    /// Duration in ms; `None` while running.
    #[serde(default)]
    pub duration: Option<f64>,
    /// The error the work failed with, as Moleculer's exporters convert it
    /// (`name`, `message`, `code`, `type`, `data`).
    #[serde(default)]
    pub error: Option<Value>,
    /// Timed log entries (Moleculer's `span.log`).
    #[serde(default)]
    pub logs: Vec<Value>,
    /// Tags: Moleculer's (`callingLevel`, `action`, `remoteCall`, `nodeID`, `requestID`,
    /// `params`, `fromCache`, …) and the user's.
    #[serde(default)]
    pub tags: JsonMap,
}

fn default_priority() -> u32 {
    5
}

/// Milliseconds since the Unix epoch, with sub-millisecond precision: the wall clock read once
/// per process, advanced by the monotonic clock, so that spans' times order and nest exactly
/// as they ran (as Moleculer's `startTime + performance.now() - startTicks`).
pub(crate) fn epoch_ms() -> f64 {
    epoch_ms_at(Instant::now())
}

/// [`epoch_ms`] of an `Instant` already read (a clock read shared with the metrics).
pub(crate) fn epoch_ms_at(now: Instant) -> f64 {
    static ANCHOR: OnceLock<(Instant, f64)> = OnceLock::new();
    let (at, wall) = ANCHOR.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        (Instant::now(), wall)
    });
    // An instant read before the anchor (the first span's own start) counts back from it.
    match now.checked_duration_since(*at) {
        Some(d) => wall + d.as_secs_f64() * 1000.0,
        None => wall - at.duration_since(now).as_secs_f64() * 1000.0,
    }
}

impl SpanData {
    /// A new span starting now.
    pub fn new(
        name: impl Into<String>,
        kind: &str,
        id: String,
        trace_id: String,
        parent_id: Option<String>,
    ) -> SpanData {
        SpanData {
            name: name.into(),
            kind: kind.to_owned(),
            id,
            trace_id,
            parent_id,
            service: None,
            priority: 5,
            sampled: true,
            start_time: epoch_ms(),
            finish_time: None,
            duration: None,
            error: None,
            logs: Vec::new(),
            // Room for Moleculer's dozen tags without growing.
            tags: JsonMap::with_capacity(12),
        }
    }

    /// Records an error as Moleculer's exporters show it.
    pub fn set_error(&mut self, err: &Error) {
        let mut obj = JsonMap::new();
        obj.insert("name".into(), Value::from(err.name()));
        obj.insert("message".into(), Value::from(err.message()));
        obj.insert("code".into(), Value::from(err.code()));
        if let Some(kind) = err.error_type() {
            obj.insert("type".into(), Value::from(kind));
        }
        if let Some(data) = err.data() {
            obj.insert("data".into(), data.clone());
        }
        self.error = Some(Value::Object(obj));
    }

    /// Whether the span's tags mark it as a remote call.
    pub fn is_remote(&self) -> bool {
        self.tags.get("remoteCall") == Some(&Value::Bool(true))
    }
}

/// A span being timed.
#[derive(Debug)]
pub(crate) struct OpenSpan {
    pub(crate) data: SpanData,
}

impl OpenSpan {
    pub(crate) fn new(data: SpanData) -> OpenSpan {
        OpenSpan { data }
    }

    /// Stamps the end time and duration.
    pub(crate) fn finish(mut self) -> SpanData {
        let end = epoch_ms().max(self.data.start_time);
        self.data.finish_time = Some(end);
        self.data.duration = Some(end - self.data.start_time);
        self.data
    }
}

/// A finished span as exporters receive it. Cheap to clone and to queue: a handler's span
/// keeps what it needs (its context, its handler's description, its times) and becomes
/// [`SpanData`] only when an exporter reads [`FinishedSpan::data`], off the handler's path;
/// a span an exporter drops is never built.
#[derive(Clone)]
pub struct FinishedSpan(Arc<Record>);

struct Record {
    source: Source,
    data: OnceLock<SpanData>,
}

enum Source {
    Built,
    Handler(super::wrap::HandlerSpan),
}

impl fmt::Debug for FinishedSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FinishedSpan").field(self.data()).finish()
    }
}

impl FinishedSpan {
    /// A finished span from its data.
    pub fn from_data(data: SpanData) -> FinishedSpan {
        FinishedSpan(Arc::new(Record {
            source: Source::Built,
            data: OnceLock::from(data),
        }))
    }

    pub(crate) fn handler(span: super::wrap::HandlerSpan) -> FinishedSpan {
        FinishedSpan(Arc::new(Record {
            source: Source::Handler(span),
            data: OnceLock::new(),
        }))
    }

    /// The span's data, built on first use.
    pub fn data(&self) -> &SpanData {
        self.0.data.get_or_init(|| match &self.0.source {
            Source::Handler(span) => span.build(),
            // A built span's data is set at creation.
            Source::Built => SpanData::new("", "custom", String::new(), String::new(), None),
        })
    }
}

/// A custom span inside a handler, from [`Context::start_span`]; it finishes (and is
/// exported) when dropped or on [`SpanGuard::finish`]. Calls and events made from the context
/// while it is open are its children.
///
/// With tracing off or the trace not sampled, the guard does nothing.
#[derive(Debug)]
pub struct SpanGuard {
    open: Option<(OpenSpan, Arc<Tracer>, Context)>,
    span: tracing::Span,
}

impl SpanGuard {
    pub(crate) fn start(ctx: &Context, name: &str) -> SpanGuard {
        let Some(tracer) = ctx.broker().inner.tracer.clone() else {
            return SpanGuard {
                open: None,
                span: tracing::Span::none(),
            };
        };
        let span = tracing::info_span!(
            "span",
            name = %name,
            request_id = %ctx.request_id(),
        );
        // A span opened in a root context (outside any handler) starts a trace: sampled as
        // a new one, and without a parent unless the context has one.
        if !tracer.decide(ctx) {
            return SpanGuard { open: None, span };
        }
        let parent =
            if ctx.action().is_none() && ctx.event_name().is_none() && !ctx.has_open_spans() {
                ctx.parent_id().map(str::to_owned)
            } else {
                Some(ctx.span_parent_id())
            };
        let mut data = SpanData::new(
            name,
            "custom",
            crate::util::generate_uid(),
            ctx.request_id().to_owned(),
            parent,
        );
        data.service = tracer.service_of(ctx);
        ctx.push_span(&data.id);
        tracer.started(&data);
        SpanGuard {
            open: Some((OpenSpan::new(data), tracer, ctx.clone())),
            span,
        }
    }

    /// The span's ID, if it is recorded.
    pub fn id(&self) -> Option<&str> {
        self.open.as_ref().map(|(o, _, _)| o.data.id.as_str())
    }

    /// Adds a tag.
    pub fn tag(&mut self, key: impl Into<String>, value: Value) {
        if let Some((open, _, _)) = &mut self.open {
            open.data.tags.insert(key.into(), value);
        }
    }

    /// Marks the span as failed with this error.
    pub fn set_error(&mut self, err: &Error) {
        if let Some((open, _, _)) = &mut self.open {
            open.data.set_error(err);
        }
    }

    /// The `tracing` span of this custom span, to instrument code with
    /// (`fut.instrument(guard.tracing_span().clone())`).
    pub fn tracing_span(&self) -> &tracing::Span {
        &self.span
    }

    /// Finishes the span now.
    pub fn finish(self) {}
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        if let Some((open, tracer, ctx)) = self.open.take() {
            ctx.pop_span(&open.data.id);
            tracer.finished(FinishedSpan::from_data(open.finish()));
        }
    }
}
