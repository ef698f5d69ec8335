//! Nodes of the other protocol version on the bus: a warning naming them and the setting to
//! change (once per sender, however many packets), and a call that finds no endpoint says
//! they were seen.

mod logs;

use broker_core::transporter::Bytes;
use broker_core::{
    ActionDef, Broker, BrokerBuilder, Context, ErrorKind, MemoryBus, MemoryTransporter,
    ProtocolVersion, ServiceSchema,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn node(bus: &Arc<MemoryBus>, id: &str) -> BrokerBuilder {
    Broker::builder()
        .node_id(id)
        .namespace("proto")
        .transporter(MemoryTransporter::on_bus(bus.clone()))
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_millis(1000))
        .stop_delay(Duration::from_millis(10))
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(WAIT, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for: {what}");
}

#[tokio::test]
async fn a_flood_of_other_version_packets_is_one_warning_naming_sender_versions_and_setting() {
    let logs = logs::capture();
    let bus = MemoryBus::new();
    let broker = node(&bus, "flooded-5").build();
    broker.start().await.expect("start");
    for _ in 0..200 {
        bus.publish_raw(
            "MOL-proto.HEARTBEAT",
            Bytes::from_static(br#"{"cpu":3,"ver":"4","sender":"js-flood-1"}"#),
        );
    }
    eventually("js-flood-1 remembered", || {
        broker.other_protocol_nodes() == vec![("js-flood-1".to_owned(), "4".to_owned())]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let warnings = logs.matching("js-flood-1");
    assert_eq!(warnings.len(), 1, "rate-limited per sender: {warnings:#?}");
    let line = &warnings[0];
    assert!(line.contains(" WARN "), "{line}");
    assert!(line.contains(r#"speaks Moleculer protocol "4""#), "{line}");
    assert!(line.contains(r#"this broker speaks "5""#), "{line}");
    assert!(line.contains(".protocol(ProtocolVersion::V4)"), "{line}");
    broker.stop().await.expect("stop");
}

#[tokio::test]
async fn a_call_that_finds_nothing_names_the_nodes_of_the_other_version() {
    let bus = MemoryBus::new();
    let old = node(&bus, "v4-math").protocol(ProtocolVersion::V4).build();
    old.add_service(
        ServiceSchema::new("math").action(ActionDef::new("add", |_ctx: Context| async move {
            Ok(json!(3))
        })),
    )
    .await
    .expect("add");
    old.start().await.expect("start");
    let client = node(&bus, "v5-client").build();
    client.start().await.expect("start");
    eventually("the v4 node heard", || {
        !client.other_protocol_nodes().is_empty()
    })
    .await;

    let err = client
        .call::<Value>("math.add", json!({}))
        .await
        .expect_err("math is on a v4 node");
    // Moleculer's error in every field but the message, which explains.
    assert_eq!(err.kind(), ErrorKind::ServiceNotFound);
    assert_eq!(err.name(), "ServiceNotFoundError");
    assert_eq!(err.code(), 404);
    assert_eq!(err.error_type(), Some("SERVICE_NOT_FOUND"));
    assert_eq!(err.data(), Some(&json!({"action": "math.add"})));
    assert_eq!(
        err.message(),
        "Service 'math.add' is not found. (nodes speaking protocol 4 were seen on the bus: \
         v4-math; set `.protocol(ProtocolVersion::V4)` on the broker builder to talk to them \
         (Moleculer.js 0.14))"
    );

    // Once the v4 node has left (DISCONNECT), the plain message again.
    old.stop().await.expect("stop");
    eventually("the v4 node forgotten", || {
        client.other_protocol_nodes().is_empty()
    })
    .await;
    let err = client
        .call::<Value>("math.add", json!({}))
        .await
        .expect_err("nobody serves math");
    assert_eq!(err.message(), "Service 'math.add' is not found.");
    client.stop().await.expect("stop");
}
