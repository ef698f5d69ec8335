//! OTLP metrics: [`OtlpMetricsExporter`] pushes a broker's metrics (Moleculer's built-in ones
//! and the user's, from the same registry the Prometheus text and `$node.metrics` read) to an
//! OTLP/HTTP endpoint in protobuf, every `interval` and once more when stopped.
//!
//! The mapping: a counter is a monotonic cumulative `Sum`, a gauge a `Gauge`, a histogram a
//! cumulative `Histogram` with its explicit bounds (plus, when it has quantiles, a `Summary`
//! named `<name>.quantiles` with the window's quantiles), an info metric a `Gauge` of 1 with the
//! value as the `value` attribute (as the Prometheus text has it). Names stay Moleculer's
//! (`moleculer.request.total`); units become UCUM (`ms`, `By`, `{request}`); label values keep
//! their kind (string, number, boolean; a `null` label is an empty string, a missing one is
//! left out). Rates are not sent: an OTLP backend derives them from the cumulative values.
//!
//! ```no_run
//! use broker_core::metrics::MetricsOptions;
//! use broker_core::Broker;
//! use broker_otel::{OtlpMetricsExporter, OtlpMetricsOptions};
//!
//! # async fn run() -> Result<(), broker_core::Error> {
//! let broker = Broker::builder().metrics(MetricsOptions::default()).build();
//! broker.start().await?;
//! let exporter = OtlpMetricsExporter::start(&broker, OtlpMetricsOptions::default())?;
//! // …
//! exporter.stop().await;
//! # Ok(())
//! # }
//! ```

use broker_core::metrics::{LabelValue, Metric, MetricType, Metrics, SeriesValue};
use broker_core::{Broker, Error};
use opentelemetry_http::{Bytes, HttpClient, Request};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, summary_data_point::ValueAtQuantile, AggregationTemporality, Gauge,
    Histogram, HistogramDataPoint, Metric as OtlpMetric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

/// Options of the [`OtlpMetricsExporter`].
#[derive(Debug, Clone)]
pub struct OtlpMetricsOptions {
    /// The OTLP/HTTP metrics endpoint, path included (default
    /// `http://127.0.0.1:4318/v1/metrics`). Plain `http://` only.
    pub endpoint: String,
    /// The resource's `service.name` (default `moleculer`).
    pub service_name: String,
    /// How often the metrics are sent (default 10 s).
    pub interval: Duration,
    /// Timeout of one export request (default 10 s).
    pub timeout: Duration,
}

