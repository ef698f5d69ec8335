//! Local call cost with metrics and tracing off and on, in one process:
//! `cargo run --release -p broker-bench --example observe_overhead [calls-per-round] [rounds]
//! [variants]`, variants a comma list of `off`, `metrics`, `tracing`, `both`, `kept` (default
//! all but `kept`). Tracing is as `scripts/bench-tracing.sh` sets it: every trace sampled,
//! Moleculer's `Event` exporter with its defaults (at most 10 000 spans held per 5 s batch: at
//! a million calls a second nearly every span is dropped by that bound, and costs only its
//! measurement). `kept` is tracing with an exporter that keeps every span (no bound, no send):
//! the cost of a span recorded, queued and sent when the broker stops. `hook` is tracing with
//! no exporter: the cost of the per-call hook alone (a sampled span is measured, then
//! dropped unbuilt). Rounds alternate between the variants, so that machine noise hits all alike;
//! prints each variant's median ns per call and its ratio to `off`.
//!
//! For instruction counts, run one variant under `valgrind --tool=callgrind` with two call
//! counts and one round: (instructions(N2) − instructions(N1)) / (N2 − N1) is the cost of a
//! call, start-up subtracted.

use broker_core::metrics::MetricsOptions;
use broker_core::trace::{EventExporter, EventExporterOptions, Sampling, TracingOptions};
use broker_core::{ActionDef, Broker, ServiceSchema};
use serde_json::{json, Value};
use std::time::Instant;

async fn serving(variant: &str) -> Broker {
    let mut builder = Broker::builder().node_id(format!("observe-{variant}"));
    if variant == "metrics" || variant == "both" {
        builder = builder.metrics(MetricsOptions::default());
    }
    if variant == "tracing" || variant == "both" {
        builder = builder.tracing(
            TracingOptions::new()
                .sampling(Sampling::rate(1.0))
                .exporter(EventExporter::default()),
        );
    }
    if variant == "hook" {
        builder = builder.tracing(TracingOptions::new().sampling(Sampling::rate(1.0)));
    }
    if variant == "kept" {
        builder = builder.tracing(
            TracingOptions::new()
                .sampling(Sampling::rate(1.0))
                .exporter(EventExporter::new(EventExporterOptions {
                    interval: std::time::Duration::from_secs(3600),
                    max_queue: usize::MAX,
                    ..EventExporterOptions::default()
                })),
        );
    }
    let broker = builder.build();
    let echo = ActionDef::new("echo", |ctx| async move { Ok(ctx.params().clone()) });
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

async fn round(broker: &Broker, calls: u64, params: &Value) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        if let Err(e) = broker.call::<Value>("bench.echo", params).await {
            panic!("call: {e}");
        }
    }
    start.elapsed().as_nanos() as f64 / calls.max(1) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let variants: Vec<String> = args
        .get(3)
        .map_or("off,metrics,tracing,both", String::as_str)
        .split(',')
        .map(str::to_owned)
        .collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    rt.block_on(async {
        let mut brokers = Vec::new();
        for v in &variants {
            brokers.push(serving(v).await);
        }
        let params = json!({"id": 1, "msg": "hello"});
        let mut times = vec![Vec::new(); variants.len()];
        for r in 0..rounds {
            // Rotate the order each round.
            for k in 0..variants.len() {
                let i = (k + r) % variants.len();
                times[i].push(round(&brokers[i], calls, &params).await);
            }
        }
        let medians: Vec<f64> = times.into_iter().map(median).collect();
        let off = variants.iter().position(|v| v == "off").map(|i| medians[i]);
        for (v, m) in variants.iter().zip(&medians) {
            match off {
                Some(o) => println!("{v}: {m:.0} ns/call ({:.3}x off)", m / o),
                None => println!("{v}: {m:.0} ns/call"),
            }
        }
        for broker in &brokers {
            let _ = broker.stop().await;
        }
    });
}
