//! Fault tolerance on the in-memory transport: retries, fallbacks, mcall, and a node killed
//! under load.

mod common;

use broker_core::{
    ActionDef, Broker, CallOptions, Context, Error, ErrorKind, McallItem, MemoryBus, RetryPolicy,
    ServiceSchema,
};
use common::{node, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A `work.do` action that fails with `error` (when given) and counts its invocations.
fn worker(hits: Arc<AtomicUsize>, error: Option<Error>) -> ServiceSchema {
    ServiceSchema::new("work").action(ActionDef::new("do", move |ctx: Context| {
        let hits = hits.clone();
        let error = error.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            if let Some(ms) = ctx.params()["sleep"].as_u64() {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            match error {
                Some(e) => Err(e),
                None => Ok(json!(ctx.broker().node_id())),
            }
        }
    }))
}

async fn server(
    bus: &Arc<MemoryBus>,
    id: &str,
    hits: Arc<AtomicUsize>,
    error: Option<Error>,
) -> (Broker, Arc<broker_core::MemoryTransporter>) {
    let (b, t) = node(bus, id);
    let broker = b.build();
    broker.add_service(worker(hits, error)).await.expect("add");
    broker.start().await.expect("start");
    (broker, t)
}

async fn client(bus: &Arc<MemoryBus>, policy: Option<RetryPolicy>, servers: u64) -> Broker {
    let (b, _) = node(bus, "client");
    let b = match policy {
        Some(p) => b.retry_policy(p),
        None => b,
    };
    let broker = b.build();
    broker.start().await.expect("start");
    broker
        .wait_for_services(&["work"], WAIT)
        .await
        .expect("work");
    common::wait_for_endpoints(&broker, "work.do", servers).await;
    broker
}

fn flaky() -> Error {
    Error::retryable("temporarily broken", 503, "FLAKY")
}

fn fast_policy(enabled: bool, retries: u32) -> RetryPolicy {
    RetryPolicy {
        enabled,
        retries,
        delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    }
}

#[tokio::test]
async fn retries_reach_a_healthy_node() {
    let bus = MemoryBus::new();
    let (bad_hits, good_hits) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (bad, _) = server(&bus, "bad", bad_hits.clone(), Some(flaky())).await;
    let (good, _) = server(&bus, "good", good_hits.clone(), None).await;
    let c = client(&bus, Some(fast_policy(false, 5)), 2).await;
    for _ in 0..10 {
        let who: String = c
            .call_with("work.do", json!({}), CallOptions::new().retries(3))
            .await
            .expect("a retry lands on the healthy node");
        assert_eq!(who, "good");
    }
    assert_eq!(good_hits.load(Ordering::SeqCst), 10);
    assert!(
        bad_hits.load(Ordering::SeqCst) >= 1,
        "round robin tried the bad node too"
    );
    for b in [c, bad, good] {
        b.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn retries_stop_at_the_limit_with_the_last_error_and_skip_final_errors() {
    let bus = MemoryBus::new();
    let hits = Arc::new(AtomicUsize::new(0));
    let (s, _) = server(&bus, "only", hits.clone(), Some(flaky())).await;
    // The broker-wide policy retries every call.
    let c = client(&bus, Some(fast_policy(true, 3)), 1).await;
    let err = c
        .call::<Value>("work.do", json!({}))
        .await
        .expect_err("always fails");
    assert_eq!(err.error_type(), Some("FLAKY"));
    assert_eq!(hits.load(Ordering::SeqCst), 4, "one call and three retries");

    // A per-call count overrides the policy's.
    hits.store(0, Ordering::SeqCst);
    let _ = c
        .call_with::<Value>("work.do", json!({}), CallOptions::new().retries(1))
        .await;
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // Errors that are not retryable are final.
    let bus2 = MemoryBus::new();
    let hits2 = Arc::new(AtomicUsize::new(0));
    let (s2, _) = server(
        &bus2,
        "strict",
        hits2.clone(),
        Some(Error::client("bad input", 400, "BAD")),
    )
    .await;
    let c2 = client(&bus2, Some(fast_policy(true, 3)), 1).await;
    let err = c2
        .call::<Value>("work.do", json!({}))
        .await
        .expect_err("fails");
    assert_eq!(err.code(), 400);
    assert_eq!(hits2.load(Ordering::SeqCst), 1, "not retried");
    for b in [c, s, c2, s2] {
        b.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn fallbacks_apply_after_the_failure() {
    let bus = MemoryBus::new();
    let (s, _) = server(&bus, "down", Arc::default(), Some(flaky())).await;
    let c = client(&bus, None, 1).await;
    let v: Value = c
        .call_with(
            "work.do",
            json!({}),
            CallOptions::new().fallback_value(json!("cached")),
        )
        .await
        .expect("fallback value");
    assert_eq!(v, json!("cached"));
    let v: Value = c
        .call_with(
            "work.do",
            json!({}),
            CallOptions::new().fallback_fn(|err| Ok(json!({"degraded": err.error_type()}))),
        )
        .await
        .expect("fallback fn");
    assert_eq!(v, json!({"degraded": "FLAKY"}));
    // Missing actions fall back too.
    let v: Value = c
        .call_with(
            "nope.nothing",
            json!({}),
            CallOptions::new().fallback_value(json!(0)),
        )
        .await
        .expect("fallback for a missing action");
    assert_eq!(v, json!(0));
    for b in [c, s] {
        b.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn mcall_all_or_error_and_settled() {
    let bus = MemoryBus::new();
    let (s, _) = server(&bus, "w", Arc::default(), None).await;
    let c = client(&bus, None, 1).await;
    let calls = vec![
        McallItem::new("work.do", json!({"sleep": 30})).expect("item"),
        McallItem::new("work.do", json!({})).expect("item"),
    ];
    let all = c.mcall(calls).await.expect("all succeed");
    assert_eq!(all, vec![json!("w"), json!("w")]);

    let calls = vec![
        McallItem::new("work.do", json!({})).expect("item"),
        McallItem::new("nope.nothing", json!({})).expect("item"),
    ];
    let err = c.mcall(calls.clone()).await.expect_err("one fails");
    assert_eq!(err.kind(), ErrorKind::ServiceNotFound);
    let settled = c.mcall_settled(calls).await;
    assert_eq!(settled.len(), 2);
    assert_eq!(settled[0].as_ref().expect("first ok"), &json!("w"));
    assert!(settled[1].is_err());
    for b in [c, s] {
        b.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn a_node_killed_under_load_hangs_no_call_and_retries_reach_the_survivor() {
    let bus = MemoryBus::new();
    let (doomed, doomed_transport) = server(&bus, "doomed", Arc::default(), None).await;
    let (survivor, _) = server(&bus, "survivor", Arc::default(), None).await;
    let c = client(&bus, Some(fast_policy(false, 5)), 2).await;
    let mut calls = Vec::new();
    for _ in 0..40 {
        let c = c.clone();
        calls.push(tokio::spawn(async move {
            c.call_with::<String>(
                "work.do",
                json!({"sleep": 200}),
                CallOptions::new()
                    .retries(3)
                    .timeout(Duration::from_secs(3)),
            )
            .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    doomed_transport.sever();
    let mut by_node = std::collections::HashMap::<String, usize>::new();
    for call in calls {
        let who = tokio::time::timeout(WAIT, call)
            .await
            .expect("no call hangs")
            .expect("task")
            .expect("every call lands somewhere");
        *by_node.entry(who).or_default() += 1;
    }
    assert_eq!(by_node.get("survivor"), Some(&40), "{by_node:?}");
    for b in [c, doomed, survivor] {
        b.stop().await.expect("stop");
    }
}
