//! The tracing middleware: what a handler's span is made of, and the wrapper of local event
//! handlers in a span (a `tracing` span always, a Moleculer span when the trace is sampled), as
//! Moleculer's `Tracing` middleware. Local actions are not wrapped: the broker measures them
//! where it runs them (see `observe`).

use super::context_ext::TraceState;
use super::propagation;
use super::span::{epoch_ms_at, FinishedSpan, SpanData, SpanService};
use super::{TagSelect, TraceSpec, Tracer};
use crate::context::Context;
use crate::error::Error;
use crate::middleware::{ActionSpec, EventSpec};
use crate::packet::JsonMap;
use crate::service::{EventHandler, ServiceSchema};
use crate::transporter::BoxFuture;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use tracing::field::Empty;
use tracing::Instrument;

/// What the wrapper of one handler knows, built once when its service registers.
pub(crate) struct Target {
    pub(super) tracer: Arc<Tracer>,
    pub(super) service: Arc<SpanService>,
    pub(super) spec: TraceSpec,
    /// `action` or `event`.
    kind: &'static str,
    /// Action name (full) or event name (pattern).
    pub(super) name: String,
    /// Action name inside its service, or the event's group.
    raw_or_group: String,
}

/// A finished handler span before its data is built: the context it ran in and what was
/// measured. [`HandlerSpan::build`] makes the [`SpanData`] when an exporter asks.
pub(crate) struct HandlerSpan {
    pub(super) target: Arc<Target>,
    pub(super) ctx: Context,
    /// When it ran: turned into epoch milliseconds only when the span is built.
    pub(super) start: Instant,
    pub(super) finish: Instant,
    /// The call's timeout when it started, in ms.
    pub(super) timeout_ms: Option<u64>,
    /// The meta tag, taken when the handler started (the meta changes as it runs).
    pub(super) meta: Option<Value>,
    pub(super) error: Option<Error>,
}

impl HandlerSpan {
    pub(crate) fn build(&self) -> SpanData {
        let (target, ctx) = (&self.target, &self.ctx);
        let mut data = start_data(target, ctx, self.timeout_ms, self.meta.clone());
        let start = epoch_ms_at(self.start);
        data.start_time = start;
        data.finish_time = Some(
            start
                + self
                    .finish
                    .saturating_duration_since(self.start)
                    .as_secs_f64()
                    * 1000.0,
        );
        data.duration = Some(
            self.finish
                .saturating_duration_since(self.start)
                .as_secs_f64()
                * 1000.0,
        );
        if target.kind == "action" {
            data.tags
                .insert("fromCache".into(), Value::Bool(ctx.cached_result()));
        }
        if let Some(err) = &self.error {
            data.set_error(err);
        }
        data
    }
}

/// The span's name: the handler's own, or Moleculer's.
fn span_name(target: &Target, ctx: &Context) -> String {
    target
        .spec
        .span_name
        .clone()
        .unwrap_or_else(|| match target.kind {
            "event" => format!(
                "event '{}' in '{}'",
                ctx.event_name().unwrap_or_default(),
                target.service.full_name
            ),
            _ => format!("action '{}'", target.name),
        })
}

/// The span's data as of its start: Moleculer's tags for the handler's kind.
pub(super) fn start_data(
    target: &Target,
    ctx: &Context,
    timeout_ms: Option<u64>,
    meta: Option<Value>,
) -> SpanData {
    let mut data = base_span(target, ctx, span_name(target, ctx), target.kind);
    let tags = &mut data.tags;
    if target.kind == "event" {
        tags.insert(
            "event".into(),
            json!({"name": target.name, "group": target.raw_or_group}),
        );
        tags.insert("eventName".into(), json!(ctx.event_name()));
        tags.insert(
            "eventType".into(),
            json!(ctx.event_type().map(|t| t.as_str())),
        );
    } else {
        tags.insert(
            "action".into(),
            json!({"name": target.name, "rawName": target.raw_or_group}),
        );
        tags.insert(
            "options".into(),
            json!({"timeout": timeout_ms, "retries": Value::Null}),
        );
    }
    if let Some(params) = select(&target.spec.params, ctx.params()) {
        tags.insert("params".into(), params);
    }
    if let Some(meta) = meta {
        tags.insert("meta".into(), meta);
    }
    data
}