impl Default for OtlpMetricsOptions {
    fn default() -> Self {
        OtlpMetricsOptions {
            endpoint: "http://127.0.0.1:4318/v1/metrics".to_owned(),
            service_name: "moleculer".to_owned(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Pushes a broker's metrics to an OTLP/HTTP endpoint every `interval`; stops (after a last
/// push) on [`OtlpMetricsExporter::stop`], and stops pushing when dropped.
#[derive(Debug)]
pub struct OtlpMetricsExporter {
    sender: Arc<Sender>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Sender {
    options: OtlpMetricsOptions,
    metrics: Metrics,
    resource: Resource,
    /// The start of every cumulative series (the exporter's start).
    start_nanos: u64,
    client: opentelemetry_http::hyper::HyperClient,
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl OtlpMetricsExporter {
    /// Starts pushing `broker`'s metrics (call it inside the Tokio runtime). An endpoint that
    /// is not an `http://` URL is a `BrokerOptionsError`; a broker with metrics off pushes
    /// nothing.
    pub fn start(
        broker: &Broker,
        options: OtlpMetricsOptions,
    ) -> Result<OtlpMetricsExporter, Error> {
        let endpoint = options.endpoint.trim();
        let parses = Request::builder().uri(endpoint).body(()).is_ok();
        if !endpoint.starts_with("http://") || !parses {
            return Err(Error::broker_options(format!(
                "the OTLP metrics endpoint must be an http:// URL, not '{endpoint}'"
            )));
        }
        let resource = Resource {
            attributes: vec![
                kv("service.name", string(&options.service_name)),
                kv("service.instance.id", string(broker.node_id())),
                kv("service.namespace", string(&broker.config().namespace)),
                kv("telemetry.sdk.language", string("rust")),
            ],
            ..Resource::default()
        };
        let sender = Arc::new(Sender {
            client: opentelemetry_http::hyper::HyperClient::with_default_connector(
                options.timeout,
                None,
            ),
            options,
            metrics: broker.metrics().clone(),
            resource,
            start_nanos: nanos(SystemTime::now()),
        });
        let task = {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(sender.options.interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    if let Err(err) = sender.push().await {
                        tracing::warn!(%err, endpoint = %sender.options.endpoint, "OTLP metrics export failed");
                    }
                }
            })
        };
        Ok(OtlpMetricsExporter {
            sender,
            task: Mutex::new(Some(task)),
        })
    }

    /// Pushes the metrics now.
    pub async fn export(&self) -> Result<(), Error> {
        self.sender.push().await
    }

    /// Stops the timer and pushes the metrics a last time.
    pub async fn stop(&self) {
        if let Some(task) = self.take_task() {
            task.abort();
        }
        if let Err(err) = self.sender.push().await {
            tracing::warn!(%err, endpoint = %self.sender.options.endpoint, "OTLP metrics export failed");
        }
    }

    fn take_task(&self) -> Option<JoinHandle<()>> {
        self.task.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Drop for OtlpMetricsExporter {
    fn drop(&mut self) {
        if let Some(task) = self.take_task() {
            task.abort();
        }
    }
}

impl Sender {
    async fn push(&self) -> Result<(), Error> {
        if !self.metrics.is_enabled() {
            return Ok(());
        }
        let request = to_otlp_request(
            &self.metrics.metrics(),
            self.resource.clone(),
            self.start_nanos,
            nanos(SystemTime::now()),
        );
        let body = Bytes::from(request.encode_to_vec());
        let http = Request::builder()
            .method("POST")
            .uri(self.options.endpoint.trim())
            .header("content-type", "application/x-protobuf")
            .body(body)
            .map_err(|e| Error::broker_options(format!("OTLP metrics request: {e}")))?;
        let response =
            self.client.send_bytes(http).await.map_err(|e| {
                Error::new("OtlpExportError", format!("OTLP metrics not sent: {e}"))
            })?;
        if !response.status().is_success() {
            return Err(Error::new(
                "OtlpExportError",
                format!("OTLP metrics refused: HTTP {}", response.status()),
            ));
        }
        Ok(())
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn string(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_owned())
}

/// A series' labels as attributes (a missing label left out, `null` as "").
fn attributes(metric: &Metric, labels: &[LabelValue]) -> Vec<KeyValue> {
    metric
        .label_names()
        .iter()
        .zip(labels)
        .filter_map(|(name, value)| {
            let v = match value {
                LabelValue::Undefined => return None,
                LabelValue::Null => string(""),
                LabelValue::Str(s) => string(s),
                LabelValue::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                    any_value::Value::IntValue(*n as i64)
                }
                LabelValue::Num(n) => any_value::Value::DoubleValue(*n),
                LabelValue::Bool(b) => any_value::Value::BoolValue(*b),
            };
            Some(kv(name, v))
        })
        .collect()
}

/// Moleculer's units as UCUM, as OpenTelemetry writes them.
fn ucum(unit: Option<&str>) -> String {
    match unit {
        None => String::new(),
        Some("millisecond") => "ms".to_owned(),
        Some("second") => "s".to_owned(),
        Some("nanosecond") => "ns".to_owned(),
        Some("byte") => "By".to_owned(),
        Some("percent") => "%".to_owned(),
        Some(other) => format!("{{{other}}}"),
    }
}

/// The OTLP export request of these metrics, as of `now` (ns since the epoch), every
/// cumulative series counted from `start`.
pub fn to_otlp_request(
    metrics: &[Arc<Metric>],
    resource: Resource,
    start: u64,
    now: u64,
) -> ExportMetricsServiceRequest {
    let mut out = Vec::with_capacity(metrics.len());
    for m in metrics {
        let series = m.all_series();
        if series.is_empty() {
            continue;
        }
        let base = OtlpMetric {
            name: m.name().to_owned(),
            description: m.description().unwrap_or_default().to_owned(),
            unit: ucum(m.unit()),
            ..OtlpMetric::default()
        };
        let number = |s: &broker_core::metrics::Series, v: f64, extra: Option<KeyValue>| {
            let mut attributes = attributes(m, s.labels());
            attributes.extend(extra);
            NumberDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsDouble(v)),
                ..NumberDataPoint::default()
            }
        };
        match m.kind() {
            MetricType::Counter | MetricType::Gauge => {
                let points = series
                    .iter()
                    .filter_map(|s| match s.read() {
                        SeriesValue::Number(v) => Some(number(s, v, None)),
                        _ => None,
                    })
                    .collect();
                let data = if m.kind() == MetricType::Counter {
                    metric::Data::Sum(Sum {
                        data_points: points,
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    })
                } else {
                    metric::Data::Gauge(Gauge {
                        data_points: points,
                    })
                };
                out.push(OtlpMetric {
                    data: Some(data),
                    ..base
                });
            }
            MetricType::Info => {
                let points = series
                    .iter()
                    .filter_map(|s| match s.read() {
                        SeriesValue::Info(v) => {
                            let text = match v {
                                serde_json::Value::String(s) => s,
                                other => other.to_string(),
                            };
                            Some(number(s, 1.0, Some(kv("value", string(&text)))))
                        }
                        _ => None,
                    })
                    .collect();
                out.push(OtlpMetric {
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..base
                });
            }
            MetricType::Histogram => {
                let mut points = Vec::new();
                let mut summaries = Vec::new();
                for s in &series {
                    let SeriesValue::Histogram {
                        count,
                        sum,
                        buckets,
                        ..
                    } = s.read()
                    else {
                        continue;
                    };
                    // Ours are cumulative per bound; OTLP counts each bucket, +Inf last.
                    let mut bucket_counts = Vec::with_capacity(buckets.len() + 1);
                    let mut below = 0;
                    for c in &buckets {
                        bucket_counts.push(c - below);
                        below = *c;
                    }
                    bucket_counts.push(count.saturating_sub(below));
                    points.push(HistogramDataPoint {
                        attributes: attributes(m, s.labels()),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        count,
                        sum: Some(sum),
                        bucket_counts,
                        explicit_bounds: m.buckets().to_vec(),
                        ..HistogramDataPoint::default()
                    });
                    if let Some(q) = s.quantiles() {
                        summaries.push(SummaryDataPoint {
                            attributes: attributes(m, s.labels()),
                            start_time_unix_nano: start,
                            time_unix_nano: now,
                            count,
                            sum,
                            quantile_values: q
                                .quantiles
                                .iter()
                                .filter_map(|(quantile, v)| {
                                    v.map(|value| ValueAtQuantile {
                                        quantile: *quantile,
                                        value,
                                    })
                                })
                                .collect(),
                            ..SummaryDataPoint::default()
                        });
                    }
                }
                if !summaries.is_empty() {
                    out.push(OtlpMetric {
                        name: format!("{}.quantiles", m.name()),
                        data: Some(metric::Data::Summary(Summary {
                            data_points: summaries,
                        })),
                        ..base.clone()
                    });
                }
                out.push(OtlpMetric {
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: points,
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    })),
                    ..base
                });
            }
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "broker-core".to_owned(),
                    version: broker_core::VERSION.to_owned(),
                    ..InstrumentationScope::default()
                }),
                metrics: out,
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}
