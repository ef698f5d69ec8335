//! Errors across languages: name, message, code, type, data and origin node survive, JS
//! rebuilds its own classes from Rust errors, and missing actions and timeouts give the same
//! errors on both sides without leaving a caller hanging.

use crate::interop::{Bus, JsVersion, Pair};
use broker_core::{CallOptions, Error, ErrorKind};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

every_bus!(
    rust_errors_reach_js,
    js_errors_reach_rust,
    missing_actions,
    timeouts
);

fn has_class(err: &Value, class: &str) -> bool {
    err["instanceOf"]
        .as_array()
        .is_some_and(|a| a.iter().any(|c| c == class))
}

async fn rust_errors_reach_js(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "rust-err").await;
    let rust_id = p.rust.node_id().to_owned();

    let e =
        p.js.call_err("rmath.fail", json!({"kind": "custom"}), json!({}))
            .await;
    assert_eq!(e["name"], "MyError", "{e}");
    assert_eq!(e["message"], "custom rust failure", "{e}");
    assert_eq!(e["code"], 455, "{e}");
    assert_eq!(e["type"], "MY_RUST_TYPE", "{e}");
    assert_eq!(e["data"], json!({"deep": {"list": [1, 2, 3]}, "text": "ü"}));
    assert_eq!(e["nodeID"], rust_id, "{e}");
    assert_eq!(e["retryable"], false, "{e}");

    let e =
        p.js.call_err("rmath.fail", json!({"kind": "validation"}), json!({}))
            .await;
    assert_eq!(e["class"], "ValidationError", "{e}");
    assert!(
        has_class(&e, "ValidationError") && has_class(&e, "MoleculerClientError"),
        "{e}"
    );
    assert_eq!(e["message"], "Bad rust params", "{e}");
    assert_eq!(e["code"], 422, "{e}");
    assert_eq!(e["type"], "VALIDATION_ERROR", "{e}");
    assert_eq!(e["data"][0]["field"], "x", "{e}");
    assert_eq!(e["nodeID"], rust_id, "{e}");

    let e =
        p.js.call_err("rmath.fail", json!({"kind": "client"}), json!({}))
            .await;
    assert_eq!(e["class"], "MoleculerClientError", "{e}");
    assert_eq!(
        (&e["message"], &e["code"], &e["type"], &e["data"]),
        (
            &json!("Bad rust thing"),
            &json!(418),
            &json!("BAD_RUST_THING"),
            &json!({"y": 2})
        )
    );

    // Typed params of the wrong shape: a ValidationError naming the field.
    let e =
        p.js.call_err("rmath.add", json!({"a": "two", "b": 1}), json!({}))
            .await;
    assert_eq!(e["class"], "ValidationError", "{e}");
    assert_eq!(e["code"], 422, "{e}");
    let fields: Vec<&Value> = e["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| &i["field"])
        .collect();
    assert!(fields.iter().any(|f| *f == "a"), "{e}");

    // A JS error passing back through Rust keeps its origin node.
    let e =
        p.js.call_err(
            "rmath.chain",
            json!({"action": "jsmath.fail", "params": {"kind": "custom"}}),
            json!({}),
        )
        .await;
    assert_eq!(
        (&e["name"], &e["code"]),
        (&json!("MyJsError"), &json!(455)),
        "{e}"
    );
    assert_eq!(e["data"], json!({"deep": {"list": [1, 2, 3]}}));
    assert_eq!(e["nodeID"], p.js.node_id, "{e}");
    p.stop().await;
}

async fn rust_call(p: &Pair, action: &str, params: Value) -> Error {
    match p.rust.call::<Value>(action, params).await {
        Ok(v) => panic!("{action} succeeded with {v}"),
        Err(err) => err,
    }
}

async fn js_errors_reach_rust(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "js-err").await;
    let js_id = p.js.node_id.as_str();

    let e = rust_call(&p, "jsmath.fail", json!({"kind": "client"})).await;
    assert_eq!(e.kind(), ErrorKind::Client, "{e}");
    assert_eq!(e.name(), "MoleculerClientError");
    assert_eq!(e.message(), "Bad thing");
    assert_eq!((e.code(), e.error_type()), (418, Some("BAD_THING")));
    assert_eq!(e.data(), Some(&json!({"x": 1})));
    assert_eq!(e.node_id(), Some(js_id));
    assert!(!e.is_retryable());

    let e = rust_call(&p, "jsmath.fail", json!({"kind": "validation"})).await;
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert_eq!((e.code(), e.error_type()), (422, Some("MY_VALIDATION")));
    assert_eq!(e.data().map(|d| &d[0]["field"]), Some(&json!("a")));

    let e = rust_call(&p, "jsmath.fail", json!({"kind": "custom"})).await;
    assert_eq!((e.name(), e.message()), ("MyJsError", "custom js failure"));
    assert_eq!((e.code(), e.error_type()), (455, Some("MY_JS_TYPE")));
    assert_eq!(e.data(), Some(&json!({"deep": {"list": [1, 2, 3]}})));

    let e = rust_call(&p, "jsmath.fail", json!({"kind": "retryable"})).await;
    assert_eq!(e.kind(), ErrorKind::Retryable, "{e}");
    assert!(e.is_retryable());
    assert_eq!((e.code(), e.error_type()), (503, Some("BUSY")));

    let e = rust_call(&p, "jsmath.fail", json!({"kind": "plain"})).await;
    assert_eq!(
        (e.name(), e.message()),
        ("Error", "plain js failure"),
        "{e}"
    );
    assert_eq!(e.node_id(), Some(js_id));

    // JS's own params validation (fastest-validator) on a Rust call.
    let e = rust_call(&p, "jsmath.add", json!({"a": "x", "b": 1})).await;
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert_eq!(e.code(), 422);
    assert_eq!(e.data().map(|d| &d[0]["field"]), Some(&json!("a")));

    // A Rust error passing back through JS keeps its name and origin node.
    let e = rust_call(
        &p,
        "jsmath.chain",
        json!({"action": "rmath.fail", "params": {"kind": "custom"}}),
    )
    .await;
    assert_eq!((e.name(), e.code()), ("MyError", 455), "{e}");
    assert_eq!(e.error_type(), Some("MY_RUST_TYPE"));
    assert_eq!(e.node_id(), Some(p.rust.node_id()));
    p.stop().await;
}

