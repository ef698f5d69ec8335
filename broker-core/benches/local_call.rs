//! A local call through the broker. `typed_echo_c1`: `Broker::call` with borrowed params, so
//! they are serialized into the context and the handler deserializes them; its typed result
//! moves back to the caller. `typed_echo_owned_c1`: `Broker::call_owned`, the params value
//! moves to the handler and its result back, no JSON at all.
//! Compare with Moleculer.js `local_c1` (`../shared/bench/run-js.sh`).

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use broker_core::{service, Broker, Error};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Echo {
    id: u32,
    msg: String,
}

struct Bench;

#[service(name = "bench")]
impl Bench {
    #[action]
    async fn echo(&self, params: Echo) -> Result<Echo, Error> {
        Ok(params)
    }
}

fn local_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let broker = rt.block_on(async {
        let broker = Broker::builder().node_id("bench").build();
        broker.add_service(Bench).await.expect("add service");
        broker.start().await.expect("start");
        broker
    });
    let params = Echo {
        id: 1,
        msg: "hello".to_owned(),
    };
    eprintln!(
        "call future: {} bytes",
        std::mem::size_of_val(&broker.call::<Echo>("bench.echo", &params))
    );
    let mut group = c.benchmark_group("local_call");
    group.throughput(Throughput::Elements(1));
    group.bench_function("typed_echo_c1", |b| {
        b.to_async(&rt).iter(|| async {
            let out: Echo = broker.call("bench.echo", &params).await.expect("call");
            out
        })
    });
    group.bench_function("typed_echo_owned_c1", |b| {
        b.to_async(&rt).iter(|| async {
            let params = Echo {
                id: 1,
                msg: "hello".to_owned(),
            };
            let out: Echo = broker.call_owned("bench.echo", params).await.expect("call");
            out
        })
    });
    group.finish();
}

criterion_group!(benches, local_call);
criterion_main!(benches);
