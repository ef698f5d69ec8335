//! `bench`: one call after another for a count or a time, then throughput and latency
//! percentiles.

use super::send::call_options;
use crate::error::CommandError;
use crate::output::millis;
use crate::parse::{BenchLimit, BenchRequest, MAX_BENCH_TIME};
use crate::render::{Style, Tone};
use broker_core::Broker;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

/// What a benchmark measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// The action called.
    pub action: String,
    /// Calls made, successful or not.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// The first failure's message, if any call failed.
    pub first_error: Option<String>,
    /// Wall time of the whole run.
    pub duration: Duration,
    /// Latencies of the calls (all of them, or a uniform sample of [`MAX_SAMPLES`] on long
    /// runs), sorted ascending.
    latencies: Vec<Duration>,
    total: Duration,
    min: Duration,
    max: Duration,
}

/// The most latencies kept for percentiles; beyond it a uniform sample is kept.
pub const MAX_SAMPLES: usize = 1_000_000;

/// Keeps a uniform sample of latencies (reservoir sampling with a xorshift generator) and the
/// exact total, minimum and maximum.
struct Samples {
    kept: Vec<Duration>,
    seen: u64,
    total: Duration,
    min: Duration,
    max: Duration,
    rng: u64,
}

impl Samples {
    fn new() -> Samples {
        Samples {
            kept: Vec::new(),
            seen: 0,
            total: Duration::ZERO,
            min: Duration::MAX,
            max: Duration::ZERO,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn add(&mut self, d: Duration) {
        self.seen += 1;
        self.total += d;
        self.min = self.min.min(d);
        self.max = self.max.max(d);
        if self.kept.len() < MAX_SAMPLES {
            self.kept.push(d);
            return;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let slot = self.rng % self.seen;
        if let Some(kept) = usize::try_from(slot)
            .ok()
            .and_then(|i| self.kept.get_mut(i))
        {
            *kept = d;
        }
    }
}

impl BenchReport {
    /// Calls per second over the run.
    pub fn calls_per_second(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.calls as f64 / secs
        } else {
            0.0
        }
    }

    /// The latency below which `p` percent of the calls finished (nearest rank).
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// The mean latency.
    pub fn average(&self) -> Duration {
        if self.calls == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.total.as_secs_f64() / self.calls as f64)
    }

    /// The fastest call.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The slowest call.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The report as JSON (times in milliseconds).
    pub fn to_json(&self) -> Value {
        let ms = |d: Duration| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        json!({
            "action": self.action,
            "calls": self.calls,
            "errors": self.errors,
            "firstError": self.first_error,
            "durationMs": ms(self.duration),
            "callsPerSecond": self.calls_per_second().round(),
            "latencyMs": {
                "avg": ms(self.average()),
                "min": ms(self.min()),
                "max": ms(self.max()),
                "p50": ms(self.percentile(50.0)),
                "p90": ms(self.percentile(90.0)),
                "p95": ms(self.percentile(95.0)),
                "p99": ms(self.percentile(99.0)),
            },
        })
    }

    /// The report as text.
    pub fn render(&self, style: Style) -> String {
        let errors = if self.errors == 0 {
            style.paint(Tone::Good, "0 errors")
        } else {
            style.paint(Tone::Bad, &format!("{} errors", self.errors))
        };
        let mut lines = vec![
            format!(
                ">> Benchmark '{}': {} calls, {errors} in {}",
                style.paint(Tone::Accent, &self.action),
                self.calls,
                millis(self.duration)
            ),
            format!(
                "   Throughput:  {} calls/s",
                style.paint(Tone::Number, &format!("{:.0}", self.calls_per_second()))
            ),
            format!(
                "   Latency:     avg {}   min {}   max {}",
                millis(self.average()),
                millis(self.min()),
                millis(self.max())
            ),
            format!(
                "   Percentiles: p50 {}   p90 {}   p95 {}   p99 {}",
                millis(self.percentile(50.0)),
                millis(self.percentile(90.0)),
                millis(self.percentile(95.0)),
                millis(self.percentile(99.0))
            ),
        ];
        if let Some(err) = &self.first_error {
            lines.push(style.paint(Tone::Bad, &format!("   First error: {err}")));
        }
        lines.join("\n")
    }
}

/// Runs the benchmark. The first call must succeed (a typo fails at once instead of counting
/// errors for seconds); later failures are counted. A run never exceeds [`MAX_BENCH_TIME`].
pub(crate) async fn bench(
    broker: &Broker,
    request: BenchRequest,
) -> Result<BenchReport, CommandError> {
    let call = &request.call;
    let options = call_options(broker, call);
    let started = Instant::now();
    let deadline = started
        + match request.limit {
            BenchLimit::Time(t) => t.min(MAX_BENCH_TIME),
            BenchLimit::Count(_) => MAX_BENCH_TIME,
        };
    let max_calls = match request.limit {
        BenchLimit::Count(n) => n,
        BenchLimit::Time(_) => u64::MAX,
    };
    let mut samples = Samples::new();
    let mut errors = 0;
    let mut first_error = None;
    let mut calls = 0u64;
    while calls < max_calls && (calls == 0 || Instant::now() < deadline) {
        let t0 = Instant::now();
        let result = broker
            .call_with::<Value>(&call.action, &call.params, options.clone())
            .await;
        samples.add(t0.elapsed());
        calls += 1;
        if let Err(err) = result {
            if calls == 1 {
                return Err(err.into());
            }
            errors += 1;
            first_error.get_or_insert_with(|| err.to_string());
        }
        // Local handlers may complete without yielding; let the runtime breathe.
        if calls % 256 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let duration = started.elapsed();
    samples.kept.sort_unstable();
    Ok(BenchReport {
        action: call.action.clone(),
        calls,
        errors,
        first_error,
        duration,
        latencies: samples.kept,
        total: samples.total,
        min: samples.min,
        max: samples.max,
    })
}
