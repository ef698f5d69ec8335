//! `#[action(cache ...)]` and `#[service(cache ...)]` on a local broker with a memory cacher:
//! which actions are cached, by which keys, with which TTL and lock, and what INFO publishes.

mod common;

use broker_core::cache::Memory;
use broker_core::{service, Broker, CallOptions, Context, Error};
use common::{bounded, call};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Default)]
struct Catalog {
    runs: AtomicUsize,
}

impl Catalog {
    fn run(&self) -> usize {
        self.runs.fetch_add(1, Ordering::SeqCst) + 1
    }
}

#[service(name = "catalog", cache(ttl = "1h"))]
impl Catalog {
    /// Cached by `id` and the `tenant` meta value, for 200 ms.
    #[action(cache(keys = ["id", "#tenant"], ttl = "200ms"))]
    async fn item(&self, params: Value) -> Result<Value, Error> {
        Ok(json!({"id": params["id"], "run": self.run()}))
    }

    /// The service's cache: all params, one hour.
    #[action]
    async fn search(&self, params: Value) -> Result<Value, Error> {
        Ok(json!({"q": params["q"], "run": self.run()}))
    }

    /// Opted out.
    #[action(cache = false)]
    async fn live(&self) -> Result<usize, Error> {
        Ok(self.run())
    }

    /// Locked misses.
    #[action(cache(lock = true, lock_ttl = "2s"))]
    async fn report(&self, ctx: Context) -> Result<Value, Error> {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(json!({"run": self.run(), "cached": ctx.cached_result()}))
    }
}

struct Bare;

#[service(name = "bare")]
impl Bare {
    /// `cache` alone: all params, the cacher's TTL.
    #[action(cache)]
    async fn echo(&self, params: Value) -> Result<Value, Error> {
        Ok(params)
    }
}

async fn broker() -> Broker {
    let broker = Broker::builder().cacher(Memory::new()).build();
    broker
        .add_service(Catalog::default())
        .await
        .expect("service");
    broker.add_service(Bare).await.expect("service");
    broker.start().await.expect("start");
    broker
}

#[tokio::test]
async fn the_attributes_choose_what_is_cached() {
    let broker = broker().await;
    let meta = CallOptions::new().meta(json!({"tenant": "a"}));
    let item = |params: Value| {
        let (broker, meta) = (broker.clone(), meta.clone());
        async move {
            let v: Value = bounded(broker.call_with("catalog.item", params, meta))
                .await
                .expect("item");
            v["run"].as_u64().unwrap_or_default()
        }
    };
    assert_eq!(item(json!({"id": 1, "noise": 1})).await, 1);
    assert_eq!(
        item(json!({"id": 1, "noise": 2})).await,
        1,
        "keyed by id only"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(item(json!({"id": 1})).await, 2, "its 200 ms TTL passed");

    let search = |q: &'static str| {
        let broker = broker.clone();
        async move {
            let v: Value = call(&broker, "catalog.search", json!({"q": q}))
                .await
                .expect("search");
            v["run"].as_u64().unwrap_or_default()
        }
    };
    assert_eq!(search("x").await, 3);
    assert_eq!(search("x").await, 3, "the service-wide cache");
    assert_eq!(search("y").await, 4);

    let a: usize = call(&broker, "catalog.live", json!({}))
        .await
        .expect("live");
    let b: usize = call(&broker, "catalog.live", json!({}))
        .await
        .expect("live");
    assert_eq!(b, a + 1, "cache = false opts out");

    let calls = (0..10).map(|_| {
        let broker = broker.clone();
        tokio::spawn(async move { call::<Value>(&broker, "catalog.report", json!({})).await })
    });
    let mut runs = Vec::new();
    for c in calls {
        let v = bounded(c).await.expect("join").expect("report");
        runs.push(v["run"].clone());
    }
    assert!(
        runs.iter().all(|r| *r == runs[0]),
        "one run for ten locked misses: {runs:?}"
    );
    broker.stop().await.expect("stop");
}

#[tokio::test]
async fn info_publishes_each_actions_cache() {
    let broker = broker().await;
    let services: Value = call(&broker, "$node.services", json!({"withActions": true}))
        .await
        .expect("services");
    let catalog = services
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "catalog"))
        .expect("catalog listed");
    let actions = &catalog["actions"];
    assert_eq!(
        actions["catalog.item"]["cache"],
        json!({"keys": ["id", "#tenant"], "ttl": 0.2})
    );
    assert_eq!(actions["catalog.search"]["cache"], json!({"ttl": 3600}));
    assert!(actions["catalog.live"].get("cache").is_none());
    let bare = services
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "bare"))
        .expect("bare listed");
    assert_eq!(bare["actions"]["bare.echo"]["cache"], json!(true));
    assert_eq!(
        actions["catalog.report"]["cache"],
        json!({"ttl": 3600, "lock": {"enabled": true, "ttl": 2000}})
    );
    broker.stop().await.expect("stop");
}
