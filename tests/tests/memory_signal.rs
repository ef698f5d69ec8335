//! `Broker::run_until_signal`: SIGTERM stops the node gracefully. Its own test binary, since
//! signals are process-wide.
#![cfg(unix)]

mod common;

use broker_core::{Broker, MemoryBus, StopSignal};
use common::{eventually, math_service, node, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_broker_gracefully_and_peers_see_it_leave() {
    // Listen ourselves first: from here on a SIGTERM cannot kill the test process, even one
    // sent before the broker's own listener is in place.
    let mut guard = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("listen for SIGTERM");
    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "sig-server");
    let server = b.build();
    server
        .add_service(math_service(Arc::new(AtomicUsize::new(0))))
        .await
        .expect("add");
    server.start().await.expect("start");
    // The peer would notice a silent loss only after 30 s: seeing the node leave sooner means
    // it got DISCONNECT.
    let (b, _) = node(&bus, "sig-peer");
    let left: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = left.clone();
    let peer: Broker = b.heartbeat_timeout(Duration::from_secs(30)).build();
    peer.add_service(
        broker_core::ServiceSchema::new("watch").event(broker_core::EventDef::new(
            "$node.disconnected",
            move |ctx: broker_core::Context| {
                let seen = seen.clone();
                async move {
                    if let Ok(mut s) = seen.lock() {
                        s.push(ctx.params().clone());
                    }
                    Ok(())
                }
            },
        )),
    )
    .await
    .expect("add");
    peer.start().await.expect("start");
    peer.wait_for_services(&["math"], WAIT)
        .await
        .expect("sees math");

    let running = {
        let server = server.clone();
        tokio::spawn(async move { server.run_until_signal().await })
    };
    // A request in flight when the signal comes finishes.
    let in_flight = {
        let peer = peer.clone();
        tokio::spawn(async move { peer.call::<Value>("math.slow", json!({"ms": 300})).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let signalled = tokio::time::Instant::now();
    // Repeat until the broker's listener (registered on its first poll) has caught one.
    let stopped = tokio::time::timeout(WAIT, async {
        loop {
            let status = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(std::process::id().to_string())
                .status()
                .expect("run kill");
            assert!(status.success(), "kill failed: {status}");
            if running.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        running.await
    })
    .await
    .expect("the broker stops after SIGTERM")
    .expect("task");
    assert_eq!(stopped.expect("clean stop"), StopSignal::Terminate);
    assert!(!server.is_running());
    let answer = tokio::time::timeout(WAIT, in_flight)
        .await
        .expect("settles")
        .expect("task")
        .expect("the request in flight finished");
    assert_eq!(answer, json!("done"));
    eventually("the peer saw DISCONNECT", || {
        let left = left.clone();
        async move {
            left.lock()
                .map(|l| {
                    l.iter()
                        .any(|e| e["node"]["id"] == "sig-server" && e["unexpected"] == false)
                })
                .unwrap_or(false)
        }
    })
    .await;
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "left in {:?}",
        signalled.elapsed()
    );
    let err = server
        .call::<Value>("math.add", json!({}))
        .await
        .expect_err("stopped");
    assert!(err.to_string().contains("the broker is stopped"), "{err}");
    peer.stop().await.expect("stop");
    // Drain what our own listener caught.
    let _ = tokio::time::timeout(Duration::from_millis(10), guard.recv()).await;
}
