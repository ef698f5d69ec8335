//! Cached actions on in-process cachers: hits skip the handler (and its bulkhead), keys follow
//! the action's `keys`, TTLs expire, `clean`/`del` and `cache.clean.*` events invalidate,
//! locks make concurrent misses compute once, spans say `fromCache`, and a failing cacher
//! never fails a call.

mod common;

use broker_core::cache::{CacheLock, CacheSpec, Cacher, CacherOptions, Memory, MemoryLru};
use broker_core::middleware::BulkheadOptions;
use broker_core::payload::Payload;
use broker_core::trace::{FinishedSpan, SpanExporter, TracingOptions};
use broker_core::transporter::BoxFuture;
use broker_core::{
    cache, ActionDef, Broker, CallOptions, Context, Error, EventDef, MemoryBus, ServiceSchema,
};
use common::{eventually, node, wait_for_endpoints, WAIT};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `users.get` (keys `id` and `#tenant`), `users.all` (all params, 1 s TTL), `users.slow`
/// (locked, sleeps 50 ms); each answer says how many runs came before it.
fn users(runs: Arc<AtomicUsize>) -> ServiceSchema {
    let counted = |runs: &Arc<AtomicUsize>| {
        let runs = runs.clone();
        move |ctx: Context| {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                Ok(json!({"params": ctx.params().clone(), "run": n, "cached": ctx.cached_result()}))
            }
        }
    };
    let slow_runs = runs.clone();
    ServiceSchema::new("users")
        .action(
            ActionDef::new("get", counted(&runs)).cache(CacheSpec::new().keys(["id", "#tenant"])),
        )
        .action(
            ActionDef::new("all", counted(&runs))
                .cache(CacheSpec::new().ttl(Duration::from_millis(300))),
        )
        .action(
            ActionDef::new("slow", move |_ctx: Context| {
                let runs = slow_runs.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(json!(runs.fetch_add(1, Ordering::SeqCst) + 1))
                }
            })
            .cache(CacheSpec::new().lock()),
        )
        .action(ActionDef::new("plain", counted(&runs)))
}

async fn local_broker(cacher: impl Cacher, runs: Arc<AtomicUsize>) -> Broker {
    let broker = Broker::builder().cacher(cacher).build();
    broker.add_service(users(runs)).await.expect("service");
    broker.start().await.expect("start");
    broker
}

async fn a_cached_action_runs_once_per_key_body() {
    let runs = Arc::new(AtomicUsize::new(0));
    let broker = local_broker(Memory::new(), runs.clone()).await;
    let meta = |tenant: &str| CallOptions::new().meta(json!({"tenant": tenant}));

    let first: Value = broker
        .call_with("users.get", json!({"id": 1, "x": "a"}), meta("acme"))
        .await
        .expect("call");
    // Other params than the keys do not matter; the meta key does.
    let again: Value = broker
        .call_with("users.get", json!({"id": 1, "x": "b"}), meta("acme"))
        .await
        .expect("call");
    assert_eq!(first, again, "answered from the cache");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let other: Value = broker
        .call_with("users.get", json!({"id": 1}), meta("globex"))
        .await
        .expect("call");
    assert_eq!(other["run"], 2);
    let _: Value = broker
        .call_with("users.get", json!({"id": 2}), meta("acme"))
        .await
        .expect("call");
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    // `$cache: false` in meta skips the cache for one call.
    let bypass: Value = broker
        .call_with(
            "users.get",
            json!({"id": 1}),
            CallOptions::new().meta(json!({"tenant": "acme", "$cache": false})),
        )
        .await
        .expect("call");
    assert_eq!(bypass["run"], 4);

    // Uncached actions are not touched.
    for _ in 0..2 {
        let _: Value = broker.call("users.plain", json!({})).await.expect("call");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 6);
    broker.stop().await.expect("stop");
}

async fn entries_expire_after_the_action_ttl_body() {
    let runs = Arc::new(AtomicUsize::new(0));
    let broker = local_broker(Memory::new(), runs.clone()).await;
    let _: Value = broker
        .call("users.all", json!({"q": 1}))
        .await
        .expect("call");
    let _: Value = broker
        .call("users.all", json!({"q": 1}))
        .await
        .expect("call");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after: Value = broker
        .call("users.all", json!({"q": 1}))
        .await
        .expect("call");
    assert_eq!(after["run"], 2, "expired entry recomputed");
    broker.stop().await.expect("stop");
}

