//! Simple usage: a `greeter` service, an event handler, and the REPL to drive them.
//!
//! ```sh
//! cargo run -p examples --example simple_usage                          # in memory
//! cargo run -p examples --example simple_usage redis://127.0.0.1:6379   # on Redis
//! cargo run -p examples --example simple_usage nats://127.0.0.1:4222    # on NATS
//! TRANSPORTER=redis://127.0.0.1:6379 cargo run -p examples --example simple_usage
//! ```
//!
//! In memory, a second node in this process stands in for the JavaScript peer
//! (`examples/js/sample.js`): it offers `math.add` and `math.random`, and `math.random` emits
//! `ev_random_number` a moment after it answers. On Redis, start the real peer
//! (`node examples/js/sample.js`) and the same commands reach it:
//!
//! ```text
//! mol $ call greeter.hello {"name": "Alice"}
//! mol $ call math.add {"a": 100, "b": 999}
//! mol $ call math.random {}
//! mol $ nodes
//! ```
//!
//! Environment: `TRANSPORTER` (or the first argument), `NAMESPACE`, `NODE_ID`,
//! `MOLECULER_PROTOCOL` (`5`, the default, for Moleculer.js 0.15; `4` for 0.14), and `RUST_LOG`
//! (default: `info` for the broker's crates; log lines appear above the prompt).

use broker_core::{service, Broker, Context, Error, MemoryTransporter};
use broker_repl::ReplExt;
use examples::{builder_from_env, env};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize)]
struct HelloParams {
    name: String,
}

/// What `ev_random_number` carries.
#[derive(Debug, Serialize, Deserialize)]
struct RandomNumber {
    number: u64,
    receipt: String,
}

/// The service of this node.
struct Greeter {
    /// How many `ev_random_number` events arrived.
    received: Arc<AtomicU64>,
}

#[service(name = "greeter")]
impl Greeter {
    /// `greeter.hello`: `{"name": "Alice"}` gives `"Hello, Alice!"`.
    #[action]
    async fn hello(&self, params: HelloParams) -> Result<String, Error> {
        Ok(format!("Hello, {}!", params.name))
    }

    /// Prints each receipt of `ev_random_number`.
    #[event(name = "ev_random_number")]
    async fn random_number(&self, ctx: Context, event: RandomNumber) {
        let n = self.received.fetch_add(1, Ordering::SeqCst) + 1;
        // `print_line` keeps the REPL's prompt intact (it prints above the line being typed).
        broker_repl::print_line(format!(
            "<< ev_random_number #{n} from {}: number {} (receipt {})",
            ctx.node_id(),
            event.number,
            event.receipt
        ));
    }
}

/// The in-memory stand-in for the JavaScript peer: `math.add`, and `math.random`, which
/// answers with a receipt and emits `ev_random_number` a little later.
struct Math;

#[derive(Deserialize)]
struct AddParams {
    a: f64,
    b: f64,
}

#[service(name = "math")]
impl Math {
    /// `math.add`: `a + b` (a whole sum is an integer, as JavaScript prints it).
    #[action]
    async fn add(&self, params: AddParams) -> Result<serde_json::Value, Error> {
        let sum = params.a + params.b;
        if sum.fract() == 0.0 && sum.abs() < 9.0e15 {
            return Ok(json!(sum as i64));
        }
        Ok(json!(sum))
    }

    /// `math.random`: a receipt now, the number later as an event.
    #[action]
    async fn random(&self, ctx: Context) -> Result<serde_json::Value, Error> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let receipt = format!("{:08x}", seed.wrapping_mul(2_654_435_761));
        let delay_ms = 200 + u64::from(seed % 800);
        let event = RandomNumber {
            number: u64::from(seed % 100),
            receipt: receipt.clone(),
        };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            if let Err(err) = ctx.emit("ev_random_number", &event).await {
                eprintln!("math.random could not emit: {err}");
            }
        });
        Ok(json!({"receipt": receipt, "delay_ms": delay_ms}))
    }
}

