//! One Redis cache shared by Moleculer.js and Rust nodes: a JS node fills an entry that the
//! Rust node then reads (its handler never runs), and the other way, on 0.15 and 0.14, with the
//! stored value in the JSON form Moleculer's serializer writes. Then the Redis cacher's lock
//! across two brokers (50 concurrent misses, one run), and a Redis that cannot be reached
//! (calls still answered by the handler).

#[macro_use]
mod interop;

use broker_core::cache::{CacheSpec, Cacher, CacherOptions};
use broker_core::{ActionDef, Broker, CallOptions, Context, ServiceSchema};
use broker_redis::RedisCacher;
use interop::peer::JsPeer;
use interop::{redis_url, unique, Cluster, JsVersion, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

both_versions!(js_and_rust_share_one_redis_cache);

/// The Rust twin of the JS peer's `cachedemo` service (same actions, same cache options).
fn cachedemo(runs: Arc<AtomicUsize>) -> ServiceSchema {
    let get_runs = runs.clone();
    ServiceSchema::new("cachedemo")
        .action(
            ActionDef::new("get", move |ctx: Context| {
                let n = get_runs.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Ok(json!({"by": "rust", "id": ctx.params()["id"], "n": n})) }
            })
            .cache(CacheSpec::new().keys(["id", "#tenant"])),
        )
        .action(
            ActionDef::new("all", move |ctx: Context| {
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Ok(json!({"by": "rust", "params": ctx.params().clone(), "n": n})) }
            })
            .cache(CacheSpec::new()),
        )
}

async fn js_and_rust_share_one_redis_cache(v: JsVersion) {
    let cluster = Cluster::new(v, "cache");
    let js_id = cluster.node_id("js-cache");
    let mut config = cluster.peer_config(&js_id, &["cachedemo"], json!([]));
    config["cacher"] = json!({"type": "Redis", "options": {"redis": cluster.url, "ttl": 60}});
    let js = JsPeer::start(config).await;

    let runs = Arc::new(AtomicUsize::new(0));
    let cacher = RedisCacher::with_options(
        &cluster.url,
        CacherOptions::new().ttl(Duration::from_secs(60)),
    )
    .expect("cacher");
    let rust = cluster
        .rust_node(&cluster.node_id("rust-cache"))
        .cacher(cacher)
        .build();
    rust.add_service(cachedemo(runs.clone()))
        .await
        .expect("service");
    rust.start().await.expect("start");

    // JS fills, Rust reads.
    let tenant = json!({"meta": {"tenant": "t1"}});
    let filled = js
        .call_ok("cachedemo.get", json!({"id": 1}), tenant.clone())
        .await
        .result;
    assert_eq!(filled["by"], "js");
    let read: Value = rust
        .call_with(
            "cachedemo.get",
            json!({"id": 1}),
            CallOptions::new().meta(json!({"tenant": "t1"})),
        )
        .await
        .expect("rust call");
    assert_eq!(
        read, filled,
        "the Rust node answers with the JS node's entry"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the Rust handler never ran");

    // What Redis holds is the JSON text Moleculer's serializer wrote.
    let probe = RedisCacher::new(&cluster.url).expect("probe");
    probe.init(&cluster.namespace);
    assert_eq!(probe.prefix(), format!("MOL-{}-", cluster.namespace));
    let key = match v {
        JsVersion::V015 => r#"cachedemo.get:1|"t1""#,
        JsVersion::V014 => "cachedemo.get:1|t1",
    };
    let stored = probe
        .get(key)
        .await
        .expect("get")
        .expect("JS entry present");
    assert_eq!(stored.get(), serde_json::to_string(&filled).expect("json"));

    // Rust fills, JS reads.
    let params = json!({"q": "x y", "list": [1, 2.5, null], "nested": {"b": true}});
    let ours: Value = rust
        .call("cachedemo.all", params.clone())
        .await
        .expect("rust call");
    assert_eq!(ours["by"], "rust");
    let theirs = js
        .call_ok("cachedemo.all", params.clone(), json!({}))
        .await
        .result;
    assert_eq!(
        theirs, ours,
        "the JS node answers with the Rust node's entry"
    );
    let js_runs = js
        .call_ok("cachedemo.runs", json!({}), json!({}))
        .await
        .result;
    assert_eq!(
        js_runs,
        json!(1),
        "the JS handler ran for its own entry only"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // A clean from Rust empties the entries JS wrote too.
    if let Some(cacher) = rust.cacher() {
        cacher.clean("cachedemo.**").await.expect("clean");
    }
    assert!(probe.get(key).await.expect("get").is_none());
    let again = js
        .call_ok("cachedemo.get", json!({"id": 1}), tenant)
        .await
        .result;
    assert_eq!(again["n"], 2, "recomputed after the clean");

    js.assert_no_errors();
    rust.stop().await.expect("stop");
    js.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_misses_on_two_nodes_run_once() {
    interop::run_bounded(async {
        let url = redis_url();
        interop::prerequisites::require_bus(&url);
        let namespace = unique("cache-lock");
        let runs = Arc::new(AtomicUsize::new(0));
        let mut brokers = Vec::new();
        for _ in 0..2 {
            let cacher =
                RedisCacher::with_options(&url, CacherOptions::new().ttl(Duration::from_secs(60)))
                    .expect("cacher");
            let broker = Broker::builder()
                .namespace(&namespace)
                .cacher(cacher)
                .build();
            let counted = runs.clone();
            let svc = ServiceSchema::new("report").action(
                ActionDef::new("build", move |ctx: Context| {
                    let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Ok(json!({"for": ctx.params()["id"], "run": n}))
                    }
                })
                .cache(CacheSpec::new().keys(["id"]).lock()),
            );
            broker.add_service(svc).await.expect("service");
            broker.start().await.expect("start");
            brokers.push(broker);
        }
        let calls = (0..50).map(|i| {
            let broker = brokers[i % 2].clone();
            tokio::spawn(
                async move { broker.call::<Value>("report.build", json!({"id": 7})).await },
            )
        });
        let results = tokio::time::timeout(WAIT, futures_util::future::join_all(calls))
            .await
            .expect("50 calls within the bound");
        for r in results {
            assert_eq!(r.expect("join").expect("call"), json!({"for": 7, "run": 1}));
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "one execution across both nodes"
        );
        for b in brokers {
            b.stop().await.expect("stop");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_never_fails_a_call() {
    interop::run_bounded(async {
        // Nothing listens on port 1.
        let cacher = RedisCacher::new("redis://127.0.0.1:1")
            .expect("cacher")
            .command_timeout(Duration::from_millis(300));
        let runs = Arc::new(AtomicUsize::new(0));
        let broker = Broker::builder()
            .namespace(unique("cache-down"))
            .cacher(cacher)
            .build();
        broker
            .add_service(cachedemo(runs.clone()))
            .await
            .expect("service");
        broker.start().await.expect("start");
        for _ in 0..3 {
            let v: Value =
                tokio::time::timeout(WAIT, broker.call("cachedemo.all", json!({"a": 1})))
                    .await
                    .expect("bounded")
                    .expect("the handler answers");
            assert_eq!(v["by"], "rust");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        broker.stop().await.expect("stop");
    })
    .await;
}
