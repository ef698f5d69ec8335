//! The `$node` service, PING/PONG, and the bound on pending requests.

mod common;

use broker_core::{
    ActionDef, Broker, CallOptions, Context, ErrorKind, EventDef, MemoryBus, ServiceSchema,
};
use common::{math_service, node, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

async fn cluster(bus: &Arc<MemoryBus>) -> (Broker, Broker) {
    let (b, _) = node(bus, "alpha");
    let alpha = b.max_pending_requests(2).build();
    alpha.start().await.expect("start");
    let (b, _) = node(bus, "beta");
    let beta = b.build();
    beta.add_service(math_service(Arc::new(AtomicUsize::new(0))))
        .await
        .expect("add");
    beta.add_service(
        ServiceSchema::new("audit")
            .event(EventDef::new("user.*", |_ctx: Context| async { Ok(()) }).group("audit-group"))
            .action(ActionDef::new("noop", |_ctx: Context| async {
                Ok(json!(null))
            })),
    )
    .await
    .expect("add");
    beta.start().await.expect("start");
    alpha
        .wait_for_services(&["math", "audit"], WAIT)
        .await
        .expect("services");
    (alpha, beta)
}

#[tokio::test]
async fn node_actions_events_health_and_options() {
    let bus = MemoryBus::new();
    let (alpha, beta) = cluster(&bus).await;

    let actions: Value = alpha
        .call(
            "$node.actions",
            json!({"skipInternal": true, "withEndpoints": true}),
        )
        .await
        .expect("actions");
    let add = actions
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "math.add"))
        .expect("math.add listed");
    assert_eq!(add["count"], 1);
    assert_eq!(add["hasLocal"], false);
    assert_eq!(add["action"]["rawName"], "add");
    assert_eq!(add["endpoints"][0]["nodeID"], "beta");
    assert!(actions.as_array().is_some_and(|a| a
        .iter()
        .all(|x| !x["name"].as_str().unwrap_or("$").starts_with('$'))));

    let events: Value = alpha.call("$node.events", json!({})).await.expect("events");
    let audit = events
        .as_array()
        .and_then(|e| e.iter().find(|x| x["name"] == "user.*"))
        .expect("user.* listed");
    assert_eq!(audit["group"], "audit-group");

    let health: Value = alpha
        .call_with(
            "$node.health",
            json!({}),
            CallOptions::new().node_id("beta"),
        )
        .await
        .expect("health");
    for key in ["cpu", "mem", "os", "process", "client", "net", "time"] {
        assert!(health.get(key).is_some(), "health has {key}");
    }
    assert_eq!(health["client"]["type"], "rust");

    let options: Value = alpha
        .call("$node.options", json!({}))
        .await
        .expect("options");
    assert_eq!(options["nodeID"], "alpha");
    assert_eq!(options["namespace"], "test");
    // The transporter as a person reads it (a URL without password), never Rust's `Debug`.
    assert_eq!(options["transporter"], "memory", "{options}");

    // Flags accept Moleculer's `convert: true` strings.
    let available: Value = alpha
        .call(
            "$node.list",
            json!({"onlyAvailable": "true", "withServices": true}),
        )
        .await
        .expect("list");
    let beta_entry = available
        .as_array()
        .and_then(|l| l.iter().find(|n| n["id"] == "beta"))
        .expect("beta");
    assert!(beta_entry["services"]
        .as_array()
        .is_some_and(|s| s.len() >= 3));

    alpha.stop().await.expect("stop");
    beta.stop().await.expect("stop");
}

#[tokio::test]
async fn ping_measures_a_round_trip_and_times_out_cleanly() {
    let bus = MemoryBus::new();
    let (alpha, beta) = cluster(&bus).await;
    let pong = alpha
        .ping("beta", Duration::from_secs(2))
        .await
        .expect("ping sent")
        .expect("pong received");
    assert_eq!(pong.node_id, "beta");
    assert!(pong.elapsed_ms >= 0 && pong.elapsed_ms < 2000);
    let none = alpha
        .ping("nobody", Duration::from_millis(100))
        .await
        .expect("ping sent");
    assert!(none.is_none());
    alpha.stop().await.expect("stop");
    beta.stop().await.expect("stop");
}

#[tokio::test]
async fn pending_requests_are_bounded() {
    let bus = MemoryBus::new();
    let (alpha, beta) = cluster(&bus).await;
    let slow =
        |alpha: Broker| async move { alpha.call::<Value>("math.slow", json!({"ms": 300})).await };
    let first = tokio::spawn(slow(alpha.clone()));
    let second = tokio::spawn(slow(alpha.clone()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = alpha
        .call::<Value>("math.add", json!({}))
        .await
        .expect_err("queue is full");
    assert_eq!(err.kind(), ErrorKind::QueueIsFull);
    assert_eq!(err.code(), 429);
    for h in [first, second] {
        let v = tokio::time::timeout(WAIT, h)
            .await
            .expect("settles")
            .expect("task")
            .expect("slow ok");
        assert_eq!(v, json!("done"));
    }
    let sum: f64 = alpha
        .call("math.add", json!({"a": 1, "b": 1}))
        .await
        .expect("room again");
    assert_eq!(sum, 2.0);
    alpha.stop().await.expect("stop");
    beta.stop().await.expect("stop");
}
