//! Calls across brokers on the in-memory transport: discovery, typed results, errors,
//! timeouts, panics, meta and nested calls.

mod common;

use broker_core::{
    ActionDef, Broker, CallOptions, Context, ErrorKind, MemoryBus, ProtocolVersion, ServiceSchema,
};
use common::{eventually, math_service, node, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn pair(bus: &Arc<MemoryBus>) -> (Broker, Broker, Arc<AtomicUsize>) {
    let counter = Arc::new(AtomicUsize::new(0));
    let (b, _) = node(bus, "server");
    let server = b.build();
    server
        .add_service(math_service(counter.clone()))
        .await
        .expect("add math");
    server.start().await.expect("server starts");
    let (b, _) = node(bus, "client");
    let client = b.build();
    client.start().await.expect("client starts");
    client
        .wait_for_services(&["math"], WAIT)
        .await
        .expect("client sees math");
    (server, client, counter)
}

#[tokio::test]
async fn nodes_discover_each_other_and_call_across() {
    let bus = MemoryBus::new();
    let (server, client, counter) = pair(&bus).await;
    let sum: f64 = client
        .call("math.add", json!({"a": 2, "b": 3}))
        .await
        .expect("remote add");
    assert_eq!(sum, 5.0);
    assert_eq!(counter.load(Ordering::SeqCst), 1, "served exactly once");

    let nodes = client.node_list(false, false);
    let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, vec!["client", "server"]);
    let server_entry = nodes.iter().find(|n| n.id == "server").expect("server");
    assert_eq!(server_entry.client.client_type, "rust");
    assert!(server_entry.available);
    assert!(!server_entry.local);

    let services: Value = client
        .call("$node.services", json!({"skipInternal": true}))
        .await
        .expect("$node.services");
    let math = services
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "math"))
        .expect("math listed");
    assert_eq!(math["nodes"], json!(["server"]));

    // `$node` actions of another node are reached with an explicit node ID.
    let remote_list: Value = client
        .call_with(
            "$node.list",
            json!({}),
            CallOptions::new().node_id("server"),
        )
        .await
        .expect("remote $node.list");
    let local_on_server = remote_list
        .as_array()
        .and_then(|l| l.iter().find(|n| n["local"] == true))
        .expect("a local node");
    assert_eq!(local_on_server["id"], "server");

    client.stop().await.expect("stop");
    server.stop().await.expect("stop");
}

#[tokio::test]
async fn errors_cross_the_wire_intact() {
    let bus = MemoryBus::new();
    let (server, client, _) = pair(&bus).await;

    let err = client
        .call::<Value>("math.fail", json!({}))
        .await
        .expect_err("fail fails");
    assert_eq!(err.name(), "MathError");
    assert_eq!(err.code(), 418);
    assert_eq!(err.error_type(), Some("DIV_ZERO"));
    assert_eq!(err.data(), Some(&json!({"a": 1})));
    assert_eq!(err.node_id(), Some("server"));

    let err = client
        .call::<Value>("math.nope", json!({}))
        .await
        .expect_err("missing action");
    assert_eq!(err.kind(), ErrorKind::ServiceNotFound);
    assert_eq!(err.code(), 404);

    let err = client
        .call_with::<Value>("math.add", json!({}), CallOptions::new().node_id("ghost"))
        .await
        .expect_err("unknown node");
    assert_eq!(err.kind(), ErrorKind::ServiceNotFound);
    assert_eq!(err.data().expect("data")["nodeID"], "ghost");

    // A panicking handler is an error response; the node keeps serving.
    let err = client
        .call::<Value>("math.boom", json!({}))
        .await
        .expect_err("panic becomes an error");
    assert!(err.message().contains("handler exploded"), "{err}");
    for caller in [&client, &server] {
        let err = caller
            .call_with::<Value>(
                "math.boom_sync",
                json!({}),
                CallOptions::new().timeout(Duration::from_secs(5)),
            )
            .await
            .expect_err("panic becomes an error");
        assert!(err.message().contains("closure exploded"), "{err}");
    }
    let sum: f64 = client
        .call("math.add", json!({"a": 1, "b": 1}))
        .await
        .expect("still serving");
    assert_eq!(sum, 2.0);

    client.stop().await.expect("stop");
    server.stop().await.expect("stop");
}

#[tokio::test]
async fn timeouts_are_request_timeout_errors_on_both_paths() {
    let bus = MemoryBus::new();
    let (server, client, _) = pair(&bus).await;
    let started = tokio::time::Instant::now();
    let err = client
        .call_with::<Value>(
            "math.slow",
            json!({"ms": 2000}),
            CallOptions::new().timeout(Duration::from_millis(100)),
        )
        .await
        .expect_err("times out");
    assert_eq!(err.kind(), ErrorKind::RequestTimeout);
    assert_eq!(err.code(), 504);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(err.data().expect("data")["nodeID"], "server");

    // Local call timeout.
    let err = server
        .call_with::<Value>(
            "math.slow",
            json!({"ms": 2000}),
            CallOptions::new().timeout(Duration::from_millis(50)),
        )
        .await
        .expect_err("local times out");
    assert!(err.is_timeout());

    client.stop().await.expect("stop");
    server.stop().await.expect("stop");
}

