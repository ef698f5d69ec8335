//! Tracing on real brokers (in-memory bus): span trees, sampling, per-action switches, custom
//! spans, propagation between nodes and the `tracing` spans around handlers.

use super::*;
use crate::{
    ActionDef, Broker, CallOptions, Context, Error, EventDef, MemoryTransporter, ServiceSchema,
};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

/// Keeps every finished span.
#[derive(Debug, Default)]
struct Collect(Mutex<Vec<SpanData>>);

impl SpanExporter for Collect {
    fn span_finished(&self, span: &FinishedSpan) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(span.data().clone());
    }
}

impl Collect {
    fn spans(&self) -> Vec<SpanData> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn named(&self, name: &str) -> SpanData {
        let spans = self.spans();
        let found = spans.iter().find(|s| s.name == name).cloned();
        found.unwrap_or_else(|| {
            panic!(
                "no span '{name}' among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    }
}

fn traced(ns: &str, node: &str, options: TracingOptions) -> (Broker, Arc<Collect>) {
    let collect = Arc::new(Collect::default());
    let broker = Broker::builder()
        .namespace(ns)
        .node_id(node)
        .transporter(MemoryTransporter::new())
        .tracing(options.exporter_arc(collect.clone()))
        .build();
    (broker, collect)
}

fn chain_services() -> (ServiceSchema, ServiceSchema) {
    let outer =
        ServiceSchema::new("outer").action(ActionDef::new("run", |ctx: Context| async move {
            let span = ctx.start_span("prepare");
            let inner: Value = ctx
                .call("inner.work", json!({"n": 1, "secret": "x"}))
                .await?;
            drop(span);
            let _: Value = ctx.call("inner.quiet", json!({})).await?;
            Ok(inner)
        }));
    let inner = ServiceSchema::new("inner")
        .action(
            ActionDef::new("work", |ctx: Context| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(json!({"n": ctx.params()["n"], "sampled": ctx.trace_sampled()}))
            })
            .tracing(TraceSpec::new().params(["n"]).meta(["user.id"])),
        )
        .action(
            ActionDef::new("quiet", |_ctx: Context| async move { Ok(json!(null)) })
                .tracing(TraceSpec::off()),
        )
        .action(ActionDef::new("fail", |_ctx: Context| async move {
            Err::<Value, _>(Error::new("MyError", "it failed").with_code(418))
        }));
    (outer, inner)
}

fn nested_in(child: &SpanData, parent: &SpanData) {
    let (cs, pf) = (child.start_time, parent.finish_time.unwrap_or(f64::MAX));
    assert!(
        cs >= parent.start_time - 0.5,
        "{} starts before {}",
        child.name,
        parent.name
    );
    assert!(
        child.finish_time.unwrap_or(0.0) <= pf + 0.5,
        "{} ends after {}",
        child.name,
        parent.name
    );
}

#[tokio::test]
async fn local_chain_is_one_trace_with_custom_spans() -> Result<(), Error> {
    let (broker, collect) = traced("trace-local", "n1", TracingOptions::new());
    let (outer, inner) = chain_services();
    broker.add_service(outer).await?;
    broker.add_service(inner).await?;
    broker.start().await?;
    let opts = CallOptions::new().meta(json!({"user": {"id": 7, "name": "ann"}}));
    let out: Value = broker.call_with("outer.run", json!({"a": 1}), opts).await?;
    assert_eq!(out["sampled"], json!(true));
    broker.stop().await?;

    let run = collect.named("action 'outer.run'");
    let prepare = collect.named("prepare");
    let work = collect.named("action 'inner.work'");
    assert_eq!(collect.spans().len(), 3, "inner.quiet has tracing off");
    assert_eq!(run.parent_id, None);
    assert_eq!(prepare.parent_id.as_deref(), Some(run.id.as_str()));
    assert_eq!(work.parent_id.as_deref(), Some(prepare.id.as_str()));
    for s in [&prepare, &work] {
        assert_eq!(s.trace_id, run.trace_id);
    }
    nested_in(&prepare, &run);
    nested_in(&work, &prepare);
    assert!(work.duration.unwrap_or(0.0) >= 4.0);
    assert_eq!(prepare.kind, "custom");
    assert_eq!(
        prepare.service.as_ref().map(|s| s.name.as_str()),
        Some("outer")
    );
    assert_eq!(
        work.tags["params"],
        json!({"n": 1}),
        "only the chosen params"
    );
    assert_eq!(
        work.tags["meta"],
        json!({"user": {"id": 7}}),
        "only the chosen meta"
    );
    assert_eq!(run.tags["params"], json!({"a": 1}), "all params by default");
    assert!(!run.tags.contains_key("meta"));
    assert_eq!(work.tags["callingLevel"], json!(2));
    assert_eq!(work.tags["remoteCall"], json!(false));
    assert_eq!(work.tags["fromCache"], json!(false));
    assert_eq!(
        work.tags["action"],
        json!({"name": "inner.work", "rawName": "work"})
    );
    Ok(())
}

#[tokio::test]
async fn failures_carry_the_error() -> Result<(), Error> {
    let (broker, collect) = traced("trace-err", "n1", TracingOptions::new());
    let (_, inner) = chain_services();
    broker.add_service(inner).await?;
    broker.start().await?;
    let err = broker.call::<Value>("inner.fail", json!({})).await;
    assert!(err.is_err());
    broker.stop().await?;
    let span = collect.named("action 'inner.fail'");
    let error = span.error.clone().unwrap_or_default();
    assert_eq!(error["name"], json!("MyError"));
    assert_eq!(error["code"], json!(418));
    assert_eq!(error["message"], json!("it failed"));
    Ok(())
}

#[tokio::test]
async fn unsampled_traces_export_nothing_and_children_follow() -> Result<(), Error> {
    let (broker, collect) = traced(
        "trace-rate0",
        "n1",
        TracingOptions::new().sampling(Sampling::rate(0.0)),
    );
    let (outer, inner) = chain_services();
    broker.add_service(outer).await?;
    broker.add_service(inner).await?;
    broker.start().await?;
    let out: Value = broker.call("outer.run", json!({})).await?;
    assert_eq!(
        out["sampled"],
        json!(false),
        "the child follows the root's decision"
    );
    broker.stop().await?;
    assert!(collect.spans().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_sampled_caller_binds_the_callee_across_nodes() -> Result<(), Error> {
    // The callee never samples on its own, the caller always: the callee follows the caller.
    let (caller, caller_spans) = traced("trace-remote", "caller", TracingOptions::new());
    let (callee, callee_spans) = traced(
        "trace-remote",
        "callee",
        TracingOptions::new().sampling(Sampling::rate(0.0)),
    );
    let (outer, inner) = chain_services();
    caller.add_service(outer).await?;
    callee.add_service(inner).await?;
    callee.start().await?;
    caller.start().await?;
    caller
        .wait_for_services(&["inner"], Duration::from_secs(5))
        .await?;
    let out: Value = caller.call("outer.run", json!({"x": 1})).await?;
    assert_eq!(out["sampled"], json!(true));
    // A root call straight to the callee: its own decision (never).
    let direct: Value = caller.call("inner.work", json!({"n": 2})).await?;
    assert_eq!(direct["sampled"], json!(false));
    caller.stop().await?;
    callee.stop().await?;

    let run = caller_spans.named("action 'outer.run'");
    let prepare = caller_spans.named("prepare");
    let work = callee_spans.named("action 'inner.work'");
    assert_eq!(callee_spans.spans().len(), 1);
    assert_eq!(work.trace_id, run.trace_id);
    assert_eq!(work.parent_id.as_deref(), Some(prepare.id.as_str()));
    assert_eq!(work.tags["remoteCall"], json!(true));
    assert_eq!(work.tags["callerNodeID"], json!("caller"));
    assert_eq!(work.tags["nodeID"], json!("callee"));
    nested_in(&work, &prepare);
    Ok(())
}

#[tokio::test]
async fn w3c_traceparent_is_written_and_read() -> Result<(), Error> {
    let (caller, _) = traced("trace-w3c", "caller", TracingOptions::new());
    let (callee, callee_spans) = traced("trace-w3c", "callee", TracingOptions::new());
    caller
        .add_service(
            ServiceSchema::new("front").action(ActionDef::new("go", |ctx: Context| async move {
                ctx.call::<Value>("back.headers", json!({})).await
            })),
        )
        .await?;
    callee
        .add_service(ServiceSchema::new("back").action(ActionDef::new("headers", |ctx: Context| async move {
            Ok(json!({"headers": ctx.headers(), "request": ctx.request_id(), "parent": ctx.parent_id()}))
        })))
        .await?;
    callee.start().await?;
    caller.start().await?;
    caller
        .wait_for_services(&["back"], Duration::from_secs(5))
        .await?;

    // Written: the callee sees a traceparent naming the trace and its parent span.
    let out: Value = caller.call("front.go", json!({})).await?;
    let tp = out["headers"]["traceparent"].as_str().unwrap_or_default();
    let parsed = propagation::parse_traceparent(tp).expect("a valid traceparent");
    let request = out["request"].as_str().unwrap_or_default();
    assert_eq!(parsed.trace_id, request.replace('-', ""));
    let parent = out["parent"].as_str().unwrap_or_default();
    assert_eq!(parsed.parent_id, parent.replace('-', "")[..16]);
    assert!(parsed.sampled);

    // Read: a root call bringing a traceparent joins that trace.
    let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let opts = CallOptions::new().headers(json!({"traceparent": header, "tracestate": "k=v"}));
    let out: Value = caller.call_with("back.headers", json!({}), opts).await?;
    assert_eq!(out["request"], json!("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(out["parent"], json!("00f067aa0ba902b7"));
    caller.stop().await?;
    callee.stop().await?;
    let spans = callee_spans.spans();
    assert!(spans
        .iter()
        .any(|s| s.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
            && s.parent_id.as_deref() == Some("00f067aa0ba902b7")));
    Ok(())
}

#[tokio::test]
async fn event_spans_and_the_event_exporter() -> Result<(), Error> {
    let exporter = EventExporter::new(EventExporterOptions {
        interval: Duration::from_millis(20),
        ..EventExporterOptions::default()
    });
    let (emitter, _) = traced(
        "trace-events",
        "emitter",
        TracingOptions::new().events(true).exporter(exporter),
    );
    let (collector, _) = traced(
        "trace-events",
        "collector",
        TracingOptions::new().events(true),
    );
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    collector
        .add_service(ServiceSchema::new("collector").event(EventDef::new(
            "$tracing.spans",
            move |ctx: Context| {
                let sink = sink.clone();
                async move {
                    if let Some(list) = ctx.params().as_array() {
                        sink.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend(list.iter().cloned());
                    }
                    Ok(())
                }
            },
        )))
        .await?;
    emitter
        .add_service(
            ServiceSchema::new("users")
                .action(ActionDef::new("create", |ctx: Context| async move {
                    ctx.emit("user.created", json!({"id": 1})).await?;
                    Ok(json!(1))
                }))
                .event(EventDef::new("user.created", |_ctx: Context| async move {
                    Ok(())
                })),
        )
        .await?;
    collector.start().await?;
    emitter.start().await?;
    emitter
        .wait_for_services(&["collector"], Duration::from_secs(5))
        .await?;
    let _: Value = emitter.call("users.create", json!({})).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while received.lock().unwrap_or_else(|p| p.into_inner()).len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "spans did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    emitter.stop().await?;
    collector.stop().await?;
    let spans: Vec<SpanData> = received
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|v| serde_json::from_value(v.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::new("Test", e.to_string()))?;
    let action = spans
        .iter()
        .find(|s| s.kind == "action")
        .expect("action span");
    let event = spans
        .iter()
        .find(|s| s.kind == "event")
        .expect("event span");
    assert_eq!(event.name, "event 'user.created' in 'users'");
    assert_eq!(event.parent_id.as_deref(), Some(action.id.as_str()));
    assert_eq!(event.trace_id, action.trace_id);
    assert_eq!(event.tags["eventType"], json!("emit"));
    // The shape Moleculer's Event exporter sends.
    let raw = received.lock().unwrap_or_else(|p| p.into_inner())[0].clone();
    for key in [
        "name",
        "type",
        "id",
        "traceID",
        "parentID",
        "service",
        "priority",
        "sampled",
        "startTime",
        "finishTime",
        "duration",
        "error",
        "logs",
        "tags",
    ] {
        assert!(raw.get(key).is_some(), "no '{key}' in {raw}");
    }
    Ok(())
}

mod log_capture {
    //! A subscriber layer that records, for every log event, the fields of the spans it is in.
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id};
    use tracing::{Event, Subscriber};
    use tracing_subscriber::layer::{Context, Layer};
    use tracing_subscriber::registry::LookupSpan;

    #[derive(Default)]
    struct Fields(HashMap<String, String>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    /// (message, [(span name, span fields)] innermost first)
    pub(super) type Seen = Arc<Mutex<Vec<(String, Vec<(String, HashMap<String, String>)>)>>>;

    pub(super) struct Capture(pub(super) Seen);

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(fields.0);
            }
        }
        fn on_record(&self, id: &Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
            let mut fields = Fields::default();
            values.record(&mut fields);
            if let Some(span) = ctx.span(id) {
                let mut ext = span.extensions_mut();
                if let Some(map) = ext.get_mut::<HashMap<String, String>>() {
                    map.extend(fields.0);
                }
            }
        }
        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            let message = fields.0.remove("message").unwrap_or_default();
            let scope = ctx
                .event_scope(event)
                .map(|scope| {
                    scope
                        .map(|span| {
                            let f = span
                                .extensions()
                                .get::<HashMap<String, String>>()
                                .cloned()
                                .unwrap_or_default();
                            (span.name().to_owned(), f)
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((message, scope));
        }
    }
}

#[test]
fn handler_logs_nest_in_the_span_and_carry_the_request_id() -> Result<(), Error> {
    use tracing_subscriber::layer::SubscriberExt;
    let seen: log_capture::Seen = Arc::default();
    let subscriber = tracing_subscriber::registry().with(log_capture::Capture(seen.clone()));
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new("Test", e.to_string()))?;
    runtime.block_on(async {
        let (broker, _) = traced(
            "trace-logs",
            "n1",
            TracingOptions::new().sampling(Sampling::rate(0.0)),
        );
        broker
            .add_service(ServiceSchema::new("greeter").action(ActionDef::new(
                "hello",
                |_ctx: Context| async move {
                    tokio::task::yield_now().await;
                    tracing::info!("inside the handler");
                    Ok(json!("hi"))
                },
            )))
            .await?;
        broker.start().await?;
        let opts = CallOptions::new().request_id("req-42");
        let _: Value = broker.call_with("greeter.hello", json!({}), opts).await?;
        broker.stop().await
    })?;
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    let (_, scope) = seen
        .iter()
        .find(|(m, _)| m == "inside the handler")
        .expect("the handler's log line");
    let (name, fields) = &scope[0];
    assert_eq!(name, "action");
    assert_eq!(fields.get("request_id").map(String::as_str), Some("req-42"));
    assert_eq!(
        fields.get("action").map(String::as_str),
        Some("greeter.hello")
    );
    assert_eq!(
        scope.get(1).map(|(n, _)| n.as_str()),
        Some("call"),
        "the caller's span encloses it"
    );
    Ok(())
}
