//! The typed clients `#[service]` and `#[client]` generate, at run time: on a local broker and
//! across two brokers on the memory transporter. Every wait is bounded.

use broker_core::{client, service, Broker, CallOptions, Context, Error, MemoryTransporter};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[allow(dead_code)]
mod common;
use common::{bounded, BOUND};

#[derive(Serialize, Deserialize)]
struct HelloParams {
    name: String,
}

/// What a handler saw of its context.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Seen {
    node: String,
    level: u32,
    request_id: String,
    parent_id: Option<String>,
    meta: Value,
    header: Option<Value>,
    /// Milliseconds left of the chain's timeout, if it has one.
    remaining_ms: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct UserCreated {
    id: u64,
}

struct Greeter {
    flaky: Arc<AtomicUsize>,
}

#[service(name = "greeter", version = 2)]
#[emits(name = "user.created", payload = UserCreated)]
impl Greeter {
    #[action]
    async fn hello(&self, params: HelloParams) -> Result<String, Error> {
        Ok(format!("Hello, {}!", params.name))
    }

    /// No params: the client method takes none.
    #[action(name = "whoAmI")]
    async fn who_am_i(&self, ctx: Context) -> Result<Seen, Error> {
        Ok(seen(&ctx))
    }

    #[action]
    async fn slow(&self, millis: u64) -> Result<u64, Error> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(millis)
    }

    /// Fails with a retryable error until it has been called `until` times.
    #[action]
    async fn flaky(&self, until: usize) -> Result<usize, Error> {
        let n = self.flaky.fetch_add(1, Ordering::SeqCst) + 1;
        if n < until {
            return Err(Error::retryable("not yet", 500, "FLAKY"));
        }
        Ok(n)
    }

    /// Calls `whoAmI` through the client of its own service, from its context.
    #[action]
    async fn nested(&self, ctx: Context) -> Result<Seen, Error> {
        ctx.client::<GreeterClient>().who_am_i().await
    }

    /// Not registered: the client has no method for it.
    #[action(visibility = "private")]
    async fn hidden(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn seen(ctx: &Context) -> Seen {
    Seen {
        node: ctx.broker().node_id().to_owned(),
        level: ctx.level(),
        request_id: ctx.request_id().to_owned(),
        parent_id: ctx.parent_id().map(str::to_owned),
        meta: Value::Object(ctx.meta()),
        header: ctx.headers().get("x-test").cloned(),
        remaining_ms: ctx.remaining_time().map(|d| d.as_millis() as u64),
    }
}

fn greeter() -> Greeter {
    Greeter {
        flaky: Arc::new(AtomicUsize::new(0)),
    }
}

async fn local(node: &str) -> Broker {
    let broker = Broker::builder().node_id(node).build();
    broker.add_service(greeter()).await.expect("add greeter");
    bounded(broker.start()).await.expect("start");
    broker
}

fn memory(node: &str, namespace: &str) -> Broker {
    Broker::builder()
        .node_id(node)
        .namespace(namespace)
        .transporter(MemoryTransporter::new())
        .heartbeat_interval(Duration::from_millis(200))
        .build()
}

#[tokio::test]
async fn a_service_client_calls_the_versioned_actions_with_their_types() {
    let broker = local("client-local").await;
    assert_eq!(GreeterClient::SERVICE, "v2.greeter");
    let greeter = GreeterClient::new(&broker);
    let hello: String = bounded(greeter.hello(HelloParams {
        name: "Alice".into(),
    }))
    .await
    .expect("hello");
    assert_eq!(hello, "Hello, Alice!");
    // Through the broker: the same client.
    let who = bounded(broker.client::<GreeterClient>().who_am_i())
        .await
        .expect("whoAmI");
    assert_eq!(who.level, 1);
    assert_eq!(who.node, "client-local");
    // The action the client calls is the versioned name the registry has.
    let direct: String = bounded(broker.call("v2.greeter.hello", json!({"name": "Bob"})))
        .await
        .expect("direct call");
    assert_eq!(direct, "Hello, Bob!");
    bounded(broker.stop()).await.expect("stop");
}

/// Counts how often a value is serialized: the typed path moves it instead.
struct Counted(Arc<AtomicUsize>, u64);

impl Serialize for Counted {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        s.serialize_u64(self.1)
    }
}

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Counted(Arc::new(AtomicUsize::new(0)), u64::deserialize(d)?))
    }
}

