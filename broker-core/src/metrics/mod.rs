//! Metrics: Moleculer's built-in metrics and the user's own, in one registry per broker.
//!
//! ```
//! use broker_core::metrics::{MetricDef, MetricsOptions};
//! use broker_core::Broker;
//!
//! let broker = Broker::builder().metrics(MetricsOptions::default()).build();
//! let orders = broker
//!     .metrics()
//!     .counter(MetricDef::new("shop.orders.total").labels(["region"]))
//!     .expect("a valid name");
//! orders.increment(&["eu".into()]);
//! assert_eq!(orders.value(&["eu".into()]), 1.0);
//! assert!(broker.metrics().to_prometheus().contains("shop_orders_total"));
//! ```
//!
//! # Why our own registry
//!
//! One store has to feed three readers: the Prometheus text format, Moleculer's JSON shape
//! (`$node.metrics`, the `$metrics.snapshot` event: type, labelNames, unit, per-series `key`,
//! `timestamp`, `rate`, histogram `buckets` keyed by bound) and OTLP (`broker-otel`). The
//! `metrics` crate's facade hands each recorded value to an installed recorder and keeps no description,
//! unit, label names, timestamps or Moleculer keys; serving `$node.metrics` from it would mean a
//! second store beside the recorder's. This registry is small (a map of metrics, each a map of
//! label sets to atomics or a mutex-guarded histogram), keeps exactly what the three formats
//! need, and is one per broker, so two brokers in one process (the tests) never mix values.
//!
//! # Cost
//!
//! Disabled (the default), the call, event and transit paths test one `Option` that is
//! `None`. Enabled, hot paths hold the series they update (no name or label lookup per call
//! for actions without a caller) and values are atomics. Action requests are measured where
//! the broker runs the handler (`run_action`, through `trace::Observation`, which shares its
//! two clock reads with the handler's span) rather than by a middleware wrapper, which would
//! cost one more boxed future per call; `*.active` gauges are computed when read (started
//! minus finished) instead of being moved up and down on every call. Event handlers, which
//! are fewer, are wrapped as a middleware would wrap them.
//!
//! Differences from Moleculer.js: histogram quantiles are computed from at most
//! [`SLICE_SAMPLES`] observations per slice of their window (Moleculer keeps every one; see
//! `quantiles`); `moleculer.transit.requests.active` is the number of
//! pending requests (Moleculer adds that number on every publish); gauges computed from state
//! (registry, pending requests, bulkheads, circuit breakers, process) are read when the
//! metrics are listed, not on a timer.

mod builtin;
mod collect;
pub mod names;
mod prometheus;
mod quantiles;
mod reporter;
mod store;

pub(crate) use builtin::{Builtin, RequestCell, RequestTimer};
pub use quantiles::{QuantileSummary, SLICE_SAMPLES};
pub use reporter::EventReporterOptions;
pub use store::{LabelValue, Metric, MetricType, Series, SeriesValue};

use crate::error::Error;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

/// Moleculer's `metrics` broker option.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    /// Whether metrics are collected at all (true here; the broker's default is off).
    pub enabled: bool,
    /// Collect process and OS metrics (`process.*`, `os.*`).
    pub collect_process_metrics: bool,
    /// How often rates are updated and the Event reporter sends (Moleculer: 5 s).
    pub collect_interval: Duration,
    /// Reporters run by the broker. Prometheus is served by `broker-web`'s `MetricsExporter`
    /// (or the gateway's `/metrics`), which reads the same registry.
    pub reporters: Vec<Reporter>,
    /// Histogram buckets when a histogram asks for none (Moleculer's, in ms).
    pub default_buckets: Vec<f64>,
    /// Quantiles of histograms that ask for the default ones (Moleculer's
    /// `defaultQuantiles`: 0.5, 0.9, 0.95, 0.99, 0.999), as the built-in `*.time` do.
    pub default_quantiles: Vec<f64>,
    /// The window quantiles are computed over (Moleculer's `defaultMaxAgeSeconds`: 60 s).
    pub default_max_age: Duration,
    /// Slices of that window, the oldest dropped as time goes (`defaultAgeBuckets`: 10).
    pub default_age_buckets: usize,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            enabled: true,
            collect_process_metrics: true,
            collect_interval: Duration::from_secs(5),
            reporters: Vec::new(),
            default_buckets: names::DEFAULT_BUCKETS.to_vec(),
            default_quantiles: names::DEFAULT_QUANTILES.to_vec(),
            default_max_age: Duration::from_secs(60),
            default_age_buckets: 10,
        }
    }
}