/// The node of this example: `greeter` on the bus `url` names when given, else in memory.
fn node(url: Option<&str>, received: Arc<AtomicU64>) -> Result<(Broker, Greeter), Error> {
    let broker = builder_from_env(url)?
        .request_timeout(Duration::from_secs(10))
        .build();
    Ok((broker, Greeter { received }))
}

/// A second in-memory node with `math`, for trying the example without Redis.
async fn math_node(namespace: &str) -> Result<Broker, Error> {
    let broker = Broker::builder()
        .node_id("math-node")
        .namespace(namespace)
        .transporter(MemoryTransporter::new())
        .build();
    broker.add_service(Math).await?;
    broker.start().await?;
    Ok(broker)
}

#[tokio::main]
async fn main() -> ExitCode {
    // Node joined/left and Redis lost/back at `info`; printed above the console's prompt.
    broker_repl::init_logging("warn,broker_core=info,broker_redis=info,broker_nats=info");
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("simple_usage: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).or_else(|| env("TRANSPORTER"));
    let (broker, greeter) = node(url.as_deref(), Arc::default())?;
    broker.add_service(greeter).await?;
    broker.start().await?;
    let peer = match url {
        Some(_) => None,
        None => Some(math_node(&broker.config().namespace).await?),
    };
    // Wait (bounded) until `math` is there, from the stand-in or from the JavaScript peer, so
    // that the first command (piped input runs at once) and Tab see it.
    if let Err(err) = broker
        .wait_for_services(&["math"], Duration::from_secs(5))
        .await
    {
        eprintln!(
            "no node offers `math` yet ({}): start `node examples/js/sample.js` with the same \
             NAMESPACE and protocol; the console works meanwhile",
            err.message()
        );
    }

    // The console until `exit` or Ctrl-D; SIGTERM (or SIGINT when input is piped) stops the
    // node gracefully too. `biased`: the signal handlers are installed before the console
    // starts reading.
    let signal = tokio::select! {
        biased;
        signal = Broker::wait_for_signal() => Some(signal?),
        done = broker.repl() => {
            done?;
            None
        }
    };
    broker.stop().await?;
    if let Some(peer) = peer {
        peer.stop().await?;
    }
    if let Some(signal) = signal {
        println!("stopped on {signal}");
        // The console's line reader may still wait for a key on its own thread: leave now.
        std::process::exit(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_repl::run_command;

    #[tokio::test]
    async fn hello_events_and_the_stand_in_peer_work_through_repl_commands() {
        let received = Arc::new(AtomicU64::new(0));
        let (broker, greeter) = match node(None, received.clone()) {
            Ok(pair) => pair,
            Err(err) => panic!("{err}"),
        };
        let result = async {
            broker.add_service(greeter).await?;
            broker.start().await?;
            let peer = math_node("").await?;
            broker
                .wait_for_services(&["math"], Duration::from_secs(5))
                .await?;
            let hello = run_command(&broker, r#"call greeter.hello {"name": "Alice"}"#).await;
            let sum = run_command(&broker, r#"call math.add {"a": 100, "b": 999}"#).await;
            let receipt = run_command(&broker, "call math.random {}").await;
            for _ in 0..300 {
                if received.load(Ordering::SeqCst) > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peer.stop().await?;
            broker.stop().await?;
            Ok::<_, Error>((hello, sum, receipt))
        };
        let (hello, sum, receipt) = match result.await {
            Ok(r) => r,
            Err(err) => panic!("{err}"),
        };
        assert_eq!(hello.map(|o| o.to_json()), Ok(json!("Hello, Alice!")));
        assert_eq!(sum.map(|o| o.to_json()), Ok(json!(1099)));
        let receipt = receipt.map(|o| o.to_json()).unwrap_or_default();
        assert!(receipt["receipt"].is_string(), "{receipt}");
        assert_eq!(received.load(Ordering::SeqCst), 1);
    }
}
