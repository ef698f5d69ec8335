//! OpenTelemetry for the broker: [`OtlpExporter`], a span exporter (see
//! [`broker_core::trace`]) that sends the broker's spans to an OTLP/HTTP endpoint (an
//! OpenTelemetry Collector, Jaeger, Tempo, …) in protobuf, and [`OtlpMetricsExporter`], which
//! pushes the broker's metrics (see [`metrics`]) the same way.
//!
//! Spans keep their identity: the OTLP trace ID, span ID and parent span ID are Moleculer's
//! `traceID`, `id` and `parentID` mapped as [`broker_core::trace::propagation`] says (a UUID's
//! 16 bytes for a trace, its first 8 for a span; W3C IDs as they are; a stable hash of any
//! other string). A Moleculer.js node exporting with the same mapping lands in the same trace;
//! the original IDs ride along as the attributes `moleculer.trace_id`, `moleculer.span_id` and
//! `moleculer.parent_id`.
//!
//! ```no_run
//! use broker_core::{Broker, TracingOptions};
//! use broker_otel::{OtlpExporter, OtlpOptions};
//!
//! # fn main() -> Result<(), broker_core::Error> {
//! let exporter = OtlpExporter::new(OtlpOptions {
//!     endpoint: "http://127.0.0.1:4318/v1/traces".into(),
//!     ..OtlpOptions::default()
//! })?;
//! let broker = Broker::builder()
//!     .tracing(TracingOptions::new().exporter(exporter))
//!     .build();
//! # let _ = broker;
//! # Ok(())
//! # }
//! ```

pub mod metrics;

pub use metrics::{OtlpMetricsExporter, OtlpMetricsOptions};

use broker_core::trace::{propagation, FinishedSpan, SpanData, SpanExporter};
use broker_core::{Broker, Error};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value as OtelValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SpanEvents, SpanExporter as _, SpanLinks};
use opentelemetry_sdk::Resource;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

/// Options of the [`OtlpExporter`].
#[derive(Debug, Clone)]
pub struct OtlpOptions {
    /// The OTLP/HTTP traces endpoint, path included (default
    /// `http://127.0.0.1:4318/v1/traces`).
    pub endpoint: String,
    /// The resource's `service.name` (default: `moleculer`; each span also carries its
    /// Moleculer service as `moleculer.service`).
    pub service_name: String,
    /// How often queued spans are sent (default 1 s).
    pub interval: Duration,
    /// Spans queued beyond this are dropped (and counted in a warning) until the next send.
    pub max_queue: usize,
    /// Timeout of one export request (default 10 s).
    pub timeout: Duration,
}

