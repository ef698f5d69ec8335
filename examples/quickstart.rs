//! Quickstart: three nodes in one process, talking through the in-memory transport exactly as
//! they would over Redis (every packet is encoded to JSON and decoded again). No server needed.
//!
//! Run it with `cargo run -p examples --example quickstart`.

use broker_core::{service, Broker, Context, EmitOptions, Error, MemoryTransporter};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize)]
struct HelloParams {
    name: String,
}

#[derive(Deserialize)]
struct DivParams {
    a: f64,
    b: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct User {
    id: u32,
    email: String,
}

/// Lives on node-1: answers greetings and does arithmetic.
struct Greeter;

#[service(name = "greeter", version = 1)]
impl Greeter {
    /// `v1.greeter.hello`: typed params in, a string out.
    #[action]
    async fn hello(&self, ctx: Context, params: HelloParams) -> Result<String, Error> {
        Ok(format!(
            "Hello, {}! (served by {} for {})",
            params.name,
            ctx.broker().node_id(),
            ctx.node_id()
        ))
    }

    /// `v1.greeter.divide`: fails with a typed error on division by zero.
    #[action]
    async fn divide(&self, params: DivParams) -> Result<f64, Error> {
        if params.b == 0.0 {
            return Err(Error::client("Division by zero", 422, "DIV_BY_ZERO")
                .with_data(json!({"a": params.a})));
        }
        Ok(params.a / params.b)
    }

    /// `v1.greeter.signup`: emits `user.created` as part of the same call chain.
    #[action]
    async fn signup(&self, ctx: Context, user: User) -> Result<u32, Error> {
        ctx.emit("user.created", &user).await?;
        Ok(user.id)
    }
}

/// Runs on node-2 and node-3 in the group "mail": each `user.created` is mailed once.
struct Mailer {
    node: &'static str,
    sent: Arc<AtomicUsize>,
}

#[service(name = "mailer")]
impl Mailer {
    #[event(name = "user.created", group = "mail")]
    async fn user_created(&self, user: User) {
        self.sent.fetch_add(1, Ordering::SeqCst);
        println!("  [{}] mail: welcome sent to {}", self.node, user.email);
    }

    #[event(name = "system.**")]
    async fn system(&self, ctx: Context) {
        println!(
            "  [{}] broadcast '{}' received: {}",
            self.node,
            ctx.event_name().unwrap_or_default(),
            ctx.params()
        );
    }
}

fn node(id: &str) -> Broker {
    Broker::builder()
        .node_id(id)
        .namespace("quickstart")
        .transporter(MemoryTransporter::new())
        .request_timeout(Duration::from_secs(5))
        .build()
}

/// The error of a call that must fail; a success is itself an error here.
fn failure<T: std::fmt::Debug>(result: Result<T, Error>) -> Result<Error, Error> {
    match result {
        Err(err) => Ok(err),
        Ok(value) => Err(Error::new(
            "UnexpectedSuccess",
            format!("the call was expected to fail but returned {value:?}"),
        )),
    }
}

/// Waits (bounded) until `broker` sees `count` available nodes, itself included.
async fn wait_for_nodes(broker: &Broker, count: usize) -> Result<Vec<String>, Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let ids: Vec<String> = broker
            .node_list(false, true)
            .into_iter()
            .map(|n| n.id)
            .collect();
        if ids.len() >= count || tokio::time::Instant::now() >= deadline {
            return Ok(ids);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // The broker's own log lines (nodes joining and leaving) at `info`; RUST_LOG overrides,
    // LOG_FORMAT=json writes JSON lines.
    broker_repl::init_logging("warn,broker_core=info");
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("quickstart: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let sent = Arc::new(AtomicUsize::new(0));

    let node1 = node("node-1");
    node1.add_service(Greeter).await?;
    let node2 = node("node-2");
    node2
        .add_service(Mailer {
            node: "node-2",
            sent: sent.clone(),
        })
        .await?;
    let node3 = node("node-3");
    node3
        .add_service(Mailer {
            node: "node-3",
            sent: sent.clone(),
        })
        .await?;
    for n in [&node1, &node2, &node3] {
        n.start().await?;
    }
    // Each node learns of the others from their INFO packets, a moment after they start.
    node3
        .wait_for_services(&["v1.greeter", "mailer"], Duration::from_secs(5))
        .await?;
    wait_for_nodes(&node1, 3).await?;
    println!(
        "three nodes up: {}",
        wait_for_nodes(&node3, 3).await?.join(", ")
    );

    println!("\n1. node-3 calls v1.greeter.hello on node-1");
    let greeting: String = node3
        .call("v1.greeter.hello", json!({"name": "Alice"}))
        .await?;
    println!("  -> {greeting}");

    println!("\n2. a typed error crosses the wire");
    let err = failure(
        node3
            .call::<f64>("v1.greeter.divide", json!({"a": 1, "b": 0}))
            .await,
    )?;
    println!(
        "  -> {} (code {}, type {}, data {}, from {})",
        err.name(),
        err.code(),
        err.error_type().unwrap_or("-"),
        err.data().cloned().unwrap_or_default(),
        err.node_id().unwrap_or("-")
    );

    println!("\n3. params of the wrong shape are a ValidationError naming the field");
    let err = failure(
        node3
            .call::<f64>("v1.greeter.divide", json!({"a": "one", "b": 2}))
            .await,
    )?;
    println!("  -> {err}");

    println!("\n4. a missing action");
    let err = failure(node3.call::<String>("v1.greeter.nope", json!({})).await)?;
    println!("  -> {err}");

    println!("\n5. four signups; each user.created reaches exactly one mailer of group 'mail'");
    for (id, email) in [
        (1, "ann@example.org"),
        (2, "bob@example.org"),
        (3, "cy@example.org"),
        (4, "di@example.org"),
    ] {
        node1
            .call::<u32>("v1.greeter.signup", json!({"id": id, "email": email}))
            .await?;
    }

    println!("\n6. a broadcast reaches every node's handler");
    node1
        .broadcast_with(
            "system.maintenance",
            json!({"at": "02:00"}),
            EmitOptions::new(),
        )
        .await?;

    // Events are fire-and-forget: give the handlers a moment, bounded.
    for _ in 0..100 {
        if sent.load(Ordering::SeqCst) >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!(
        "\nwelcome mails sent: {} (one per signup)",
        sent.load(Ordering::SeqCst)
    );

    for n in [node3, node2, node1] {
        n.stop().await?;
    }
    println!("all nodes stopped");
    Ok(())
}