async fn clean_and_del_invalidate_body() {
    let runs = Arc::new(AtomicUsize::new(0));
    let broker = local_broker(MemoryLru::new(100), runs.clone()).await;
    let call = |id: i64| {
        let broker = broker.clone();
        async move {
            let v: Value = broker
                .call("users.get", json!({"id": id}))
                .await
                .expect("call");
            v["run"].as_u64().unwrap_or_default()
        }
    };
    assert_eq!(call(1).await, 1);
    assert_eq!(call(2).await, 2);
    assert_eq!(call(1).await, 1);
    let cacher = broker.cacher().expect("a cacher").clone();
    // Keys are Moleculer's: `<action>:<id>|<#tenant>` (an absent meta value is `undefined`).
    cacher
        .del(&["users.get:1|undefined".to_owned()])
        .await
        .expect("del");
    assert_eq!(call(1).await, 3, "deleted key recomputed");
    assert_eq!(call(2).await, 2, "other key kept");
    cacher.clean("users.**").await.expect("clean");
    assert_eq!(call(2).await, 4);
    broker.stop().await.expect("stop");
}

async fn concurrent_misses_with_a_lock_compute_once_body() {
    let runs = Arc::new(AtomicUsize::new(0));
    let broker = local_broker(Memory::new(), runs.clone()).await;
    let calls = (0..50).map(|_| {
        let broker = broker.clone();
        tokio::spawn(async move { broker.call::<Value>("users.slow", json!({"k": 1})).await })
    });
    let results = tokio::time::timeout(WAIT, futures_util::future::join_all(calls))
        .await
        .expect("bounded");
    for r in results {
        assert_eq!(r.expect("join").expect("call"), json!(1));
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "one execution for 50 misses"
    );
    broker.stop().await.expect("stop");
}

async fn waiting_for_a_lock_counts_against_the_deadline_body() {
    let runs = Arc::new(AtomicUsize::new(0));
    let broker = Broker::builder().cacher(Memory::new()).build();
    let counted = runs.clone();
    let svc = ServiceSchema::new("locked").action(
        ActionDef::new("slow", move |_ctx: Context| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(600)).await;
                Ok(json!("done"))
            }
        })
        .cache(CacheSpec::new().lock()),
    );
    broker.add_service(svc).await.expect("service");
    broker.start().await.expect("start");
    let first = {
        let broker = broker.clone();
        tokio::spawn(async move { broker.call::<Value>("locked.slow", json!({})).await })
    };
    eventually("the first call computes", || {
        let runs = runs.clone();
        async move { runs.load(Ordering::SeqCst) == 1 }
    })
    .await;
    let started = std::time::Instant::now();
    let err = broker
        .call_with::<Value>(
            "locked.slow",
            json!({}),
            CallOptions::new().timeout(Duration::from_millis(100)),
        )
        .await
        .expect_err("times out waiting for the lock");
    assert_eq!(err.kind(), broker_core::ErrorKind::RequestTimeout, "{err}");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(first.await.expect("join").expect("call"), json!("done"));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    broker.stop().await.expect("stop");
}