fn service_of(schema: &ServiceSchema, full_name: &str) -> Arc<SpanService> {
    Arc::new(SpanService {
        name: schema.name.clone(),
        version: schema
            .version
            .as_ref()
            .and_then(|v| serde_json::to_value(v).ok()),
        full_name: full_name.to_owned(),
    })
}

/// The tracing of a local action, unless tracing of actions or of this action is off: the
/// broker runs it around the handler (see `observe`), with no wrapper of its own.
pub(crate) fn action_target(
    tracer: &Arc<Tracer>,
    spec: &ActionSpec<'_>,
    schema: &ServiceSchema,
) -> Option<Arc<Target>> {
    let trace_spec = spec.def.tracing.clone().unwrap_or_default();
    if !tracer.options.actions || !trace_spec.enabled {
        return None;
    }
    Some(Arc::new(Target {
        tracer: tracer.clone(),
        service: service_of(schema, spec.service),
        spec: trace_spec,
        kind: "action",
        name: spec.name.to_owned(),
        raw_or_group: spec.def.name.clone(),
    }))
}

/// Wraps a local event handler, unless tracing of events or of this handler is off.
pub(crate) fn wrap_event(
    tracer: &Arc<Tracer>,
    spec: &EventSpec<'_>,
    schema: &ServiceSchema,
    handler: EventHandler,
) -> EventHandler {
    let trace_spec = spec.def.tracing.clone().unwrap_or_default();
    if !tracer.options.events || !trace_spec.enabled {
        return handler;
    }
    let target = Arc::new(Target {
        tracer: tracer.clone(),
        service: service_of(schema, spec.service),
        spec: trace_spec,
        kind: "event",
        name: spec.name.to_owned(),
        raw_or_group: spec.group.to_owned(),
    });
    Arc::new(move |ctx: Context| {
        let span = tracing::info_span!(
            "event",
            event = ctx.event_name().unwrap_or_default(),
            service = %target.service.full_name,
            node_id = %target.tracer.node_id,
            request_id = tracing::field::Empty,
            ctx_id = tracing::field::Empty,
            parent_id = tracing::field::Empty,
            level = ctx.level(),
            caller = ctx.caller().unwrap_or_default(),
            remote = ctx.0.node_id.is_some(),
            error.name = Empty,
            error.code = Empty,
        );
        traced(&target, ctx, span, |ctx| handler(ctx))
    })
}

/// Runs a handler in its spans: the `tracing` span (when a subscriber wants it) and, for a
/// sampled trace, the Moleculer span, recorded when the handler's future completes.
fn traced<T: Send + 'static>(
    target: &Arc<Target>,
    ctx: Context,
    span: tracing::Span,
    handler: impl FnOnce(Context) -> BoxFuture<'static, Result<T, Error>>,
) -> BoxFuture<'static, Result<T, Error>> {
    let sampled = target.tracer.decide(&ctx);
    let _ = ctx.0.trace.service.set(target.service.clone());
    let logged = !span.is_disabled();
    if logged {
        // The IDs are only worth generating for a subscriber that records them.
        span.record("request_id", ctx.request_id());
        span.record("ctx_id", ctx.id());
        if let Some(parent) = ctx.parent_id() {
            span.record("parent_id", parent);
        }
    }
    let recording = sampled.then(|| {
        let timeout_ms = ctx.remaining_time().map(|t| t.as_millis() as u64);
        let meta = match &target.spec.meta {
            TagSelect::None => None,
            which => select(which, &Value::Object(ctx.meta())),
        };
        let start = Instant::now();
        if target.tracer.wants_started() {
            let mut data = start_data(target, &ctx, timeout_ms, meta.clone());
            data.start_time = epoch_ms_at(start);
            target.tracer.started(&data);
        }
        (ctx.clone(), timeout_ms, meta, start)
    });
    // Kept to read, once the handler is done, whether the cacher answered.
    let cache_probe = (logged && target.kind == "action").then(|| ctx.clone());
    let run = if logged {
        span.in_scope(|| handler(ctx))
    } else {
        handler(ctx)
    };
    let target = target.clone();
    Box::pin(async move {
        let result = if logged {
            run.instrument(span.clone()).await
        } else {
            run.await
        };
        if let Some(ctx) = cache_probe {
            if ctx.cached_result() {
                span.record("from_cache", true);
            }
        }
        if let Err(err) = &result {
            if logged {
                span.record("error.name", err.name());
                span.record("error.code", err.code());
            }
        }
        if let Some((ctx, timeout_ms, meta, start)) = recording {
            let finish = Instant::now();
            let error = result.as_ref().err().cloned();
            let tracer = target.tracer.clone();
            tracer.finished(FinishedSpan::handler(HandlerSpan {
                target,
                ctx,
                start,
                finish,
                timeout_ms,
                meta,
                error,
            }));
        }
        result
    })
}

