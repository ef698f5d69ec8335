//! `broker call --trace ...`: the call runs inside a root span of this node, sampled, so every
//! traced node it reaches records its part; spans come back from nodes with Moleculer's
//! `Event` exporter (`$tracing.spans`), and the tree of the whole call is printed on standard
//! error when it has arrived.

use broker_core::trace::{render_trace, FinishedSpan, SpanData, SpanExporter};
use broker_core::{Broker, CallOptions, Context, EventDef, JsonMap, ServiceSchema, TracingOptions};
use broker_repl::{CallRequest, CommandError, Output, Response};
use serde_json::Value;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// How long to wait for the cluster's spans: Moleculer's `Event` exporter sends every 5 s.
const WAIT: Duration = Duration::from_secs(6);
/// Once the call's first remote span is in, how long without new spans ends the wait.
const QUIET: Duration = Duration::from_millis(1500);

/// Takes `--trace` out of `call --trace ...` / `dcall --trace ...`; whether it was there.
pub(crate) fn take_flag(words: &mut Vec<String>) -> bool {
    let is_call = words.first().is_some_and(|w| w == "call" || w == "dcall");
    if is_call && words.get(1).is_some_and(|w| w == "--trace") {
        words.remove(1);
        true
    } else {
        false
    }
}

/// The spans of this node and those the cluster sends.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    spans: Mutex<Vec<SpanData>>,
}

impl Collector {
    fn lock(&self) -> MutexGuard<'_, Vec<SpanData>> {
        self.spans.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn add(&self, span: SpanData) {
        let mut spans = self.lock();
        if !spans.iter().any(|s| s.id == span.id) {
            spans.push(span);
        }
    }
}

impl SpanExporter for Collector {
    fn span_finished(&self, span: &FinishedSpan) {
        self.add(span.data().clone());
    }
}

/// Tracing for this node: everything sampled, spans to `collector`.
pub(crate) fn options(collector: Arc<Collector>) -> TracingOptions {
    TracingOptions::new().exporter_arc(collector)
}

/// A service of this node receiving `$tracing.spans` (its own group, so it gets every batch).
pub(crate) fn collector_service(node_id: &str, collector: Arc<Collector>) -> ServiceSchema {
    let name = format!("broker-cli-trace-{node_id}");
    ServiceSchema::new(name).event(EventDef::new("$tracing.spans", move |ctx: Context| {
        let collector = collector.clone();
        async move {
            for span in ctx.params().as_array().into_iter().flatten() {
                match serde_json::from_value::<SpanData>(span.clone()) {
                    Ok(span) => collector.add(span),
                    Err(err) => tracing::debug!(%err, "a $tracing.spans entry that is not a span"),
                }
            }
            Ok(())
        }
    }))
}

/// Makes the call inside a root span and returns its output and the printed tree.
pub(crate) async fn call(
    broker: &Broker,
    request: CallRequest,
    collector: &Collector,
) -> (Result<Output, CommandError>, String) {
    let mut options = CallOptions::new();
    if let Some(t) = request.timeout {
        options = options.timeout(t);
    }
    if let Some(node) = &request.node_id {
        options = options.node_id(node.clone());
    }
    let root = Context::root(broker, None, JsonMap::from_iter(request.meta.clone()));
    let span = root.start_span(&format!("call '{}'", request.action));
    let root_id = span.id().map(str::to_owned).unwrap_or_default();
    let started = Instant::now();
    let result: Result<Value, _> = root
        .call_with(&request.action, &request.params, options)
        .await;
    let elapsed = started.elapsed();
    drop(span);
    let tree = wait_for_tree(collector, &root_id).await;
    let output = result.map_err(CommandError::from).map(|result| {
        Output::Response(Response {
            action: request.action,
            node_id: request.node_id,
            params: request.params,
            result,
            elapsed,
        })
    });
    (output, tree)
}

/// Waits (bounded) for the spans of the trace under `root_id`, then renders them.
async fn wait_for_tree(collector: &Collector, root_id: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let mut last_count = 0;
    let mut last_change = Instant::now();
    loop {
        let (count, has_child) = {
            let spans = collector.lock();
            let child = spans
                .iter()
                .any(|s| s.parent_id.as_deref() == Some(root_id));
            (spans.len(), child)
        };
        if count != last_count {
            last_count = count;
            last_change = Instant::now();
        }
        let now = Instant::now();
        if now >= deadline || (has_child && now.duration_since(last_change) >= QUIET) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spans = collector.lock().clone();
    let colors = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut tree = render_trace(&spans, root_id, colors);
    if !spans
        .iter()
        .any(|s| s.parent_id.as_deref() == Some(root_id))
    {
        tree.push_str("\nnote: no spans came back from the nodes called; they need tracing on with the Event exporter ($tracing.spans)");
    }
    tree
}
