//! Property tests over the entry points a peer reaches: packet decoding (any bytes, any packet
//! type and protocol version: never a panic; generated packets survive encode → decode), event
//! pattern matching and the shard strategy checked against Moleculer.js's own code
//! (`interop/matchers.js` runs `Utils.match` and `Strategies.Shard` of the pinned 0.15.2 and
//! 0.14.36 packages on tables generated here), and the shard strategy's spread.

#[macro_use]
mod interop;

use broker_core::packet::{
    BarePacket, ClientInfo, EventPacket, HeartbeatPacket, InfoPacket, JsonMap, Packet, PacketType,
    PingPacket, PongPacket, RequestPacket, ResponsePacket, ServiceInfo,
};
use broker_core::payload::{to_payload, Params};
use broker_core::strategy::{Candidate, Request};
use broker_core::{Shard, ShardOptions, Strategy as _, WireError};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

// ---------------------------------------------------------------------------------------------
// Packets

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((".{0,8}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn json_map() -> impl Strategy<Value = JsonMap> {
    prop::collection::vec(("[a-z$#@-]{1,8}", json_value()), 0..4)
        .prop_map(|kv| kv.into_iter().collect())
}

fn text() -> impl Strategy<Value = String> {
    ".{0,16}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

/// Numbers as Moleculer.js writes them: doubles, so integers up to 2^53.
fn js_int() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(0u64..(1 << 53))
}

fn version() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("4"), Just("5")]
}

/// Headers travel in protocol 5 only.
fn headers(ver: &str) -> BoxedStrategy<Option<JsonMap>> {
    if ver == "5" {
        prop::option::of(json_map()).boxed()
    } else {
        Just(None).boxed()
    }
}

fn payload() -> impl Strategy<Value = Box<serde_json::value::RawValue>> {
    json_value().prop_map(|v| to_payload(&v).expect("a Value serializes"))
}

fn request() -> impl Strategy<Value = Packet> {
    version().prop_flat_map(|ver| {
        (
            (text(), text(), payload(), json_map(), headers(ver)),
            (
                js_int(),
                js_int(),
                prop::option::of(any::<bool>()),
                opt_text(),
                opt_text(),
            ),
            (
                opt_text(),
                prop::option::of(any::<bool>()),
                js_int(),
                text(),
            ),
        )
            .prop_map(
                move |(
                    (id, action, params, meta, headers),
                    (timeout, level, tracing, parent_id, request_id),
                    (caller, stream, seq, sender),
                )| {
                    Packet::Request(RequestPacket {
                        id,
                        action,
                        params,
                        meta,
                        headers,
                        timeout,
                        level,
                        tracing,
                        parent_id,
                        request_id,
                        caller,
                        stream,
                        seq,
                        ver: ver.to_owned(),
                        sender,
                    })
                },
            )
    })
}

fn wire_error() -> impl Strategy<Value = WireError> {
    (
        (text(), text(), opt_text(), prop::option::of(-1000i64..1000)),
        (opt_text(), prop::option::of(any::<bool>()), opt_text()),
        prop::option::of(json_value().prop_filter("not null", |v| !v.is_null())),
    )
        .prop_map(
            |((name, message, node_id, code), (error_type, retryable, stack), data)| WireError {
                name,
                message,
                node_id,
                code,
                error_type,
                retryable,
                stack,
                data,
            },
        )
}

fn response() -> impl Strategy<Value = Packet> {
    version().prop_flat_map(|ver| {
        (
            (text(), json_map(), headers(ver), any::<bool>()),
            // `"data": null` reads back as no data (serde's `Option`): both mean `null` to
            // the caller, so only non-null data is compared byte for byte.
            (
                prop::option::of(payload().prop_filter("not null", |p| p.get() != "null")),
                prop::option::of(wire_error()),
            ),
            (prop::option::of(any::<bool>()), js_int(), text()),
        )
            .prop_map(
                move |((id, meta, headers, success), (data, error), (stream, seq, sender))| {
                    Packet::Response(ResponsePacket {
                        id,
                        meta,
                        headers,
                        success,
                        data,
                        error,
                        stream,
                        seq,
                        ver: ver.to_owned(),
                        sender,
                    })
                },
            )
    })
}

