//! A Rust node that joins a Moleculer.js cluster over Redis.
//!
//! It offers `greeter.hello`, calls `math.add` and `math.random` on a JS node (see
//! `examples/js/sample.js`), and logs the `ev_random_number` events the JS node emits.
//!
//! ```sh
//! node examples/js/sample.js &                      # Moleculer.js 0.15 (protocol 5)
//! cargo run -p examples --example redis_node
//! MOLECULER_VERSION=0.14 node examples/js/sample.js & # Moleculer.js 0.14 ...
//! MOLECULER_PROTOCOL=4 cargo run -p examples --example redis_node   # ... needs protocol 4
//! ```
//!
//! Environment: `REDIS_URL` or `TRANSPORTER` (default `redis://127.0.0.1:6379`), `NAMESPACE`
//! (default none), `NODE_ID` (default `<hostname>-<pid>`), `MOLECULER_PROTOCOL` (`5`, the
//! default, for Moleculer.js 0.15; `4` for 0.14). Stop it with Ctrl-C: it leaves gracefully.

use broker_core::{service, Broker, Context, Error, ProtocolVersion};
use broker_redis::RedisTransporter;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

#[derive(Deserialize)]
struct HelloParams {
    name: String,
}

#[derive(Debug, Deserialize)]
struct RandomNumber {
    number: f64,
    receipt: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    receipt: String,
    delay_ms: u64,
}

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    /// `greeter.hello`: greets, and asks the JS `math` service for a sum along the way (a
    /// nested call: same request ID, level 2, meta flows down and back).
    #[action]
    async fn hello(&self, ctx: Context, params: HelloParams) -> Result<String, Error> {
        let sum: f64 = ctx.call("math.add", json!({"a": 2, "b": 3})).await?;
        Ok(format!(
            "Hello, {}! (from Rust node {}, and math.add says 2 + 3 = {sum})",
            params.name,
            ctx.broker().node_id()
        ))
    }

    /// Emitted by the JS `math.random` action a little after it answered.
    #[event(name = "ev_random_number")]
    async fn random_number(&self, ctx: Context, ev: RandomNumber) {
        println!(
            "event ev_random_number from {}: number {} for receipt {}",
            ctx.node_id(),
            ev.number,
            ev.receipt
        );
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = env("REDIS_URL")
        .or_else(|| env("TRANSPORTER"))
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let protocol = match env("MOLECULER_PROTOCOL").as_deref() {
        Some("4") => ProtocolVersion::V4,
        _ => ProtocolVersion::V5,
    };
    let mut builder = Broker::builder()
        .namespace(env("NAMESPACE").unwrap_or_default())
        .transporter(RedisTransporter::new(&url)?)
        .protocol(protocol)
        .request_timeout(Duration::from_secs(5));
    if let Some(id) = env("NODE_ID") {
        builder = builder.node_id(id);
    }
    let broker = builder.build();
    broker.add_service(Greeter).await?;
    broker.start().await?;
    println!(
        "Rust node {} up on {url} (protocol {protocol}); Ctrl-C to stop",
        broker.node_id()
    );

    let work = async {
        // Wait for a JS node offering `math`, then use it every few seconds.
        while let Err(err) = broker
            .wait_for_services(&["math"], Duration::from_secs(10))
            .await
        {
            println!("still waiting for the math service: {}", err.message());
        }
        let mut tick = tokio::time::interval(Duration::from_secs(3));
        loop {
            tick.tick().await;
            let sum = broker
                .call::<f64>("math.add", json!({"a": 40, "b": 2}))
                .await;
            let receipt = broker.call::<Receipt>("math.random", json!({})).await;
            match (sum, receipt) {
                (Ok(sum), Ok(r)) => println!(
                    "math.add(40, 2) = {sum}; math.random receipt {} (event in {} ms)",
                    r.receipt, r.delay_ms
                ),
                (Err(err), _) | (_, Err(err)) => println!("call failed: {err}"),
            }
        }
    };
    tokio::select! {
        () = work => {}
        signal = tokio::signal::ctrl_c() => {
            if let Err(err) = signal {
                println!("cannot listen for Ctrl-C ({err}); stopping");
            }
        }
    }
    println!("stopping");
    broker.stop().await
}
