//! What a user sees in the logs at the default level (`info`): nodes joining, leaving and
//! lost, the transporter lost and back, and failing event handlers, each once.

mod logs;

use broker_core::{
    Broker, BrokerBuilder, Context, Error, EventDef, MemoryBus, MemoryTransporter, ServiceSchema,
};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn node(bus: &Arc<MemoryBus>, id: &str) -> (BrokerBuilder, Arc<MemoryTransporter>) {
    let transporter = Arc::new(MemoryTransporter::on_bus(bus.clone()));
    let builder = Broker::builder()
        .node_id(id)
        .namespace("logs")
        .shared_transporter(transporter.clone())
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_millis(500))
        .stop_delay(Duration::from_millis(10));
    (builder, transporter)
}

/// Waits (bounded) until exactly one line holds every needle, and returns it; fails on none
/// or on a duplicate.
async fn one_line(logs: &logs::Captured, needles: &[&str]) -> String {
    let find = || -> Vec<String> {
        logs.lines()
            .into_iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .collect()
    };
    let waited = tokio::time::timeout(WAIT, async {
        while find().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "no log line with {needles:?}");
    // Give a duplicate the chance to show up.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let found = find();
    assert_eq!(found.len(), 1, "one line with {needles:?}: {found:#?}");
    found[0].clone()
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Signup {
    name: String,
}

#[tokio::test]
async fn failing_event_handlers_are_logged_with_event_sender_and_error() {
    let logs = logs::capture();
    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "ev-handler-node");
    let handler_node = b.build();
    handler_node
        .add_service(
            ServiceSchema::new("fragile")
                .event(EventDef::new("user.signup", |ctx: Context| async move {
                    let _signup: Signup = ctx.params_as()?;
                    Ok(())
                }))
                .event(EventDef::new("user.refused", |_ctx: Context| async move {
                    Err(Error::new("RefusedError", "not today"))
                }))
                .event(EventDef::new("user.exploded", |_ctx: Context| async move {
                    if true {
                        panic!("kaboom");
                    }
                    Ok(())
                })),
        )
        .await
        .expect("add");
    handler_node.start().await.expect("start");
    let (b, _) = node(&bus, "ev-sender-node");
    let sender = b.build();
    sender.start().await.expect("start");
    sender
        .wait_for_services(&["fragile"], WAIT)
        .await
        .expect("sees fragile");

    sender
        .emit("user.signup", json!({"nom": "Ann"}))
        .await
        .expect("emit");
    let line = one_line(&logs, &["'user.signup'", "ev-sender-node"]).await;
    assert!(line.contains(" WARN "), "{line}");
    assert!(line.contains("service 'fragile'"), "{line}");
    assert!(
        line.contains(
            r#"ValidationError: Parameters validation error! field "name": The 'name' field is required."#
        ),
        "{line}"
    );

    sender.emit("user.refused", json!({})).await.expect("emit");
    let line = one_line(&logs, &["'user.refused'", "ev-sender-node"]).await;
    assert!(line.contains(" WARN "), "{line}");
    assert!(line.contains("RefusedError: not today"), "{line}");

    sender.emit("user.exploded", json!({})).await.expect("emit");
    let line = one_line(&logs, &["'user.exploded'", "ev-sender-node"]).await;
    assert!(line.contains(" ERROR "), "{line}");
    assert!(line.contains("panicked: kaboom"), "{line}");

    sender.stop().await.expect("stop");
    handler_node.stop().await.expect("stop");
}

#[tokio::test]
async fn nodes_joining_leaving_and_lost_are_logged_once_each() {
    let logs = logs::capture();
    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "watcher-node");
    let watcher = b.build();
    watcher.start().await.expect("start");

    let (b, _) = node(&bus, "polite-node");
    let polite = b.build();
    polite.start().await.expect("start");
    let line = one_line(&logs, &["node 'polite-node' joined"]).await;
    assert!(line.contains(" INFO "), "{line}");
    polite.stop().await.expect("stop");
    let line = one_line(&logs, &["node 'polite-node' left"]).await;
    assert!(line.contains(" INFO "), "{line}");

    let (b, transporter) = node(&bus, "crashing-node");
    let crashing = b.build();
    crashing.start().await.expect("start");
    one_line(&logs, &["node 'crashing-node' joined"]).await;
    transporter.sever();
    let line = one_line(&logs, &["node 'crashing-node' lost"]).await;
    assert!(line.contains(" WARN "), "{line}");
    assert!(line.contains("no heartbeat for 0.5 s"), "{line}");
    assert!(
        logs.matching("'crashing-node' left").is_empty(),
        "a lost node is not also reported as leaving"
    );
    watcher.stop().await.expect("stop");
}

#[tokio::test]
async fn the_transporter_lost_and_back_is_logged() {
    let logs = logs::capture();
    let bus = MemoryBus::new();
    let (b, transporter) = node(&bus, "flaky-link-node");
    let broker = b.build();
    broker.start().await.expect("start");
    let line = one_line(&logs, &["broker started", "flaky-link-node", "protocol 5"]).await;
    assert!(line.contains(" INFO "), "{line}");
    transporter.simulate_disconnect();
    let line = one_line(&logs, &["transporter disconnected", "flaky-link-node"]).await;
    assert!(line.contains(" WARN "), "{line}");
    transporter.simulate_reconnect();
    let line = one_line(&logs, &["transporter reconnected", "flaky-link-node"]).await;
    assert!(line.contains(" INFO "), "{line}");
    broker.stop().await.expect("stop");
}