impl Default for OtlpOptions {
    fn default() -> Self {
        OtlpOptions {
            endpoint: "http://127.0.0.1:4318/v1/traces".to_owned(),
            service_name: "moleculer".to_owned(),
            interval: Duration::from_secs(1),
            max_queue: 10_000,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Sends finished spans to an OTLP/HTTP endpoint, batched every `interval`.
#[derive(Debug)]
pub struct OtlpExporter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: OtlpOptions,
    queue: Mutex<Vec<FinishedSpan>>,
    /// The queue's length, readable without its lock.
    queued: AtomicUsize,
    dropped: Mutex<u64>,
    /// Built when the broker starts (the HTTP client needs the runtime).
    exporter: OnceLock<opentelemetry_otlp::SpanExporter>,
    node_id: OnceLock<String>,
    /// One export at a time, as the SDK's exporter requires.
    sending: tokio::sync::Mutex<()>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl OtlpExporter {
    /// An exporter to `options.endpoint`; an endpoint that is not an `http(s)://` URL is a
    /// `BrokerOptionsError`.
    pub fn new(options: OtlpOptions) -> Result<OtlpExporter, Error> {
        let endpoint = options.endpoint.trim();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(Error::broker_options(format!(
                "the OTLP endpoint must be an http:// or https:// URL, not '{endpoint}'"
            )));
        }
        Ok(OtlpExporter {
            inner: Arc::new(Inner {
                options,
                queue: Mutex::new(Vec::new()),
                queued: AtomicUsize::new(0),
                dropped: Mutex::new(0),
                exporter: OnceLock::new(),
                node_id: OnceLock::new(),
                sending: tokio::sync::Mutex::new(()),
                timer: Mutex::new(None),
            }),
        })
    }
}

impl Inner {
    fn build(&self) -> Result<opentelemetry_otlp::SpanExporter, String> {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(self.options.endpoint.trim())
            .with_timeout(self.options.timeout)
            .with_headers(Default::default())
            .build()
            .map_err(|e| e.to_string())?;
        let mut resource = Resource::builder_empty()
            .with_service_name(self.options.service_name.clone())
            .with_attribute(KeyValue::new("telemetry.sdk.language", "rust"));
        if let Some(node) = self.node_id.get() {
            resource = resource.with_attribute(KeyValue::new("service.instance.id", node.clone()));
        }
        exporter.set_resource(&resource.build());
        Ok(exporter)
    }

    async fn flush(&self) {
        let _one = self.sending.lock().await;
        let spans = {
            let mut queue = lock(&self.queue);
            self.queued.store(0, Ordering::Relaxed);
            std::mem::take(&mut *queue)
        };
        let dropped = std::mem::take(&mut *lock(&self.dropped));
        if dropped > 0 {
            tracing::warn!(dropped, "OTLP span queue full; spans dropped");
        }
        if spans.is_empty() {
            return;
        }
        let Some(exporter) = self.exporter.get() else {
            return;
        };
        let count = spans.len();
        // Building the batch takes a while: not on the runtime's threads.
        let built = tokio::task::spawn_blocking(move || {
            spans
                .iter()
                .map(|s| to_otel_span(s.data()))
                .collect::<Vec<_>>()
        })
        .await;
        let batch = match built {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(%err, "OTLP batch not built");
                return;
            }
        };
        if let Err(err) = exporter.export(batch).await {
            tracing::warn!(%err, endpoint = %self.options.endpoint, spans = count, "OTLP export failed");
        }
    }
}

impl SpanExporter for OtlpExporter {
    fn start(&self, broker: &Broker) {
        let _ = self.inner.node_id.set(broker.node_id().to_owned());
        match self.inner.build() {
            Ok(exporter) => {
                let _ = self.inner.exporter.set(exporter);
            }
            Err(err) => {
                tracing::error!(%err, endpoint = %self.inner.options.endpoint, "OTLP exporter not started");
                return;
            }
        }
        let inner = self.inner.clone();
        let interval = self.inner.options.interval;
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                inner.flush().await;
            }
        });
        if let Some(old) = lock(&self.inner.timer).replace(task) {
            old.abort();
        }
    }

    fn span_finished(&self, span: &FinishedSpan) {
        let mut queue = lock(&self.inner.queue);
        if queue.len() >= self.inner.options.max_queue {
            *lock(&self.inner.dropped) += 1;
            return;
        }
        queue.push(span.clone());
        self.inner.queued.store(queue.len(), Ordering::Relaxed);
    }

    fn would_drop(&self) -> bool {
        self.inner.queued.load(Ordering::Relaxed) >= self.inner.options.max_queue
    }

    fn span_dropped(&self) {
        *lock(&self.inner.dropped) += 1;
    }

    fn flush(&self) -> broker_core::transporter::BoxFuture<'_, ()> {
        Box::pin(self.inner.flush())
    }

    fn stop(&self) -> broker_core::transporter::BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(timer) = lock(&self.inner.timer).take() {
                timer.abort();
            }
            self.inner.flush().await;
        })
    }
}

fn time_of(ms: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64((ms / 1000.0).max(0.0))
}

