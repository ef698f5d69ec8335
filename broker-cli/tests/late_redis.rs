//! `broker` started before its Redis: `--protocol auto` keeps trying to listen to the bus until
//! the connect timeout, so the command works as soon as Redis and the nodes are there.

mod common;

use broker_core::{ActionDef, Broker, Context, ProtocolVersion, ServiceSchema};
use broker_redis::RedisTransporter;
use common::redis_server::PrivateRedis;
use common::spawn_broker;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn auto_protocol_waits_for_redis_then_speaks_the_version_found() {
    let mut redis = PrivateRedis::reserve();
    let url = redis.url();
    let child = spawn_broker(
        &[
            "--transporter",
            &url,
            "--connect-timeout",
            "15000",
            "--compact",
            "call",
            "math.add",
            "--a",
            "1",
            "--b",
            "2",
        ],
        &[],
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.up().await;
    // A 0.14-style node ("4") comes up with Redis.
    let transporter = match RedisTransporter::new(&url) {
        Ok(t) => t,
        Err(err) => panic!("{err}"),
    };
    let peer = Broker::builder()
        .node_id("late-peer")
        .protocol(ProtocolVersion::V4)
        .transporter(transporter)
        .build();
    let math =
        ServiceSchema::new("math").action(ActionDef::new("add", |ctx: Context| async move {
            let p = ctx.params();
            Ok(json!(
                p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0)
            ))
        }));
    let started = async {
        peer.add_service(math).await?;
        peer.start().await
    };
    if let Err(err) = started.await {
        panic!("the peer did not start: {err}");
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await;
    let _ = peer.stop().await;
    let out = match out {
        Ok(Ok(out)) => out,
        other => panic!("broker did not finish within 30 s: {other:?}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "3.0", "{stderr}");
    // The wait was said once, not once per attempt.
    assert_eq!(
        stderr.matches("cannot reach the transporter").count(),
        1,
        "{stderr}"
    );
}
