//! A Rust node that joins a Moleculer.js cluster over Redis.
//!
//! It offers `greeter.hello`, calls `math.add` and `math.random` on a JS node (see
//! `examples/js/sample.js`) through a typed client declared with `#[client]`, and logs the
//! `ev_random_number` events the JS node emits.
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
//! default, for Moleculer.js 0.15; `4` for 0.14), `RUST_LOG` (default: `info` for the broker's
//! crates). Started before Redis, it waits for the server; stop it with Ctrl-C or SIGTERM: it
//! leaves gracefully, and the JS node logs the disconnect at once.

use broker_core::{client, service, Broker, Context, Error, ProtocolVersion};
use broker_redis::RedisTransporter;
use serde::{Deserialize, Serialize};
use std::process::ExitCode;
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

#[derive(Serialize)]
struct AddParams {
    a: f64,
    b: f64,
}

/// The JS `math` service of `examples/js/sample.js`, as this node calls it: `MathClient`,
/// whose methods the compiler checks (`math.add(40)` or a `String` sum would not build).
#[client(name = "math")]
trait Math {
    /// `math.add`: the JS side validates `{a: "number", b: "number"}`.
    async fn add(&self, params: AddParams) -> Result<f64, Error>;
    /// `math.random`: a receipt now, an `ev_random_number` event later.
    async fn random(&self) -> Result<Receipt, Error>;
}

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    /// `greeter.hello`: greets, and asks the JS `math` service for a sum along the way (a
    /// nested call: same request ID, level 2, meta flows down and back).
    #[action]
    async fn hello(&self, ctx: Context, params: HelloParams) -> Result<String, Error> {
        let sum = ctx
            .client::<MathClient>()
            .add(AddParams { a: 2.0, b: 3.0 })
            .await?;
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
async fn main() -> ExitCode {
    // The broker's crates at `info` (nodes joining and leaving, Redis lost and back), the rest
    // at `warn`, unless `RUST_LOG` says otherwise; `LOG_FORMAT=json` for JSON lines.
    broker_repl::init_logging("warn,broker_core=info,broker_redis=info");
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `Display`: the error's name and message, as a user should read it.
            eprintln!("redis_node: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
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
    // Waits for Redis if it is not there yet (retrying, one log line per attempt).
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
        let math = MathClient::new(&broker);
        let mut tick = tokio::time::interval(Duration::from_secs(3));
        loop {
            tick.tick().await;
            let sum = math.add(AddParams { a: 40.0, b: 2.0 }).await;
            let receipt = math.random().await;
            match (sum, receipt) {
                (Ok(sum), Ok(r)) => println!(
                    "math.add(40, 2) = {sum}; math.random receipt {} (event in {} ms)",
                    r.receipt, r.delay_ms
                ),
                (Err(err), _) | (_, Err(err)) => println!("call failed: {err}"),
            }
        }
    };
    // Serve until SIGINT/SIGTERM, then stop gracefully: requests in flight finish and the
    // cluster is told this node left.
    tokio::select! {
        () = work => Ok(()),
        stopped = broker.run_until_signal() => stopped.map(|signal| println!("stopped on {signal}")),
    }
}
