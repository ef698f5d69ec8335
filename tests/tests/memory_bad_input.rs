//! Bad packets on the bus are logged and dropped; the node keeps serving.

mod common;

use broker_core::transporter::Bytes;
use broker_core::{Broker, MemoryBus};
use common::{math_service, node, WAIT};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn payload(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn garbage_wrong_shapes_versions_and_impostors_are_dropped() {
    let bus = MemoryBus::new();
    let counter = Arc::new(AtomicUsize::new(0));
    let (b, _) = node(&bus, "victim");
    let victim: Broker = b.max_packet_size(64 * 1024).build();
    victim
        .add_service(math_service(counter.clone()))
        .await
        .expect("add");
    victim.start().await.expect("start");
    let (b, _) = node(&bus, "caller");
    let caller = b.build();
    caller.start().await.expect("start");
    caller
        .wait_for_services(&["math"], WAIT)
        .await
        .expect("sees math");

    let req = "MOL-test.REQ.victim";
    let huge = format!(
        r#"{{"id":"h","action":"math.add","params":{{"pad":"{}"}},"meta":{{}},"level":1,"ver":"5","sender":"caller"}}"#,
        "x".repeat(100 * 1024)
    );
    let bad: Vec<(&str, String)> = vec![
        (req, "not json at all".to_owned()),
        (req, "\u{0}\u{1}\u{2}".to_owned()),
        (req, "[1,2,3]".to_owned()),
        (req, r#"{"id":5,"action":[]}"#.to_owned()),
        (
            req,
            r#"{"id":"x","action":"math.add","ver":"5"}"#.to_owned(),
        ),
        (req, huge),
        (
            "MOL-test.INFO",
            r#"{"services":"nope","ver":"5","sender":"x"}"#.to_owned(),
        ),
        (
            "MOL-test.INFO",
            r#"{"services":[{"name":5}],"ver":"5","sender":"y"}"#.to_owned(),
        ),
        (
            "MOL-test.HEARTBEAT",
            r#"{"cpu":"hot","ver":"5","sender":"z"}"#.to_owned(),
        ),
        (
            "MOL-test.EVENT.victim",
            r#"{"id":"e","event":null,"ver":"5","sender":"z"}"#.to_owned(),
        ),
        (
            "MOL-test.RES.victim",
            r#"{"id":"unknown","success":true,"ver":"5","sender":"z"}"#.to_owned(),
        ),
        (
            "MOL-test.PONG.victim",
            r#"{"id":"nobody","ver":"5","sender":"z"}"#.to_owned(),
        ),
        // Another protocol version.
        (
            req,
            r#"{"id":"v","action":"math.add","params":{},"ver":"4","sender":"caller"}"#.to_owned(),
        ),
        // Our own node ID from another instance (aimed at the victim only: to everyone else
        // such a packet is indistinguishable from the real node restarting).
        (
            "MOL-test.INFO.victim",
            r#"{"services":[],"instanceID":"impostor","ver":"5","sender":"victim"}"#.to_owned(),
        ),
        (
            "MOL-test.DISCOVER.victim",
            r#"{"ver":"5","sender":"victim"}"#.to_owned(),
        ),
        // A node we know, with another instance ID and no services: a restart, handled as one.
        (
            "MOL-test.INFO",
            r#"{"services":[],"instanceID":"reborn","seq":1,"ver":"5","sender":"ghost"}"#
                .to_owned(),
        ),
    ];
    for (channel, body) in &bad {
        bus.publish_raw(channel, payload(body));
    }
    for _ in 0..500 {
        bus.publish_raw(
            "MOL-test.DISCOVER",
            payload(r#"{"ver":"5","sender":"storm"}"#),
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let sum: f64 = caller
        .call("math.add", json!({"a": 1, "b": 2}))
        .await
        .expect("still serving");
    assert_eq!(sum, 3.0);
    assert_eq!(
        counter.load(Ordering::SeqCst),
        1,
        "no garbage packet ran the handler"
    );
    assert!(victim.is_running());
    let nodes = caller.node_list(false, true);
    assert!(
        nodes.iter().any(|n| n.id == "victim"),
        "victim still listed"
    );
    victim.stop().await.expect("stop");
    caller.stop().await.expect("stop");
}

/// A Moleculer 0.15 request stream (first packet `stream: true, seq: 0`, chunks `seq: 1..`, an
/// end marker) is not served yet: the first packet is answered with STREAM_NOT_SUPPORTED and
/// the action runs not once (not once per chunk, as it would if the packets were taken as
/// plain requests).
#[tokio::test]
async fn a_request_stream_is_refused_once_and_its_chunks_never_run_the_action() {
    use broker_core::packet::PacketType;
    use broker_core::transporter::{Topic, TransportEvent, TransportSetup};
    use broker_core::{MemoryTransporter, Transporter};

    let bus = MemoryBus::new();
    let counter = Arc::new(AtomicUsize::new(0));
    let (b, _) = node(&bus, "victim");
    let victim = b.build();
    victim
        .add_service(math_service(counter.clone()))
        .await
        .expect("add");
    victim.start().await.expect("start");

    // A raw peer that speaks packets directly, as a Moleculer.js node sending a stream would.
    let raw = MemoryTransporter::on_bus(bus.clone());
    let setup = TransportSetup {
        namespace: "test".to_owned(),
        node_id: "streamer".to_owned(),
    };
    let mut events = raw.connect(&setup).await.expect("connect");
    raw.subscribe(&[Topic::targeted(PacketType::Response, "streamer")])
        .await
        .expect("subscribe");
    let req = Topic::targeted(PacketType::Request, "victim");
    let packet = |params: &str, stream: bool, seq: u64| {
        payload(&format!(
            r#"{{"id":"s-1","action":"math.add","params":{params},"meta":{{}},"headers":{{}},"level":1,"requestID":"s-1","stream":{stream},"seq":{seq},"ver":"5","sender":"streamer"}}"#
        ))
    };
    raw.publish(&req, packet(r#"{"a":1,"b":2}"#, true, 0))
        .expect("first");
    raw.publish(
        &req,
        packet(r#"{"type":"Buffer","data":[104,105]}"#, true, 1),
    )
    .expect("chunk");
    raw.publish(&req, packet("null", false, 2)).expect("end");

    let reply = tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(TransportEvent::Message { payload, .. }) => {
                    break serde_json::from_slice::<serde_json::Value>(&payload).ok()
                }
                Some(_) => continue,
                None => break None,
            }
        }
    })
    .await
    .expect("an answer within the bound")
    .expect("a JSON RES");
    assert_eq!(reply["id"], "s-1", "{reply}");
    assert_eq!(reply["success"], false, "{reply}");
    assert_eq!(reply["error"]["type"], "STREAM_NOT_SUPPORTED", "{reply}");
    assert_eq!(reply["error"]["code"], 501, "{reply}");

    // No second answer (the chunk and the end marker are dropped), and the action never ran.
    let more = tokio::time::timeout(std::time::Duration::from_millis(200), events.recv()).await;
    assert!(more.is_err(), "one answer only: {more:?}");
    assert_eq!(counter.load(Ordering::SeqCst), 0, "the action never ran");
    assert!(victim.is_running());
    victim.stop().await.expect("stop");
    let _ = raw.disconnect().await;
}

/// A streamed reply (Moleculer 0.15: a first RES with `stream: true` and no data, then chunks):
/// until streams are served, the call fails with STREAM_NOT_SUPPORTED instead of resolving with
/// the empty first packet, and the chunks that follow are dropped.
#[tokio::test]
async fn a_streamed_reply_fails_the_call_clearly() {
    use broker_core::packet::PacketType;
    use broker_core::transporter::{Topic, TransportEvent, TransportSetup};
    use broker_core::{ErrorKind, MemoryTransporter, Transporter};

    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "caller");
    let caller = b.build();
    caller.start().await.expect("start");

    // A raw peer offering `files.get`, which answers with a stream as a Moleculer.js action
    // returning a stream does.
    let raw = MemoryTransporter::on_bus(bus.clone());
    let setup = TransportSetup {
        namespace: "test".to_owned(),
        node_id: "streamer".to_owned(),
    };
    let mut events = raw.connect(&setup).await.expect("connect");
    raw.subscribe(&[Topic::targeted(PacketType::Request, "streamer")])
        .await
        .expect("subscribe");
    raw.publish(
        &Topic::broadcast(PacketType::Info),
        payload(
            r#"{"services":[{"name":"files","fullName":"files","settings":{},"metadata":{},"actions":{"files.get":{"name":"files.get","rawName":"get"}},"events":{}}],"ipList":[],"hostname":"h","client":{"type":"nodejs","version":"0.15.2","langVersion":"v20"},"config":{},"instanceID":"i-1","metadata":{},"seq":1,"ver":"5","sender":"streamer"}"#,
        ),
    )
    .expect("info");
    caller
        .wait_for_services(&["files"], WAIT)
        .await
        .expect("sees files");

    let call = caller.call::<serde_json::Value>("files.get", json!({"name": "a.bin"}));
    let answer = async {
        let req = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(TransportEvent::Message { payload, .. }) = events.recv().await {
                    break serde_json::from_slice::<serde_json::Value>(&payload).ok();
                }
            }
        })
        .await
        .ok()
        .flatten()
        .expect("the REQ reaches the raw peer");
        let id = req["id"].as_str().unwrap_or_default().to_owned();
        let res = Topic::targeted(PacketType::Response, "caller");
        for (stream, seq, data) in [
            (true, 0, "null"),
            (true, 1, r#"{"type":"Buffer","data":[1,2]}"#),
            (false, 2, "null"),
        ] {
            let body = format!(
                r#"{{"id":"{id}","meta":{{}},"headers":{{}},"success":true,"data":{data},"stream":{stream},"seq":{seq},"ver":"5","sender":"streamer"}}"#
            );
            raw.publish(&res, payload(&body)).expect("res");
        }
    };
    let (result, ()) = tokio::join!(tokio::time::timeout(WAIT, call), answer);
    let err = match result {
        Ok(Err(err)) => err,
        other => panic!("expected STREAM_NOT_SUPPORTED, got {other:?}"),
    };
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert_eq!(err.error_type(), Some("STREAM_NOT_SUPPORTED"), "{err}");
    assert_eq!(err.code(), 501, "{err}");
    // The caller keeps working.
    assert!(caller.is_running());
    caller.stop().await.expect("stop");
    let _ = raw.disconnect().await;
}
