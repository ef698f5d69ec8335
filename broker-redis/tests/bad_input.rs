//! Hostile or broken traffic published straight into Redis: the node logs, drops and keeps
//! serving.

mod common;

use broker_core::transporter::channel_prefix;
use broker_core::{Broker, CallOptions};
use common::{math_service, node, publish_raw, raw, redis_url, unique, WAIT};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn garbage_huge_storms_impostors_and_wrong_versions_are_survived() {
    let ns = unique("bad");
    let p = channel_prefix(&ns);
    let url = redis_url();
    let counter = Arc::new(AtomicUsize::new(0));
    let victim: Broker = node(&url, &ns, "victim").build();
    victim
        .add_service(math_service(counter.clone()))
        .await
        .expect("add");
    victim.start().await.expect("start victim");
    let caller = node(&url, &ns, "caller").build();
    caller.start().await.expect("start caller");
    caller
        .wait_for_services(&["math"], WAIT)
        .await
        .expect("sees math");

    let mut conn = raw().await;
    let req = format!("{p}.REQ.victim");
    // 20 MiB, above the broker's default 16 MiB packet limit; a valid REQ apart from its size.
    let huge = format!(
        r#"{{"id":"huge","action":"math.add","params":{{"a":1,"b":1,"pad":"{}"}},"meta":{{}},"level":1,"ver":"5","sender":"caller"}}"#,
        "x".repeat(20 * 1024 * 1024)
    );
    let bad: Vec<(String, Vec<u8>)> = vec![
        (req.clone(), b"not json at all".to_vec()),
        (req.clone(), vec![0, 159, 146, 150, 255, 0xc3, 0x28]),
        (req.clone(), Vec::new()),
        (req.clone(), b"[1,2,3]".to_vec()),
        (req.clone(), br#"{"id":5,"action":[]}"#.to_vec()),
        (req.clone(), br#"{"id":"x","action":"math.add","ver":"5"}"#.to_vec()),
        (req.clone(), huge.into_bytes()),
        (
            format!("{p}.INFO"),
            br#"{"services":"nope","ver":"5","sender":"x"}"#.to_vec(),
        ),
        (
            format!("{p}.INFO"),
            br#"{"services":[{"name":5}],"ver":"5","sender":"y"}"#.to_vec(),
        ),
        (
            format!("{p}.HEARTBEAT"),
            br#"{"cpu":"hot","ver":"5","sender":"z"}"#.to_vec(),
        ),
        (
            format!("{p}.EVENT.victim"),
            br#"{"id":"e","event":null,"ver":"5","sender":"z"}"#.to_vec(),
        ),
        (
            format!("{p}.RES.victim"),
            br#"{"id":"unknown","success":true,"ver":"5","sender":"z"}"#.to_vec(),
        ),
        (
            format!("{p}.PONG.victim"),
            br#"{"id":"nobody","ver":"5","sender":"z"}"#.to_vec(),
        ),
        // The wrong protocol version: a REQ that would otherwise run the handler.
        (
            req.clone(),
            br#"{"id":"v","action":"math.add","params":{"a":1,"b":1},"meta":{},"level":1,"ver":"4","sender":"caller"}"#
                .to_vec(),
        ),
        // Packets claiming the victim's own node ID from another instance.
        (
            format!("{p}.INFO.victim"),
            br#"{"services":[],"instanceID":"impostor","ver":"5","sender":"victim"}"#.to_vec(),
        ),
        (
            format!("{p}.DISCOVER.victim"),
            br#"{"ver":"5","sender":"victim"}"#.to_vec(),
        ),
        (
            format!("{p}.HEARTBEAT"),
            br#"{"cpu":1,"ver":"5","sender":"victim"}"#.to_vec(),
        ),
        // A known node (the caller) with another instance ID, broadcast to the victim only
        // through its targeted channel: handled as a restart of that node, nothing worse.
        (
            format!("{p}.INFO.victim"),
            br#"{"services":[],"instanceID":"reborn","seq":1,"ver":"5","sender":"caller"}"#
                .to_vec(),
        ),
        // Channels nobody subscribes to (an unknown type, another namespace's look-alike).
        (format!("{p}.BOGUS.victim"), b"{}".to_vec()),
        (format!("{p}x.REQ.victim"), b"{}".to_vec()),
    ];
    for (channel, body) in &bad {
        publish_raw(&mut conn, channel, body).await;
    }
    let storm = br#"{"ver":"5","sender":"storm"}"#;
    let mut pipe = redis::pipe();
    for _ in 0..1000 {
        pipe.cmd("PUBLISH")
            .arg(format!("{p}.DISCOVER"))
            .arg(&storm[..])
            .ignore();
    }
    tokio::time::timeout(WAIT, pipe.exec_async(&mut conn))
        .await
        .expect("in time")
        .expect("storm sent");

    // Still serving (one call, so the handler count below is exact).
    let sum: f64 = caller
        .call_with(
            "math.add",
            json!({"a": 1, "b": 2}),
            CallOptions::new().timeout(WAIT),
        )
        .await
        .expect("calls still work");
    assert_eq!(sum, 3.0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        counter.load(Ordering::SeqCst),
        1,
        "no bad packet ran the handler (huge, wrong version and malformed REQs dropped)"
    );
    assert!(victim.is_running() && caller.is_running());
    let nodes = caller.node_list(false, true);
    assert!(nodes.iter().any(|n| n.id == "victim"), "{nodes:?}");

    caller.stop().await.expect("stop caller");
    victim.stop().await.expect("stop victim");
}