impl MetricsOptions {
    /// Metrics off (the broker's default).
    pub fn disabled() -> Self {
        MetricsOptions {
            enabled: false,
            ..MetricsOptions::default()
        }
    }

    /// Adds a reporter.
    pub fn reporter(mut self, reporter: Reporter) -> Self {
        self.reporters.push(reporter);
        self
    }

    /// The options as Moleculer's `metrics` broker option (what `$node.options` shows); off,
    /// `{"enabled": false}` as Moleculer's default.
    pub fn to_json(&self) -> Value {
        if !self.enabled {
            return serde_json::json!({"enabled": false});
        }
        let reporters: Vec<Value> = self.reporters.iter().map(Reporter::to_json).collect();
        serde_json::json!({
            "enabled": true,
            "reporter": if reporters.is_empty() { Value::Bool(false) } else { Value::Array(reporters) },
            "collectProcessMetrics": self.collect_process_metrics,
            "collectInterval": self.collect_interval.as_secs_f64(),
            "defaultBuckets": self.default_buckets,
            "defaultQuantiles": self.default_quantiles,
            "defaultMaxAgeSeconds": self.default_max_age.as_secs_f64(),
            "defaultAgeBuckets": self.default_age_buckets,
            "defaultAggregator": "sum",
        })
    }
}

/// A reporter the broker runs.
#[derive(Debug, Clone)]
pub enum Reporter {
    /// Moleculer's `Event` reporter: sends the metrics as a `$metrics.snapshot` event.
    Event(EventReporterOptions),
}

impl Reporter {
    /// Moleculer's `{"type": …, "options": {…}}` of this reporter.
    pub fn to_json(&self) -> Value {
        match self {
            Reporter::Event(o) => serde_json::json!({"type": "Event", "options": {
                "eventName": o.event_name,
                "broadcast": o.broadcast,
                "groups": o.groups,
                "onlyChanges": o.only_changes,
                "interval": o.interval.as_secs_f64(),
                "includes": o.includes,
                "excludes": o.excludes,
            }}),
        }
    }
}

/// Which metrics to list (`$node.metrics` params).
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only these types (`counter`, `gauge`, `histogram`, `info`).
    pub types: Option<Vec<String>>,
    /// Only names matching one of these patterns (`moleculer.request.*`, `**`).
    pub includes: Option<Vec<String>>,
    /// Not names matching any of these patterns.
    pub excludes: Option<Vec<String>>,
}

impl ListOptions {
    /// Whether a metric passes the filters.
    pub fn accepts(&self, metric: &Metric) -> bool {
        if let Some(types) = &self.types {
            if !types.iter().any(|t| t == metric.kind().as_str()) {
                return false;
            }
        }
        if let Some(inc) = &self.includes {
            if !inc
                .iter()
                .any(|p| crate::event_match::matches(p, metric.name()))
            {
                return false;
            }
        }
        if let Some(exc) = &self.excludes {
            if exc
                .iter()
                .any(|p| crate::event_match::matches(p, metric.name()))
            {
                return false;
            }
        }
        true
    }
}

/// What a user metric is: name, labels, description, unit and, for histograms, buckets.
#[derive(Debug, Clone)]
pub struct MetricDef {
    name: String,
    labels: Vec<String>,
    description: Option<String>,
    unit: Option<String>,
    buckets: Option<Vec<f64>>,
    rate: bool,
    quantiles: Quantiles,
    max_age: Option<Duration>,
    age_buckets: Option<usize>,
}

/// Which quantiles a histogram computes.
#[derive(Debug, Clone, PartialEq)]
enum Quantiles {
    None,
    /// The registry's `default_quantiles` (Moleculer's `quantiles: true`).
    Default,
    These(Vec<f64>),
}

