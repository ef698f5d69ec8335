//! A `#[service]` running on a local broker: what the generated glue does at run time.
//! Every wait is bounded, so a broken handler fails the test instead of hanging it.

use broker_core::{service, Broker, Context, Error, ErrorKind};
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The longest any single step may take.
const BOUND: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct HelloParams {
    name: String,
}

#[derive(Deserialize)]
struct User {
    id: u64,
}

/// What the test observes from inside the service.
#[derive(Default)]
struct Probes {
    created: AtomicUsize,
    started: AtomicUsize,
    stopped: AtomicUsize,
}

struct Greeter {
    probes: Arc<Probes>,
    users: mpsc::UnboundedSender<u64>,
    any: mpsc::UnboundedSender<String>,
}

#[service(name = "greeter", version = 1)]
impl Greeter {
    #[action]
    async fn hello(&self, ctx: Context, params: HelloParams) -> Result<String, Error> {
        Ok(format!("Hello, {}! (level {})", params.name, ctx.level()))
    }

    #[action(name = "echo", visibility = "public")]
    async fn echo_value(&self, params: Value) -> Result<Value, Error> {
        Ok(params)
    }

    #[action]
    async fn level(&self, ctx: Context) -> Result<u32, Error> {
        Ok(ctx.level())
    }

    #[action]
    async fn nested(&self, ctx: Context) -> Result<u32, Error> {
        ctx.call("v1.greeter.level", json!({})).await
    }

    #[action]
    async fn fail(&self) -> Result<(), Error> {
        Err(Error::client("nope", 418, "TEAPOT"))
    }

    #[action(timeout = "50ms")]
    async fn slow(&self) -> Result<(), Error> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    }

    #[action(visibility = "private")]
    async fn secret(&self) -> Result<u8, Error> {
        Ok(42)
    }

    #[event(name = "user.created", group = "mail")]
    async fn user_created(&self, user: User) {
        let _ = self.users.send(user.id);
    }

    #[event(name = "user.*")]
    async fn any_user(&self, ctx: Context) -> Result<(), Error> {
        let _ = self
            .any
            .send(ctx.event_name().unwrap_or_default().to_owned());
        Ok(())
    }

    #[created]
    async fn created(&self) {
        self.probes.created.fetch_add(1, Ordering::SeqCst);
    }

    #[started]
    async fn started(&self) -> Result<(), Error> {
        self.probes.started.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[stopped]
    async fn stopped(&self) -> Result<(), Error> {
        self.probes.stopped.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[settings]
    fn settings(&self) -> Value {
        json!({ "greeting": "Hello" })
    }
}

/// A started local broker with a fresh `Greeter`, and what the test reads back.
struct Harness {
    broker: Broker,
    probes: Arc<Probes>,
    users: mpsc::UnboundedReceiver<u64>,
    any: mpsc::UnboundedReceiver<String>,
}

async fn start() -> Harness {
    let probes = Arc::new(Probes::default());
    let (users_tx, users) = mpsc::unbounded_channel();
    let (any_tx, any) = mpsc::unbounded_channel();
    let broker = Broker::builder().node_id("x").build();
    bounded(broker.add_service(Greeter {
        probes: probes.clone(),
        users: users_tx,
        any: any_tx,
    }))
    .await
    .expect("add_service");
    bounded(broker.start()).await.expect("start");
    Harness {
        broker,
        probes,
        users,
        any,
    }
}

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("step did not finish in time")
}

async fn call<R: serde::de::DeserializeOwned + 'static>(
    broker: &Broker,
    action: &str,
    params: Value,
) -> Result<R, Error> {
    bounded(broker.call(action, params)).await
}

#[tokio::test]
async fn typed_params_and_context() {
    let h = start().await;
    let reply: String = call(&h.broker, "v1.greeter.hello", json!({ "name": "Alice" }))
        .await
        .expect("hello");
    assert_eq!(reply, "Hello, Alice! (level 1)");
    let level: u32 = call(&h.broker, "v1.greeter.nested", json!({}))
        .await
        .expect("nested");
    assert_eq!(level, 2);
    bounded(h.broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn value_params_and_renamed_action() {
    let h = start().await;
    let params = json!({ "anything": [1, 2, 3] });
    let reply: Value = call(&h.broker, "v1.greeter.echo", params.clone())
        .await
        .expect("echo");
    assert_eq!(reply, params);
    let missing = call::<Value>(&h.broker, "v1.greeter.echo_value", json!({})).await;
    let err = missing.expect_err("the method name is not the action name");
    assert_eq!(err.kind(), ErrorKind::ServiceNotFound);
    bounded(h.broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn wrong_params_are_a_validation_error_naming_the_field() {
    let h = start().await;
    let err = call::<String>(&h.broker, "v1.greeter.hello", json!({ "name": 5 }))
        .await
        .expect_err("a number is not a name");
    assert_eq!(err.kind(), ErrorKind::Validation, "{err:?}");
    let data = err.data().expect("validation data").to_string();
    assert!(data.contains("\"name\""), "{data}");

    let err = call::<String>(&h.broker, "v1.greeter.hello", json!({}))
        .await
        .expect_err("the name is required");
    assert_eq!(err.kind(), ErrorKind::Validation, "{err:?}");
    let data = err.data().expect("validation data").to_string();
    assert!(data.contains("\"name\""), "{data}");
    bounded(h.broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn handler_errors_reach_the_caller() {
    let h = start().await;
    let err = call::<Value>(&h.broker, "v1.greeter.fail", json!({}))
        .await
        .expect_err("fail fails");
    assert_eq!(err.kind(), ErrorKind::Client);
    assert_eq!(err.message(), "nope");
    assert_eq!(err.code(), 418);
    assert_eq!(err.error_type(), Some("TEAPOT"));
    bounded(h.broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn timeout_attribute_bounds_the_call() {
    let h = start().await;
    let err = call::<Value>(&h.broker, "v1.greeter.slow", json!({}))
        .await
        .expect_err("slow times out");
    assert_eq!(err.kind(), ErrorKind::RequestTimeout, "{err:?}");
    bounded(h.broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn private_actions_are_not_callable() {
    let h = start().await;
    let err = call::<u8>(&h.broker, "v1.greeter.secret", json!({}))
        .await
        .expect_err("private");
    assert_eq!(err.kind(), ErrorKind::ServiceNotFound, "{err:?}");
    bounded(h.broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn events_reach_their_handlers() {
    let mut h = start().await;
    // A payload the handler cannot take: it returns the validation error (logged by the
    // broker) and its body does not run.
    bounded(
        h.broker
            .emit("user.created", json!({ "id": "not a number" })),
    )
    .await
    .expect("emit");
    bounded(h.broker.emit("user.created", json!({ "id": 7 })))
        .await
        .expect("emit");
    assert_eq!(bounded(h.users.recv()).await, Some(7));

    bounded(h.broker.broadcast("user.removed", json!({})))
        .await
        .expect("broadcast");
    let mut names = Vec::new();
    while names.len() < 3 {
        names.push(bounded(h.any.recv()).await.expect("event name"));
    }
    names.sort();
    assert_eq!(names, ["user.created", "user.created", "user.removed"]);
    bounded(h.broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn lifecycle_hooks_run() {
    let h = start().await;
    assert_eq!(h.probes.created.load(Ordering::SeqCst), 1);
    assert_eq!(h.probes.started.load(Ordering::SeqCst), 1);
    assert_eq!(h.probes.stopped.load(Ordering::SeqCst), 0);
    bounded(h.broker.stop()).await.expect("stop");
    assert_eq!(h.probes.stopped.load(Ordering::SeqCst), 1);
}
