//! The store: metrics, their label sets (series) and the values behind them.
//!
//! A series is found by its *key*, built from its label values exactly as Moleculer's
//! `hashingLabels` builds it (`"posts"|"posts.list"|` …), so that the `key` field of a snapshot is
//! the one a Moleculer.js node would give. Hot paths do not look series up at all: they keep the
//! `Arc<Series>` they got once.

use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::quantiles::{QuantileSummary, Window};

/// The four metric types of Moleculer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Only grows.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Counts observations into buckets, with their count and sum.
    Histogram,
    /// A value that is not a number (a version, a host name).
    Info,
}

impl MetricType {
    /// Moleculer's name of the type (`counter`, `gauge`, `histogram`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Info => "info",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One label value. JS labels are strings, numbers, booleans or null, and Moleculer keys and
/// prints each kind differently, so the kind is kept.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue {
    /// Not given (`undefined` in JS): left out of the labels object and of the Prometheus
    /// labels, as Moleculer leaves out labels it was not passed.
    Undefined,
    /// No value (`null` in JS).
    Null,
    /// A string.
    Str(Arc<str>),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
}

impl LabelValue {
    /// Appends this value's part of a series key, as Moleculer's `hashingLabels` writes it.
    fn key_part(&self, out: &mut String) {
        use fmt::Write;
        match self {
            LabelValue::Undefined | LabelValue::Null => {}
            LabelValue::Str(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            LabelValue::Num(n) => {
                let _ = write!(out, "{}", Number(*n));
            }
            LabelValue::Bool(b) => {
                let _ = write!(out, "{b}");
            }
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            LabelValue::Undefined | LabelValue::Null => Value::Null,
            LabelValue::Str(s) => Value::String(s.to_string()),
            LabelValue::Num(n) => number_json(*n),
            LabelValue::Bool(b) => Value::Bool(*b),
        }
    }
}

impl fmt::Display for LabelValue {
    /// As JS turns the value into a string (`null` for no value).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelValue::Undefined => f.write_str("undefined"),
            LabelValue::Null => f.write_str("null"),
            LabelValue::Str(s) => f.write_str(s),
            LabelValue::Num(n) => write!(f, "{}", Number(*n)),
            LabelValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl From<&str> for LabelValue {
    fn from(s: &str) -> Self {
        LabelValue::Str(Arc::from(s))
    }
}
impl From<String> for LabelValue {
    fn from(s: String) -> Self {
        LabelValue::Str(Arc::from(s))
    }
}
impl From<Arc<str>> for LabelValue {
    fn from(s: Arc<str>) -> Self {
        LabelValue::Str(s)
    }
}
impl From<&Arc<str>> for LabelValue {
    fn from(s: &Arc<str>) -> Self {
        LabelValue::Str(s.clone())
    }
}
impl<T: Into<LabelValue>> From<Option<T>> for LabelValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(LabelValue::Null, Into::into)
    }
}
impl From<f64> for LabelValue {
    fn from(n: f64) -> Self {
        LabelValue::Num(n)
    }
}
impl From<i64> for LabelValue {
    fn from(n: i64) -> Self {
        LabelValue::Num(n as f64)
    }
}
impl From<u32> for LabelValue {
    fn from(n: u32) -> Self {
        LabelValue::Num(n.into())
    }
}
impl From<bool> for LabelValue {
    fn from(b: bool) -> Self {
        LabelValue::Bool(b)
    }
}

/// Formats a number as JS does for integers and ordinary fractions (`1`, `2.5`, `NaN`).
pub(crate) struct Number(pub(crate) f64);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n.is_nan() {
            f.write_str("NaN")
        } else if n.is_infinite() {
            f.write_str(if n > 0.0 { "+Inf" } else { "-Inf" })
        } else {
            // Rust prints 3.0 as "3" and 0.1 as "0.1", as JS does.
            write!(f, "{n}")
        }
    }
}

