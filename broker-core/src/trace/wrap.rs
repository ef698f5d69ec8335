//! The tracing middleware: wraps local action and event handlers in a span (a `tracing` span
//! always, a Moleculer span when the trace is sampled), as Moleculer's `Tracing` middleware.

use super::context_ext::TraceState;
use super::propagation;
use super::span::{OpenSpan, SpanData, SpanService};
use super::{TagSelect, TraceSpec, Tracer};
use crate::context::Context;
use crate::error::Error;
use crate::middleware::{ActionSpec, EventSpec};
use crate::packet::JsonMap;
use crate::service::{ActionHandler, EventHandler, ServiceSchema};
use serde_json::{json, Value};
use std::sync::Arc;
use tracing::field::Empty;
use tracing::Instrument;

/// What the wrapper of one handler knows, built once when its service registers.
struct Target {
    tracer: Arc<Tracer>,
    service: Arc<SpanService>,
    spec: TraceSpec,
    /// Action name (full) or event name (pattern).
    name: String,
    /// Action name inside its service, or the event's group.
    raw_or_group: String,
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

/// Wraps a local action handler, unless tracing of actions or of this action is off.
pub(crate) fn wrap_action(
    tracer: &Arc<Tracer>,
    spec: &ActionSpec<'_>,
    schema: &ServiceSchema,
    handler: ActionHandler,
) -> ActionHandler {
    let trace_spec = spec.def.tracing.clone().unwrap_or_default();
    if !tracer.options.actions || !trace_spec.enabled {
        return handler;
    }
    let target = Arc::new(Target {
        tracer: tracer.clone(),
        service: service_of(schema, spec.service),
        spec: trace_spec,
        name: spec.name.to_owned(),
        raw_or_group: spec.def.name.clone(),
    });
    Arc::new(move |ctx: Context| {
        let target = target.clone();
        let sampled = target.tracer.decide(&ctx);
        let _ = ctx.0.trace.service.set(target.service.clone());
        let remote = ctx.0.node_id.is_some();
        let span = tracing::info_span!(
            "action",
            action = %target.name,
            service = %target.service.full_name,
            node_id = %target.tracer.node_id,
            request_id = %ctx.request_id(),
            ctx_id = %ctx.id(),
            parent_id = ctx.parent_id().unwrap_or_default(),
            level = ctx.level(),
            caller = ctx.caller().unwrap_or_default(),
            remote,
            from_cache = false,
            error.name = Empty,
            error.code = Empty,
        );
        let open = sampled.then(|| {
            let name = target
                .spec
                .span_name
                .clone()
                .unwrap_or_else(|| format!("action '{}'", target.name));
            let mut data = base_span(&target, &ctx, name, "action");
            let tags = &mut data.tags;
            tags.insert(
                "action".into(),
                json!({"name": target.name, "rawName": target.raw_or_group}),
            );
            tags.insert(
                "options".into(),
                json!({"timeout": ctx.remaining_time().map(|t| t.as_millis() as u64), "retries": Value::Null}),
            );
            add_selected(&target.spec, &ctx, tags);
            target.tracer.started(&data);
            OpenSpan::new(data)
        });
        let run = span.in_scope(|| handler(ctx));
        Box::pin(async move {
            let result = run.instrument(span.clone()).await;
            if let Err(err) = &result {
                record_error(&span, err);
            }
            if let Some(mut open) = open {
                open.data
                    .tags
                    .insert("fromCache".into(), Value::Bool(false));
                if let Err(err) = &result {
                    open.data.set_error(err);
                }
                target.tracer.finished(open.finish());
            }
            result
        })
    })
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
        name: spec.name.to_owned(),
        raw_or_group: spec.group.to_owned(),
    });
    Arc::new(move |ctx: Context| {
        let target = target.clone();
        let sampled = target.tracer.decide(&ctx);
        let _ = ctx.0.trace.service.set(target.service.clone());
        let event_name = ctx.event_name().unwrap_or_default().to_owned();
        let span = tracing::info_span!(
            "event",
            event = %event_name,
            service = %target.service.full_name,
            node_id = %target.tracer.node_id,
            request_id = %ctx.request_id(),
            ctx_id = %ctx.id(),
            parent_id = ctx.parent_id().unwrap_or_default(),
            level = ctx.level(),
            caller = ctx.caller().unwrap_or_default(),
            remote = ctx.0.node_id.is_some(),
            error.name = Empty,
            error.code = Empty,
        );
        let open = sampled.then(|| {
            let name = target.spec.span_name.clone().unwrap_or_else(|| {
                format!("event '{event_name}' in '{}'", target.service.full_name)
            });
            let mut data = base_span(&target, &ctx, name, "event");
            let tags = &mut data.tags;
            tags.insert(
                "event".into(),
                json!({"name": target.name, "group": target.raw_or_group}),
            );
            tags.insert("eventName".into(), json!(event_name));
            tags.insert(
                "eventType".into(),
                json!(ctx.event_type().map(|t| t.as_str())),
            );
            add_selected(&target.spec, &ctx, tags);
            target.tracer.started(&data);
            OpenSpan::new(data)
        });
        let run = span.in_scope(|| handler(ctx));
        Box::pin(async move {
            let result = run.instrument(span.clone()).await;
            if let Err(err) = &result {
                record_error(&span, err);
            }
            if let Some(mut open) = open {
                if let Err(err) = &result {
                    open.data.set_error(err);
                }
                target.tracer.finished(open.finish());
            }
            result
        })
    })
}

fn record_error(span: &tracing::Span, err: &Error) {
    span.record("error.name", err.name());
    span.record("error.code", err.code());
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

/// Adds the `params` and `meta` tags the handler's spec selects.
fn add_selected(spec: &TraceSpec, ctx: &Context, tags: &mut JsonMap) {
    if let Some(params) = select(&spec.params, ctx.params()) {
        tags.insert("params".into(), params);
    }
    if spec.meta != TagSelect::None {
        if let Some(meta) = select(&spec.meta, &Value::Object(ctx.meta())) {
            tags.insert("meta".into(), meta);
        }
    }
}

fn select(which: &TagSelect, value: &Value) -> Option<Value> {
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
        let _ = trace.w3c_state.set(state);
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