async fn a_hit_skips_the_bulkhead_body() {
    let runs = Arc::new(AtomicUsize::new(0));
    let broker = Broker::builder()
        .cacher(Memory::new())
        .bulkhead(BulkheadOptions {
            concurrency: 1,
            max_queue_size: 0,
        })
        .build();
    let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
    let counted = runs.clone();
    let svc = ServiceSchema::new("gate").action(
        ActionDef::new("get", move |ctx: Context| {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut open = gate_rx.clone();
            async move {
                if ctx.params()["wait"] == json!(true) {
                    let _ = open.wait_for(|o| *o).await;
                }
                Ok(json!(ctx.params()["id"]))
            }
        })
        .cache(CacheSpec::new().keys(["id"])),
    );
    broker.add_service(svc).await.expect("service");
    broker.start().await.expect("start");
    let _: Value = broker
        .call("gate.get", json!({"id": 1}))
        .await
        .expect("fill");
    // A miss that holds the only slot…
    let holder = {
        let broker = broker.clone();
        tokio::spawn(async move {
            broker
                .call::<Value>("gate.get", json!({"id": 2, "wait": true}))
                .await
        })
    };
    eventually("the slow call holds the bulkhead", || {
        let runs = runs.clone();
        async move { runs.load(Ordering::SeqCst) == 2 }
    })
    .await;
    // …another miss is refused, a hit is answered.
    let refused = broker.call::<Value>("gate.get", json!({"id": 3})).await;
    assert!(refused.is_err(), "the bulkhead is full");
    let hit: Value = broker
        .call("gate.get", json!({"id": 1}))
        .await
        .expect("hit");
    assert_eq!(hit, json!(1));
    gate_tx.send_replace(true);
    let held = tokio::time::timeout(WAIT, holder).await.expect("bounded");
    assert_eq!(held.expect("join").expect("call"), json!(2));
    broker.stop().await.expect("stop");
}

async fn a_clean_event_cleans_every_node_body() {
    let bus = MemoryBus::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut brokers = Vec::new();
    for id in ["cache-a", "cache-b"] {
        let (builder, _) = node(&bus, id);
        let broker = builder.cacher(Memory::new()).build();
        broker
            .add_service(
                users(runs.clone()).event(cache::clean_on_event("cache.clean.users", ["users.**"])),
            )
            .await
            .expect("service");
        broker.start().await.expect("start");
        brokers.push(broker);
    }
    for b in &brokers {
        wait_for_endpoints(b, "users.get", 2).await;
    }
    // Each node fills its own cache (local calls first).
    for b in &brokers {
        let _: Value = b.call("users.get", json!({"id": 1})).await.expect("call");
        let _: Value = b.call("users.get", json!({"id": 1})).await.expect("call");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    brokers[0]
        .broadcast("cache.clean.users", json!({}))
        .await
        .expect("broadcast");
    eventually("both nodes recompute after the clean event", || {
        let brokers = brokers.clone();
        let runs = runs.clone();
        async move {
            for b in &brokers {
                let _: Result<Value, _> = b.call("users.get", json!({"id": 1})).await;
            }
            runs.load(Ordering::SeqCst) >= 4
        }
    })
    .await;
    for b in brokers {
        b.stop().await.expect("stop");
    }
}

async fn info_publishes_the_cache_option_body() {
    let runs = Arc::new(AtomicUsize::new(0));
    let broker = local_broker(Memory::new(), runs).await;
    let services: Value = broker
        .call("$node.services", json!({"withActions": true}))
        .await
        .expect("services");
    let users = services
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "users"))
        .expect("users listed");
    let actions = &users["actions"];
    assert_eq!(
        actions["users.get"]["cache"],
        json!({"keys": ["id", "#tenant"]})
    );
    assert_eq!(actions["users.all"]["cache"], json!({"ttl": 0.3}));
    assert_eq!(
        actions["users.slow"]["cache"],
        json!({"lock": {"enabled": true, "ttl": 15000}})
    );
    assert!(actions["users.plain"].get("cache").is_none());
    let options: Value = broker
        .call("$node.options", json!({}))
        .await
        .expect("options");
    assert_eq!(options["cacher"], "Memory");
    broker.stop().await.expect("stop");
}

/// Keeps the `fromCache` tag of every finished action span.
#[derive(Debug, Default)]
struct FromCache(Mutex<Vec<Value>>);

impl SpanExporter for FromCache {
    fn span_finished(&self, span: &FinishedSpan) {
        let tag = span.data().tags.get("fromCache").cloned();
        if let Some(tag) = tag {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(tag);
        }
    }
}

async fn spans_say_from_cache_body() {
    let spans = Arc::new(FromCache::default());
    let runs = Arc::new(AtomicUsize::new(0));
    let broker = Broker::builder()
        .cacher(Memory::new())
        .tracing(TracingOptions::new().exporter_arc(spans.clone()))
        .build();
    broker.add_service(users(runs)).await.expect("service");
    broker.start().await.expect("start");
    for _ in 0..2 {
        let _: Value = broker
            .call("users.get", json!({"id": 9}))
            .await
            .expect("call");
    }
    eventually("two action spans", || {
        let spans = spans.clone();
        async move { spans.0.lock().map(|s| s.len() >= 2).unwrap_or(false) }
    })
    .await;
    let tags = spans.0.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(tags, vec![json!(false), json!(true)]);
    broker.stop().await.expect("stop");
}

