//! Cached calls, the Rust side of `scripts/bench-cache.sh` (the JS side is `bench/js/cache.js`,
//! same scenarios, same JSON lines): a local action with `cache: true` called with the same
//! params, so every call after the first is a hit.
//!
//! Scenarios (`SCENARIOS`, comma list): `memory_c1`, `memory_c64` (Memory cacher), `redis_c1`,
//! `redis_c64` (Redis cacher at `REDIS_URL`: each hit is a GET round trip to Redis), and
//! `plain_c1`, `plain_c64` (no cacher: the uncached local call, for reference). One
//! single-threaded runtime, as Node.js runs; `DURATION` and `WARMUP` in seconds. Each line has
//! the call rate and the process's CPU time per call (utime + stime from /proc), which holds
//! up on a busy machine where the rate swings.
//!
//! `cargo run --release -p broker-bench --example cache`

use broker_core::cache::{CacheSpec, Cacher, Memory};
use broker_core::payload::Payload;
use broker_core::{ActionDef, Broker, ServiceSchema};
use broker_redis::RedisCacher;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn secs(name: &str, default: f64) -> Duration {
    Duration::from_secs_f64(env(name, "").parse().unwrap_or(default))
}

/// This process's CPU time (user + system) in microseconds.
fn cpu_us() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // The kernel's USER_HZ is 100 on Linux.
    ticks * 10_000
}

async fn broker(cacher: Option<Arc<dyn Cacher>>, namespace: &str) -> Broker {
    let builder = Broker::builder()
        .node_id(format!("cache-bench-{}", std::process::id()))
        .namespace(namespace);
    let broker = match cacher {
        Some(cacher) => builder.shared_cacher(cacher),
        None => builder,
    }
    .build();
    let echo =
        ActionDef::from_payload("echo", |ctx| async move { Ok(ctx.params_raw().to_owned()) })
            .cache(CacheSpec::new());
    if let Err(e) = broker
        .add_service(ServiceSchema::new("bench").action(echo))
        .await
    {
        panic!("add service: {e}");
    }
    if let Err(e) = broker.start().await {
        panic!("start: {e}");
    }
    broker
}

/// Calls `bench.echo` from `concurrency` tasks for `duration`; (calls, errors).
async fn run(broker: &Broker, concurrency: usize, duration: Duration) -> (u64, u64) {
    let calls = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + duration;
    let params = json!({"id": 1, "msg": "hello"});
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (broker, calls, errors, params) = (
                broker.clone(),
                calls.clone(),
                errors.clone(),
                params.clone(),
            );
            tokio::spawn(async move {
                while Instant::now() < end {
                    match broker.call::<Payload>("bench.echo", &params).await {
                        Ok(_) => calls.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    (
        calls.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
    )
}

async fn scenario(name: &str, duration: Duration, warmup: Duration) -> Option<Value> {
    let (store, conc) = name.split_once("_c")?;
    let concurrency: usize = conc.parse().ok()?;
    let namespace = format!("cache-bench-{}", std::process::id());
    let broker = match store {
        "memory" => broker(Some(Arc::new(Memory::new())), &namespace).await,
        "plain" => broker(None, &namespace).await,
        "redis" => {
            let url = env("REDIS_URL", "redis://127.0.0.1:6379");
            match RedisCacher::new(&url) {
                Ok(cacher) => broker(Some(Arc::new(cacher)), &namespace).await,
                Err(e) => panic!("Redis cacher: {e}"),
            }
        }
        _ => return None,
    };
    run(&broker, concurrency, warmup).await;
    let (cpu0, t0) = (cpu_us(), Instant::now());
    let (calls, errors) = run(&broker, concurrency, duration).await;
    let (cpu, elapsed) = (cpu_us() - cpu0, t0.elapsed().as_secs_f64());
    if let Some(cacher) = broker.cacher() {
        let _ = cacher.clean("bench.**").await;
    }
    let _ = broker.stop().await;
    Some(json!({
        "impl": "rust",
        "scenario": name,
        "calls": calls,
        "errors": errors,
        "seconds": elapsed,
        "rate": (calls as f64 / elapsed).round(),
        "cpu_us_per_call": if calls > 0 { cpu as f64 / calls as f64 } else { 0.0 },
    }))
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    let duration = secs("DURATION", 5.0);
    let warmup = secs("WARMUP", 1.0);
    let scenarios = env("SCENARIOS", "memory_c1,memory_c64,redis_c1,redis_c64");
    runtime.block_on(async {
        for name in scenarios
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match scenario(name, duration, warmup).await {
                Some(line) => println!("{line}"),
                None => eprintln!("unknown scenario {name}"),
            }
        }
    });
}