#[tokio::test]
async fn meta_flows_down_and_back_and_nested_calls_keep_the_chain() {
    let bus = MemoryBus::new();
    let (bb, _) = node(&bus, "inner");
    let inner = bb.build();
    inner
        .add_service(math_service(Arc::new(AtomicUsize::new(0))))
        .await
        .expect("add");
    inner.start().await.expect("start");

    let (bb, _) = node(&bus, "outer");
    let outer = bb.build();
    outer
        .add_service(
            ServiceSchema::new("gateway").version(2).action(ActionDef::new(
                "relay",
                |ctx: Context| async move {
                    ctx.set_meta("relayed", json!(true));
                    let who: Value = ctx.call("math.whoami", json!({})).await?;
                    Ok(json!({"who": who, "me": {"id": ctx.id(), "requestID": ctx.request_id(), "level": ctx.level()}}))
                },
            )),
        )
        .await
        .expect("add");
    outer.start().await.expect("start");

    let (bb, _) = node(&bus, "edge");
    let edge = bb.build();
    edge.start().await.expect("start");
    edge.wait_for_services(&["v2.gateway", "math"], WAIT)
        .await
        .expect("services");

    let out: Value = edge
        .call_with(
            "v2.gateway.relay",
            json!({}),
            CallOptions::new().meta(json!({"user": "ann"})),
        )
        .await
        .expect("relay");
    let who = &out["who"];
    assert_eq!(who["node"], "inner");
    assert_eq!(who["caller_node"], "outer");
    assert_eq!(who["level"], 2);
    assert_eq!(who["caller"], "v2.gateway");
    assert_eq!(who["meta"]["user"], "ann", "meta flows down");
    assert_eq!(
        who["meta"]["relayed"], true,
        "meta set mid-chain flows further down"
    );
    assert_eq!(who["requestID"], out["me"]["requestID"], "one chain ID");
    assert_eq!(
        who["parentID"], out["me"]["id"],
        "parent is the relay's context"
    );
    assert_eq!(out["me"]["level"], 1);

    for b in [edge, outer, inner] {
        b.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn distributed_timeout_and_max_call_level() {
    let bus = MemoryBus::new();
    let (bb, _) = node(&bus, "deep");
    let b = bb.max_call_level(3).build();
    b.add_service(
        ServiceSchema::new("rec")
            .action(ActionDef::new("down", |ctx: Context| async move {
                let n = ctx.params()["n"].as_u64().unwrap_or(0);
                if n == 0 {
                    return Ok(json!(ctx.level()));
                }
                ctx.call::<Value>("rec.down", json!({"n": n - 1})).await
            }))
            .action(ActionDef::new("chain", |ctx: Context| async move {
                // Sleeps past the budget, then tries a nested call: it must be skipped.
                tokio::time::sleep(Duration::from_millis(150)).await;
                ctx.call::<Value>("rec.down", json!({"n": 0})).await
            })),
    )
    .await
    .expect("add");
    b.start().await.expect("start");
    let level: u64 = b.call("rec.down", json!({"n": 2})).await.expect("3 levels");
    assert_eq!(level, 3);
    let err = b
        .call::<Value>("rec.down", json!({"n": 3}))
        .await
        .expect_err("too deep");
    assert_eq!(err.kind(), ErrorKind::MaxCallLevel);

    let err = b
        .call_with::<Value>(
            "rec.chain",
            json!({}),
            CallOptions::new().timeout(Duration::from_millis(100)),
        )
        .await
        .expect_err("budget exhausted");
    assert!(err.is_timeout(), "{err}");
    b.stop().await.expect("stop");
}

#[tokio::test]
async fn graceful_stop_is_seen_at_once_and_rejects_pending_calls() {
    let bus = MemoryBus::new();
    let (server, client, _) = pair(&bus).await;
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { client.call::<Value>("math.slow", json!({"ms": 3000})).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stop_started = tokio::time::Instant::now();
    // The server waits for its in-flight handler only up to the shutdown timeout.
    let server2 = server.clone();
    tokio::spawn(async move { server2.stop().await });
    eventually("client sees the server go", || {
        let client = client.clone();
        async move {
            client
                .node_list(false, false)
                .iter()
                .any(|n| n.id == "server" && !n.available)
        }
    })
    .await;
    let result = tokio::time::timeout(WAIT, pending)
        .await
        .expect("pending call settles")
        .expect("task");
    // Either the handler finished inside the shutdown window, or the call was rejected.
    match result {
        Ok(v) => assert_eq!(v, json!("done")),
        Err(e) => assert_eq!(e.kind(), ErrorKind::RequestRejected, "{e}"),
    }
    assert!(stop_started.elapsed() < Duration::from_secs(5));
    let err = client
        .call::<Value>("math.add", json!({}))
        .await
        .expect_err("gone");
    assert_eq!(err.kind(), ErrorKind::ServiceNotFound);
    client.stop().await.expect("stop");
}

#[tokio::test]
async fn a_vanished_node_goes_offline_and_its_pending_calls_are_rejected() {
    let bus = MemoryBus::new();
    let counter = Arc::new(AtomicUsize::new(0));
    let (b, server_transport) = node(&bus, "doomed");
    let server = b.build();
    server
        .add_service(math_service(counter))
        .await
        .expect("add");
    server.start().await.expect("start");
    let (b, _) = node(&bus, "survivor");
    let client = b.build();
    client.start().await.expect("start");
    client
        .wait_for_services(&["math"], WAIT)
        .await
        .expect("sees math");

    let pending = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call::<Value>("math.slow", json!({"ms": 10_000}))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cut = tokio::time::Instant::now();
    server_transport.sever(); // no DISCONNECT: the process "died"
    let err = tokio::time::timeout(WAIT, pending)
        .await
        .expect("settles after the heartbeat timeout")
        .expect("task")
        .expect_err("rejected");
    assert_eq!(err.kind(), ErrorKind::RequestRejected);
    assert_eq!(err.code(), 503);
    let waited = cut.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "rejected after {waited:?}"
    );
    let list = client.node_list(false, false);
    let doomed = list
        .iter()
        .find(|n| n.id == "doomed")
        .expect("kept as offline");
    assert!(!doomed.available);
    assert!(doomed.offline_since.is_some());
    client.stop().await.expect("stop");
    server.stop().await.expect("stop");
}

#[tokio::test]
async fn protocol_5_carries_headers_and_mismatched_versions_do_not_talk() {
    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "v5-server");
    let server = b.protocol(ProtocolVersion::V5).build();
    server
        .add_service(math_service(Arc::new(AtomicUsize::new(0))))
        .await
        .expect("add");
    server.start().await.expect("start");
    let (b, _) = node(&bus, "v5-client");
    let client = b.protocol(ProtocolVersion::V5).build();
    client.start().await.expect("start");
    client
        .wait_for_services(&["math"], WAIT)
        .await
        .expect("sees math");
    let who: Value = client
        .call_with(
            "math.whoami",
            json!({}),
            CallOptions::new().headers(json!({"x-trace": "abc"})),
        )
        .await
        .expect("call");
    assert_eq!(who["headers"]["x-trace"], "abc");

    // A protocol-4 node on the same bus and namespace never sees them.
    let (b, _) = node(&bus, "v4-node");
    let old = b.protocol(ProtocolVersion::V4).build();
    old.start().await.expect("start");
    let err = old
        .wait_for_services(&["math"], Duration::from_millis(300))
        .await
        .expect_err("v4 does not see v5");
    assert!(err.message().contains("math"), "{err}");
    for b in [old, client, server] {
        b.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn calls_and_emits_on_a_stopped_broker_fail_clearly() {
    let bus = MemoryBus::new();
    let (server, client, counter) = pair(&bus).await;
    server.stop().await.expect("stop");
    // A local call after stop (it used to run the handler).
    let err = server
        .call::<Value>("math.add", json!({"a": 1, "b": 2}))
        .await
        .expect_err("a stopped broker serves nothing");
    assert_eq!(err.kind(), ErrorKind::ServiceNotAvailable, "{err}");
    assert_eq!(err.name(), "ServiceNotAvailableError");
    assert_eq!(err.code(), 404);
    assert!(err.to_string().contains("the broker is stopped"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(counter.load(Ordering::SeqCst), 0, "the handler never ran");
    // A remote call from it, an emit and a broadcast.
    let err = server
        .call::<Value>("$node.list", json!({}))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("the broker is stopped"), "{err}");
    for result in [
        server.emit("math.done", json!({})).await,
        server.broadcast("math.done", json!({})).await,
        server.broadcast_local("math.done", json!({})).await,
    ] {
        let err = result.expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::BrokerDisconnected, "{err}");
        assert!(err.to_string().contains("the broker is stopped"), "{err}");
    }
    // A broker stopped before it ever started refuses too.
    let (b, _) = node(&bus, "never-started");
    let idle = b.build();
    idle.stop().await.expect("stop");
    let err = idle
        .call::<Value>("$node.health", json!({}))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ServiceNotAvailable, "{err}");
    client.stop().await.expect("stop");
}