/// The fields every handler span has.
fn base_span(target: &Target, ctx: &Context, name: String, kind: &str) -> SpanData {
    let mut data = SpanData::new(
        name,
        kind,
        ctx.id().to_owned(),
        ctx.request_id().to_owned(),
        ctx.parent_id().map(str::to_owned),
    );
    data.service = Some((*target.service).clone());
    let tags = &mut data.tags;
    for (k, v) in &target.tracer.options.default_tags {
        tags.insert(k.clone(), v.clone());
    }
    tags.insert("callingLevel".into(), json!(ctx.level()));
    tags.insert("remoteCall".into(), json!(ctx.0.node_id.is_some()));
    tags.insert("callerNodeID".into(), json!(ctx.node_id()));
    tags.insert("nodeID".into(), json!(target.tracer.node_id));
    tags.insert("requestID".into(), json!(ctx.request_id()));
    data
}

pub(super) fn select(which: &TagSelect, value: &Value) -> Option<Value> {
    match which {
        TagSelect::None => None,
        TagSelect::All => Some(value.clone()),
        TagSelect::Keys(keys) => {
            let mut out = Value::Object(JsonMap::new());
            for key in keys {
                if let Some(found) = lookup(value, key) {
                    insert_path(&mut out, key, found.clone());
                }
            }
            Some(out)
        }
    }
}

fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, part| v.get(part))
}

fn insert_path(out: &mut Value, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut cursor = out;
    for part in parts {
        let Value::Object(map) = cursor else { return };
        cursor = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(JsonMap::new()));
    }
    if let Value::Object(map) = cursor {
        map.insert(last.to_owned(), value);
    }
}

/// The trace of an incoming request or event: the caller's sampling decision, or, for one
/// that starts a chain here (no `parentID`) and brings a W3C `traceparent`, that trace's IDs
/// (its trace ID becomes the request ID, its parent span the parent ID).
pub(crate) fn incoming(
    tracing_on: bool,
    headers: &JsonMap,
    meta: &JsonMap,
    request_id: &mut Option<String>,
    parent_id: &mut Option<String>,
    sampled: Option<bool>,
) -> TraceState {
    if !tracing_on || parent_id.is_some() {
        return TraceState::new(sampled);
    }
    let Some((tp, state)) = propagation::find(headers, meta) else {
        return TraceState::new(sampled);
    };
    *request_id = Some(tp.trace_id);
    *parent_id = Some(tp.parent_id);
    let trace = TraceState::new(sampled.or(Some(tp.sampled)));
    if let Some(state) = state {
        trace.set_w3c_state(state);
    }
    trace
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_selection_picks_nested_paths() {
        let v = json!({"id": 5, "user": {"id": 7, "name": "x"}, "other": 1});
        let keys = TagSelect::Keys(vec!["id".into(), "user.id".into(), "missing.x".into()]);
        assert_eq!(select(&keys, &v), Some(json!({"id": 5, "user": {"id": 7}})));
        assert_eq!(select(&TagSelect::All, &v), Some(v.clone()));
        assert_eq!(select(&TagSelect::None, &v), None);
    }
}