/// A cacher whose every operation fails, as an unreachable store would.
#[derive(Debug)]
struct Broken(CacherOptions);

impl Cacher for Broken {
    fn options(&self) -> &CacherOptions {
        &self.0
    }
    fn name(&self) -> &'static str {
        "Broken"
    }
    fn get<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<Payload>, Error>> {
        Box::pin(async { Err(Error::server("store down", 500, "DOWN")) })
    }
    fn set<'a>(
        &'a self,
        _key: &'a str,
        _value: &'a RawValue,
        _ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Err(Error::server("store down", 500, "DOWN")) })
    }
    fn del<'a>(&'a self, _keys: &'a [String]) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Err(Error::server("store down", 500, "DOWN")) })
    }
    fn clean<'a>(&'a self, _pattern: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Err(Error::server("store down", 500, "DOWN")) })
    }
    fn lock<'a>(
        &'a self,
        _key: &'a str,
        _ttl: Duration,
    ) -> BoxFuture<'a, Result<CacheLock, Error>> {
        Box::pin(async { Err(Error::server("store down", 500, "DOWN")) })
    }
}

async fn a_failing_cacher_never_fails_a_call_body() {
    let runs = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<Value>::new()));
    let seen = errors.clone();
    let broker = Broker::builder()
        .cacher(Broken(CacherOptions::new()))
        .build();
    broker
        .add_service(users(runs.clone()))
        .await
        .expect("service");
    broker
        .add_service(ServiceSchema::new("watch").event(EventDef::new(
            "$cacher.error",
            move |ctx: Context| {
                seen.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(ctx.params().clone());
                async { Ok(()) }
            },
        )))
        .await
        .expect("service");
    broker.start().await.expect("start");
    for action in ["users.get", "users.slow", "users.get"] {
        let _: Value = broker
            .call(action, json!({"id": 1}))
            .await
            .expect("the handler answers");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    eventually("$cacher.error events", || {
        let errors = errors.clone();
        async move { errors.lock().map(|e| e.len() >= 3).unwrap_or(false) }
    })
    .await;
    let first = errors.lock().map(|e| e[0].clone()).unwrap_or_default();
    assert_eq!(first["module"], "cacher");
    assert_eq!(first["error"]["message"], "store down");
    broker.stop().await.expect("stop");
}

/// Every test runs under one bound, so none can hang.
async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test finished within its bound");
}

#[tokio::test]
async fn a_cached_action_runs_once_per_key() {
    bounded(a_cached_action_runs_once_per_key_body()).await;
}

#[tokio::test]
async fn entries_expire_after_the_action_ttl() {
    bounded(entries_expire_after_the_action_ttl_body()).await;
}

#[tokio::test]
async fn clean_and_del_invalidate() {
    bounded(clean_and_del_invalidate_body()).await;
}

#[tokio::test]
async fn concurrent_misses_with_a_lock_compute_once() {
    bounded(concurrent_misses_with_a_lock_compute_once_body()).await;
}

#[tokio::test]
async fn a_hit_skips_the_bulkhead() {
    bounded(a_hit_skips_the_bulkhead_body()).await;
}

#[tokio::test]
async fn a_clean_event_cleans_every_node() {
    bounded(a_clean_event_cleans_every_node_body()).await;
}

#[tokio::test]
async fn info_publishes_the_cache_option() {
    bounded(info_publishes_the_cache_option_body()).await;
}

#[tokio::test]
async fn spans_say_from_cache() {
    bounded(spans_say_from_cache_body()).await;
}

#[tokio::test]
async fn a_failing_cacher_never_fails_a_call() {
    bounded(a_failing_cacher_never_fails_a_call_body()).await;
}

#[tokio::test]
async fn waiting_for_a_lock_counts_against_the_deadline() {
    bounded(waiting_for_a_lock_counts_against_the_deadline_body()).await;
}