/// A number as JSON: an integer when it is one (as JS serializes `3`), else a float.
pub(crate) fn number_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        json!(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Milliseconds since the Unix epoch (Moleculer's `Date.now()`).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A histogram's state. Bucket counts are kept per bucket (one increment per observation) and
/// made cumulative when read.
#[derive(Debug)]
struct Hist {
    count: u64,
    sum: f64,
    last: Option<f64>,
    per_bucket: Box<[u64]>,
    /// The time window quantiles are computed over, for a histogram that has quantiles.
    window: Option<Window>,
}

#[derive(Debug)]
enum Cell {
    /// Counter and gauge values, as `f64` bits.
    Number(AtomicU64),
    Info(Mutex<Value>),
    Histogram(Mutex<Hist>),
}

/// Moleculer's `rate`: requests per minute, smoothed, updated every 5 s by the ticker.
#[derive(Debug, Default)]
struct Rate {
    rate: f64,
    last_value: f64,
    last_tick: Option<std::time::Instant>,
}

/// One label set of a metric and its value.
#[derive(Debug)]
pub struct Series {
    labels: Box<[LabelValue]>,
    key: Box<str>,
    timestamp: AtomicU64,
    cell: Cell,
    rate: Option<Mutex<Rate>>,
    /// The metric's bucket bounds (histograms).
    buckets: Arc<[f64]>,
    /// The metric's quantiles (histograms; empty: none).
    quantiles: Arc<[f64]>,
}

impl Series {
    fn touch(&self, now: u64) {
        self.timestamp.store(now, Ordering::Relaxed);
    }

    /// Adds to a counter or gauge.
    pub(crate) fn add_at(&self, delta: f64, now: u64) {
        if let Cell::Number(bits) = &self.cell {
            let _ = bits.fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                Some((f64::from_bits(old) + delta).to_bits())
            });
            self.touch(now);
        }
    }

    /// Adds to a counter or gauge, stamped now.
    pub(crate) fn add(&self, delta: f64) {
        self.add_at(delta, now_ms());
    }

    /// Sets a counter or gauge; stamps only a change, as Moleculer.
    pub(crate) fn set(&self, value: f64) {
        if let Cell::Number(bits) = &self.cell {
            let old = bits.swap(value.to_bits(), Ordering::AcqRel);
            if f64::from_bits(old) != value {
                self.touch(now_ms());
            }
        }
    }

    /// Sets an info value; stamps only a change.
    pub(crate) fn set_info(&self, value: Value) {
        if let Cell::Info(v) = &self.cell {
            let mut v = lock(v);
            if *v != value {
                *v = value;
                self.touch(now_ms());
            }
        }
    }

    /// Records one observation in a histogram.
    pub(crate) fn observe_at(&self, value: f64, now: u64) {
        if let Cell::Histogram(h) = &self.cell {
            let mut h = lock(h);
            h.count += 1;
            h.sum += value;
            h.last = Some(value);
            if let Some(i) = self.buckets.iter().position(|b| value <= *b) {
                h.per_bucket[i] += 1;
            }
            if let Some(window) = &mut h.window {
                window.add(value, now);
            }
            drop(h);
            self.touch(now);
        }
    }

    /// A counter's or gauge's value (0 for the other types).
    pub fn value(&self) -> f64 {
        match &self.cell {
            Cell::Number(bits) => f64::from_bits(bits.load(Ordering::Acquire)),
            Cell::Histogram(h) => lock(h).count as f64,
            Cell::Info(_) => 0.0,
        }
    }

    /// The label values, in the order of the metric's label names.
    pub fn labels(&self) -> &[LabelValue] {
        &self.labels
    }

    /// Moleculer's key of this label set.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn rate_tick(&self, now: std::time::Instant) -> Option<bool> {
        let rate = self.rate.as_ref()?;
        let value = self.value();
        let mut r = lock(rate);
        let Some(last) = r.last_tick else {
            r.last_tick = Some(now);
            r.last_value = value;
            return Some(false);
        };
        let elapsed = now.duration_since(last).as_secs_f64();
        if elapsed <= 0.0 {
            return Some(false);
        }
        r.last_tick = Some(now);
        let per_minute = (value - r.last_value) / elapsed * 60.0;
        r.last_value = value;
        let mut next = r.rate + (per_minute - r.rate) * 0.5;
        if next.abs() < 0.05 {
            next = 0.0;
        }
        let changed = (next - r.rate).abs() > 0.01;
        r.rate = next;
        Some(changed)
    }

    /// A read of this series for reporters.
    pub fn read(&self) -> SeriesValue {
        match &self.cell {
            Cell::Number(bits) => SeriesValue::Number(f64::from_bits(bits.load(Ordering::Acquire))),
            Cell::Info(v) => SeriesValue::Info(lock(v).clone()),
            Cell::Histogram(h) => {
                let h = lock(h);
                let mut running = 0;
                let cumulative = h
                    .per_bucket
                    .iter()
                    .map(|c| {
                        running += c;
                        running
                    })
                    .collect();
                SeriesValue::Histogram {
                    count: h.count,
                    sum: h.sum,
                    last: h.last,
                    buckets: cumulative,
                }
            }
        }
    }

    /// A histogram's quantiles, min, mean, variance, standard deviation and max over its time
    /// window, when its metric has quantiles.
    pub fn quantiles(&self) -> Option<QuantileSummary> {
        if self.quantiles.is_empty() {
            return None;
        }
        match &self.cell {
            Cell::Histogram(h) => lock(h)
                .window
                .as_ref()
                .map(|w| w.summary(&self.quantiles, now_ms())),
            _ => None,
        }
    }

    /// The current rate (requests per minute), when the metric has one.
    pub fn rate(&self) -> Option<f64> {
        self.rate.as_ref().map(|r| lock(r).rate)
    }

    /// When the value last changed (ms since the epoch).
    pub fn timestamp(&self) -> u64 {
        self.timestamp.load(Ordering::Relaxed)
    }
}

