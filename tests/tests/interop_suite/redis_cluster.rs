//! Rust and Moleculer.js nodes meet through a Redis Cluster: a private 3-master cluster, the
//! Rust node on `redis+cluster://` seeded with the second master, the JS node on Moleculer's
//! Redis transporter in cluster mode (ioredis `Cluster`, seeded with the first). Calls and
//! events cross both ways. Redis only: NATS clusters are another scenario.

use crate::interop::peer::JsPeer;
use crate::interop::redis_cluster::PrivateRedisCluster;
use crate::interop::services::{received, recorder, rmath, Received};
use crate::interop::{eventually, Cluster, JsVersion, WAIT};
use broker_core::EmitOptions;
use serde_json::json;

both_versions!(rust_and_js_through_a_redis_cluster);

async fn rust_and_js_through_a_redis_cluster(v: JsVersion) {
    let servers = PrivateRedisCluster::start().await;
    let cluster = Cluster::on(v, "rcluster", servers.url(&[1, 2, 0]));
    let sink = Received::default();
    let rust = cluster.rust_node(&cluster.node_id("rust")).build();
    rust.add_service(rmath()).await.expect("add rmath");
    let ev = recorder("rev", &[("interop.ev", None)], sink.clone());
    rust.add_service(ev).await.expect("add rev");
    let mut config = cluster.peer_config(
        &cluster.node_id("js"),
        &["jsmath"],
        json!([{"event": "interop.ev"}]),
    );
    config["transporter"] = servers.moleculer_transporter(&[0]);
    let (started, js) = tokio::join!(rust.start(), JsPeer::start(config));
    started.expect("Rust node starts");

    // The Rust node went through its first seed, the second master.
    let publisher = format!("mol-{}-pub", rust.node_id());
    assert!(
        servers.client_names(1).await.contains(&publisher),
        "the Rust node is not on master 1"
    );

    rust.wait_for_services(&["jsmath", "jsev0"], WAIT)
        .await
        .expect("Rust sees the JS services");
    js.wait_for(&["rmath", "rev"]).await;

    for i in 0..5 {
        let r = js
            .call_ok("rmath.add", json!({"a": i, "b": 1}), json!({}))
            .await;
        assert_eq!(r.result["sum"].as_f64(), Some(f64::from(i) + 1.0), "{r:?}");
        let sum: f64 = rust
            .call("jsmath.add", json!({"a": i, "b": 2}))
            .await
            .expect("Rust calls JS through the cluster");
        assert_eq!(sum, f64::from(i) + 2.0);
    }

    js.emit("interop.ev", json!({"from": "js"}), json!({}))
        .await;
    rust.emit_with(
        "interop.ev",
        json!({"from": "rust"}),
        EmitOptions::new().groups(["jsev0"]),
    )
    .await
    .expect("Rust emits");
    eventually("JS → Rust event", WAIT, || async {
        received(&sink)
            .iter()
            .any(|e| e["params"]["from"] == "js")
            .then_some(())
    })
    .await;
    eventually("Rust → JS event", WAIT, || async {
        js.events()
            .await
            .iter()
            .any(|e| e["params"]["from"] == "rust")
            .then_some(())
    })
    .await;

    js.assert_no_errors();
    let (stopped, ()) = tokio::join!(rust.stop(), js.exit());
    stopped.expect("Rust node stops");
}