impl MetricDef {
    /// A metric named `name` (letters, digits, `_ - : .`; not starting with a digit).
    pub fn new(name: impl Into<String>) -> MetricDef {
        MetricDef {
            name: name.into(),
            labels: Vec::new(),
            description: None,
            unit: None,
            buckets: None,
            rate: false,
            quantiles: Quantiles::None,
            max_age: None,
            age_buckets: None,
        }
    }
    /// Its label names.
    pub fn labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.labels = labels.into_iter().map(Into::into).collect();
        self
    }
    /// A description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
    /// A unit (`request`, `millisecond`, `byte` …).
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }
    /// Histogram bucket bounds (default: the registry's `default_buckets`).
    pub fn buckets(mut self, buckets: Vec<f64>) -> Self {
        self.buckets = Some(buckets);
        self
    }
    /// Histogram quantiles (`0.5`, `0.99` …) over a sliding time window, as Moleculer's
    /// `quantiles: [...]`.
    pub fn quantiles(mut self, quantiles: Vec<f64>) -> Self {
        self.quantiles = Quantiles::These(quantiles);
        self
    }
    /// The registry's default quantiles (Moleculer's `quantiles: true`).
    pub fn default_quantiles(mut self) -> Self {
        self.quantiles = Quantiles::Default;
        self
    }
    /// The quantiles' time window (default: the registry's `default_max_age`).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }
    /// The number of slices of that window (default: the registry's `default_age_buckets`).
    pub fn age_buckets(mut self, age_buckets: usize) -> Self {
        self.age_buckets = Some(age_buckets);
        self
    }
    /// Keep a per-minute rate (Moleculer's `rate: true`).
    pub fn rate(mut self, rate: bool) -> Self {
        self.rate = rate;
        self
    }
}

fn valid_name(name: &str, extra: &[char]) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(&c))
}

/// A function that refreshes computed gauges before the metrics are read.
type Collector = Box<dyn Fn(&Metrics) + Send + Sync>;

#[derive(Default)]
struct Store {
    order: Vec<Arc<Metric>>,
    index: HashMap<String, usize>,
}

pub(crate) struct Registry {
    options: MetricsOptions,
    store: RwLock<Store>,
    collectors: Mutex<Vec<Collector>>,
    builtin: std::sync::OnceLock<Arc<Builtin>>,
    /// Labels the Prometheus text adds to every series (`namespace`, `nodeID`).
    default_labels: Mutex<Vec<(String, LabelValue)>>,
}