struct Doubler {
    results: Arc<AtomicUsize>,
}

#[service(name = "doubler")]
impl Doubler {
    #[action]
    async fn double(&self, n: Counted) -> Result<Counted, Error> {
        Ok(Counted(self.results.clone(), n.1 * 2))
    }
}

#[tokio::test]
async fn a_local_client_call_moves_params_and_result_without_json() {
    let results = Arc::new(AtomicUsize::new(0));
    let broker = Broker::builder().node_id("client-moves").build();
    broker
        .add_service(Doubler {
            results: results.clone(),
        })
        .await
        .expect("add");
    bounded(broker.start()).await.expect("start");
    let params = Arc::new(AtomicUsize::new(0));
    let doubled = bounded(DoublerClient::new(&broker).double(Counted(params.clone(), 21)))
        .await
        .expect("double");
    assert_eq!(doubled.1, 42);
    assert_eq!(params.load(Ordering::SeqCst), 0, "params were serialized");
    assert_eq!(
        results.load(Ordering::SeqCst),
        0,
        "the result was serialized"
    );
    bounded(broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn a_client_from_a_context_makes_child_calls() {
    let broker = local("client-child").await;
    let greeter = GreeterClient::new(&broker)
        .with_meta(json!({"tenant": "acme"}))
        .with_timeout(Duration::from_secs(3));
    let outer = bounded(greeter.who_am_i()).await.expect("outer");
    let inner = bounded(greeter.nested()).await.expect("nested");
    assert_eq!(outer.level, 1);
    assert_eq!(inner.level, 2, "the nested call is a child");
    assert_eq!(inner.meta, json!({"tenant": "acme"}), "meta carries over");
    assert!(inner.parent_id.is_some(), "the child has a parent");
    let left = inner.remaining_ms.expect("the timeout carries over");
    assert!(left > 0 && left <= 3000, "remaining budget: {left} ms");
    // The chain's request ID carries over: set it on the outer call.
    let chained = GreeterClient::new(&broker).with_options(CallOptions::new().request_id("req-42"));
    let inner = bounded(chained.nested()).await.expect("nested");
    assert_eq!(inner.request_id, "req-42");
    bounded(broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn client_options_apply_to_every_call() {
    let broker = local("client-options").await;
    // Timeout.
    let err = bounded(
        GreeterClient::new(&broker)
            .with_timeout(Duration::from_millis(50))
            .slow(2_000),
    )
    .await
    .expect_err("times out");
    assert!(err.is_timeout(), "{err}");
    // Retries: fails twice, answers on the third try.
    let n = bounded(GreeterClient::new(&broker).with_retries(2).flaky(3))
        .await
        .expect("retried");
    assert_eq!(n, 3);
    // Headers (protocol 5) reach the handler.
    let who = bounded(
        GreeterClient::new(&broker)
            .with_headers(json!({"x-test": "yes"}))
            .who_am_i(),
    )
    .await
    .expect("headers");
    assert_eq!(who.header, Some(json!("yes")));
    bounded(broker.stop()).await.expect("stop");
}

struct Listener {
    created: mpsc::UnboundedSender<(UserCreated, String)>,
}

#[service(name = "listener")]
impl Listener {
    #[event(name = "user.created")]
    async fn user_created(&self, ctx: Context, user: UserCreated) {
        let tenant = ctx.meta_value("tenant").map(|v| v.to_string());
        let _ = self.created.send((user, tenant.unwrap_or_default()));
    }
}

#[tokio::test]
async fn across_nodes_a_client_targets_a_node_and_emits_typed_events() {
    let namespace = "client-remote";
    let a = memory("client-a", namespace);
    let b = memory("client-b", namespace);
    let caller = memory("client-caller", namespace);
    let (tx, mut rx) = mpsc::unbounded_channel();
    a.add_service(greeter()).await.expect("add a");
    b.add_service(greeter()).await.expect("add b");
    b.add_service(Listener { created: tx })
        .await
        .expect("add listener");
    for broker in [&a, &b, &caller] {
        bounded(broker.start()).await.expect("start");
    }
    bounded(caller.wait_for_services(&["v2.greeter", "listener"], BOUND))
        .await
        .expect("services");
    for node in ["client-a", "client-b"] {
        let who = bounded(GreeterClient::new(&caller).with_node(node).who_am_i())
            .await
            .expect("who");
        assert_eq!(who.node, node);
    }
    // A remote call goes through JSON and comes back typed.
    let hello = bounded(GreeterClient::new(&caller).hello(HelloParams {
        name: "Carol".into(),
    }))
    .await
    .expect("remote hello");
    assert_eq!(hello, "Hello, Carol!");
    bounded(
        GreeterClient::new(&caller)
            .with_meta(json!({"tenant": "acme"}))
            .emit_user_created(UserCreated { id: 7 }),
    )
    .await
    .expect("emit");
    let (user, tenant) = bounded(rx.recv()).await.expect("event delivered");
    assert_eq!(user, UserCreated { id: 7 });
    assert_eq!(tenant, "\"acme\"");
    bounded(GreeterClient::new(&caller).broadcast_user_created(UserCreated { id: 8 }))
        .await
        .expect("broadcast");
    let (user, _) = bounded(rx.recv()).await.expect("broadcast delivered");
    assert_eq!(user.id, 8);
    for broker in [&caller, &a, &b] {
        bounded(broker.stop()).await.expect("stop");
    }
}

/// An error type of the caller's own, as a `#[client]` trait may declare.
#[derive(Debug)]
struct AppError(String);

impl From<Error> for AppError {
    fn from(err: Error) -> AppError {
        AppError(err.to_string())
    }
}

/// The greeter, described from elsewhere.
#[client(name = "greeter", version = 2)]
#[emits(name = "user.created", payload = UserCreated, method = "new_user")]
trait RemoteGreeter {
    /// `v2.greeter.hello`.
    async fn hello(&self, params: HelloParams) -> Result<String, Error>;
    #[action(name = "whoAmI")]
    async fn who(&self) -> Result<Value, AppError>;
    async fn slow(&self, millis: u64) -> Result<u64, AppError>;
}

#[tokio::test]
async fn a_client_trait_calls_a_service_it_does_not_link() {
    let namespace = "client-trait";
    let server = memory("trait-server", namespace);
    let caller = memory("trait-caller", namespace);
    let (tx, mut rx) = mpsc::unbounded_channel();
    server.add_service(greeter()).await.expect("add");
    server
        .add_service(Listener { created: tx })
        .await
        .expect("add listener");
    bounded(server.start()).await.expect("start");
    bounded(caller.start()).await.expect("start");
    bounded(caller.wait_for_services(&["v2.greeter", "listener"], BOUND))
        .await
        .expect("services");
    assert_eq!(RemoteGreeterClient::SERVICE, "v2.greeter");
    let remote = RemoteGreeterClient::new(&caller);
    let hello = bounded(remote.hello(HelloParams { name: "Dan".into() }))
        .await
        .expect("hello");
    assert_eq!(hello, "Hello, Dan!");
    let who = bounded(remote.who()).await.expect("renamed action");
    assert_eq!(who["node"], "trait-server");
    let err = bounded(remote.with_timeout(Duration::from_millis(50)).slow(2_000))
        .await
        .expect_err("times out");
    assert!(err.0.contains("timed out"), "{}", err.0);
    bounded(RemoteGreeterClient::new(&caller).emit_new_user(UserCreated { id: 9 }))
        .await
        .expect("emit");
    let (user, _) = bounded(rx.recv()).await.expect("event delivered");
    assert_eq!(user.id, 9);
    bounded(caller.stop()).await.expect("stop");
    bounded(server.stop()).await.expect("stop");
}
