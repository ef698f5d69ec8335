// `bulkhead(...)` on actions and events, and `strategy`/`shard_key` on actions.
use broker_core::middleware::BulkheadOptions;
use broker_core::{service, Error, Service};
use serde_json::json;
use std::sync::Arc;

struct Tuned;

#[service(name = "tuned")]
impl Tuned {
    #[action(
        bulkhead(concurrency = 2, max_queue_size = 10),
        strategy = "Shard",
        shard_key = "user.id"
    )]
    async fn both(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(bulkhead(max_queue_size = 0))]
    async fn no_queue(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(bulkhead(concurrency = 3,))]
    async fn three(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(bulkhead())]
    async fn defaults(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(strategy = "RoundRobin")]
    async fn round_robin(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(strategy = "Random")]
    async fn random(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(strategy = "CpuUsage")]
    async fn cpu(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(strategy = "Latency")]
    async fn latency(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(shard_key = "#tenant", strategy = "Shard")]
    async fn by_tenant(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(strategy = "Shard")]
    async fn keyless(&self) -> Result<(), Error> {
        Ok(())
    }

    #[event(name = "tuned.happened", bulkhead(concurrency = 1, max_queue_size = 5))]
    async fn happened(&self) {}

    #[event(name = "tuned.other")]
    async fn other(&self) {}
}

fn main() {
    let schema = Arc::new(Tuned).schema();
    let bulkhead = |concurrency, max_queue_size| {
        Some(BulkheadOptions {
            concurrency,
            max_queue_size,
        })
    };
    let d = BulkheadOptions::default();
    let expect = [
        ("both", bulkhead(2, 10), Some("Shard")),
        ("no_queue", bulkhead(d.concurrency, 0), None),
        ("three", bulkhead(3, d.max_queue_size), None),
        ("defaults", Some(d), None),
        ("round_robin", None, Some("RoundRobin")),
        ("random", None, Some("Random")),
        ("cpu", None, Some("CpuUsage")),
        ("latency", None, Some("Latency")),
        ("by_tenant", None, Some("Shard")),
        ("keyless", None, Some("Shard")),
    ];
    assert_eq!(schema.actions.len(), expect.len());
    for (action, (name, bulkhead, strategy)) in schema.actions.iter().zip(expect) {
        assert_eq!(action.name, name);
        assert_eq!(action.bulkhead, bulkhead, "{name}");
        assert_eq!(action.strategy.as_ref().map(|s| s.name()), strategy, "{name}");
    }
    let shard = |i: usize| schema.actions[i].strategy.as_ref().map(|s| s.options_json());
    assert_eq!(shard(0), Some(json!({ "shardKey": "user.id", "vnodes": 10 })));
    assert_eq!(shard(8), Some(json!({ "shardKey": "#tenant", "vnodes": 10 })));
    assert_eq!(shard(9), Some(json!({ "shardKey": "", "vnodes": 10 })));
    assert_eq!(schema.events[0].bulkhead, bulkhead(1, 5));
    assert_eq!(schema.events[1].bulkhead, None);
}
