//! Golden packets captured from Moleculer.js (see the protocol reference), decoded and encoded
//! again for both protocol versions.

use super::*;
use serde_json::json;

fn round_trip(packet_type: PacketType, captured: serde_json::Value) -> Packet {
    let bytes = serde_json::to_vec(&captured).expect("fixture serializes");
    let packet = Packet::decode(packet_type, &bytes).expect("fixture decodes");
    assert_eq!(packet.packet_type(), packet_type);
    let again: serde_json::Value =
        serde_json::from_slice(&packet.encode()).expect("encoding is JSON");
    assert_eq!(again, captured, "{packet_type} does not round-trip");
    packet
}

#[test]
fn request_v5_round_trips() {
    let p = round_trip(
        PacketType::Request,
        json!({"id":"f57f546f-6bb9-46f4-bfb4-40fb8b4f3dc9","action":"v2.greeter.hello","params":{"name":"John"},
               "meta":{"a":1},"headers":{"h":"x"},"timeout":5000,"level":1,"tracing":null,"parentID":null,
               "requestID":"req-1","caller":null,"stream":false,"ver":"5","sender":"node-1"}),
    );
    let Packet::Request(req) = p else {
        panic!("not a request")
    };
    assert_eq!(req.timeout, Some(5000));
    assert_eq!(req.headers.expect("headers")["h"], "x");
}

#[test]
fn request_v4_has_no_headers() {
    let p = round_trip(
        PacketType::Request,
        json!({"id":"1","action":"math.add","params":{"a":1},"meta":{},"timeout":0,"level":1,
               "tracing":null,"parentID":null,"requestID":"1","caller":null,"stream":false,"ver":"4","sender":"js"}),
    );
    let Packet::Request(req) = p else {
        panic!("not a request")
    };
    assert!(req.headers.is_none());
}

#[test]
fn response_success_error_and_undefined() {
    round_trip(
        PacketType::Response,
        json!({"id":"f57f","meta":{"a":1,"replied":true},"headers":{},"success":true,"data":{"message":"Hello John"},"ver":"5","sender":"node-2"}),
    );
    let p = round_trip(
        PacketType::Response,
        json!({"id":"93f8","meta":{},"headers":{},"success":false,
               "error":{"name":"MoleculerClientError","message":"Bad thing","nodeID":"node-2","code":418,
                        "type":"BAD_THING","retryable":false,"stack":"MoleculerClientError: Bad thing","data":{"x":1}},
               "ver":"5","sender":"node-2"}),
    );
    let Packet::Response(res) = p else {
        panic!("not a response")
    };
    assert_eq!(res.error.expect("error").code, Some(418));
    // A JS handler returning `undefined`: no `data` key at all.
    let p = round_trip(
        PacketType::Response,
        json!({"id":"x","meta":{},"headers":{},"success":true,"ver":"5","sender":"node-2"}),
    );
    let Packet::Response(res) = p else {
        panic!("not a response")
    };
    assert!(res.data.is_none());
}

#[test]
fn events_emit_and_broadcast() {
    round_trip(
        PacketType::Event,
        json!({"id":"5e78","event":"user.created","data":{"id":1},"groups":["greeter"],"broadcast":false,
               "meta":{},"headers":{},"level":1,"tracing":null,"parentID":null,"requestID":"76c5",
               "caller":null,"needAck":null,"ver":"5","sender":"node-1"}),
    );
    let p = round_trip(
        PacketType::Event,
        json!({"id":"290e","event":"user.created","data":{"id":3},"broadcast":true,"meta":{},"headers":{},
               "level":1,"tracing":null,"parentID":null,"requestID":"7456","caller":null,"needAck":null,
               "ver":"5","sender":"node-1"}),
    );
    let Packet::Event(ev) = p else {
        panic!("not an event")
    };
    assert!(ev.groups.is_none());
}

#[test]
fn info_heartbeat_ping_pong_discover_disconnect() {
    let info = round_trip(
        PacketType::Info,
        json!({"services":[{"name":"greeter","version":2,"fullName":"v2.greeter","settings":{"a":1},"metadata":{"scalable":true},
                 "actions":{"v2.greeter.hello":{"params":{"name":"string"},"cache":false,"visibility":"published","rawName":"hello","name":"v2.greeter.hello"}},
                 "events":{"order.*":{"group":"orders","name":"order.*"}}}],
               "ipList":["192.0.2.2"],"hostname":"vm","client":{"type":"nodejs","version":"0.15.2","langVersion":"v20.20.2"},
               "config":{},"instanceID":"05ae85cd","metadata":{"region":"eu"},"seq":2,"ver":"5","sender":"node-2"}),
    );
    let Packet::Info(info) = info else {
        panic!("not info")
    };
    assert_eq!(info.seq, Some(2));
    assert_eq!(info.client.client_type, "nodejs");
    round_trip(
        PacketType::Heartbeat,
        json!({"cpu":0.0,"ver":"5","sender":"node-2"}),
    );
    round_trip(
        PacketType::Ping,
        json!({"time":1795420394989_i64,"id":"a3d2","ver":"5","sender":"node-1"}),
    );
    round_trip(
        PacketType::Pong,
        json!({"time":1795420394989_i64,"id":"a3d2","arrived":1795420394990_i64,"ver":"5","sender":"node-2"}),
    );
    round_trip(PacketType::Discover, json!({"ver":"4","sender":"node-1"}));
    round_trip(PacketType::Disconnect, json!({"ver":"4","sender":"node-2"}));
}

#[test]
fn lenient_numbers_and_nulls() {
    let raw = br#"{"id":"1","action":"a.b","params":null,"meta":null,"timeout":1500.0,"level":"2","ver":"4","sender":"x"}"#;
    let Packet::Request(req) = Packet::decode(PacketType::Request, raw).expect("decodes") else {
        panic!("not a request")
    };
    assert_eq!(req.timeout, Some(1500));
    assert_eq!(req.level, Some(2));
    assert!(req.meta.is_empty());
    let hb = br#"{"cpu":null,"ver":"4","sender":"x"}"#;
    assert!(Packet::decode(PacketType::Heartbeat, hb).is_ok());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for bytes in [&b"not json"[..], b"[]", b"{\"id\":5}", b"", b"\xff\xfe"] {
        for t in PacketType::ALL {
            assert!(Packet::decode(t, bytes).is_err(), "{t} accepted {bytes:?}");
        }
    }
}
