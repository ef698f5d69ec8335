//! Calls between a Rust node and a Moleculer.js node over Redis and NATS: typed params, meta
//! (down and merged back), request ID, parent ID and level across nested cross-language calls.

use crate::interop::{Bus, JsVersion, Pair};
use broker_core::CallOptions;
use serde_json::{json, Value};

every_bus!(
    js_calls_rust,
    rust_calls_js,
    nested_js_rust_js,
    nested_rust_js_rust
);

async fn js_calls_rust(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "js-rust").await;
    let rust_id = p.rust.node_id().to_owned();

    let r =
        p.js.call_ok(
            "rmath.add",
            json!({"a": 2, "b": 3.5, "label": "x"}),
            json!({"meta": {"user": "u1"}}),
        )
        .await;
    assert_eq!(r.result, json!({"sum": 5.5, "label": "x", "node": rust_id}));

    // Objects keep their key order through a Rust node, as JS code that stringifies or
    // iterates them expects.
    let r =
        p.js.call_ok(
            "rmath.echo",
            json!({"zeta": 1, "alpha": {"y": 2, "b": [{"k2": 1, "k1": 2}]}}),
            json!({}),
        )
        .await;
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&r.result), ["zeta", "alpha"], "{}", r.result);
    assert_eq!(keys(&r.result["alpha"]), ["y", "b"]);
    assert_eq!(keys(&r.result["alpha"]["b"][0]), ["k2", "k1"]);

    let r =
        p.js.call_ok(
            "rmath.info",
            json!({"q": [1, 2], "s": "ü"}),
            json!({"meta": {"user": "u1", "n": 7}, "requestID": "req-js-1", "headers": {"h": "y"}}),
        )
        .await;
    let info = &r.result;
    assert_eq!(info["level"], 1, "{info}");
    assert_eq!(info["requestID"], "req-js-1", "{info}");
    assert_eq!(info["parentID"], Value::Null, "{info}");
    assert_eq!(info["caller"], Value::Null, "{info}");
    assert_eq!(info["nodeID"], p.js.node_id, "{info}");
    assert_eq!(info["meta"], json!({"user": "u1", "n": 7}));
    assert_eq!(info["params"], json!({"q": [1, 2], "s": "ü"}));
    // Headers exist from protocol 5 on; 0.14 has no call headers to send.
    let headers = if v == JsVersion::V015 {
        json!({"h": "y"})
    } else {
        json!({})
    };
    assert_eq!(info["headers"], headers, "{info}");
    // The callee's meta change comes back into the JS caller's context.
    assert_eq!(r.meta, json!({"user": "u1", "n": 7, "rustSeen": true}));

    // A versioned Rust service is callable by its full name.
    let r = p.js.call_ok("v2.rver.hi", json!({}), json!({})).await;
    assert_eq!(r.result, json!(format!("hi from {rust_id}")));
    p.stop().await;
}

async fn rust_calls_js(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "rust-js").await;
    let sum: f64 = p
        .rust
        .call_with(
            "jsmath.add",
            json!({"a": 1.25, "b": 2}),
            CallOptions::new().meta(json!({"m": 1})),
        )
        .await
        .expect("jsmath.add");
    assert_eq!(sum, 3.25);

    let info: Value = p
        .rust
        .call_with(
            "jsmath.info",
            json!({"z": true, "list": [null, 1.5, "s"]}),
            CallOptions::new()
                .meta(json!({"m": "x"}))
                .headers(json!({"h": "x"}))
                .request_id("req-rs-1"),
        )
        .await
        .expect("jsmath.info");
    assert_eq!(info["level"], 1, "{info}");
    assert_eq!(info["requestID"], "req-rs-1", "{info}");
    assert_eq!(info["parentID"], Value::Null, "{info}");
    assert_eq!(info["caller"], Value::Null, "{info}");
    assert_eq!(info["nodeID"], p.rust.node_id(), "{info}");
    assert_eq!(info["meta"], json!({"m": "x"}));
    assert_eq!(info["params"], json!({"z": true, "list": [null, 1.5, "s"]}));
    if v == JsVersion::V015 {
        assert_eq!(info["headers"], json!({"h": "x"}), "{info}");
    }
    p.stop().await;
}

