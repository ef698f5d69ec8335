//! `call_owned`: a local call moves its params value to a typed handler and the result back,
//! and everything that needs JSON on the way still gets it (middlewares, hooks, a handler of
//! another type, a call to another node). `Counted` has a JSON Schema, so its actions publish
//! a fastest-validator `params` and are validated: the move must survive that too.

use broker_core::middleware::{ActionSpec, Middleware};
use broker_core::{
    schemars, service, ActionHandler, Broker, Context, Error, JsonSchema, MemoryBus,
    MemoryTransporter, ServiceSchema,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Serializes and deserializes, counting both: a moved value touches neither.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
struct Counted {
    n: i64,
}

/// Held by each test: the counters are process-wide, and only one test may move them at once.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

static SERIALIZED: AtomicUsize = AtomicUsize::new(0);
static DESERIALIZED: AtomicUsize = AtomicUsize::new(0);

impl Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SERIALIZED.fetch_add(1, Ordering::SeqCst);
        #[derive(Serialize)]
        struct Wire {
            n: i64,
        }
        Wire { n: self.n }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DESERIALIZED.fetch_add(1, Ordering::SeqCst);
        #[derive(Deserialize)]
        struct Wire {
            n: i64,
        }
        Wire::deserialize(d).map(|w| Counted { n: w.n })
    }
}

/// Another params type with the same JSON shape.
#[derive(Debug, Serialize, Deserialize)]
struct Plain {
    n: i64,
}

struct Math;

#[service(name = "math")]
impl Math {
    #[action]
    async fn double(&self, p: Counted) -> Result<Counted, Error> {
        Ok(Counted { n: p.n * 2 })
    }

    /// Reads the params through the context as well as typed.
    #[action]
    async fn both(&self, ctx: Context, p: Counted) -> Result<Value, Error> {
        Ok(json!({"typed": p.n, "json": ctx.params()["n"]}))
    }

    #[action]
    async fn plain(&self, p: Plain) -> Result<Plain, Error> {
        Ok(Plain { n: p.n + 1 })
    }
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("bounded wait")
}

async fn started(broker: Broker) -> Broker {
    bounded(broker.add_service(Math)).await.expect("add");
    bounded(broker.start()).await.expect("start");
    broker
}

#[tokio::test]
async fn a_local_owned_call_moves_params_and_result_without_json() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let broker = started(Broker::builder().node_id("owned-local").build()).await;
    let (ser, de) = (
        SERIALIZED.load(Ordering::SeqCst),
        DESERIALIZED.load(Ordering::SeqCst),
    );
    let out: Counted = bounded(broker.call_owned("math.double", Counted { n: 21 }))
        .await
        .expect("call");
    assert_eq!(out, Counted { n: 42 });
    assert_eq!(SERIALIZED.load(Ordering::SeqCst), ser, "nothing serialized");
    assert_eq!(
        DESERIALIZED.load(Ordering::SeqCst),
        de,
        "nothing deserialized"
    );

    // `call` with borrowed params serializes them once, but the result still moves.
    let out: Counted = bounded(broker.call("math.double", &Counted { n: 1 }))
        .await
        .expect("call");
    assert_eq!(out, Counted { n: 2 });
    assert_eq!(
        SERIALIZED.load(Ordering::SeqCst),
        ser + 1,
        "the params only"
    );
    assert_eq!(
        DESERIALIZED.load(Ordering::SeqCst),
        de + 1,
        "the params only"
    );

    // A caller asking for another type gets the result through JSON.
    let out: Value = bounded(broker.call_owned("math.double", Counted { n: 5 }))
        .await
        .expect("call");
    assert_eq!(out, json!({"n": 10}));

    // A handler seeing the context reads the same params as JSON.
    let out: Value = bounded(broker.call_owned("math.both", Counted { n: 7 }))
        .await
        .expect("call");
    assert_eq!(out, json!({"typed": 7, "json": 7}));

    // A handler of another params type gets them through JSON.
    let out: Plain = bounded(broker.call_owned("math.plain", Counted { n: 1 }))
        .await
        .expect("call");
    assert_eq!(out.n, 2);
    bounded(broker.stop()).await.expect("stop");
}

/// Records the params and result of every action it wraps, as JSON.
#[derive(Debug, Default)]
struct Spy(Arc<Mutex<Vec<(Value, Value)>>>);

impl Middleware for Spy {
    fn wrap_action(&self, _action: &ActionSpec<'_>, next: ActionHandler) -> ActionHandler {
        let seen = self.0.clone();
        Arc::new(move |ctx: Context| {
            let (seen, next) = (seen.clone(), next.clone());
            Box::pin(async move {
                let params = ctx.params().clone();
                let result = next(ctx).await?;
                let value: Value = serde_json::from_str(result.get()).unwrap_or(Value::Null);
                seen.lock().expect("lock").push((params, value));
                Ok(result)
            })
        })
    }
}

#[tokio::test]
async fn middlewares_see_the_params_and_result_of_an_owned_call() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let spy = Spy::default();
    let seen = spy.0.clone();
    let broker = started(
        Broker::builder()
            .node_id("owned-middleware")
            .middleware(spy)
            .build(),
    )
    .await;
    let out: Counted = bounded(broker.call_owned("math.double", Counted { n: 4 }))
        .await
        .expect("call");
    assert_eq!(out, Counted { n: 8 });
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen, vec![(json!({"n": 4}), json!({"n": 8}))]);
    bounded(broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn hooks_see_and_change_the_params_and_result_of_an_owned_call() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let broker = Broker::builder().node_id("owned-hooks").build();
    let hooked = ServiceSchema::new("hooked")
        .before("*", |ctx: Context| async move {
            let n = ctx.params()["n"].as_i64().unwrap_or(0);
            Ok(Some(json!({"n": n + 100})))
        })
        .after("*", |_ctx, result: Value| async move {
            Ok(json!({"after": result}))
        })
        .action(broker_core::ActionDef::from_payload(
            "echo",
            |ctx| async move {
                let p: Counted = ctx.params_as()?;
                broker_core::payload::to_payload(&p)
            },
        ));
    bounded(broker.add_service(hooked)).await.expect("add");
    bounded(broker.start()).await.expect("start");
    let out: Value = bounded(broker.call_owned("hooked.echo", Counted { n: 1 }))
        .await
        .expect("call");
    assert_eq!(out, json!({"after": {"n": 101}}));
    bounded(broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn an_owned_call_to_another_node_is_serialized() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let bus = MemoryBus::new();
    let server = started(
        Broker::builder()
            .node_id("owned-server")
            .namespace("owned-remote")
            .transporter(MemoryTransporter::on_bus(bus.clone()))
            .build(),
    )
    .await;
    let client = Broker::builder()
        .node_id("owned-client")
        .namespace("owned-remote")
        .transporter(MemoryTransporter::on_bus(bus))
        .build();
    bounded(client.start()).await.expect("start");
    bounded(client.wait_for_services(&["math"], Duration::from_secs(5)))
        .await
        .expect("math seen");
    let out: Counted = bounded(client.call_owned("math.double", Counted { n: 3 }))
        .await
        .expect("call");
    assert_eq!(out, Counted { n: 6 });
    bounded(client.stop()).await.expect("stop");
    bounded(server.stop()).await.expect("stop");
}
