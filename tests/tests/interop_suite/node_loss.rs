//! Nodes leaving: a graceful stop is seen at once on the other side; a SIGKILLed node (Rust or
//! JS) is marked offline after the heartbeat timeout, and calls pending on it are rejected with
//! `RequestRejectedError` instead of hanging.

use crate::interop::child::RustChild;
use crate::interop::peer::JsPeer;
use crate::interop::{eventually, find_node, Bus, Cluster, JsVersion, Pair, HB_TIMEOUT_S};
use broker_core::ErrorKind;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

every_bus!(
    graceful_stops,
    graceful_stop_finishes_in_flight_call,
    sigterm_stops_a_rust_node_gracefully,
    killed_rust_node,
    killed_js_node
);

/// How long a killed node may take to be noticed: JS checks every timeout, so up to about
/// twice the heartbeat timeout, plus slack for a loaded machine.
fn loss_bound() -> Duration {
    Duration::from_secs(2 * HB_TIMEOUT_S + 5)
}

async fn disconnected_event(js: &JsPeer, node_id: &str) -> Option<Value> {
    js.node_events()
        .await
        .into_iter()
        .find(|e| e["type"] == "disconnected" && e["nodeID"] == node_id)
}

async fn graceful_stops(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "graceful").await;
    let rust_id = p.rust.node_id().to_owned();
    p.rust.stop().await.expect("Rust node stops");
    let stopped = Instant::now();
    // Well under the heartbeat timeout (3 s): this is DISCONNECT, not offline detection.
    let ev = eventually(
        "JS sees the Rust node leave",
        Duration::from_millis(1500),
        || disconnected_event(&p.js, &rust_id),
    )
    .await;
    println!("JS saw the graceful stop after {:?}", stopped.elapsed());
    assert_eq!(ev["unexpected"], false, "{ev}");
    let list = p.js.list().await;
    let n = find_node(&list, &rust_id).unwrap_or_else(|| panic!("{list}"));
    assert_eq!(n["available"], false, "{n}");
    // JS keeps the emptied endpoint list, so it answers "not available" as for a JS peer.
    let e = p.js.call_err("rmath.add", json!({}), json!({})).await;
    assert_eq!(e["class"], "ServiceNotAvailableError", "{e}");
    p.js.exit().await;

    // The other way round.
    let p = Pair::start(bus, v, "graceful-js").await;
    let js_id = p.js.node_id.clone();
    p.js.exit().await;
    eventually(
        "Rust sees the JS node leave",
        Duration::from_millis(1500),
        || async {
            let list = serde_json::to_value(p.rust.node_list(false, false))
                .expect("node records serialize");
            (find_node(&list, &js_id)?["available"] == false).then_some(())
        },
    )
    .await;
    let e = p
        .rust
        .call::<Value>("jsmath.add", json!({"a": 1, "b": 2}))
        .await;
    let e = e.expect_err("jsmath is gone");
    assert!(
        matches!(
            e.kind(),
            ErrorKind::ServiceNotFound | ErrorKind::ServiceNotAvailable
        ),
        "{e}"
    );
    p.rust.stop().await.expect("Rust node stops");
}

/// A JS call in flight on the Rust node when its graceful stop begins still gets its answer:
/// the stop waits for handlers, and the RES must go out before DISCONNECT (else JS rejects the
/// call with `RequestRejectedError` on DISCONNECT).
async fn graceful_stop_finishes_in_flight_call(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "graceful-drain").await;
    let in_flight = p.js.call("rmath.slow", json!({"ms": 800}), json!({}));
    let stop = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        p.rust.stop().await
    };
    let (reply, stopped) = tokio::join!(in_flight, stop);
    stopped.expect("Rust node stops");
    let reply = reply.unwrap_or_else(|e| panic!("in-flight call failed on a graceful stop: {e}"));
    assert_eq!(reply.result, "done");
    p.js.exit().await;
}