/// A broker's metric registry; a cheap handle (disabled: an empty one whose every operation
/// does nothing).
#[derive(Clone, Default)]
pub struct Metrics {
    reg: Option<Arc<Registry>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match l.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Metrics {
    /// A registry with these options (empty and inert when they are disabled).
    pub fn new(options: MetricsOptions) -> Metrics {
        if !options.enabled {
            return Metrics { reg: None };
        }
        Metrics {
            reg: Some(Arc::new(Registry {
                options,
                store: RwLock::new(Store::default()),
                collectors: Mutex::new(Vec::new()),
                builtin: std::sync::OnceLock::new(),
                default_labels: Mutex::new(Vec::new()),
            })),
        }
    }

    /// Whether metrics are on.
    pub fn is_enabled(&self) -> bool {
        self.reg.is_some()
    }

    /// The options (`None` when disabled).
    pub fn options(&self) -> Option<&MetricsOptions> {
        self.reg.as_ref().map(|r| &r.options)
    }

    /// Registers a metric, or returns the one of that name when its type matches (so a service
    /// may register its metrics each time it starts). Fails on an invalid name or label name,
    /// or a name taken by another type.
    pub fn register(&self, kind: MetricType, def: MetricDef) -> Result<Option<Arc<Metric>>, Error> {
        if !valid_name(&def.name, &[':', '.']) {
            return Err(Error::client(
                format!("The metric 'name' is not valid: {}", def.name),
                400,
                "INVALID_METRIC_NAME",
            ));
        }
        if let Some(bad) = def.labels.iter().find(|l| !valid_name(l, &['.'])) {
            return Err(Error::client(
                format!("The '{}' metric label name is not valid: {bad}", def.name),
                400,
                "INVALID_METRIC_LABEL",
            ));
        }
        let Some(reg) = &self.reg else {
            return Ok(None);
        };
        let mut store = match reg.store.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(i) = store.index.get(&def.name) {
            let existing = store.order[*i].clone();
            if existing.kind() != kind {
                return Err(Error::client(
                    format!(
                        "The metric '{}' is already registered as a {}",
                        def.name,
                        existing.kind()
                    ),
                    400,
                    "METRIC_TYPE_MISMATCH",
                ));
            }
            return Ok(Some(existing));
        }
        let buckets = match kind {
            MetricType::Histogram => def
                .buckets
                .unwrap_or_else(|| reg.options.default_buckets.clone()),
            _ => Vec::new(),
        };
        let quantiles = match def.quantiles {
            Quantiles::None => Vec::new(),
            Quantiles::Default => reg.options.default_quantiles.clone(),
            Quantiles::These(q) => q,
        };
        let max_age = def.max_age.unwrap_or(reg.options.default_max_age);
        let metric = Arc::new(
            Metric::new(
                def.name.clone(),
                kind,
                def.description,
                def.unit,
                def.labels,
                buckets,
                def.rate,
            )
            .with_quantiles(
                quantiles,
                max_age.as_millis() as u64,
                def.age_buckets.unwrap_or(reg.options.default_age_buckets),
            ),
        );
        let at = store.order.len();
        store.index.insert(def.name, at);
        store.order.push(metric.clone());
        Ok(Some(metric))
    }

    /// Registers (or finds) a counter.
    pub fn counter(&self, def: MetricDef) -> Result<Counter, Error> {
        Ok(Counter(self.register(MetricType::Counter, def)?))
    }
    /// Registers (or finds) a gauge.
    pub fn gauge(&self, def: MetricDef) -> Result<Gauge, Error> {
        Ok(Gauge(self.register(MetricType::Gauge, def)?))
    }
    /// Registers (or finds) a histogram.
    pub fn histogram(&self, def: MetricDef) -> Result<Histogram, Error> {
        Ok(Histogram(self.register(MetricType::Histogram, def)?))
    }
    /// Registers (or finds) an info metric.
    pub fn info(&self, def: MetricDef) -> Result<Info, Error> {
        Ok(Info(self.register(MetricType::Info, def)?))
    }

    /// The metric of that name.
    pub fn get(&self, name: &str) -> Option<Arc<Metric>> {
        let reg = self.reg.as_ref()?;
        let store = read(&reg.store);
        store.index.get(name).map(|i| store.order[*i].clone())
    }

    /// Every metric, in registration order, computed gauges refreshed first.
    pub fn metrics(&self) -> Vec<Arc<Metric>> {
        let Some(reg) = &self.reg else {
            return Vec::new();
        };
        for collect in lock(&reg.collectors).iter() {
            collect(self);
        }
        read(&reg.store).order.clone()
    }

    /// The metrics in Moleculer's `list()` shape, as `$node.metrics` answers.
    pub fn list(&self, options: &ListOptions) -> Vec<Value> {
        self.metrics()
            .iter()
            .filter(|m| options.accepts(m))
            .map(|m| m.to_json())
            .collect()
    }

    /// The metrics in Prometheus' text format (version 0.0.4), with `namespace` and `nodeID`
    /// labels as Moleculer's Prometheus reporter adds them.
    pub fn to_prometheus(&self) -> String {
        let Some(reg) = &self.reg else {
            return String::new();
        };
        let defaults = lock(&reg.default_labels).clone();
        prometheus::render(&self.metrics(), &defaults)
    }

    /// Adds a function run before every read, to refresh gauges computed from state.
    pub fn add_collector(&self, collect: impl Fn(&Metrics) + Send + Sync + 'static) {
        if let Some(reg) = &self.reg {
            lock(&reg.collectors).push(Box::new(collect));
        }
    }

    pub(crate) fn builtin(&self) -> Option<&Arc<Builtin>> {
        self.reg.as_ref()?.builtin.get()
    }

    /// Updates every rate (Moleculer does it every 5 s).
    pub(crate) fn tick_rates(&self) {
        if let Some(reg) = &self.reg {
            let now = std::time::Instant::now();
            for m in read(&reg.store).order.iter() {
                m.tick_rates(now);
            }
        }
    }
}

/// A counter handle (inert when metrics are off).
#[derive(Debug, Clone)]
pub struct Counter(Option<Arc<Metric>>);

impl Counter {
    /// Adds 1 to the series of these label values (in label-name order).
    pub fn increment(&self, labels: &[LabelValue]) {
        self.add(labels, 1.0);
    }
    /// Adds `by` (counters never go down: a negative `by` is ignored).
    pub fn add(&self, labels: &[LabelValue], by: f64) {
        if let Some(m) = &self.0 {
            if by >= 0.0 {
                m.series(labels).add(by);
            }
        }
    }
    /// The value of a series (0 when metrics are off).
    pub fn value(&self, labels: &[LabelValue]) -> f64 {
        self.0.as_ref().map_or(0.0, |m| m.series(labels).value())
    }
}

/// A gauge handle (inert when metrics are off).
#[derive(Debug, Clone)]
pub struct Gauge(Option<Arc<Metric>>);

impl Gauge {
    /// Sets the series of these label values.
    pub fn set(&self, labels: &[LabelValue], value: f64) {
        if let Some(m) = &self.0 {
            m.series(labels).set(value);
        }
    }
    /// Adds 1.
    pub fn increment(&self, labels: &[LabelValue]) {
        self.add(labels, 1.0);
    }
    /// Subtracts 1.
    pub fn decrement(&self, labels: &[LabelValue]) {
        self.add(labels, -1.0);
    }
    /// Adds `by` (may be negative).
    pub fn add(&self, labels: &[LabelValue], by: f64) {
        if let Some(m) = &self.0 {
            m.series(labels).add(by);
        }
    }
    /// The value of a series (0 when metrics are off).
    pub fn value(&self, labels: &[LabelValue]) -> f64 {
        self.0.as_ref().map_or(0.0, |m| m.series(labels).value())
    }
}

/// A histogram handle (inert when metrics are off).
#[derive(Debug, Clone)]
pub struct Histogram(Option<Arc<Metric>>);

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, labels: &[LabelValue], value: f64) {
        if let Some(m) = &self.0 {
            m.series(labels).observe_at(value, store::now_ms());
        }
    }
    /// Starts timing; the elapsed milliseconds are observed when the guard drops.
    pub fn start_timer(&self, labels: &[LabelValue]) -> HistogramTimer {
        HistogramTimer {
            series: self.0.as_ref().map(|m| m.series(labels)),
            start: std::time::Instant::now(),
        }
    }
    /// The series' read (`None` when metrics are off).
    pub fn read(&self, labels: &[LabelValue]) -> Option<SeriesValue> {
        self.0.as_ref().map(|m| m.series(labels).read())
    }
}

