//! Fault tolerance between Rust nodes over the real Redis: a node SIGKILLed under load (no call
//! hangs; retries reach the survivor), a breaker opening on a failing node, and a timeout
//! budget carried through nested calls.

// The shared harness; its `both_versions!` macro is not needed here (Rust nodes only).
#[allow(unused_macros)]
mod interop;

use broker_core::{
    ActionDef, CallOptions, CircuitBreakerOptions, Context, Error, ErrorKind, ServiceSchema,
};
use interop::child::RustChild;
use interop::{services, Cluster, JsVersion};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entry point of the Rust child node process (see `interop::child`); a no-op otherwise.
#[test]
#[ignore = "entry point of the Rust child node, started by the tests themselves"]
fn child_node_entry() {
    interop::child::child_main();
}

const BOUND: Duration = Duration::from_secs(60);

async fn endpoints(broker: &broker_core::Broker, action: &str) -> u64 {
    broker
        .call::<Value>("$node.actions", json!({}))
        .await
        .ok()
        .and_then(|a| {
            a.as_array()?
                .iter()
                .find(|x| x["name"] == action)
                .and_then(|x| x["count"].as_u64())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_hangs_no_call_and_retries_reach_the_survivor() {
    let run = async {
        let cluster = Cluster::new(JsVersion::V015, "fault-kill");
        let mut victim = RustChild::start(&cluster, &cluster.node_id("victim")).await;
        let survivor = cluster.rust_node(&cluster.node_id("survivor")).build();
        survivor
            .add_service(services::rmath())
            .await
            .expect("rmath");
        survivor.start().await.expect("survivor starts");
        let caller = cluster.rust_node(&cluster.node_id("caller")).build();
        caller.start().await.expect("caller starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while endpoints(&caller, "rmath.slow").await < 2 {
            assert!(
                Instant::now() < deadline,
                "both rmath nodes never showed up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut calls = Vec::new();
        for _ in 0..30 {
            let c = caller.clone();
            calls.push(tokio::spawn(async move {
                c.call_with::<Value>(
                    "rmath.slow",
                    json!({"ms": 300}),
                    CallOptions::new()
                        .retries(3)
                        .timeout(Duration::from_secs(15)),
                )
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let killed = Instant::now();
        victim.kill().await;
        for call in calls {
            let result = tokio::time::timeout(Duration::from_secs(30), call)
                .await
                .expect("no call hangs")
                .expect("task");
            assert_eq!(result.expect("every call lands somewhere"), json!("done"));
        }
        // The calls on the victim were rejected after the heartbeat timeout, then retried.
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "took {:?}",
            killed.elapsed()
        );
        caller.stop().await.expect("stop");
        survivor.stop().await.expect("stop");
    };
    tokio::time::timeout(BOUND, run)
        .await
        .expect("test bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_node_opens_the_breaker_and_the_healthy_one_takes_over() {
    let run = async {
        let cluster = Cluster::new(JsVersion::V015, "fault-breaker");
        let failing = ServiceSchema::new("svc")
            .action(ActionDef::new("op", |_ctx: Context| async {
                Err::<Value, _>(Error::server("broken", 500, "BROKEN"))
            }));
        let healthy = ServiceSchema::new("svc")
            .action(ActionDef::new("op", |ctx: Context| async move {
                Ok(json!(ctx.broker().node_id()))
            }));
        let bad = cluster.rust_node(&cluster.node_id("bad")).build();
        bad.add_service(failing).await.expect("add");
        bad.start().await.expect("start");
        let good_id = cluster.node_id("good");
        let good = cluster.rust_node(&good_id).build();
        good.add_service(healthy).await.expect("add");
        good.start().await.expect("start");
        let caller = cluster
            .rust_node(&cluster.node_id("caller"))
            .circuit_breaker(CircuitBreakerOptions {
                enabled: true,
                threshold: 0.5,
                min_request_count: 4,
                half_open_time: Duration::from_secs(30),
                ..CircuitBreakerOptions::default()
            })
            .build();
        caller.start().await.expect("start");
        let deadline = Instant::now() + Duration::from_secs(20);
        while endpoints(&caller, "svc.op").await < 2 {
            assert!(Instant::now() < deadline, "both nodes never showed up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut failures = 0;
        for _ in 0..8 {
            if caller.call::<Value>("svc.op", json!({})).await.is_err() {
                failures += 1;
            }
        }
        assert!(
            failures >= 2,
            "round robin reached the failing node ({failures})"
        );
        // The breaker of the failing endpoint is open: every call now lands on the good node.
        for _ in 0..10 {
            let who: String = caller
                .call("svc.op", json!({}))
                .await
                .expect("healthy node");
            assert_eq!(who, good_id);
        }
        for b in [caller, good, bad] {
            b.stop().await.expect("stop");
        }
    };
    tokio::time::timeout(BOUND, run)
        .await
        .expect("test bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_budget_is_carried_through_nested_calls_across_nodes() {
    let run = async {
        let cluster = Cluster::new(JsVersion::V014, "fault-budget");
        let inner = cluster.rust_node(&cluster.node_id("inner")).build();
        inner.add_service(services::rmath()).await.expect("rmath");
        inner.start().await.expect("start");
        let outer = cluster.rust_node(&cluster.node_id("outer")).build();
        // The budget the relay had left when it called on, per call.
        let seen: Arc<Mutex<Vec<Option<u64>>>> = Arc::default();
        let record = seen.clone();
        outer
            .add_service(ServiceSchema::new("relay").action(ActionDef::new(
                "slowly",
                move |ctx: Context| {
                    let record = record.clone();
                    async move {
                        // Spend most of the budget, then call on: the nested call only gets
                        // what is left, so it times out although its own action would finish.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let left = ctx.remaining_time().map(|d| d.as_millis() as u64);
                        if let Ok(mut seen) = record.lock() {
                            seen.push(left);
                        }
                        // A failed nested call fails the chain, so the edge gets a timeout
                        // whichever of its own timer and this answer comes first.
                        ctx.call::<Value>("rmath.slow", json!({"ms": 400})).await?;
                        Ok(json!({ "left": left }))
                    }
                },
            )))
            .await
            .expect("add");
        outer.start().await.expect("start");
        outer
            .wait_for_services(&["rmath"], Duration::from_secs(20))
            .await
            .expect("rmath");
        let edge = cluster.rust_node(&cluster.node_id("edge")).build();
        edge.start().await.expect("start");
        edge.wait_for_services(&["relay"], Duration::from_secs(20))
            .await
            .expect("relay");
        let started = Instant::now();
        let err = edge
            .call_with::<Value>(
                "relay.slowly",
                json!({}),
                CallOptions::new().timeout(Duration::from_millis(600)),
            )
            .await
            .expect_err("the chain runs out of time");
        assert_eq!(err.kind(), ErrorKind::RequestTimeout, "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // The relay got the edge's budget, less what the trip and its sleep took.
        let left = seen.lock().ok().and_then(|s| s.first().copied()).flatten();
        assert!(left.is_some_and(|ms| ms <= 300), "left: {left:?}");
        // With a roomier budget the relay reports what its nested call saw.
        let out: Value = edge
            .call_with(
                "relay.slowly",
                json!({}),
                CallOptions::new().timeout(Duration::from_millis(2000)),
            )
            .await
            .expect("relay answers: its nested call had enough time left");
        assert!(out["left"].as_u64().is_some_and(|ms| ms < 1750), "{out}");
        for b in [edge, outer, inner] {
            b.stop().await.expect("stop");
        }
    };
    tokio::time::timeout(BOUND, run)
        .await
        .expect("test bounded");
}
