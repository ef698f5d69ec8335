//! Events across brokers on the in-memory transport: balanced emit with groups, broadcast,
//! broadcast_local, wildcards, and the local `$node.*` events.

mod common;

use broker_core::{Broker, Context, EmitOptions, EventDef, EventType, MemoryBus, ServiceSchema};
use common::{eventually, node, WAIT};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records (node, service, event name, event type) for every delivery.
type Log = Arc<Mutex<Vec<(String, String, String, Option<EventType>)>>>;

fn listener(name: &str, group: Option<&str>, pattern: &str, log: &Log) -> ServiceSchema {
    let log = log.clone();
    let service = name.to_owned();
    let mut def = EventDef::new(pattern, move |ctx: Context| {
        let log = log.clone();
        let service = service.clone();
        async move {
            log.lock().expect("log").push((
                ctx.broker().node_id().to_owned(),
                service,
                ctx.event_name().unwrap_or_default().to_owned(),
                ctx.event_type(),
            ));
            Ok(())
        }
    });
    if let Some(g) = group {
        def = def.group(g);
    }
    ServiceSchema::new(name).event(def)
}

async fn start(bus: &Arc<MemoryBus>, id: &str, services: Vec<ServiceSchema>) -> Broker {
    let (b, _) = node(bus, id);
    let broker = b.build();
    for s in services {
        broker.add_service(s).await.expect("add service");
    }
    broker.start().await.expect("start");
    broker
}

fn count_by_node(log: &Log, service: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for (node, svc, _, _) in log.lock().expect("log").iter() {
        if svc == service {
            *out.entry(node.clone()).or_default() += 1;
        }
    }
    out
}

