//! Helpers shared by the in-memory cluster tests.
#![allow(dead_code, unreachable_pub)]

use broker_core::{
    ActionDef, Broker, BrokerBuilder, Context, Error, MemoryBus, MemoryTransporter, ServiceSchema,
};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(5);

/// A broker builder on `bus` with short heartbeats, so node loss shows within a second.
pub fn node(bus: &Arc<MemoryBus>, id: &str) -> (BrokerBuilder, Arc<MemoryTransporter>) {
    let transporter = Arc::new(MemoryTransporter::on_bus(bus.clone()));
    let builder = Broker::builder()
        .node_id(id)
        .namespace("test")
        .shared_transporter(transporter.clone())
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_millis(500))
        .stop_delay(Duration::from_millis(10));
    (builder, transporter)
}

/// Waits (bounded) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let result = tokio::time::timeout(WAIT, async {
        loop {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(result.is_ok(), "timed out waiting for: {what}");
}

/// Waits (bounded) until `broker` knows `count` endpoints of `action`.
pub async fn wait_for_endpoints(broker: &Broker, action: &str, count: u64) {
    eventually(&format!("{count} endpoints of {action}"), || {
        let b = broker.clone();
        let action = action.to_owned();
        async move {
            b.call::<Value>("$node.actions", json!({}))
                .await
                .ok()
                .and_then(|a| {
                    a.as_array()?
                        .iter()
                        .find(|x| x["name"] == action.as_str())
                        .and_then(|x| x["count"].as_u64())
                })
                == Some(count)
        }
    })
    .await;
}

/// A `math` service: `add`, `slow` (sleeps `ms`), `fail` (a typed user error), `boom` (panics).
pub fn math_service(counter: Arc<AtomicUsize>) -> ServiceSchema {
    let c = counter.clone();
    ServiceSchema::new("math")
        .action(ActionDef::new("add", move |ctx: Context| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                let a = ctx.params()["a"].as_f64().unwrap_or(0.0);
                let b = ctx.params()["b"].as_f64().unwrap_or(0.0);
                Ok(json!(a + b))
            }
        }))
        .action(ActionDef::new("slow", |ctx: Context| async move {
            let ms = ctx.params()["ms"].as_u64().unwrap_or(1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!("done"))
        }))
        .action(ActionDef::new("fail", |_ctx: Context| async move {
            Err::<Value, _>(
                Error::new("MathError", "division by zero")
                    .with_code(418)
                    .with_type("DIV_ZERO")
                    .with_data(json!({"a": 1})),
            )
        }))
        .action(ActionDef::new("boom", |_ctx: Context| async move {
            if true {
                panic!("handler exploded");
            }
            Ok(json!(null))
        }))
        // Panics in the closure itself, before there is a future to guard.
        .action(ActionDef::new(
            "boom_sync",
            |_ctx: Context| -> std::future::Ready<Result<Value, Error>> {
                panic!("closure exploded")
            },
        ))
        .action(ActionDef::new("whoami", |ctx: Context| async move {
            Ok(json!({
                "node": ctx.broker().node_id(),
                "caller_node": ctx.node_id(),
                "level": ctx.level(),
                "requestID": ctx.request_id(),
                "parentID": ctx.parent_id(),
                "caller": ctx.caller(),
                "meta": ctx.meta(),
                "headers": ctx.headers(),
            }))
        }))
}
