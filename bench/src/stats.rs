//! Measurement helpers shared by the client and the floor: payloads, percentiles, call loops.

use serde_json::{json, Map, Value};

pub(crate) use crate::payload::make_payload;
use std::future::Future;
use std::time::{Duration, Instant};

/// Reads a number from the environment, or `default`.
pub(crate) fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Reads a string from the environment, or `default`.
pub(crate) fn env_str(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The `q` quantile of sorted samples (nearest rank, as the JS harness), `None` when empty.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Rounds to three decimals.
pub(crate) fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What one timed call loop measured.
#[derive(Debug, Default)]
pub(crate) struct LoopResult {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) elapsed: Duration,
    pub(crate) latencies_ms: Vec<f64>,
}

/// Runs `concurrency` tasks that each await `call()` back to back until `secs` have passed.
/// Elapsed time includes the tail of calls still in flight when the clock ran out.
pub(crate) async fn call_loop<F, Fut>(call: F, concurrency: usize, secs: f64) -> LoopResult
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = LoopResult::default();
            while Instant::now() < end {
                let t0 = Instant::now();
                match call().await {
                    Ok(()) => {
                        r.latencies_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                        r.calls += 1;
                    }
                    Err(e) => {
                        r.errors += 1;
                        r.first_error.get_or_insert(e);
                    }
                }
            }
            r
        }));
    }
    let mut total = LoopResult::default();
    for task in tasks {
        match task.await {
            Ok(r) => {
                total.calls += r.calls;
                total.errors += r.errors;
                if total.first_error.is_none() {
                    total.first_error = r.first_error;
                }
                total.latencies_ms.extend(r.latencies_ms);
            }
            Err(e) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert(format!("worker failed: {e}"));
            }
        }
    }
    total.elapsed = start.elapsed();
    total
}

/// Warms up for `warmup` seconds, measures for `duration`, and returns the JSON result line
/// (field names as the Moleculer.js client's), with `extra` fields merged in after `scenario`.
pub(crate) async fn measure<F, Fut>(
    scenario: &str,
    extra: &Map<String, Value>,
    call: F,
    concurrency: usize,
    payload_bytes: usize,
    duration: f64,
    warmup: f64,
) -> Value
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    if warmup > 0.0 {
        call_loop(call.clone(), concurrency, warmup).await;
    }
    let mut r = call_loop(call, concurrency, duration).await;
    r.latencies_ms.sort_by(f64::total_cmp);
    result_line(scenario, extra, &r, concurrency, payload_bytes)
}

/// Formats one call scenario's result.
pub(crate) fn result_line(
    scenario: &str,
    extra: &Map<String, Value>,
    r: &LoopResult,
    concurrency: usize,
    payload_bytes: usize,
) -> Value {
    let lat = &r.latencies_ms;
    let secs = r.elapsed.as_secs_f64();
    let mean = if lat.is_empty() {
        None
    } else {
        Some(lat.iter().sum::<f64>() / lat.len() as f64)
    };
    let mut out = Map::new();
    out.insert("scenario".into(), json!(scenario));
    out.extend(extra.clone());
    let fields = json!({
        "concurrency": concurrency,
        "payload_bytes": payload_bytes,
        "duration_s": r3(secs),
        "calls": r.calls,
        "errors": r.errors,
        "first_error": r.first_error,
        "rps": if secs > 0.0 { (r.calls as f64 / secs).round() as u64 } else { 0 },
        "p50_ms": percentile(lat, 0.5).map(r3),
        "p90_ms": percentile(lat, 0.9).map(r3),
        "p99_ms": percentile(lat, 0.99).map(r3),
        "max_ms": lat.last().copied().map(r3),
        "mean_ms": mean.map(r3),
    });
    if let Value::Object(fields) = fields {
        out.extend(fields);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_sizes_match_the_js_harness() {
        assert_eq!(make_payload(0).to_string().len(), 22);
        assert_eq!(make_payload(1024).to_string().len(), 1085);
        assert_eq!(make_payload(64 * 1024).to_string().len(), 65545);
        assert!(make_payload(1024).to_string().contains(r#""value":1.5,"#));
        assert!(make_payload(1024).to_string().contains(r#""value":3,"#));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 0.5), Some(50.0));
        assert_eq!(percentile(&xs, 0.99), Some(99.0));
        assert_eq!(percentile(&xs, 1.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 0.9), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
