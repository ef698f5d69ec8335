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

/// CPU time (user + system) a process has used so far, in µs, from `/proc/<pid>/stat`
/// (utime and stime, fields 14 and 15, in clock ticks of 1/100 s, Linux's USER_HZ). `None`
/// when the process is gone or this is not Linux.
pub(crate) fn process_cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its `)` are plain numbers.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * 10_000)
}

/// The server's pid from `SERVER_PID` (set by scripts/bench.sh), to read its CPU time.
pub(crate) fn server_pid() -> Option<u32> {
    std::env::var("SERVER_PID").ok()?.parse().ok()
}

/// CPU time of the server (`SERVER_PID`) and of this process, read at the start of a measured
/// window; [`CpuWindow::per_op`] turns them into µs per operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuWindow {
    server: Option<(u32, u64)>,
    client: Option<u64>,
}

impl CpuWindow {
    /// Reads both clocks now (the server's only when there is one: not for local calls).
    pub(crate) fn start(server: Option<u32>) -> CpuWindow {
        CpuWindow {
            server: server.and_then(|pid| Some((pid, process_cpu_us(pid)?))),
            client: process_cpu_us(std::process::id()),
        }
    }

    /// `server_cpu_us_per_op` and `client_cpu_us_per_op`: the CPU each process used since
    /// [`CpuWindow::start`], divided by `ops` (null when unknown or no op finished).
    pub(crate) fn per_op(&self, ops: u64) -> Map<String, Value> {
        let per = |before: Option<u64>, now: Option<u64>| match (before, now) {
            (Some(b), Some(n)) if ops > 0 => json!(r3(n.saturating_sub(b) as f64 / ops as f64)),
            _ => Value::Null,
        };
        let server = self
            .server
            .map(|(pid, before)| per(Some(before), process_cpu_us(pid)))
            .unwrap_or(Value::Null);
        let client = per(self.client, process_cpu_us(std::process::id()));
        let mut out = Map::new();
        out.insert("server_cpu_us_per_op".into(), server);
        out.insert("client_cpu_us_per_op".into(), client);
        out
    }
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
/// (field names as the Moleculer.js client's), with `extra` fields merged in after `scenario`,
/// and the CPU per call of `server` (a pid) and of this process over the measured window.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn measure<F, Fut>(
    scenario: &str,
    extra: &Map<String, Value>,
    call: F,
    concurrency: usize,
    payload_bytes: usize,
    duration: f64,
    warmup: f64,
    server: Option<u32>,
) -> Value
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    if warmup > 0.0 {
        call_loop(call.clone(), concurrency, warmup).await;
    }
    let cpu = CpuWindow::start(server);
    let mut r = call_loop(call, concurrency, duration).await;
    let cpu = cpu.per_op(r.calls);
    r.latencies_ms.sort_by(f64::total_cmp);
    let mut line = result_line(scenario, extra, &r, concurrency, payload_bytes);
    if let Value::Object(fields) = &mut line {
        fields.extend(cpu);
    }
    line
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
    fn this_process_has_a_cpu_clock() {
        let before = process_cpu_us(std::process::id()).expect("/proc/self/stat");
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        let after = process_cpu_us(std::process::id()).expect("/proc/self/stat");
        assert!(after >= before, "{before} -> {after}");
        assert_eq!(process_cpu_us(u32::MAX), None);
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