/// What a series holds, read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// A counter's or gauge's value.
    Number(f64),
    /// An info value.
    Info(Value),
    /// A histogram: cumulative bucket counts in the order of the metric's bounds.
    Histogram {
        /// Observations.
        count: u64,
        /// Their sum.
        sum: f64,
        /// The last one.
        last: Option<f64>,
        /// Cumulative counts per bucket bound.
        buckets: Vec<u64>,
    },
}

#[derive(Debug, Default)]
struct SeriesMap {
    order: Vec<Arc<Series>>,
    index: HashMap<Box<str>, usize>,
}

/// A registered metric: its definition and its series.
#[derive(Debug)]
pub struct Metric {
    pub(crate) name: String,
    pub(crate) kind: MetricType,
    pub(crate) description: Option<String>,
    pub(crate) unit: Option<String>,
    pub(crate) label_names: Vec<String>,
    pub(crate) buckets: Arc<[f64]>,
    pub(crate) rate: bool,
    /// Quantiles (histograms), ascending; empty: none.
    pub(crate) quantiles: Arc<[f64]>,
    /// Their time window and its slices.
    max_age_ms: u64,
    age_buckets: usize,
    series: RwLock<SeriesMap>,
}

impl Metric {
    pub(crate) fn new(
        name: String,
        kind: MetricType,
        description: Option<String>,
        unit: Option<String>,
        label_names: Vec<String>,
        buckets: Vec<f64>,
        rate: bool,
    ) -> Metric {
        let mut buckets = buckets;
        buckets.retain(|b| b.is_finite());
        buckets.sort_by(f64::total_cmp);
        buckets.dedup();
        Metric {
            name,
            kind,
            description,
            unit,
            label_names,
            buckets: buckets.into(),
            rate,
            quantiles: Arc::new([]),
            max_age_ms: 60_000,
            age_buckets: 10,
            series: RwLock::new(SeriesMap::default()),
        }
    }