/// Observes the elapsed milliseconds into its histogram when dropped.
#[derive(Debug)]
pub struct HistogramTimer {
    series: Option<Arc<Series>>,
    start: std::time::Instant,
}

impl Drop for HistogramTimer {
    fn drop(&mut self) {
        if let Some(s) = &self.series {
            s.observe_at(self.start.elapsed().as_secs_f64() * 1000.0, store::now_ms());
        }
    }
}

/// An info handle (inert when metrics are off).
#[derive(Debug, Clone)]
pub struct Info(Option<Arc<Metric>>);

impl Info {
    /// Sets the value of a series.
    pub fn set(&self, labels: &[LabelValue], value: impl Into<Value>) {
        if let Some(m) = &self.0 {
            m.series(labels).set_info(value.into());
        }
    }
}

/// Sets up a broker's registry: the built-in metrics and the handles hot paths keep.
pub(crate) fn install(metrics: &Metrics, config: &crate::broker::BrokerConfig) {
    let Some(reg) = &metrics.reg else {
        return;
    };
    *lock(&reg.default_labels) = vec![
        (
            "namespace".to_owned(),
            LabelValue::from(config.namespace.as_str()),
        ),
        (
            "nodeID".to_owned(),
            LabelValue::from(config.node_id.as_str()),
        ),
    ];
    let builtin = builtin::register(metrics, config);
    let refresh = builtin.clone();
    metrics.add_collector(move |_| refresh.refresh_active());
    let _ = reg.builtin.set(builtin);
}

/// Adds the collectors of computed gauges, which read the broker through `weak`.
pub(crate) fn install_collectors(
    metrics: &Metrics,
    weak: Weak<crate::broker::BrokerInner>,
    config: &crate::broker::BrokerConfig,
) {
    if let Some(reg) = &metrics.reg {
        collect::install(metrics, weak, config, reg.options.collect_process_metrics);
    }
}

pub(crate) use reporter::spawn as spawn_tasks;