async fn missing_actions(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "missing").await;
    // Raised by the caller itself, on each side.
    let e = p.js.call_err("nope.missing", json!({}), json!({})).await;
    assert_eq!(e["class"], "ServiceNotFoundError", "{e}");
    assert_eq!(
        (&e["code"], &e["data"]["action"]),
        (&json!(404), &json!("nope.missing"))
    );
    let e = rust_call(&p, "nope.missing", json!({})).await;
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::ServiceNotFound, 404),
        "{e}"
    );
    assert_eq!(e.name(), "ServiceNotFoundError");

    // Raised on the far side and carried back over the wire.
    let e =
        p.js.call_err("rmath.chain", json!({"action": "nope.deep"}), json!({}))
            .await;
    assert_eq!(e["class"], "ServiceNotFoundError", "{e}");
    assert!(has_class(&e, "ServiceNotFoundError"), "{e}");
    assert_eq!(e["data"]["action"], "nope.deep", "{e}");
    let msg = e["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("Service 'nope.deep' is not found"), "{e}");
    assert_eq!(e["nodeID"], p.rust.node_id(), "{e}");
    let e = rust_call(&p, "jsmath.chain", json!({"action": "nope.deep"})).await;
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::ServiceNotFound, 404),
        "{e}"
    );
    assert_eq!(e.data().map(|d| &d["action"]), Some(&json!("nope.deep")));
    assert_eq!(e.node_id(), Some(p.js.node_id.as_str()));
    p.stop().await;
}

async fn timeouts(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "timeout").await;
    let (rust_id, js_id) = (p.rust.node_id().to_owned(), p.js.node_id.clone());

    // JS → slow Rust action with a call timeout.
    let e =
        p.js.call_err("rmath.slow", json!({"ms": 3000}), json!({"timeout": 300}))
            .await;
    assert_eq!(e["class"], "RequestTimeoutError", "{e}");
    assert_eq!(
        (&e["code"], &e["data"]["action"]),
        (&json!(504), &json!("rmath.slow"))
    );
    assert_eq!(e["data"]["nodeID"], rust_id, "{e}");
    assert!(e["elapsedMs"].as_u64().is_some_and(|ms| ms < 2000), "{e}");

    // Rust → slow JS action with a call timeout.
    let t0 = Instant::now();
    let e = match p
        .rust
        .call_with::<Value>(
            "jsmath.slow",
            json!({"ms": 3000}),
            CallOptions::new().timeout(Duration::from_millis(300)),
        )
        .await
    {
        Ok(v) => panic!("jsmath.slow succeeded: {v}"),
        Err(e) => e,
    };
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::RequestTimeout, 504),
        "{e}"
    );
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());

    // Trap 7: a RequestTimeoutError raised in Rust and sent to a JS caller that has no timeout
    // of its own must be rebuilt (from its data), not hang the JS call.
    let e =
        p.js.call_err(
            "rmath.chain",
            json!({"action": "jsmath.slow", "params": {"ms": 3000}, "timeout_ms": 300}),
            json!({}),
        )
        .await;
    assert_eq!(e["class"], "RequestTimeoutError", "{e}");
    // Two timers of 300 ms race, as they do between two Moleculer.js nodes: the Rust caller's
    // own (the error names the callee, the JS node) and the JS callee's, which Moleculer.js
    // arms from the packet's timeout (its error names the node the request came from, the Rust
    // node). Either is Moleculer's answer; what matters is the class and the data's shape.
    let node = e["data"]["nodeID"].as_str().unwrap_or_default();
    assert!(node == js_id || node == rust_id, "{e}");
    assert_eq!(
        e["data"],
        json!({"action": "jsmath.slow", "nodeID": node}),
        "{e}"
    );
    assert!(e["elapsedMs"].as_u64().is_some_and(|ms| ms < 2500), "{e}");

    // And the mirror: JS's timeout error reaches a Rust caller without a timeout.
    let t0 = Instant::now();
    let call = p.rust.call::<Value>(
        "jsmath.chain",
        json!({"action": "rmath.slow", "params": {"ms": 3000}, "opts": {"timeout": 300}}),
    );
    let e = match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(Ok(v)) => panic!("chain succeeded: {v}"),
        Ok(Err(e)) => e,
        Err(_) => panic!("Rust caller hangs on a JS RequestTimeoutError"),
    };
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::RequestTimeout, 504),
        "{e}"
    );
    assert_eq!(e.data().map(|d| &d["action"]), Some(&json!("rmath.slow")));
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
    p.stop().await;
}
