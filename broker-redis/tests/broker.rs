//! Brokers over Redis: discovery, calls both ways, events, protocol versions, stop.

mod common;

use broker_core::transporter::channel_prefix;
use broker_core::{
    ActionDef, CallOptions, Context, ErrorKind, EventDef, ProtocolVersion, ServiceSchema,
};
use common::{channels, eventually, math_service, node, raw, redis_url, unique, WAIT};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn two_nodes_discover_each_other_call_and_emit() {
    let ns = unique("cluster");
    let url = redis_url();
    let mut conn = raw().await;

    let adds = Arc::new(AtomicUsize::new(0));
    let a = node(&url, &ns, "node-a").build();
    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let seen_in_handler = seen.clone();
    a.add_service(
        ServiceSchema::new("greeter")
            .action(ActionDef::new("hello", |ctx: Context| async move {
                Ok(json!(format!(
                    "Hello {} from {}",
                    ctx.params()["name"].as_str().unwrap_or("?"),
                    ctx.broker().node_id()
                )))
            }))
            .event(EventDef::new("user.created", move |ctx: Context| {
                let seen = seen_in_handler.clone();
                async move {
                    if let Ok(mut seen) = seen.lock() {
                        seen.push((ctx.node_id().to_owned(), ctx.params().clone()));
                    }
                    Ok(())
                }
            })),
    )
    .await
    .expect("add greeter");
    a.start().await.expect("start a");

    // A started broker holds exactly its 12 channels.
    let prefix = channel_prefix(&ns);
    assert_eq!(channels(&mut conn, &prefix).await.len(), 12);

    let b = node(&url, &ns, "node-b").build();
    b.add_service(math_service(adds.clone()))
        .await
        .expect("add math");
    b.start().await.expect("start b");
    // 12 + 12 minus the 5 broadcast channels both share.
    assert_eq!(channels(&mut conn, &prefix).await.len(), 19);

    a.wait_for_services(&["math"], WAIT)
        .await
        .expect("a sees math");
    b.wait_for_services(&["greeter"], WAIT)
        .await
        .expect("b sees greeter");

    for i in 0..20 {
        let sum: f64 = a
            .call("math.add", json!({"a": i, "b": 1}))
            .await
            .expect("a calls b");
        assert_eq!(sum, f64::from(i) + 1.0);
    }
    assert_eq!(adds.load(Ordering::SeqCst), 20);
    let hello: String = b
        .call("greeter.hello", json!({"name": "Bob"}))
        .await
        .expect("b calls a");
    assert_eq!(hello, "Hello Bob from node-a");

    b.emit("user.created", json!({"id": 7}))
        .await
        .expect("emit");
    b.broadcast("user.created", json!({"id": 8}))
        .await
        .expect("broadcast");
    eventually("both events handled", || {
        let seen = seen.clone();
        async move { seen.lock().map(|s| s.len() == 2).unwrap_or(false) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen,
        vec![
            ("node-b".to_owned(), json!({"id": 7})),
            ("node-b".to_owned(), json!({"id": 8}))
        ],
        "each event handled exactly once"
    );

    // Stopping b removes its services from a at once (INFO + DISCONNECT).
    b.stop().await.expect("stop b");
    eventually("a forgets math", || {
        let a = a.clone();
        async move {
            matches!(
                a.call::<f64>("math.add", json!({"a": 1, "b": 1})).await,
                Err(err) if err.kind() == ErrorKind::ServiceNotFound
            )
        }
    })
    .await;
    assert_eq!(channels(&mut conn, &prefix).await.len(), 12);
    a.stop().await.expect("stop a");
    assert!(channels(&mut conn, &prefix).await.is_empty());
}

#[tokio::test]
async fn protocol_five_puts_ver_5_on_the_wire() {
    let ns = unique("v5");
    let url = redis_url();
    let prefix = channel_prefix(&ns);

    // Listen on b's REQ channel like a foreign observer.
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut sniffer = tokio::time::timeout(WAIT, client.get_async_pubsub())
        .await
        .expect("in time")
        .expect("pubsub");
    sniffer
        .subscribe(format!("{prefix}.REQ.b"))
        .await
        .expect("sniff");

    let counter = Arc::new(AtomicUsize::new(0));
    let b = node(&url, &ns, "b").protocol(ProtocolVersion::V5).build();
    b.add_service(math_service(counter.clone()))
        .await
        .expect("add");
    b.start().await.expect("start b");
    let a = node(&url, &ns, "a").protocol(ProtocolVersion::V5).build();
    a.start().await.expect("start a");
    a.wait_for_services(&["math"], WAIT)
        .await
        .expect("sees math");

    let sum: f64 = a
        .call_with(
            "math.add",
            json!({"a": 2, "b": 3}),
            CallOptions::new().timeout(Duration::from_secs(5)),
        )
        .await
        .expect("call");
    assert_eq!(sum, 5.0);

    let msg = tokio::time::timeout(WAIT, sniffer.on_message().next())
        .await
        .expect("REQ seen in time")
        .expect("a message");
    let req: Value = serde_json::from_slice(msg.get_payload_bytes()).expect("JSON body");
    assert_eq!(req["ver"], "5");
    assert_eq!(req["sender"], "a");
    assert_eq!(req["action"], "math.add");
    assert_eq!(req["params"], json!({"a": 2, "b": 3}));

    a.stop().await.expect("stop a");
    b.stop().await.expect("stop b");
}

#[tokio::test]
async fn nodes_of_different_namespaces_do_not_meet() {
    let url = redis_url();
    let counter = Arc::new(AtomicUsize::new(0));
    let b = node(&url, &unique("ns1"), "same").build();
    b.add_service(math_service(counter.clone()))
        .await
        .expect("add");
    b.start().await.expect("start");
    let a = node(&url, &unique("ns2"), "caller").build();
    a.start().await.expect("start");
    let err = a
        .wait_for_services(&["math"], Duration::from_millis(500))
        .await
        .expect_err("other namespace");
    assert!(err.message().contains("math"), "{err}");
    assert_eq!(counter.load(Ordering::SeqCst), 0);
    a.stop().await.expect("stop");
    b.stop().await.expect("stop");
}