    /// Gives a histogram quantiles over a time window of `max_age_ms` in `age_buckets` slices.
    pub(crate) fn with_quantiles(
        mut self,
        mut quantiles: Vec<f64>,
        max_age_ms: u64,
        age_buckets: usize,
    ) -> Metric {
        if self.kind != MetricType::Histogram {
            return self;
        }
        quantiles.retain(|q| q.is_finite() && (0.0..=1.0).contains(q));
        quantiles.sort_by(f64::total_cmp);
        quantiles.dedup();
        self.quantiles = quantiles.into();
        self.max_age_ms = max_age_ms.max(1);
        self.age_buckets = age_buckets.max(1);
        self
    }

    /// The quantiles of a histogram (empty when it has none).
    pub fn quantiles(&self) -> &[f64] {
        &self.quantiles
    }

    /// The metric's name (`moleculer.request.total`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its type.
    pub fn kind(&self) -> MetricType {
        self.kind
    }
    /// Its description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// Its unit, if any (`request`, `millisecond`, `byte`).
    pub fn unit(&self) -> Option<&str> {
        self.unit.as_deref()
    }
    /// Its label names.
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }
    /// Histogram bucket bounds (empty for other types).
    pub fn buckets(&self) -> &[f64] {
        &self.buckets
    }
    /// Whether a rate is computed.
    pub fn has_rate(&self) -> bool {
        self.rate
    }

    /// The series of these label values (given in label-name order; missing ones are
    /// [`LabelValue::Undefined`]),
    /// created on first use.
    pub fn series(&self, values: &[LabelValue]) -> Arc<Series> {
        let mut key = String::new();
        for i in 0..self.label_names.len() {
            if i > 0 {
                key.push('|');
            }
            if let Some(v) = values.get(i) {
                v.key_part(&mut key);
            }
        }
        if let Some(found) = self.read_series().index.get(key.as_str()) {
            return self.read_series().order[*found].clone();
        }
        let mut map = match self.series.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(found) = map.index.get(key.as_str()) {
            return map.order[*found].clone();
        }
        let labels: Box<[LabelValue]> = (0..self.label_names.len())
            .map(|i| values.get(i).cloned().unwrap_or(LabelValue::Undefined))
            .collect();
        let cell = match self.kind {
            MetricType::Counter | MetricType::Gauge => Cell::Number(AtomicU64::new(0f64.to_bits())),
            MetricType::Info => Cell::Info(Mutex::new(Value::Null)),
            MetricType::Histogram => Cell::Histogram(Mutex::new(Hist {
                count: 0,
                sum: 0.0,
                last: None,
                per_bucket: vec![0; self.buckets.len()].into(),
                window: (!self.quantiles.is_empty())
                    .then(|| Window::new(self.max_age_ms, self.age_buckets)),
            })),
        };
        let series = Arc::new(Series {
            labels,
            key: key.clone().into(),
            timestamp: AtomicU64::new(now_ms()),
            cell,
            rate: self.rate.then(|| Mutex::new(Rate::default())),
            buckets: self.buckets.clone(),
            quantiles: self.quantiles.clone(),
        });
        let at = map.order.len();
        map.index.insert(key.into(), at);
        map.order.push(series.clone());
        series
    }

    fn read_series(&self) -> std::sync::RwLockReadGuard<'_, SeriesMap> {
        match self.series.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Every series, in creation order.
    pub fn all_series(&self) -> Vec<Arc<Series>> {
        self.read_series().order.clone()
    }

    /// Advances every series' rate; true when one changed noticeably.
    pub(crate) fn tick_rates(&self, now: std::time::Instant) -> bool {
        if !self.rate {
            return false;
        }
        let mut changed = false;
        for s in self.read_series().order.iter() {
            changed |= s.rate_tick(now).unwrap_or(false);
        }
        changed
    }

    /// The series' labels as a JSON object (`{"service": "posts", …}`).
    pub fn labels_json(&self, series: &Series) -> Map<String, Value> {
        self.label_names
            .iter()
            .zip(series.labels.iter())
            .filter(|(_, v)| **v != LabelValue::Undefined)
            .map(|(n, v)| (n.clone(), v.to_json()))
            .collect()
    }

    /// Moleculer's `toObject()` of this metric: what `$node.metrics` and `$metrics.snapshot`
    /// carry.
    pub fn to_json(&self) -> Value {
        let values: Vec<Value> = self
            .all_series()
            .iter()
            .map(|s| self.series_json(s))
            .collect();
        let mut obj = Map::new();
        obj.insert("type".into(), json!(self.kind.as_str()));
        obj.insert("name".into(), json!(self.name));
        if let Some(d) = &self.description {
            obj.insert("description".into(), json!(d));
        }
        obj.insert("labelNames".into(), json!(self.label_names));
        if let Some(u) = &self.unit {
            obj.insert("unit".into(), json!(u));
        }
        obj.insert("values".into(), Value::Array(values));
        Value::Object(obj)
    }

    fn series_json(&self, s: &Series) -> Value {
        let mut item = Map::new();
        item.insert("key".into(), json!(s.key()));
        match s.read() {
            SeriesValue::Number(v) => {
                item.insert("value".into(), number_json(v));
                item.insert("labels".into(), Value::Object(self.labels_json(s)));
                item.insert("timestamp".into(), json!(s.timestamp()));
            }
            SeriesValue::Info(v) => {
                item.insert("value".into(), v);
                item.insert("labels".into(), Value::Object(self.labels_json(s)));
                item.insert("timestamp".into(), json!(s.timestamp()));
            }
            SeriesValue::Histogram {
                count,
                sum,
                last,
                buckets,
            } => {
                item.insert("labels".into(), Value::Object(self.labels_json(s)));
                item.insert("count".into(), json!(count));
                item.insert("sum".into(), number_json(sum));
                item.insert("lastValue".into(), last.map_or(Value::Null, number_json));
                item.insert("timestamp".into(), json!(s.timestamp()));
                let b: Map<String, Value> = self
                    .buckets
                    .iter()
                    .zip(buckets)
                    .map(|(bound, c)| (Number(*bound).to_string(), json!(c)))
                    .collect();
                item.insert("buckets".into(), Value::Object(b));
                if let Some(summary) = s.quantiles() {
                    summary.write_json(&mut item);
                }
            }
        }
        if let Some(rate) = s.rate() {
            item.insert("rate".into(), number_json(rate));
        }
        Value::Object(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_moleculers() {
        let m = Metric::new(
            "x".into(),
            MetricType::Counter,
            None,
            None,
            vec!["a".into(), "b".into(), "c".into(), "d".into()],
            vec![],
            false,
        );
        let s = m.series(&["posts".into(), LabelValue::Null, 3u32.into(), true.into()]);
        assert_eq!(s.key(), "\"posts\"||3|true");
        let none = Metric::new(
            "y".into(),
            MetricType::Gauge,
            None,
            None,
            vec![],
            vec![],
            false,
        );
        assert_eq!(none.series(&[]).key(), "");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metric::new(
            "h".into(),
            MetricType::Histogram,
            None,
            None,
            vec![],
            vec![10.0, 1.0, 5.0],
            false,
        );
        let s = m.series(&[]);
        for v in [0.5, 3.0, 7.0, 20.0] {
            s.observe_at(v, 1);
        }
        assert_eq!(
            s.read(),
            SeriesValue::Histogram {
                count: 4,
                sum: 30.5,
                last: Some(20.0),
                buckets: vec![1, 2, 3]
            }
        );
    }
}
