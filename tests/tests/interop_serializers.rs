//! Moleculer's serializers against the npm packages Moleculer.js uses.
//!
//! Golden packets: `interop/serializer-golden.js` has two Moleculer.js brokers exchange a
//! packet of every type with each serializer (0.15.2 and 0.14.36); ours decodes each to the
//! packet JS's own JSON serializer describes, and encodes it back to the very same bytes.
//!
//! Interop: a Rust node and a JS node on the same serializer over Redis call each other
//! (typed params), fail both ways and deliver an event, for each serializer and both
//! Moleculer.js versions; then the same with Moleculer's Transmit middlewares on both sides
//! (Encryption with aes-256-cbc, Compression with each method).

#[macro_use]
mod interop;

use broker_core::packet::PacketType;
use broker_core::serializer::{JsonSerializer, Serializer};
use broker_core::{ActionDef, BrokerBuilder, Context, EventDef, ServiceSchema};
use broker_serializers::{
    CborSerializer, Compression, CompressionMethod, Encryption, MsgPackSerializer,
    NotepackSerializer,
};
use interop::peer::JsPeer;
use interop::{ensure_js_deps, eventually, interop_dir, Cluster, JsVersion, WAIT};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One test per serializer and Moleculer.js version, for golden packets and for interop.
macro_rules! per_serializer {
    ($($name:ident => $serializer:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn golden_v15() {
                golden(JsVersion::V015, Arc::new($serializer)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn golden_v14() {
                golden(JsVersion::V014, Arc::new($serializer)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn interop_v15() {
                interop::run_bounded(calls_errors_events(
                    JsVersion::V015,
                    Arc::new($serializer),
                    json!({}),
                ))
                .await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn interop_v14() {
                interop::run_bounded(calls_errors_events(
                    JsVersion::V014,
                    Arc::new($serializer),
                    json!({}),
                ))
                .await
            }
        }
    )*};
}

per_serializer!(
    json => JsonSerializer,
    msgpack => MsgPackSerializer,
    notepack => NotepackSerializer,
    cbor => CborSerializer,
);

/// Compression (each method) and encryption on both sides, with a threshold that leaves the
/// small packets uncompressed and compresses the larger ones (INFO, the echoed params).
macro_rules! per_compression {
    ($($name:ident => $method:literal),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn transmit_v15() {
                interop::run_bounded(calls_errors_events(
                    JsVersion::V015,
                    Arc::new(MsgPackSerializer),
                    transmit($method),
                ))
                .await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn transmit_v14() {
                interop::run_bounded(calls_errors_events(
                    JsVersion::V014,
                    Arc::new(JsonSerializer),
                    transmit($method),
                ))
                .await
            }
        }
    )*};
}

per_compression!(deflate => "deflate", deflate_raw => "deflateRaw", gzip => "gzip");

const PASSWORD: [u8; 32] = *b"a 32-byte password for AES 256!!";
const IV: [u8; 16] = *b"sixteen byte iv.";

fn transmit(method: &str) -> Value {
    json!({
        "compression": {"method": method, "threshold": 200},
        "encryption": {"password": hex(&PASSWORD), "iv": hex(&IV)},
    })
}

/// The Rust side of a peer's `transmit` config: encryption nearest the bus, as the peer.
fn with_transmit(builder: BrokerBuilder, transmit: &Value) -> BrokerBuilder {
    let mut builder = builder;
    if transmit.get("encryption").is_some() {
        builder =
            builder.transit_middleware(Encryption::aes_256_cbc(&PASSWORD, &IV).expect("valid key"));
    }
    if let Some(c) = transmit.get("compression") {
        let method = match c["method"].as_str() {
            Some("deflateRaw") => CompressionMethod::DeflateRaw,
            Some("gzip") => CompressionMethod::Gzip,
            _ => CompressionMethod::Deflate,
        };
        let threshold = c["threshold"].as_u64().unwrap_or(1024) as usize;
        builder = builder.transit_middleware(Compression::new(method).threshold(threshold));
    }
    builder
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex from the script"))
        .collect()
}

/// The packets `serializer-golden.js` captured: (type, bytes, the JSON of the same packet).
async fn js_packets(v: JsVersion, serializer: &str) -> Vec<(PacketType, Vec<u8>, Value)> {
    ensure_js_deps();
    let run = tokio::process::Command::new("node")
        .arg("serializer-golden.js")
        .arg(v.peer_arg())
        .arg(serializer)
        .current_dir(interop_dir())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the golden script finishes within a minute")
        .expect("node runs");
    assert!(
        out.status.success(),
        "golden script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    text.lines()
        .map(|line| {
            let p: Value = serde_json::from_str(line).expect("a JSON line");
            let ty = p["type"].as_str().expect("type");
            let packet_type = PacketType::parse(ty).expect("a known packet type");
            let json = serde_json::from_str(p["json"].as_str().expect("json")).expect("JSON");
            (packet_type, unhex(p["hex"].as_str().expect("hex")), json)
        })
        .collect()
}

async fn golden(v: JsVersion, serializer: Arc<dyn Serializer>) {
    let packets = js_packets(v, serializer.name()).await;
    let mut seen = Vec::new();
    for (packet_type, bytes, json) in &packets {
        let what = format!("{} {packet_type} {}", serializer.name(), v.moleculer());
        let packet = serializer
            .deserialize(*packet_type, bytes)
            .unwrap_or_else(|e| panic!("{what}: ours cannot decode {}: {e}", hex(bytes)));
        let ours: Value =
            serde_json::from_slice(&JsonSerializer.serialize(&packet).expect("JSON encodes"))
                .expect("our JSON parses");
        assert_eq!(
            &ours, json,
            "{what}: decoded packet differs from what JS sent"
        );
        let again = serializer.serialize(&packet).expect("encodes");
        assert_eq!(hex(&again), hex(bytes), "{what}: re-encoded bytes differ");
        if !seen.contains(packet_type) {
            seen.push(*packet_type);
        }
    }
    assert_eq!(
        seen.len(),
        PacketType::ALL.len(),
        "every packet type: {seen:?}"
    );
}

/// Events the Rust node received: (name, data).
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

fn rust_service(seen: Seen) -> ServiceSchema {
    ServiceSchema::new("rser")
        .action(ActionDef::new("add", |ctx: Context| async move {
            #[derive(serde::Deserialize)]
            struct Add {
                a: f64,
                b: f64,
            }
            let p: Add = ctx.params_as()?;
            Ok(json!({"sum": p.a + p.b}))
        }))
        .action(ActionDef::new("echo", |ctx: Context| async move {
            Ok(ctx.params().clone())
        }))
        .action(ActionDef::new("fail", |_ctx: Context| async move {
            Err::<Value, _>(
                broker_core::Error::client("rust says no", 418, "TEAPOT")
                    .with_data(json!({"why": [1, "two"]})),
            )
        }))
        .event(EventDef::new("ser.happened", move |ctx: Context| {
            let seen = seen.clone();
            async move {
                let name = ctx.event_name().unwrap_or_default().to_owned();
                seen.lock()
                    .expect("not poisoned")
                    .push((name, ctx.params().clone()));
                Ok(())
            }
        }))
}

async fn calls_errors_events(v: JsVersion, serializer: Arc<dyn Serializer>, transmit: Value) {
    let name = serializer.name();
    let cluster = Cluster::new(v, &format!("ser-{}", name.to_lowercase()));
    let seen: Seen = Arc::default();
    let rust = with_transmit(cluster.rust_node(&cluster.node_id("rust")), &transmit)
        .shared_serializer(serializer.clone())
        .build();
    rust.add_service(rust_service(seen.clone()))
        .await
        .expect("add service");
    let mut config = cluster.peer_config(
        &cluster.node_id("js"),
        &["jsmath"],
        json!([{"event": "ser.happened"}]),
    );
    config["serializer"] = json!(name);
    config["transmit"] = transmit;
    let (started, js) = tokio::join!(rust.start(), JsPeer::start(config));
    started.expect("Rust node starts");
    rust.wait_for_services(&["jsmath"], WAIT)
        .await
        .expect("Rust sees jsmath");
    js.wait_for(&["rser"]).await;

    // JS → Rust: typed params, a Buffer, numbers of every width, an error.
    let r = js
        .call_ok("rser.add", json!({"a": 2, "b": 0.5}), json!({}))
        .await;
    assert_eq!(r.result, json!({"sum": 2.5}));
    let mixed = json!({"big": 5_000_000_000u64, "neg": -300_000_000, "f": 0.1, "s": "é ü",
                       "list": [null, true, {"k": []}]});
    let r = js.call_ok("rser.echo", mixed.clone(), json!({})).await;
    assert_eq!(r.result, mixed);
    let e = js.call_err("rser.fail", json!({}), json!({})).await;
    assert_eq!(
        (&e["message"], &e["code"], &e["type"]),
        (&json!("rust says no"), &json!(418), &json!("TEAPOT")),
        "{e}"
    );
    assert_eq!(e["data"], json!({"why": [1, "two"]}), "{e}");

    // Rust → JS.
    let sum: Value = rust
        .call("jsmath.add", json!({"a": 40, "b": 2}))
        .await
        .expect("jsmath.add");
    assert_eq!(sum, json!(42));
    let err = rust
        .call::<Value>("jsmath.fail", json!({"kind": "client"}))
        .await
        .expect_err("jsmath.fail fails");
    assert_eq!(err.code(), 418, "{err}");

    // Events both ways.
    rust.emit("ser.happened", json!({"from": "rust", "n": [1, 2.5]}))
        .await
        .expect("emit");
    let got = eventually("the JS node receives the event", WAIT, || async {
        let events = js.events().await;
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(
        got[0]["params"],
        json!({"from": "rust", "n": [1, 2.5]}),
        "{got:?}"
    );
    js.emit("ser.happened", json!({"from": "js"}), json!({}))
        .await;
    // (The Rust node's own emit reached its own group too: one handler per group.)
    let from_js = ("ser.happened".to_owned(), json!({"from": "js"}));
    eventually("the Rust node receives the event", WAIT, || async {
        let seen = seen.lock().expect("not poisoned").clone();
        seen.contains(&from_js).then_some(())
    })
    .await;

    let (stopped, ()) = tokio::join!(rust.stop(), js.exit());
    stopped.expect("Rust node stops");
    js.assert_no_errors();
}
