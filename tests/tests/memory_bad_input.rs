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
