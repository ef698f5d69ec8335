//! What params validation costs a local call: the same echo action with params that have no
//! schema, a schema of types only (checked by serde; the validator only explains failures) and
//! a schema with constraints (checked by the validator before the handler runs).
//!
//! `cargo bench -p broker-core --bench params_validation` times them with criterion;
//! `PARAMS_COST=<variant>:<calls>` instead makes that many calls of one variant and exits, for
//! `valgrind --tool=callgrind` instruction counts (variants: `plain`, `typed`, `constrained`).

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use broker_core::{schemars, service, Broker, Error, JsonSchema};
use criterion::{criterion_group, Criterion, Throughput};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Plain {
    id: u32,
    msg: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Typed {
    id: u32,
    msg: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Constrained {
    #[schemars(range(min = 1, max = 1000))]
    id: u32,
    #[schemars(length(min = 1, max = 64))]
    msg: String,
}

struct Bench;

#[service(name = "bench")]
impl Bench {
    #[action]
    async fn plain(&self, params: Plain) -> Result<u32, Error> {
        Ok(params.id)
    }

    #[action]
    async fn typed(&self, params: Typed) -> Result<u32, Error> {
        Ok(params.id)
    }

    #[action]
    async fn constrained(&self, params: Constrained) -> Result<u32, Error> {
        Ok(params.id)
    }
}

fn setup() -> (tokio::runtime::Runtime, Broker) {
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
    (rt, broker)
}

const VARIANTS: [&str; 3] = ["plain", "typed", "constrained"];

fn params() -> serde_json::Value {
    serde_json::json!({"id": 7, "msg": "hello"})
}

fn params_validation(c: &mut Criterion) {
    let (rt, broker) = setup();
    let params = params();
    let mut group = c.benchmark_group("params_validation");
    group.throughput(Throughput::Elements(1));
    for variant in VARIANTS {
        let action = format!("bench.{variant}");
        group.bench_function(variant, |b| {
            b.to_async(&rt).iter(|| async {
                let out: u32 = broker.call(&action, &params).await.expect("call");
                out
            })
        });
    }
    group.finish();
}

criterion_group!(benches, params_validation);

fn main() {
    if let Ok(spec) = std::env::var("PARAMS_COST") {
        let (variant, calls) = spec.split_once(':').unwrap_or((spec.as_str(), "10000"));
        assert!(VARIANTS.contains(&variant), "unknown variant {variant}");
        let calls: u32 = calls.parse().expect("a number of calls");
        let (rt, broker) = setup();
        let params = params();
        let action = format!("bench.{variant}");
        rt.block_on(async {
            for _ in 0..calls {
                let _: u32 = broker.call(&action, &params).await.expect("call");
            }
        });
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
