//! A peer node in the test process, on Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`)
//! in a namespace of its own: `slow.sleep` (a minute) and `math.add`.

use broker_core::{ActionDef, Broker, Context, ProtocolVersion, ServiceSchema};
use broker_redis::RedisTransporter;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The peer: `slow.sleep` (a minute, recording that it started) and `math.add`.
pub struct Peer {
    pub broker: Broker,
    pub namespace: String,
    pub slow_started: Arc<AtomicBool>,
}

/// The namespace of [`peer`]`(test)`, known before it starts.
pub fn namespace_for(test: &str) -> String {
    format!("cli-ns-{test}-{}", std::process::id())
}

/// Starts the peer for `test`, speaking protocol "5".
pub async fn peer(test: &str) -> Peer {
    let namespace = namespace_for(test);
    let transporter = match RedisTransporter::new(&redis_url()) {
        Ok(t) => t,
        Err(err) => panic!("{err}"),
    };
    let broker = Broker::builder()
        .node_id(format!("peer-{test}"))
        .namespace(namespace.clone())
        .protocol(ProtocolVersion::V5)
        .transporter(transporter)
        .build();
    let slow_started = Arc::new(AtomicBool::new(false));
    let started = slow_started.clone();
    let slow = ServiceSchema::new("slow").action(ActionDef::new("sleep", move |_ctx: Context| {
        let started = started.clone();
        async move {
            started.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(json!("woke up"))
        }
    }));
    let math =
        ServiceSchema::new("math").action(ActionDef::new("add", |ctx: Context| async move {
            let p = ctx.params();
            Ok(json!(
                p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0)
            ))
        }));
    let start = async {
        broker.add_service(slow).await?;
        broker.add_service(math).await?;
        broker.start().await
    };
    match tokio::time::timeout(Duration::from_secs(15), start).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => panic!(
            "the peer did not start on {} (is Redis running?): {err}",
            redis_url()
        ),
        Err(_) => panic!("the peer did not start on {} within 15 s", redis_url()),
    }
    Peer {
        broker,
        namespace,
        slow_started,
    }
}

impl Peer {
    /// Whether the peer's registry has `node` as available.
    pub async fn sees(&self, node: &str) -> bool {
        let list: Value = self
            .broker
            .call("$node.list", json!({"onlyAvailable": false}))
            .await
            .unwrap_or(Value::Null);
        list.as_array().is_some_and(|nodes| {
            nodes
                .iter()
                .any(|n| n["id"] == json!(node) && n["available"] == json!(true))
        })
    }

    /// Waits (at most `limit`) until `check` holds of whether the peer sees `node`.
    pub async fn wait_until_sees(&self, node: &str, expected: bool, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.sees(node).await == expected {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}
