//! The `bench` service a benchmark client measures: `bench.echo` returns its params,
//! `bench.count` returns `{"count": N}` of `bench.tick` events received. Namespace `bench`.
//!
//! ```sh
//! cargo run --release -p examples --example bench_server      # nodeID rust-bench-server
//! EXTERNAL_SERVER=1 SERVER_NODE=rust-bench-server ../shared/bench/run-js.sh redis
//! ```
//!
//! Environment: `TRANSPORTER` (default `redis://127.0.0.1:6379`), `NAMESPACE` (default
//! `bench`), `NODE_ID` (default `rust-bench-server`), `MOLECULER_PROTOCOL` (`5`, the default,
//! for Moleculer.js 0.15 clients; `4` for 0.14). Stops gracefully on Ctrl-C.

use broker_core::payload::Payload;
use broker_core::{service, Broker, Context, Error, ProtocolVersion};
use broker_redis::RedisTransporter;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
struct Bench {
    ticks: AtomicU64,
}

#[service(name = "bench")]
impl Bench {
    /// Returns the params as the JSON text they came in: no parsing, no tree.
    #[action]
    async fn echo(&self, ctx: Context) -> Result<Payload, Error> {
        Ok(ctx.params_raw().to_owned())
    }

    #[action]
    async fn count(&self) -> Result<Value, Error> {
        Ok(json!({"count": self.ticks.load(Ordering::Relaxed)}))
    }

    #[event(name = "bench.tick")]
    async fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }
}

fn env(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = env("TRANSPORTER", "redis://127.0.0.1:6379");
    let protocol = match env("MOLECULER_PROTOCOL", "5").as_str() {
        "4" => ProtocolVersion::V4,
        _ => ProtocolVersion::V5,
    };
    let broker = Broker::builder()
        .node_id(env("NODE_ID", "rust-bench-server"))
        .namespace(env("NAMESPACE", "bench"))
        .protocol(protocol)
        .transporter(RedisTransporter::new(&url)?)
        .build();
    broker.add_service(Bench::default()).await?;
    broker.start().await?;
    println!(
        "{}",
        json!({"ready": true, "nodeID": broker.node_id(), "protocol": protocol.as_str()})
    );
    if let Err(err) = tokio::signal::ctrl_c().await {
        eprintln!("cannot wait for Ctrl-C ({err}); stopping");
    }
    broker.stop().await
}
