//! A node started before its Redis: `start` retries until the server is there, then the node
//! serves; with a connect timeout it gives up in bounded time. Each test has a private
//! `redis-server` on a port of its own.

#[allow(dead_code, unreachable_pub)]
#[path = "interop/private_server.rs"]
mod private_server;

use broker_core::{ActionDef, Broker, BrokerBuilder, Context, ErrorKind};
use broker_redis::RedisTransporter;
use private_server::{PrivateServer, ServerKind};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn node(url: &str, namespace: &str, id: &str) -> BrokerBuilder {
    Broker::builder()
        .node_id(id)
        .namespace(namespace)
        .transporter(RedisTransporter::new(url).expect("valid URL"))
        .heartbeat_interval(Duration::from_millis(200))
        .heartbeat_timeout(Duration::from_secs(2))
        .stop_delay(Duration::from_millis(10))
}

fn namespace(tag: &str) -> String {
    format!("startup-{tag}-{}", std::process::id())
}

#[tokio::test]
async fn a_node_started_before_redis_serves_once_redis_is_up() {
    let mut redis = PrivateServer::not_started(ServerKind::Redis);
    let ns = namespace("late");
    let server = node(&redis.url(), &ns, "late-server").build();
    server
        .add_service(
            broker_core::ServiceSchema::new("math").action(ActionDef::new(
                "add",
                |ctx: Context| async move {
                    let a = ctx.params()["a"].as_i64().unwrap_or(0);
                    let b = ctx.params()["b"].as_i64().unwrap_or(0);
                    Ok(json!(a + b))
                },
            )),
        )
        .await
        .expect("add");
    let starting = {
        let server = server.clone();
        tokio::spawn(async move { server.start().await })
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!starting.is_finished(), "start waits for Redis");
    redis.up().await;
    let up = tokio::time::Instant::now();
    tokio::time::timeout(WAIT, starting)
        .await
        .expect("start completes once Redis is up")
        .expect("task")
        .expect("started");
    eprintln!(
        "start completed {} ms after Redis came up",
        up.elapsed().as_millis()
    );
    // Attempts so far at ~0, 0.5, 1.5 s: the next one comes at most ~2.4 s later.
    assert!(up.elapsed() < Duration::from_secs(4), "{:?}", up.elapsed());

    let caller = node(&redis.url(), &ns, "late-caller").build();
    caller.start().await.expect("caller starts");
    caller
        .wait_for_services(&["math"], WAIT)
        .await
        .expect("sees math");
    let sum: Value = caller
        .call("math.add", json!({"a": 2, "b": 3}))
        .await
        .expect("call across");
    assert_eq!(sum, json!(5));
    caller.stop().await.expect("stop");
    server.stop().await.expect("stop");
    redis.down().await;
}

#[tokio::test]
async fn connect_timeout_fails_start_in_bounded_time() {
    let redis = PrivateServer::not_started(ServerKind::Redis);
    let broker = node(&redis.url(), &namespace("never"), "never")
        .connect_timeout(Duration::from_millis(1500))
        .build();
    let begun = tokio::time::Instant::now();
    let err = tokio::time::timeout(WAIT, broker.start())
        .await
        .expect("start gives up")
        .expect_err("no Redis");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected, "{err}");
    assert!(
        begun.elapsed() >= Duration::from_millis(1300) && begun.elapsed() < Duration::from_secs(3),
        "{:?}",
        begun.elapsed()
    );
    assert!(!broker.is_running());
}