async fn settle(log: &Log, expected: usize) {
    eventually(&format!("{expected} deliveries"), || {
        let n = log.lock().expect("log").len();
        async move { n >= expected }
    })
    .await;
    // Give stray duplicates a chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn emit_reaches_one_handler_per_group_spread_over_nodes() {
    let bus = MemoryBus::new();
    let log: Log = Arc::default();
    // Two nodes run the "mail" group, one node runs "audit"; an emitter with no handler.
    let a = start(
        &bus,
        "a",
        vec![listener("mailer", Some("mail"), "user.created", &log)],
    )
    .await;
    let b = start(
        &bus,
        "b",
        vec![listener("mailer", Some("mail"), "user.created", &log)],
    )
    .await;
    let c = start(&bus, "c", vec![listener("audit", None, "user.*", &log)]).await;
    let emitter = start(&bus, "emitter", vec![]).await;
    emitter
        .wait_for_services(&["mailer", "audit"], WAIT)
        .await
        .expect("services");
    eventually("both mail nodes known", || {
        let e = emitter.clone();
        async move { e.node_list(false, true).len() == 4 }
    })
    .await;

    for i in 0..20 {
        emitter
            .emit("user.created", json!({"i": i}))
            .await
            .expect("emit");
    }
    settle(&log, 40).await;
    let mail = count_by_node(&log, "mailer");
    assert_eq!(
        mail.values().sum::<usize>(),
        20,
        "each emit handled once in the mail group"
    );
    assert_eq!(mail.get("a"), Some(&10), "round-robin spreads: {mail:?}");
    assert_eq!(mail.get("b"), Some(&10), "round-robin spreads: {mail:?}");
    assert_eq!(count_by_node(&log, "audit").get("c"), Some(&20));
    assert!(log
        .lock()
        .expect("log")
        .iter()
        .all(|(_, _, _, t)| *t == Some(EventType::Emit)));

    // Restricting to a group.
    log.lock().expect("log").clear();
    emitter
        .emit_with(
            "user.created",
            json!({}),
            EmitOptions::new().groups(["audit"]),
        )
        .await
        .expect("emit");
    settle(&log, 1).await;
    assert_eq!(log.lock().expect("log").len(), 1);
    assert_eq!(log.lock().expect("log")[0].1, "audit");

    for n in [emitter, c, b, a] {
        n.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn broadcast_reaches_every_handler_and_broadcast_local_stays_home() {
    let bus = MemoryBus::new();
    let log: Log = Arc::default();
    let a = start(
        &bus,
        "a",
        vec![listener("mailer", Some("mail"), "order.**", &log)],
    )
    .await;
    let b = start(
        &bus,
        "b",
        vec![
            listener("mailer", Some("mail"), "order.**", &log),
            listener("stats", None, "**", &log),
        ],
    )
    .await;
    b.wait_for_services(&["mailer"], WAIT).await.expect("svc");
    eventually("a knows b", || {
        let a = a.clone();
        async move { a.node_list(false, true).len() == 2 }
    })
    .await;
    log.lock().expect("log").clear(); // `**` also saw `$node.*` events

    a.broadcast("order.paid.now", json!({"id": 7}))
        .await
        .expect("broadcast");
    settle(&log, 3).await;
    let entries = log.lock().expect("log").clone();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(entries
        .iter()
        .all(|e| e.2 == "order.paid.now" && e.3 == Some(EventType::Broadcast)));

    log.lock().expect("log").clear();
    b.broadcast_local("order.local", json!({}))
        .await
        .expect("local");
    settle(&log, 2).await;
    let entries = log.lock().expect("log").clone();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries
        .iter()
        .all(|e| e.0 == "b" && e.3 == Some(EventType::BroadcastLocal)));

    for n in [b, a] {
        n.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn node_events_are_raised_locally() {
    let bus = MemoryBus::new();
    let log: Log = Arc::default();
    let watcher = start(
        &bus,
        "watcher",
        vec![listener("watch", None, "$node.*", &log)],
    )
    .await;
    let (b, transport) = node(&bus, "visitor");
    let visitor = b.build();
    visitor.start().await.expect("start");
    eventually("connected event", || {
        let log = log.clone();
        async move {
            log.lock()
                .expect("log")
                .iter()
                .any(|e| e.2 == "$node.connected")
        }
    })
    .await;
    transport.sever();
    eventually("disconnected event after heartbeat timeout", || {
        let log = log.clone();
        async move {
            log.lock()
                .expect("log")
                .iter()
                .any(|e| e.2 == "$node.disconnected")
        }
    })
    .await;
    watcher.stop().await.expect("stop");
    visitor.stop().await.expect("stop");
}

#[tokio::test]
async fn a_local_only_broker_runs_calls_and_events() {
    let log: Log = Arc::default();
    let b = Broker::builder().node_id("alone").build();
    b.add_service(listener("solo", None, "ping", &log))
        .await
        .expect("add");
    b.start().await.expect("start");
    b.emit("ping", json!(null)).await.expect("emit");
    settle(&log, 1).await;
    let nodes: Value = b.call("$node.list", json!({})).await.expect("list");
    assert_eq!(nodes.as_array().map(Vec::len), Some(1));
    b.stop().await.expect("stop");
}

/// Remote deliveries start each handler on the receive loop until its first await: a handler
/// that panics before returning its future, one that panics after awaiting, and one that is
/// still waiting must not stop the node from receiving the next events.
#[tokio::test]
async fn panicking_and_waiting_handlers_do_not_stop_delivery() {
    let bus = MemoryBus::new();
    let log: Log = Arc::default();
    let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
    let waiting = EventDef::new("slow.*", move |_ctx: Context| {
        let mut gate = gate_rx.clone();
        async move {
            let _ = gate.wait_for(|open| *open).await;
            Ok(())
        }
    });
    let bad = ServiceSchema::new("bad")
        .event(EventDef::new(
            "boom.sync",
            |_ctx: Context| -> std::future::Ready<Result<(), broker_core::Error>> {
                panic!("before the future")
            },
        ))
        .event(EventDef::new("boom.async", |_ctx: Context| async move {
            tokio::task::yield_now().await;
            panic!("after an await")
        }))
        .event(waiting);
    let receiver = start(
        &bus,
        "receiver",
        vec![bad, listener("good", None, "ok.*", &log)],
    )
    .await;
    let sender = start(&bus, "sender", vec![]).await;
    sender
        .wait_for_services(&["bad", "good"], WAIT)
        .await
        .expect("discovered");
    for i in 0..20 {
        sender
            .emit("slow.wait", json!({ "i": i }))
            .await
            .expect("emit");
        sender
            .emit("boom.sync", json!({ "i": i }))
            .await
            .expect("emit");
        sender
            .emit("boom.async", json!({ "i": i }))
            .await
            .expect("emit");
        sender
            .emit("ok.tick", json!({ "i": i }))
            .await
            .expect("emit");
    }
    settle(&log, 20).await;
    assert_eq!(count_by_node(&log, "good").get("receiver"), Some(&20));
    gate_tx.send_replace(true);
    receiver.stop().await.expect("stop");
    sender.stop().await.expect("stop");
}

#[tokio::test]
async fn emit_options_carry_headers_meta_and_chain_id_and_broadcast_local_takes_them() {
    let bus = MemoryBus::new();
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let record = seen.clone();
    let recorder =
        ServiceSchema::new("recorder").event(EventDef::new("audit.*", move |ctx: Context| {
            let record = record.clone();
            async move {
                record.lock().expect("log").push(json!({
                    "event": ctx.event_name(),
                    "node": ctx.broker().node_id(),
                    "headers": ctx.headers(),
                    "meta": ctx.meta(),
                    "requestID": ctx.request_id(),
                }));
                Ok(())
            }
        }));
    let receiver = start(&bus, "opt-receiver", vec![recorder]).await;
    let sender = start(&bus, "opt-sender", vec![]).await;
    sender
        .wait_for_services(&["recorder"], WAIT)
        .await
        .expect("sees recorder");
    let options = || {
        EmitOptions::new()
            .headers(json!({"x-trace": "t-1"}))
            .meta(json!({"user": "ann"}))
            .request_id("chain-1")
    };
    // Across the bus (protocol 5 carries headers), and to this node's handlers only.
    sender
        .emit_with("audit.remote", json!({}), options())
        .await
        .expect("emit");
    receiver
        .broadcast_local_with("audit.local", json!({}), options())
        .await
        .expect("broadcast_local_with");
    let waited = tokio::time::timeout(WAIT, async {
        while seen.lock().expect("log").len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "both events delivered");
    let seen = seen.lock().expect("log").clone();
    for event in ["audit.remote", "audit.local"] {
        let got = seen
            .iter()
            .find(|e| e["event"] == event)
            .unwrap_or_else(|| panic!("{event} in {seen:?}"));
        assert_eq!(got["node"], "opt-receiver");
        assert_eq!(got["headers"], json!({"x-trace": "t-1"}), "{got}");
        assert_eq!(got["meta"]["user"], "ann", "{got}");
        assert_eq!(got["requestID"], "chain-1", "{got}");
    }
    // node_list gives typed records in `$node.list`'s shape.
    let nodes = sender.node_list(true, true);
    let record = nodes
        .iter()
        .find(|n| n.id == "opt-receiver")
        .expect("receiver listed");
    assert!(record.available && !record.local);
    assert_eq!(record.client.client_type, "rust");
    let services = record.services.as_ref().expect("with services");
    assert!(services.iter().any(|s| s.name == "recorder"));
    let listed: Value = sender
        .call(
            "$node.list",
            json!({"withServices": true, "onlyAvailable": true}),
        )
        .await
        .expect("$node.list");
    let entry = listed
        .as_array()
        .and_then(|l| l.iter().find(|n| n["id"] == "opt-receiver"))
        .expect("in $node.list");
    for key in [
        "id",
        "instanceID",
        "available",
        "local",
        "lastHeartbeatTime",
        "config",
        "client",
        "metadata",
        "ipList",
        "port",
        "hostname",
        "udpAddress",
        "cpu",
        "cpuSeq",
        "seq",
        "offlineSince",
        "services",
    ] {
        assert!(entry.get(key).is_some(), "{key} in {entry}");
    }
    assert_eq!(entry["instanceID"], json!(record.instance_id));
    sender.stop().await.expect("stop");
    receiver.stop().await.expect("stop");
}
