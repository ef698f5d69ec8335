//! Call hot path through the public API, no transporter: a local `bench.echo` call, and a call
//! whose action is found among 100 registered actions (10 services of 10 actions).

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

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
    let broker = rt.block_on(async {
        let broker = Broker::builder().node_id("bench-call").build();
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
    });
    let params = json!({"id": 1, "msg": "hello"});
    let mut group = c.benchmark_group("call");
    group.throughput(Throughput::Elements(1));
    for (name, action) in [
        ("local_echo", "bench.echo"),
        ("lookup_among_100", "svc7.a3"),
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
}

criterion_group!(benches, calls);
criterion_main!(benches);