fn event() -> impl Strategy<Value = Packet> {
    version().prop_flat_map(|ver| {
        (
            (
                text(),
                text(),
                payload(),
                prop::option::of(prop::collection::vec(text(), 0..3)),
            ),
            (any::<bool>(), json_map(), headers(ver), js_int()),
            (
                prop::option::of(any::<bool>()),
                opt_text(),
                opt_text(),
                opt_text(),
                text(),
            ),
        )
            .prop_map(
                move |(
                    (id, event, data, groups),
                    (broadcast, meta, headers, level),
                    (tracing, parent_id, request_id, caller, sender),
                )| {
                    Packet::Event(EventPacket {
                        id,
                        event,
                        data,
                        groups,
                        broadcast,
                        meta,
                        headers,
                        level,
                        tracing,
                        parent_id,
                        request_id,
                        caller,
                        need_ack: None,
                        ver: ver.to_owned(),
                        sender,
                    })
                },
            )
    })
}

fn service_info() -> impl Strategy<Value = ServiceInfo> {
    (
        (
            text(),
            prop::option::of(prop_oneof![
                (0i64..100).prop_map(|n| json!(n)),
                "[a-z0-9.]{1,6}".prop_map(Value::String),
            ]),
        ),
        (opt_text(), json_map(), json_map(), json_map(), json_map()),
    )
        .prop_map(
            |((name, version), (full_name, settings, metadata, actions, events))| ServiceInfo {
                name,
                version,
                full_name,
                settings,
                metadata,
                actions,
                events,
            },
        )
}

fn info() -> impl Strategy<Value = Packet> {
    (
        (
            prop::collection::vec(service_info(), 0..4),
            prop::collection::vec(text(), 0..3),
        ),
        (
            text(),
            (text(), text(), text()),
            json_map(),
            text(),
            json_map(),
        ),
        (js_int(), version(), text()),
    )
        .prop_map(
            |(
                (services, ip_list),
                (hostname, (client_type, version, lang_version), config, instance_id, metadata),
                (seq, ver, sender),
            )| {
                Packet::Info(InfoPacket {
                    services,
                    ip_list,
                    hostname,
                    client: ClientInfo {
                        client_type,
                        version,
                        lang_version,
                    },
                    config,
                    instance_id,
                    metadata,
                    seq,
                    ver: ver.to_owned(),
                    sender,
                })
            },
        )
}

fn small() -> impl Strategy<Value = Packet> {
    let time = || prop::option::of(-(1i64 << 53)..(1i64 << 53));
    prop_oneof![
        (version(), text()).prop_map(|(ver, sender)| Packet::Discover(BarePacket {
            ver: ver.to_owned(),
            sender
        })),
        (version(), text()).prop_map(|(ver, sender)| Packet::Disconnect(BarePacket {
            ver: ver.to_owned(),
            sender
        })),
        (
            prop::option::of(0u32..100),
            js_int(),
            opt_text(),
            version(),
            text()
        )
            .prop_map(|(cpu, seq, instance_id, ver, sender)| Packet::Heartbeat(
                HeartbeatPacket {
                    cpu: cpu.map(f64::from),
                    seq,
                    instance_id,
                    ver: ver.to_owned(),
                    sender,
                }
            )),
        (time(), text(), version(), text()).prop_map(|(time, id, ver, sender)| {
            Packet::Ping(PingPacket {
                time,
                id,
                ver: ver.to_owned(),
                sender,
            })
        }),
        (time(), text(), time(), version(), text()).prop_map(|(time, id, arrived, ver, sender)| {
            Packet::Pong(PongPacket {
                time,
                id,
                arrived,
                ver: ver.to_owned(),
                sender,
            })
        }),
    ]
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![request(), response(), event(), info(), small()]
}