/// One of our spans as an OpenTelemetry span (IDs mapped as the crate docs say).
pub fn to_otel_span(span: &SpanData) -> opentelemetry_sdk::trace::SpanData {
    let trace_id = TraceId::from_bytes(propagation::trace_id_bytes(&span.trace_id));
    let span_id = SpanId::from_bytes(propagation::span_id_bytes(&span.id));
    let parent_span_id = span.parent_id.as_deref().map_or(SpanId::INVALID, |p| {
        SpanId::from_bytes(propagation::span_id_bytes(p))
    });
    let span_kind = match span.kind.as_str() {
        "action" => SpanKind::Server,
        "event" => SpanKind::Consumer,
        _ => SpanKind::Internal,
    };
    let mut attributes = vec![
        KeyValue::new("moleculer.trace_id", span.trace_id.clone()),
        KeyValue::new("moleculer.span_id", span.id.clone()),
        KeyValue::new("moleculer.type", span.kind.clone()),
    ];
    if let Some(parent) = &span.parent_id {
        attributes.push(KeyValue::new("moleculer.parent_id", parent.clone()));
    }
    if let Some(service) = &span.service {
        attributes.push(KeyValue::new(
            "moleculer.service",
            service.full_name.clone(),
        ));
    }
    flatten("", &Value::Object(span.tags.clone()), &mut attributes);
    let status = match &span.error {
        Some(err) => {
            flatten("error", err, &mut attributes);
            let message = err["message"].as_str().unwrap_or("error").to_owned();
            Status::Error {
                description: Cow::Owned(message),
            }
        }
        None => Status::Unset,
    };
    let start_time = time_of(span.start_time);
    opentelemetry_sdk::trace::SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id,
        // The parent of an action span ran on the caller's node.
        parent_span_is_remote: span.is_remote(),
        span_kind,
        name: Cow::Owned(span.name.clone()),
        start_time,
        end_time: span.finish_time.map_or(start_time, time_of),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: InstrumentationScope::builder("broker-core")
            .with_version(broker_core::VERSION)
            .build(),
    }
}

/// Moleculer's `flattenTags`: nested objects become dotted keys; arrays become JSON text.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<KeyValue>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        Value::Null => {}
        Value::Bool(b) => out.push(KeyValue::new(prefix.to_owned(), *b)),
        Value::Number(n) => {
            let v = match n.as_i64() {
                Some(i) => OtelValue::I64(i),
                None => OtelValue::F64(n.as_f64().unwrap_or_default()),
            };
            out.push(KeyValue::new(prefix.to_owned(), v));
        }
        Value::String(s) => out.push(KeyValue::new(prefix.to_owned(), s.clone())),
        Value::Array(_) => out.push(KeyValue::new(prefix.to_owned(), value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spans_keep_their_ids_and_tags() {
        let mut span = SpanData::new(
            "action 'a.b'",
            "action",
            "0af76519-16cd-43dd-8448-eb211c80319c".into(),
            "4bf92f35-77b3-4da6-a3ce-929d0e0e4736".into(),
            Some("00f067aa-0ba9-02b7-0000-000000000000".into()),
        );
        span.tags.insert("remoteCall".into(), json!(true));
        span.tags.insert("action".into(), json!({"name": "a.b"}));
        span.tags.insert("params".into(), json!({"ids": [1, 2]}));
        span.start_time = 1_000.0;
        span.finish_time = Some(1_002.5);
        let otel = to_otel_span(&span);
        assert_eq!(
            otel.span_context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(otel.span_context.span_id().to_string(), "0af7651916cd43dd");
        assert_eq!(otel.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert!(otel.parent_span_is_remote);
        assert_eq!(otel.span_kind, SpanKind::Server);
        let attr = |k: &str| {
            otel.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(attr("action.name").as_deref(), Some("a.b"));
        assert_eq!(attr("params.ids").as_deref(), Some("[1,2]"));
        assert_eq!(attr("remoteCall").as_deref(), Some("true"));
        let d = otel
            .end_time
            .duration_since(otel.start_time)
            .unwrap_or_default();
        assert_eq!(d, Duration::from_micros(2500));
    }

    #[test]
    fn bad_endpoints_are_refused() {
        let err = OtlpExporter::new(OtlpOptions {
            endpoint: "127.0.0.1:4318".into(),
            ..OtlpOptions::default()
        });
        assert!(err.is_err());
    }
}
