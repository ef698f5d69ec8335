//! The bus server (Redis, NATS or Mosquitto) goes away while a Rust and a JS node run on it, then comes
//! back on the same port: calls and events must work again both ways within a bounded time.
//! Runs on a private `redis-server`, `nats-server` or `mosquitto`, never the shared one. Two outages: a short
//! one (nodes keep each other) and one longer than the heartbeat timeout (nodes drop each other
//! and must rediscover).

use crate::interop::peer::JsPeer;
use crate::interop::private_server::PrivateServer;
use crate::interop::services::{received, recorder, rmath, Received};
use crate::interop::{eventually, Bus, Cluster, JsVersion, HB_TIMEOUT_S, WAIT};
use broker_core::{CallOptions, EmitOptions};
use serde_json::json;
use std::time::{Duration, Instant};

every_bus!(server_restart);

/// How long after the server is back everything must work again.
const RECOVERY: Duration = Duration::from_secs(30);

async fn works_both_ways(rust: &broker_core::Broker, js: &JsPeer, sink: &Received, round: u64) {
    eventually("JS → Rust call", RECOVERY, || async {
        let r = js
            .call_bounded(
                "rmath.add",
                json!({"a": round, "b": 1}),
                json!({"timeout": 1000}),
                Duration::from_secs(5),
            )
            .await
            .ok()?;
        (r.result["sum"].as_f64() == Some((round + 1) as f64)).then_some(())
    })
    .await;
    eventually("Rust → JS call", RECOVERY, || async {
        let opts = CallOptions::new().timeout(Duration::from_secs(1));
        let sum: f64 = rust
            .call_with("jsmath.add", json!({"a": round, "b": 2}), opts)
            .await
            .ok()?;
        (sum == (round + 2) as f64).then_some(())
    })
    .await;
    eventually("JS → Rust event", RECOVERY, || async {
        js.emit("interop.ev", json!({"round": round}), json!({}))
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        received(sink)
            .iter()
            .any(|e| e["params"]["round"] == round)
            .then_some(())
    })
    .await;
    eventually("Rust → JS event", RECOVERY, || async {
        let opts = EmitOptions::new().groups(["jsev0"]);
        let _ = rust
            .emit_with("interop.ev", json!({"round": round}), opts)
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        js.events()
            .await
            .iter()
            .any(|e| e["params"]["round"] == round)
            .then_some(())
    })
    .await;
}

async fn server_restart(bus: Bus, v: JsVersion) {
    let mut server = PrivateServer::start(bus.server_kind()).await;
    let cluster = Cluster::on(v, "restart", server.url());
    let sink = Received::default();
    let rust = cluster.rust_node(&cluster.node_id("rust")).build();
    rust.add_service(rmath()).await.expect("add rmath");
    let ev = recorder("rev", &[("interop.ev", None)], sink.clone());
    rust.add_service(ev).await.expect("add rev");
    let events = json!([{"event": "interop.ev"}]);
    let config = cluster.peer_config(&cluster.node_id("js"), &["jsmath"], events);
    let (started, js) = tokio::join!(rust.start(), JsPeer::start(config));
    started.expect("Rust node starts");
    rust.wait_for_services(&["jsmath", "jsev0"], WAIT)
        .await
        .expect("Rust sees the JS services");
    js.wait_for(&["rmath", "rev"]).await;
    works_both_ways(&rust, &js, &sink, 0).await;

    for (round, outage) in [
        (1, Duration::from_secs(1)),
        (2, Duration::from_secs(HB_TIMEOUT_S * 2)),
    ] {
        server.down().await;
        tokio::time::sleep(outage).await;
        server.up().await;
        let back = Instant::now();
        works_both_ways(&rust, &js, &sink, round).await;
        println!(
            "round {round}: {outage:?} outage, all working {:?} after the server returned",
            back.elapsed()
        );
    }

    // The long outage made JS drop the Rust node and take it back once the server returned.
    let evs = js.node_events().await;
    let rust_id = rust.node_id();
    let lost = evs.iter().position(|e| {
        e["type"] == "disconnected" && e["nodeID"] == rust_id && e["unexpected"] == true
    });
    let lost = lost.unwrap_or_else(|| panic!("JS never dropped the Rust node: {evs:?}"));
    assert!(
        evs[lost..].iter().any(|e| {
            e["type"] == "connected" && e["nodeID"] == rust_id && e["reconnected"] == true
        }),
        "JS never took the Rust node back: {evs:?}"
    );
    let list = js.list().await;
    let n = crate::interop::find_node(&list, rust.node_id()).unwrap_or_else(|| panic!("{list}"));
    assert_eq!(n["available"], true, "{n}");
    let mine = serde_json::to_value(rust.node_list(false, false)).expect("node records serialize");
    let j = crate::interop::find_node(&mine, &js.node_id).unwrap_or_else(|| panic!("{mine}"));
    assert_eq!(j["available"], true, "{j}");
    let (stopped, ()) = tokio::join!(rust.stop(), js.exit());
    stopped.expect("Rust node stops");
}