/// Objects with the packets' own field names and values of any type, so decoding gets past
/// the first byte and into every field's (lenient) reader.
fn packet_like_json() -> impl Strategy<Value = Vec<u8>> {
    const FIELDS: [&str; 24] = [
        "id",
        "action",
        "event",
        "params",
        "data",
        "meta",
        "headers",
        "timeout",
        "level",
        "tracing",
        "parentID",
        "requestID",
        "caller",
        "stream",
        "seq",
        "ver",
        "sender",
        "success",
        "error",
        "groups",
        "broadcast",
        "services",
        "cpu",
        "instanceID",
    ];
    prop::collection::vec((prop::sample::select(&FIELDS[..]), json_value()), 0..10).prop_map(
        |fields| {
            let map: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            serde_json::to_vec(&map).expect("serializes")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_on_any_topic_decode_or_fail_cleanly(
        type_index in 0usize..9,
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..256), packet_like_json()],
    ) {
        let packet_type = PacketType::ALL[type_index];
        if let Ok(packet) = Packet::decode(packet_type, &bytes) {
            // Whatever is accepted can be sent on and read back.
            let encoded = packet.encode();
            let again = Packet::decode(packet_type, &encoded);
            prop_assert!(again.is_ok(), "{:?}", again.err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn packets_of_every_type_and_version_survive_encode_then_decode(packet in packet()) {
        let encoded = packet.encode();
        let decoded = Packet::decode(packet.packet_type(), &encoded);
        prop_assert!(decoded.is_ok(), "{:?}", decoded.as_ref().err());
        let decoded = decoded.expect("checked");
        prop_assert_eq!(decoded.packet_type(), packet.packet_type());
        prop_assert_eq!(decoded.sender(), packet.sender());
        prop_assert_eq!(decoded.ver(), packet.ver());
        let again = decoded.encode();
        prop_assert_eq!(String::from_utf8_lossy(&again), String::from_utf8_lossy(&encoded));
    }
}

// ---------------------------------------------------------------------------------------------
// Against Moleculer.js

/// Asks `interop/matchers.js` (Moleculer.js `version`) the questions in `input`.
fn ask_js(version: &str, input: &Value) -> Value {
    interop::ensure_js_deps();
    let mut child = Command::new("node")
        .arg("matchers.js")
        .arg(version)
        .current_dir(interop::interop_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write the questions");
    let out = child.wait_with_output().expect("node finishes");
    assert!(out.status.success(), "matchers.js failed: {}", out.status);
    serde_json::from_slice(&out.stdout).expect("JSON answers")
}

/// `count` values of `strategy` from a fresh random runner (the table differs on every run;
/// a mismatch prints its cases).
fn sample<S: Strategy>(strategy: S, count: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::default();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

/// Names and patterns over the characters that matter: letters, dots, the wildcards, a `$`
/// prefix, and the odd non-ASCII letter.
fn match_table(count: usize) -> Vec<(String, String)> {
    let name = "\\$?[ab.é]{0,7}";
    let pattern = "\\$?[ab.*?é]{0,7}";
    let mut table = sample((name, pattern), count);
    // Realistic shapes too.
    for (n, p) in [
        ("user.created", "user.*"),
        ("user.created.now", "user.*"),
        ("user.created.now", "user.**"),
        ("$node.connected", "$node.*"),
        ("$services.changed", "$node.*"),
        ("posts.x.done", "posts.*.done"),
        ("user..x", "user.*"),
        ("axb", "a.?"),
    ] {
        table.push((n.to_owned(), p.to_owned()));
    }
    table
}

fn compare_matcher(version: &str) {
    let table = match_table(4000);
    let input = json!({
        "match": table.iter().map(|(n, p)| json!([n, p])).collect::<Vec<_>>(),
    });
    let answers = ask_js(version, &input);
    let answers = answers["match"].as_array().expect("match answers");
    assert_eq!(answers.len(), table.len());
    let mut wrong = Vec::new();
    for ((name, pattern), js) in table.iter().zip(answers) {
        let Some(js) = js.as_bool() else { continue };
        let rust = broker_core::event_match::matches(pattern, name);
        if rust != js {
            wrong.push(format!("{pattern:?} vs {name:?}: JS {js}, Rust {rust}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ from Moleculer.js {version}:\n{}",
        wrong.len(),
        table.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}

#[test]
fn event_patterns_match_as_moleculer_0_15_matches_them() {
    compare_matcher("0.15");
}

#[test]
fn event_patterns_match_as_moleculer_0_14_matches_them() {
    compare_matcher("0.14");
}

fn rust_shard(nodes: &[String], vnodes: usize, keys: &[Value]) -> Vec<String> {
    let shard = Shard::new(ShardOptions {
        shard_key: "key".into(),
        vnodes,
    });
    let candidates: Vec<Candidate<'_>> = nodes
        .iter()
        .map(|n| Candidate {
            node_id: n,
            local: false,
            cpu: None,
            latency: None,
        })
        .collect();
    let meta = JsonMap::new();
    keys.iter()
        .map(|key| {
            let params = Params::from_value(json!({ "key": key }));
            let request = Request {
                name: "svc.action",
                params: &params,
                meta: &meta,
            };
            nodes[shard.select(&candidates, &request)].clone()
        })
        .collect()
}

fn shard_key() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-zA-Z0-9._-]{1,12}".prop_map(Value::String),
        (0u32..1_000_000).prop_map(|n| json!(n)),
        (-1000i32..1000).prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn compare_shard(version: &str) {
    let node_sets = sample(
        (
            prop::collection::btree_set("[a-z][a-z0-9-]{0,10}", 1..8),
            1usize..20,
        ),
        40,
    );
    let cases: Vec<(Vec<String>, usize, Vec<Value>)> = node_sets
        .into_iter()
        .map(|(nodes, vnodes)| {
            // The candidates in an arbitrary order: the ring sorts them.
            let mut nodes: Vec<String> = nodes.into_iter().collect();
            nodes.reverse();
            (nodes, vnodes, sample(shard_key(), 50))
        })
        .collect();
    let input = json!({
        "shard": cases.iter().map(|(nodes, vnodes, keys)| json!({
            "nodes": nodes, "vnodes": vnodes, "keys": keys,
        })).collect::<Vec<_>>(),
    });
    let answers = ask_js(version, &input);
    let answers = answers["shard"].as_array().expect("shard answers");
    let mut compared = 0;
    for ((nodes, vnodes, keys), js) in cases.iter().zip(answers) {
        let rust = rust_shard(nodes, *vnodes, keys);
        let js: Vec<String> = serde_json::from_value(js.clone()).expect("node IDs");
        for ((key, r), j) in keys.iter().zip(&rust).zip(&js) {
            assert_eq!(
                r, j,
                "key {key} on nodes {nodes:?} (vnodes {vnodes}): Rust and Moleculer.js {version} differ"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 40 * 50);
}

#[test]
fn shard_routes_every_key_to_the_node_moleculer_0_15_picks() {
    compare_shard("0.15");
}

#[test]
fn shard_routes_every_key_to_the_node_moleculer_0_14_picks() {
    compare_shard("0.14");
}

/// With Moleculer's default 10 virtual nodes, each of 4 nodes gets a fair share of 20,000
/// keys, and a key always goes to the same node.
#[test]
fn shard_spreads_keys_over_the_nodes() {
    let nodes: Vec<String> = (1..=4).map(|i| format!("node-{i}")).collect();
    let keys: Vec<Value> = (0..20_000).map(|i| json!(format!("user-{i}"))).collect();
    let routed = rust_shard(&nodes, 10, &keys);
    assert_eq!(routed, rust_shard(&nodes, 10, &keys), "stable");
    for node in &nodes {
        let share = routed.iter().filter(|n| *n == node).count();
        assert!(
            (3_500..6_500).contains(&share),
            "{node} got {share} of 20000 keys"
        );
    }
}
