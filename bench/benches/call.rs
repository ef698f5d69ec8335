//! Call hot path through the public API, no transporter: a local `bench.echo` call, and a call
//! whose action is found among 100 registered actions (10 services of 10 actions), and the
//! local call again with metrics on.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use broker_core::metrics::MetricsOptions;
use broker_core::{ActionDef, Broker, ServiceSchema};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};

fn echo() -> ActionDef {
    ActionDef::new("echo", |ctx| async move { Ok(ctx.params().clone()) })
}

fn calls(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    let start = |metrics: MetricsOptions| {
        rt.block_on(async {
            let broker = Broker::builder()
                .node_id("bench-call")
                .metrics(metrics)
                .build();
            let mut services = vec![ServiceSchema::new("bench").action(echo())];
            for s in 0..10 {
                let mut svc = ServiceSchema::new(format!("svc{s}"));
                for a in 0..10 {
                    svc = svc.action(ActionDef::new(format!("a{a}"), |ctx| async move {
                        Ok(ctx.params().clone())
                    }));
                }
                services.push(svc);
            }
            for svc in services {
                if let Err(e) = broker.add_service(svc).await {
                    panic!("add service: {e}");
                }
            }
            if let Err(e) = broker.start().await {
                panic!("start: {e}");
            }
            broker
        })
    };
    let broker = start(MetricsOptions::disabled());
    // The same broker with Moleculer's metrics on: their cost on the local call path.
    let metered = start(MetricsOptions::default());
    let params = json!({"id": 1, "msg": "hello"});
    let mut group = c.benchmark_group("call");
    group.throughput(Throughput::Elements(1));
    for (name, action, broker) in [
        ("local_echo", "bench.echo", &broker),
        ("lookup_among_100", "svc7.a3", &broker),
        ("local_echo_metrics_on", "bench.echo", &metered),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                match broker.call::<Value>(action, &params).await {
                    Ok(v) => v,
                    Err(e) => panic!("call {action}: {e}"),
                }
            })
        });
    }
    group.finish();
    let _ = rt.block_on(broker.stop());
    let _ = rt.block_on(metered.stop());
}

criterion_group!(benches, calls);
criterion_main!(benches);
