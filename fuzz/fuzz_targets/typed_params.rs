//! JSON params into typed handlers: any text as the params of a local call to actions whose
//! params are typed (structs, enums, maps, integers of every width, floats, chars, options) or
//! a `serde_json::Value`. The call answers a result or a `ValidationError`, never a panic
//! (a panic inside the broker would come back as a `HANDLER_PANIC` error: that fails too).
#![no_main]

use broker_core::{service, Broker, Error};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Debug, Serialize, Deserialize)]
struct Address {
    city: String,
    zip: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Shape {
    Circle { r: f64 },
    Rect { w: f32, h: f32 },
    Dot,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    name: String,
    age: u8,
    big: Option<i128>,
    small: Option<i16>,
    ratio: Option<f64>,
    initial: Option<char>,
    tags: Option<Vec<String>>,
    address: Option<Address>,
    shapes: Option<Vec<Shape>>,
    extra: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    flag: bool,
}

struct Fuzz;

#[service(name = "fz")]
impl Fuzz {
    #[action]
    async fn typed(&self, params: Params) -> Result<Params, Error> {
        Ok(params)
    }

    #[action]
    async fn tuple(&self, params: (u64, String, Option<bool>)) -> Result<u64, Error> {
        Ok(params.0)
    }

    #[action]
    async fn any(&self, params: Value) -> Result<Value, Error> {
        Ok(params)
    }
}

struct Node {
    runtime: tokio::runtime::Runtime,
    broker: Broker,
}

fn node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let broker = Broker::builder().node_id("fuzz").build();
        runtime.block_on(async {
            broker.add_service(Fuzz).await.expect("service");
            broker.start().await.expect("start");
        });
        Node { runtime, broker }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // Only JSON reaches a handler: a packet whose params are not JSON is dropped at decode.
    let Ok(raw) = RawValue::from_string(text.to_owned()) else {
        return;
    };
    let action = match selector % 3 {
        0 => "fz.typed",
        1 => "fz.tuple",
        _ => "fz.any",
    };
    let node = node();
    let result = node
        .runtime
        .block_on(node.broker.call::<Value>(action, raw));
    if let Err(err) = result {
        assert_ne!(
            err.error_type(),
            Some("HANDLER_PANIC"),
            "{action} panicked: {err}"
        );
        assert_eq!(err.name(), "ValidationError", "{action}: {err}");
    }
});