/// `Broker::run_until_signal`: SIGTERM (what `docker stop`, systemd and Kubernetes send) stops
/// the node gracefully, so the JS peer sees it leave at once (DISCONNECT), not after the
/// heartbeat timeout, and the process exits cleanly.
async fn sigterm_stops_a_rust_node_gracefully(bus: Bus, v: JsVersion) {
    let cluster = Cluster::over(bus, v, "sigterm-rust");
    let child_id = cluster.node_id("rust-child");
    let (mut child, js) = tokio::join!(
        RustChild::start(&cluster, &child_id),
        JsPeer::start(cluster.peer_config(&cluster.node_id("js"), &[], json!([]))),
    );
    js.wait_for(&["rmath"]).await;
    js.call_ok("rmath.add", json!({"a": 1, "b": 1}), json!({}))
        .await;

    let sent = Instant::now();
    let (code, ev) = tokio::join!(
        child.terminate(),
        eventually(
            "JS sees the SIGTERMed Rust node leave",
            Duration::from_secs(1),
            || disconnected_event(&js, &child_id),
        )
    );
    println!("JS saw the SIGTERMed node leave after {:?}", sent.elapsed());
    assert_eq!(
        ev["unexpected"], false,
        "a graceful leave, not a loss: {ev}"
    );
    assert_eq!(
        code,
        Some(0),
        "the child exits cleanly after its graceful stop"
    );
    let list = js.list().await;
    let n = find_node(&list, &child_id).unwrap_or_else(|| panic!("{list}"));
    assert_eq!(n["available"], false, "{n}");
    js.assert_no_errors();
    js.exit().await;
}

async fn killed_rust_node(bus: Bus, v: JsVersion) {
    let cluster = Cluster::over(bus, v, "kill-rust");
    let child_id = cluster.node_id("rust-child");
    let (mut child, js) = tokio::join!(
        RustChild::start(&cluster, &child_id),
        JsPeer::start(cluster.peer_config(&cluster.node_id("js"), &[], json!([]))),
    );
    js.wait_for(&["rmath"]).await;
    js.call_ok("rmath.add", json!({"a": 1, "b": 1}), json!({}))
        .await;

    // A call with no timeout is in flight on the child when it dies.
    let pending = js.call_bounded(
        "rmath.slow",
        json!({"ms": 60_000}),
        json!({}),
        loss_bound() + Duration::from_secs(5),
    );
    let killer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        child.kill().await;
        Instant::now()
    };
    let (result, killed_at) = tokio::join!(pending, killer);
    let waited = killed_at.elapsed();
    let e = result.expect_err("the pending call must fail");
    assert_eq!(e["class"], "RequestRejectedError", "{e}");
    assert_eq!(e["code"], 503, "{e}");
    assert_eq!(e["data"]["nodeID"], child_id, "{e}");
    assert!(waited < loss_bound(), "rejected only after {waited:?}");
    println!("JS rejected the pending call {waited:?} after the kill");

    let ev = disconnected_event(&js, &child_id)
        .await
        .expect("disconnected event");
    assert_eq!(ev["unexpected"], true, "{ev}");
    let list = js.list().await;
    let n = find_node(&list, &child_id).unwrap_or_else(|| panic!("{list}"));
    assert_eq!(n["available"], false, "{n}");
    js.assert_no_errors();
    js.exit().await;
}

async fn killed_js_node(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "kill-js").await;
    let js_id = p.js.node_id.clone();
    let pending = tokio::time::timeout(
        loss_bound() + Duration::from_secs(5),
        p.rust.call::<Value>("jsmath.slow", json!({"ms": 60_000})),
    );
    let killer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.js.kill().await;
        Instant::now()
    };
    let (result, killed_at) = tokio::join!(pending, killer);
    let waited = killed_at.elapsed();
    let e = match result {
        Ok(Ok(v)) => panic!("call to a killed node succeeded: {v}"),
        Ok(Err(e)) => e,
        Err(_) => panic!("Rust call pending on a killed JS node hangs"),
    };
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::RequestRejected, 503),
        "{e}"
    );
    assert_eq!(e.data().map(|d| &d["nodeID"]), Some(&json!(js_id)), "{e}");
    assert!(waited < loss_bound(), "rejected only after {waited:?}");
    println!("Rust rejected the pending call {waited:?} after the kill");

    let list =
        serde_json::to_value(p.rust.node_list(false, false)).expect("node records serialize");
    let n = find_node(&list, &js_id).unwrap_or_else(|| panic!("{list}"));
    assert_eq!(n["available"], false, "{n}");
    p.rust.stop().await.expect("Rust node stops");
}
