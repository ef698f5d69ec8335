//! Typed clients against a Moleculer.js service: a `#[client]` trait describing the JS
//! `jsmath` service, called from the broker and, as a child context, from a Rust handler.

use crate::interop::{Bus, JsVersion, Pair};
use broker_core::{client, service, Context, Error};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

both_versions!(typed_client_calls_js);

#[derive(Serialize, Deserialize)]
struct AddParams {
    a: f64,
    b: f64,
}

/// `add` with params of the wrong shape: the JS validator must refuse them.
#[derive(Serialize, Deserialize)]
struct BadAddParams {
    a: String,
}

#[derive(Serialize, Deserialize)]
struct SlowParams {
    ms: u64,
}

/// The JS `jsmath` service of `interop/peer.js`.
#[client(name = "jsmath")]
trait JsMath {
    async fn add(&self, p: AddParams) -> Result<f64, Error>;
    /// Same action, wrong params (only a Rust client declared this way can send them).
    #[action(name = "add")]
    async fn add_wrong(&self, p: BadAddParams) -> Result<f64, Error>;
    async fn info(&self, p: Value) -> Result<Value, Error>;
    async fn slow(&self, p: SlowParams) -> Result<String, Error>;
}

/// A Rust service whose action calls JS through the client, from its context.
struct Relay;

#[service(name = "relay")]
impl Relay {
    #[action]
    async fn via_client(&self, ctx: Context) -> Result<Value, Error> {
        ctx.client::<JsMathClient>().info(json!({"hop": 2})).await
    }
}

async fn typed_client_calls_js(v: JsVersion) {
    let p = Pair::start(Bus::Redis, v, "typed-client").await;
    p.rust.add_service(Relay).await.expect("add relay");
    let math = JsMathClient::new(&p.rust);

    let sum = math.add(AddParams { a: 1.25, b: 2.0 }).await.expect("add");
    assert_eq!(sum, 3.25);

    let err = math
        .add_wrong(BadAddParams { a: "x".into() })
        .await
        .expect_err("JS validates the params");
    assert_eq!(err.name(), "ValidationError", "{err}");
    assert_eq!(err.code(), 422, "{err}");

    // Options: meta, headers (0.15) and the node reach the JS context.
    let info = math
        .clone()
        .with_meta(json!({"m": "client"}))
        .with_headers(json!({"h": "client"}))
        .with_node(p.js.node_id.clone())
        .info(json!({"k": 1}))
        .await
        .expect("info");
    assert_eq!(info["level"], 1, "{info}");
    assert_eq!(info["meta"], json!({"m": "client"}), "{info}");
    assert_eq!(info["params"], json!({"k": 1}), "{info}");
    if v == JsVersion::V015 {
        assert_eq!(info["headers"], json!({"h": "client"}), "{info}");
    }

    let err = math
        .clone()
        .with_timeout(Duration::from_millis(100))
        .slow(SlowParams { ms: 2_000 })
        .await
        .expect_err("times out");
    assert!(err.is_timeout(), "{err}");

    // From a Rust handler: a child context of the handler's call.
    let nested: Value = p
        .rust
        .call_with(
            "relay.via_client",
            json!({}),
            broker_core::CallOptions::new()
                .meta(json!({"root": "rust"}))
                .request_id("req-client-1"),
        )
        .await
        .expect("relay");
    assert_eq!(nested["level"], 2, "{nested}");
    assert_eq!(nested["requestID"], "req-client-1", "{nested}");
    assert_eq!(nested["caller"], "relay", "{nested}");
    assert!(nested["parentID"].is_string(), "{nested}");
    assert_eq!(nested["meta"], json!({"root": "rust"}), "{nested}");
    assert_eq!(nested["params"], json!({"hop": 2}), "{nested}");
    p.stop().await;
}