/// JS → Rust → JS: the chain keeps its request ID, levels go 1, 2, parent IDs link up, and meta
/// set on each hop reaches the root JS context.
async fn nested_js_rust_js(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "js-rust-js").await;
    let r =
        p.js.call_ok(
            "rmath.chain",
            json!({"action": "jsmath.info", "params": {"k": 1}}),
            json!({"meta": {"root": "js"}, "requestID": "req-js-2"}),
        )
        .await;
    let outer = &r.result["ctx"];
    let nested = &r.result["nested"];
    assert_eq!(outer["level"], 1, "{outer}");
    assert_eq!(outer["requestID"], "req-js-2", "{outer}");
    assert_eq!(outer["nodeID"], p.js.node_id, "{outer}");
    assert_eq!(outer["meta"], json!({"root": "js"}));

    assert_eq!(nested["level"], 2, "{nested}");
    assert_eq!(nested["requestID"], "req-js-2", "{nested}");
    assert_eq!(nested["parentID"], outer["id"], "{nested}");
    assert_eq!(nested["caller"], "rmath", "{nested}");
    assert_eq!(nested["nodeID"], p.rust.node_id(), "{nested}");
    assert_eq!(nested["meta"], json!({"root": "js", "rustChain": true}));
    assert_eq!(nested["params"], json!({"k": 1}));

    let merged = json!({"root": "js", "rustChain": true, "jsSeen": true});
    assert_eq!(
        r.result["metaAfter"], merged,
        "Rust context after the JS call"
    );
    assert_eq!(r.meta, merged, "JS root context after the chain");
    p.stop().await;
}

/// Rust → JS → Rust, rooted in a Rust action so the merged-back meta is visible in Rust:
/// `rmath.chain` (local, level 1) → `jsmath.chain` (level 2) → `rmath.info` (level 3).
async fn nested_rust_js_rust(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "rust-js-rust").await;
    let params = json!({"action": "jsmath.chain", "params": {"action": "rmath.info", "params": {"deep": true}}});
    let r: Value = p
        .rust
        .call_with(
            "rmath.chain",
            params,
            CallOptions::new()
                .meta(json!({"root": "rust"}))
                .request_id("req-rs-2"),
        )
        .await
        .expect("rmath.chain");
    let l1 = &r["ctx"];
    let l2 = &r["nested"]["ctx"];
    let l3 = &r["nested"]["nested"];
    assert_eq!(l1["level"], 1, "{l1}");
    assert_eq!(l1["requestID"], "req-rs-2", "{l1}");

    assert_eq!(l2["level"], 2, "{l2}");
    assert_eq!(l2["requestID"], "req-rs-2", "{l2}");
    assert_eq!(l2["parentID"], l1["id"], "{l2}");
    assert_eq!(l2["caller"], "rmath", "{l2}");
    assert_eq!(l2["nodeID"], p.rust.node_id(), "{l2}");
    assert_eq!(l2["meta"], json!({"root": "rust", "rustChain": true}));

    assert_eq!(l3["level"], 3, "{l3}");
    assert_eq!(l3["requestID"], "req-rs-2", "{l3}");
    assert_eq!(l3["parentID"], l2["id"], "{l3}");
    assert_eq!(l3["caller"], "jsmath", "{l3}");
    assert_eq!(l3["nodeID"], p.js.node_id, "{l3}");
    assert_eq!(
        l3["meta"],
        json!({"root": "rust", "rustChain": true, "jsChain": true})
    );
    assert_eq!(l3["params"], json!({"deep": true}));

    assert_eq!(
        r["nested"]["metaAfter"],
        json!({"root": "rust", "rustChain": true, "jsChain": true, "rustSeen": true}),
        "JS context after calling Rust"
    );
    assert_eq!(
        r["metaAfter"],
        json!({"root": "rust", "rustChain": true, "jsChain": true, "rustSeen": true}),
        "Rust root context after the chain"
    );
    p.stop().await;
}
