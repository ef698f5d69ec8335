//! MQTT only: Moleculer's `topicSeparator: "/"` and `qos: 1`, set on both sides (the JS node
//! with a transporter object, the only way Moleculer.js takes these options; the Rust node in
//! its URL's query). Calls and events go both ways; a Rust node on the default separator, in
//! the same namespace on the same server, sees neither of them (the separator is on the wire).

use crate::interop::peer::JsPeer;
use crate::interop::services::{received, recorder, rmath, Received};
use crate::interop::{eventually, find_node, Bus, Cluster, JsVersion, WAIT};
use broker_core::{CallOptions, EmitOptions};
use serde_json::json;
use std::time::Duration;

both_versions!(slash_separator_and_qos_1);

async fn slash_separator_and_qos_1(v: JsVersion) {
    let mut cluster = Cluster::over(Bus::Mqtt, v, "mqtt-opts");
    let plain_url = cluster.url.clone();
    let (host, port) = plain_url
        .trim_start_matches("mqtt://")
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.parse::<u16>().expect("a port in MQTT_URL")))
        .expect("MQTT_URL is mqtt://host:port");
    cluster.url = format!("{plain_url}?topicSeparator=/&qos=1");

    let sink = Received::default();
    let rust = cluster.rust_node(&cluster.node_id("rust")).build();
    rust.add_service(rmath()).await.expect("add rmath");
    rust.add_service(recorder("rev", &[("interop.ev", None)], sink.clone()))
        .await
        .expect("add rev");
    let js_id = cluster.node_id("js");
    let mut config = cluster.peer_config(&js_id, &["jsmath"], json!([{"event": "interop.ev"}]));
    config["transporter"] = json!({
        "type": "MQTT",
        "options": {"protocol": "mqtt", "host": host, "port": port, "topicSeparator": "/", "qos": 1}
    });
    let (started, js) = tokio::join!(rust.start(), JsPeer::start(config));
    started.expect("Rust node starts");
    rust.wait_for_services(&["jsmath", "jsev0"], WAIT)
        .await
        .expect("Rust sees the JS services");
    js.wait_for(&["rmath", "rev"]).await;

    let reply = js
        .call_ok("rmath.add", json!({"a": 2, "b": 3}), json!({}))
        .await;
    assert_eq!(reply.result["sum"].as_f64(), Some(5.0), "{}", reply.result);
    let sum: f64 = rust
        .call_with(
            "jsmath.add",
            json!({"a": 4, "b": 5}),
            CallOptions::new().timeout(Duration::from_secs(5)),
        )
        .await
        .expect("Rust → JS call");
    assert_eq!(sum, 9.0);
    js.emit("interop.ev", json!({"from": "js"}), json!({}))
        .await;
    eventually("JS → Rust event", WAIT, || async {
        received(&sink)
            .iter()
            .any(|e| e["params"]["from"] == "js")
            .then_some(())
    })
    .await;
    rust.emit_with(
        "interop.ev",
        json!({"from": "rust"}),
        EmitOptions::new().groups(["jsev0"]),
    )
    .await
    .expect("Rust emit");
    eventually("Rust → JS event", WAIT, || async {
        js.events()
            .await
            .iter()
            .any(|e| e["params"]["from"] == "rust")
            .then_some(())
    })
    .await;

    // Same server, same namespace, default separator: another cluster altogether.
    let mut dotted = cluster.clone();
    dotted.url = plain_url;
    let lone = dotted.rust_node(&dotted.node_id("dotted")).build();
    lone.start().await.expect("dotted node starts");
    // Longer than a heartbeat interval and a discovery round.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let seen = serde_json::to_value(lone.node_list(false, false)).expect("serializes");
    assert!(find_node(&seen, &js_id).is_none(), "{seen}");
    assert!(find_node(&seen, rust.node_id()).is_none(), "{seen}");
    let list = js.list().await;
    assert!(find_node(&list, lone.node_id()).is_none(), "{list}");

    let (a, b, ()) = tokio::join!(rust.stop(), lone.stop(), js.exit());
    a.expect("Rust node stops");
    b.expect("dotted node stops");
    js.assert_no_errors();
}
